"""Digitization's use cases: a batch of consumed events (dossiers received, supplements,
results), a component finished (scanned and signed, given by reference, or left undigitized
by the leader's decision), the applicant's warehouse. Each reads through the repository,
decides with the domain, writes and emits in the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.common import IndividualApplicant, Problem
from contracts.events import (
    ApplicantRecorded,
    ComponentDigitized,
    DossierReceived,
    ResultIssued,
    SupplementReceived,
)
from services.common.errors import Conflict, Missing
from services.common.messaging.consumer import Context, traced
from services.common.messaging.outbox import OutboxWriter
from services.common.observability.logs import get_logger
from services.digitization import domain
from services.digitization.document_set import ComponentScan, DocumentSet
from services.digitization.repository import DigitizationRepository

log = get_logger(__name__)
Event = DossierReceived | SupplementReceived | ResultIssued | ApplicantRecorded


class NotFound(Missing):
    """A dossier or component not known here, or not in the caller's tree (404)."""

    def __init__(self, what: str) -> None:
        super().__init__([Problem.of("not_found", f"Không tìm thấy {what}",
                                     f"{what} not found")])
        self.args = (what,)


class AlreadyDone(Conflict):
    """The component is finished already: scanned, given by reference or left undigitized
    (409)."""

    def __init__(self, component: str) -> None:
        super().__init__([Problem.of("already_digitized", "Thành phần đã được số hóa",
                                     f"component {component} is already digitized")])
        self.args = (component,)


@dataclass
class _Batch:
    """The document sets a batch touches, read once, changed in memory in event order,
    written once."""

    dossiers: dict[str, DocumentSet]
    components: dict[str, dict[str, ComponentScan]]
    new_dossiers: set[str] = field(default_factory=set)
    changed_dossiers: set[str] = field(default_factory=set)
    new_components: set[tuple[str, str]] = field(default_factory=set)
    changed_components: set[tuple[str, str]] = field(default_factory=set)
    documents: list[dict[str, Any]] = field(default_factory=list)

    def put_component(self, comp: ComponentScan) -> None:
        key = (comp.dossier_code, comp.code)
        known = comp.code in self.components.setdefault(comp.dossier_code, {})
        self.components[comp.dossier_code][comp.code] = comp
        if key not in self.new_components:
            (self.changed_components if known else self.new_components).add(key)

    def touch_dossier(self, code: str) -> None:
        if code not in self.new_dossiers:
            self.changed_dossiers.add(code)

    async def write(self, s: AsyncSession, repo: DigitizationRepository) -> None:
        await repo.insert_dossiers(s, [self.dossiers[c] for c in sorted(self.new_dossiers)])
        await repo.update_dossiers(s, [self.dossiers[c] for c in sorted(self.changed_dossiers)])
        repo.insert_components(s, [self.components[d][c]
                                   for d, c in sorted(self.new_components)])
        await repo.update_components(s, [self.components[d][c]
                                          for d, c in sorted(self.changed_components)])
        await repo.store_documents(s, self.documents)


def _warehouse_row(applicant_ref: str, document_ref: str, dossier_code: str | None,
                   component: str | None, source: str, document_type: str | None,
                   now: datetime, agency_code: str | None) -> dict[str, Any]:
    return {"applicant_ref": applicant_ref, "document_ref": document_ref,
            "dossier_code": dossier_code, "component_code": component, "source": source,
            "document_type": document_type, "stored_at": now, "agency_code": agency_code}


