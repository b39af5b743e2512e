"""Digitization's use cases: a received dossier, a paper component scanned, a document held
elsewhere. Each reads through the repository, decides with the domain, writes and emits in
the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.common import ComponentForm
from contracts.events import DossierReceived
from services.common.consumer import Context
from services.common.outbox import OutboxWriter
from services.common.telemetry import get_logger
from services.digitization import domain
from services.digitization.domain import AlreadyDone, NotFound
from services.digitization.repository import DigitizationRepository

log = get_logger(__name__)


class Digitizer:
    def __init__(self, outbox: OutboxWriter,
                 repository: DigitizationRepository | None = None) -> None:
        self.outbox = outbox
        self.repo = repository or DigitizationRepository()

    async def on_received(self, ctx: Context, event: DossierReceived) -> None:
        # Everything is known from the event: no read-back needed in this transaction.
        s, now, agency = ctx.session, self.outbox.clock.now(), event.agency_code
        unique = domain.unique_components(event.components)
        complete = all(domain.digitized_on_arrival(c) for c in unique)
        if not await self.repo.add_dossier_if_new(s, {
                "code": event.dossier_code, "agency_code": agency,
                "procedure_code": event.procedure_code, "component_count": len(unique),
                "received_at": event.received_at, "digitized_at": now if complete else None,
                "applicant_ref": event.applicant.ref}):
            log.info("dossier already known, receipt skipped", dossier=event.dossier_code,
                     event_id=str(ctx.envelope.id))
            return
        for comp in unique:
            done = domain.digitized_on_arrival(comp)
            self.repo.add_component(s, {
                "dossier_code": event.dossier_code, "code": comp.code, "form": comp.form.value,
                "document_ref": comp.document_ref, "digitized_at": now if done else None})
            if domain.kept_in_warehouse(comp):
                await self._store(s, event.applicant.ref, comp.document_ref or "",
                                  event.dossier_code, comp.code, now)
            if done:
                await self.outbox.emit(s, topics.DIGITIZATION, domain.component_digitized(
                    event.dossier_code, comp.code, comp.form, now, comp.document_ref), agency)
        if complete:
            await self.outbox.emit(s, topics.DIGITIZATION, domain.dossier_digitized(
                event.dossier_code, agency, event.procedure_code, now, len(unique)), agency)

    async def mark_paper_digitized(self, s: AsyncSession, code: str, component: str,
                                   document_ref: str | None) -> dict[str, Any]:
        now = self.outbox.clock.now()
        dossier = await self.repo.dossier(s, code)
        comp = await self.repo.component(s, code, component)
        if dossier is None or comp is None:
            raise NotFound(code if dossier is None else component)
        if comp["digitized_at"] is not None:
            raise AlreadyDone(component)
        await self.repo.mark_component(s, code, component, now, document_ref)
        await self.outbox.emit(s, topics.DIGITIZATION, domain.component_digitized(
            code, component, ComponentForm(comp["form"]), now, document_ref),
            dossier["agency_code"])
        if document_ref and dossier["applicant_ref"]:
            await self._store(s, dossier["applicant_ref"], document_ref, code, component, now)
        done = await self.repo.components_left(s, code) == 0
        if done:
            await self.repo.mark_dossier(s, code, now)
            await self.outbox.emit(s, topics.DIGITIZATION, domain.dossier_digitized(
                code, dossier["agency_code"], dossier["procedure_code"], now,
                dossier["component_count"]), dossier["agency_code"])
        return {"dossier_code": code, "component": component, "digitized_at": now.isoformat(),
                "dossier_digitized": done}

    async def _store(self, s: AsyncSession, applicant_ref: str, document_ref: str,
                     dossier_code: str | None, component: str | None, now: datetime,
                     source: str = "digitized") -> None:
        await self.repo.store_document(s, {
            "applicant_ref": applicant_ref, "document_ref": document_ref,
            "dossier_code": dossier_code, "component_code": component, "source": source,
            "stored_at": now})

    async def hold(self, s: AsyncSession, applicant_ref: str, document_ref: str,
                   source: str) -> None:
        """Record a document held elsewhere (a connected national database)."""
        await self._store(s, applicant_ref, document_ref, None, None, self.outbox.clock.now(),
                          source)

    async def held(self, s: AsyncSession, applicant_ref: str, document_ref: str
                   ) -> dict[str, Any] | None:
        row = await self.repo.document(s, applicant_ref, document_ref)
        return None if row is None else {**row, "stored_at": row["stored_at"].isoformat()}

    async def view(self, s: AsyncSession, code: str) -> dict[str, Any]:
        dossier = await self.repo.dossier(s, code)
        if dossier is None:
            raise NotFound(code)
        comps = await self.repo.components(s, code)
        return {"dossier_code": code,
                "digitized_at": dossier["digitized_at"] and dossier["digitized_at"].isoformat(),
                "components": [{"code": c["code"], "form": c["form"],
                                "document_ref": c["document_ref"],
                                "digitized_at": c["digitized_at"] and c["digitized_at"].isoformat()}
                               for c in comps]}