class Digitizer:
    def __init__(self, outbox: OutboxWriter,
                 repository: DigitizationRepository | None = None) -> None:
        self.outbox = outbox
        self.repo = repository or DigitizationRepository()

    # --- consumed events, a batch at a time ----------------------------------------------

    async def apply_batch(self, s: AsyncSession, items: list[tuple[Context, Event]]) -> None:
        await self.repo.keep_declarations(s, _declarations(
            [e for _, e in items if isinstance(e, ApplicantRecorded)], self.outbox.clock.now()))
        items = [(ctx, e) for ctx, e in items if not isinstance(e, ApplicantRecorded)]
        if not items:
            return
        codes = {event.dossier_code for _, event in items}
        batch = _Batch(await self.repo.dossiers(s, codes), await self.repo.components_of(s, codes))
        for ctx, event in items:
            with traced(ctx):
                if isinstance(event, DossierReceived):
                    await self._received(s, batch, ctx, event)
                elif isinstance(event, SupplementReceived):
                    await self._supplemented(s, batch, event)
                else:
                    self._result(batch, event)
        await batch.write(s, self.repo)

    async def _received(self, s: AsyncSession, batch: _Batch, ctx: Context,
                        event: DossierReceived) -> None:
        code, now = event.dossier_code, self.outbox.clock.now()
        if code in batch.dossiers:
            # The same receipt redelivered under another event id (a republish).
            log.info("dossier already known, receipt skipped", dossier=code,
                     event_id=str(ctx.envelope.id))
            return
        comps = [domain.on_arrival(code, c, now)
                 for c in domain.unique_components(event.components)]
        complete = domain.all_finished(comps)
        batch.dossiers[code] = DocumentSet(
            code=code, agency_code=event.agency_code, procedure_code=event.procedure_code,
            component_count=len(comps), received_at=event.received_at,
            digitized_at=now if complete else None, applicant_ref=event.applicant.ref)
        batch.new_dossiers.add(code)
        batch.components[code] = {}
        await self._open(s, batch, event.applicant.ref, code, event.components, now)
        if complete:
            await self._emit_dossier(s, batch.dossiers[code],
                                     list(batch.components[code].values()), now)

    async def _supplemented(self, s: AsyncSession, batch: _Batch,
                            event: SupplementReceived) -> None:
        """The supplement's components are opened like a receipt's: electronic ones linked
        at once, paper ones waiting for their scan; one with a code already held replaces
        it (the corrected paper)."""
        code, now = event.dossier_code, self.outbox.clock.now()
        dossier = batch.dossiers.get(code)
        if dossier is None or not event.components:
            if dossier is None:
                log.info("supplement for a dossier not received here, skipped", dossier=code)
            return
        await self._open(s, batch, dossier.applicant_ref, code, event.components, now)
        comps = list(batch.components[code].values())
        dossier.component_count = len(comps)
        dossier.digitized_at = now if domain.all_finished(comps) else None
        batch.touch_dossier(code)
        if dossier.digitized_at is not None:
            await self._emit_dossier(s, dossier, comps, now)

    async def _open(self, s: AsyncSession, batch: _Batch, applicant_ref: str | None,
                    code: str, components: list[Any], now: datetime) -> None:
        agency = batch.dossiers[code].agency_code
        for comp in domain.unique_components(components):
            scan = domain.on_arrival(code, comp, now)
            batch.put_component(scan)
            if domain.kept_in_warehouse(comp) and applicant_ref:
                batch.documents.append(_warehouse_row(
                    applicant_ref, comp.document_ref or "", code, comp.code, "electronic",
                    comp.code, now, agency))
            if scan.digitized_at is not None:
                await self.outbox.emit(s, topics.DIGITIZATION,
                                       domain.component_digitized(code, scan), agency)

    def _result(self, batch: _Batch, event: ResultIssued) -> None:
        """Every result goes into the applicant's warehouse (Decision 1333/QĐ-BHXH, step 5)."""
        if event.document_ref:
            batch.documents.append(_warehouse_row(
                event.applicant.ref, event.document_ref, event.dossier_code, None, "result",
                event.result_type, self.outbox.clock.now(), event.agency_code))

    async def _emit_dossier(self, s: AsyncSession, dossier: DocumentSet,
                            components: list[ComponentScan], now: datetime) -> None:
        await self.outbox.emit(s, topics.DIGITIZATION,
                               domain.dossier_digitized(dossier, components, now),
                               dossier.agency_code)

    # --- a component finished by an officer ----------------------------------------------

    async def open_component(self, s: AsyncSession, code: str, component: str
                             ) -> ComponentScan:
        """The component is there and waiting, or NotFound / AlreadyDone: checked before a
        scan is converted and signed, and again when it is recorded."""
        comp = await self.repo.component(s, code, component)
        if comp is None:
            dossier = await self.repo.dossier(s, code)
            raise NotFound(code if dossier is None else component)
        if domain.finished(comp):
            raise AlreadyDone(component)
        return comp

    async def _finish(self, s: AsyncSession, code: str, component: str,
                      values: dict[str, Any], extra: dict[str, Any] | None = None,
                      emit: bool = True) -> dict[str, Any]:
        now = self.outbox.clock.now()
        dossier = await self.repo.dossier(s, code, lock=True)
        if dossier is None:
            raise NotFound(code)
        comp = await self.open_component(s, code, component)
        event = None
        if emit:
            values = {"digitized_at": now, **values}
            event = domain.component_digitized(code, replace(comp, **values))
            if extra:  # fields the extraction step adds (OCR), validated by the contract
                event = _with_extra(event, extra)
            # Kept as the event says it: the dossier's DossierDigitized carries it too.
            values["extraction"] = None if event.extraction is None else \
                event.extraction.model_dump(mode="json")
        if not await self.repo.finish_component(s, code, component, values):
            raise AlreadyDone(component)
        agency = dossier.agency_code
        if event is not None:
            await self.outbox.emit(s, topics.DIGITIZATION, event, agency)
        comps = await self.repo.components(s, code)
        done = domain.all_finished(comps)
        if done:
            await self.repo.mark_dossier(s, code, now)
            await self._emit_dossier(s, dossier, comps, now)
        return {"dossier_code": code, "component": component, "dossier_digitized": done,
                "applicant_ref": dossier.applicant_ref, "now": now,
                "agency_code": agency}

    async def mark_paper_digitized(self, s: AsyncSession, code: str, component: str,
                                   document_ref: str | None) -> dict[str, Any]:
        """Scanned elsewhere and given by reference (or by no reference at all)."""
        done = await self._finish(s, code, component, {"document_ref": document_ref,
                                                       "source": "referenced"})
        if document_ref and done["applicant_ref"]:
            await self.repo.store_documents(s, [_warehouse_row(
                done["applicant_ref"], document_ref, code, component, "digitized", component,
                done["now"], done["agency_code"])])
        return {"dossier_code": code, "component": component,
                "digitized_at": done["now"].isoformat(),
                "dossier_digitized": done["dossier_digitized"]}

    async def record_scan(self, s: AsyncSession, code: str, component: str,
                          file: dict[str, Any], extra: dict[str, Any] | None
                          ) -> dict[str, Any]:
        """A scan converted, signed and stored: the file, the component, the warehouse."""
        await self.repo.add_file(s, file)
        done = await self._finish(s, code, component, {
            "document_ref": file["id"], "source": "scanned", "sha256": file["sha256"],
            "pages": file["pages"], "signer": file["signer"]}, extra)
        if done["applicant_ref"]:
            await self.repo.store_documents(s, [_warehouse_row(
                done["applicant_ref"], file["id"], code, component, "scanned", component,
                done["now"], done["agency_code"])])
        return {"dossier_code": code, "component": component, "document_id": file["id"],
                "sha256": file["sha256"], "pages": file["pages"], "size": file["size"],
                "signer": file["signer"], "signed_at": file["signed_at"].isoformat(),
                "digitized_at": done["now"].isoformat(),
                "dossier_digitized": done["dossier_digitized"]}

    async def not_digitized(self, s: AsyncSession, code: str, component: str,
                            decided_by: str, decision: str) -> dict[str, Any]:
        """A fragile original the office leader decided not to digitize (Decision 1333,
        step 3(1), note): recorded with who decided and why; it no longer holds the dossier."""
        now = self.outbox.clock.now()
        done = await self._finish(s, code, component, {
            "not_digitized_at": now, "decided_by": decided_by, "decision": decision},
            emit=False)
        return {"dossier_code": code, "component": component, "not_digitized_at":
                now.isoformat(), "decided_by": decided_by,
                "dossier_digitized": done["dossier_digitized"]}

    # --- the warehouse ---------------------------------------------------------------------

    async def hold(self, s: AsyncSession, applicant_ref: str, document_ref: str,
                   source: str, agency_code: str | None = None) -> None:
        """Record a document held elsewhere (a connected national database), for the agency
        that recorded it (None: seen by the whole country's callers only)."""
        await self.repo.store_documents(s, [_warehouse_row(
            applicant_ref, document_ref, None, None, source, None, self.outbox.clock.now(),
            agency_code)])

    async def warehouse(self, s: AsyncSession, applicant_ref: str,
                        agencies: Collection[str] | None = None) -> list[dict[str, Any]]:
        """What the agencies given (None: all) may see of the applicant's warehouse."""
        return await self.repo.warehouse(s, applicant_ref, agencies)

    async def record_file(self, s: AsyncSession, row: dict[str, Any]) -> None:
        """A PDF signed for another service (/sign): held and verifiable here."""
        await self.repo.add_file(s, row)

    async def file(self, s: AsyncSession, document_id: str,
                   agencies: Collection[str] | None = None) -> dict[str, Any] | None:
        """A signed file the agencies given (None: all) may read, or None."""
        return await self.repo.file(s, document_id, agencies)

    async def held(self, s: AsyncSession, applicant_ref: str, document_ref: str,
                   agencies: Collection[str] | None = None) -> dict[str, Any] | None:
        row = await self.repo.document(s, applicant_ref, document_ref, agencies)
        return None if row is None else {**row, "stored_at": row["stored_at"].isoformat()}

    async def declared(self, s: AsyncSession, code: str) -> dict[str, Any] | None:
        """What the applicant declared for this dossier (full name, ID number, social
        insurance code), or None when intake's private record has not arrived (yet)."""
        row = await self.repo.declaration(s, code)
        return None if row is None else {k: row[k] for k in (
            "full_name", "id_number", "social_insurance_code")}

    async def view(self, s: AsyncSession, code: str) -> dict[str, Any]:
        dossier = await self.repo.dossier(s, code)
        if dossier is None:
            raise NotFound(code)
        comps = await self.repo.components(s, code)
        return {"dossier_code": code, "digitized_at": _iso(dossier.digitized_at),
                "components": [{
                    "code": c.code, "form": c.form, "document_ref": c.document_ref,
                    "digitized_at": _iso(c.digitized_at), "source": c.source,
                    "sha256": c.sha256, "pages": c.pages, "signer": c.signer,
                    "not_digitized": None if c.not_digitized_at is None else {
                        "at": _iso(c.not_digitized_at), "decided_by": c.decided_by,
                        "decision": c.decision}} for c in comps]}


def _with_extra(event: ComponentDigitized, extra: dict[str, Any]) -> ComponentDigitized:
    """The event with the extracted fields, or without them when they break the contract:
    extraction helps the officer and never holds a scan back."""
    try:
        return ComponentDigitized.model_validate({**event.model_dump(), **extra})
    except ValidationError as exc:
        log.warning("extracted fields refused by the contract; emitted without them",
                    component=event.component_code, error=str(exc)[:300])
        return event


def _declarations(events: list[ApplicantRecorded], now: datetime) -> list[dict[str, Any]]:
    """One row per dossier (the last record wins); an organisation declares no personal
    fields a form could contradict."""
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        person = event.applicant
        if isinstance(person, IndividualApplicant):
            rows[event.dossier_code] = {
                "dossier_code": event.dossier_code, "full_name": person.full_name,
                "id_number": person.id_number,
                "social_insurance_code": person.social_insurance_code, "recorded_at": now}
    return [rows[c] for c in sorted(rows)]


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
