"""What happens to a dossier at the one-stop counter after (or instead of) receipt:
refusal with reasons, one supplement request listing everything, the supplement that
completes it (the legal clock starts afresh), and withdrawal by the applicant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.common import (
    ApplicantRef,
    ComponentRef,
    IndividualApplicant,
    LegalTime,
    OrganizationApplicant,
    Problem,
    Reason,
)
from contracts.events import (
    DossierRejected,
    DossierWithdrawn,
    SupplementItem,
    SupplementReceived,
    SupplementRequested,
)
from services.intake import tables
from services.intake.receiving import Receiver, Rejected, Submission
from services.intake.rules import (
    ALLOWED_FROM,
    check_components,
    check_submission,
    personal_numbers,
    still_missing,
)
from services.law.catalog import CatalogError

# The problems of check_submission that make a refusal itself impossible to record (no such
# agency or procedure, a time that cannot be true). The others (procedure not handled here,
# wrong applicant kind, components missing or unknown) are what a refusal is for.
REFUSAL_BLOCKERS = frozenset({
    "received_at_in_future", "unknown_agency", "agency_not_active", "unknown_procedure",
    "duplicate_component", "personal_document_ref"})


def no_catalogue(exc: CatalogError) -> Problem:
    """received_at before the first catalogue came into force: nothing to judge it by."""
    return Problem.of("no_catalogue",
                      "Không có danh mục thủ tục có hiệu lực vào ngày tiếp nhận",
                      str(exc)[:500], "received_at")


class NotFound(Exception):
    pass


class WrongState(Exception):
    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"{action} is not possible while the dossier is {status}")
        self.action = action
        self.status = status


class Lifecycle:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.outbox = receiver.outbox

    async def _dossier(self, s: AsyncSession, code: str, action: str) -> dict[str, Any]:
        row = await self.receiver.existing(s, code=code)
        if row is None:
            raise NotFound(code)
        if row["status"] not in ALLOWED_FROM[action]:
            raise WrongState(action, row["status"])
        return row

    async def _set(self, s: AsyncSession, code: str, now: datetime, **values: Any) -> None:
        await s.execute(update(tables.dossiers).where(tables.dossiers.c.code == code)
                        .values(updated_at=now, **values))

    async def refuse(self, s: AsyncSession, sub: Submission, reasons: list[Reason],
                     now: datetime) -> dict[str, Any]:
        """Decree 61/2018 Art. 19(1)(c) / Decree 118/2025: not in the agency's remit or not
        eligible: a refusal slip with reasons. The dossier gets a code so the slip has one.
        Raises Rejected when the refusal itself cannot stand (see REFUSAL_BLOCKERS)."""
        try:
            catalog = self.receiver.catalog_on(sub.received_at)
        except CatalogError as exc:
            raise Rejected([no_catalogue(exc)]) from None
        found, _, _ = check_submission(
            catalog, agency_code=sub.agency_code, procedure_code=sub.procedure_code,
            applicant_kind=sub.applicant.kind, components=sub.components,
            received_at=sub.received_at, now=now, applicant=sub.applicant)
        if problems := [p for p in found if p.code in REFUSAL_BLOCKERS]:
            raise Rejected(problems)
        row = await self.receiver.record(
            s, sub, now, status="refused", due_at=sub.received_at,
            legal_time=LegalTime(value=0, unit="same_day"),
            catalog_version=catalog.version, clock_started_at=None, reasons=reasons)
        code, ref = row["code"], row["applicant_ref"]
        await self.outbox.emit(s, topics.INTAKE, DossierRejected(
            dossier_code=code, agency_code=sub.agency_code, procedure_code=sub.procedure_code,
            applicant=ApplicantRef(kind=sub.applicant.kind, ref=ref), rejected_at=now,
            reasons=reasons), sub.agency_code)
        return row

    async def request_supplement(self, s: AsyncSession, code: str, items: list[SupplementItem],
                                 requested_by: str, stage: str, now: datetime
                                 ) -> dict[str, Any]:
        """One request listing everything to supplement (not several rounds)."""
        row = await self._dossier(s, code, "request_supplement")
        request = {"items": [i.model_dump(mode="json") for i in items],
                   "requested_by": requested_by, "requested_at": now.isoformat(),
                   "stage": stage}
        await self._set(s, code, now, status="awaiting_supplement", supplement_request=request)
        await self.outbox.emit(s, topics.INTAKE, SupplementRequested(
            dossier_code=code, requested_at=now, stage=stage,  # type: ignore[arg-type]
            requested_by=requested_by, items=items), row["agency_code"])
        return {**row, "status": "awaiting_supplement", "supplement_request": request}

    async def receive_supplement(self, s: AsyncSession, code: str,
                                 components: list[ComponentRef], now: datetime
                                 ) -> dict[str, Any]:
        row = await self._dossier(s, code, "receive_supplement")
        # The supplement's components go onto the broad intake topic too: same rules.
        applicant = row["applicant"] or {}
        model = IndividualApplicant if applicant.get("kind") == "individual" else \
            OrganizationApplicant
        if problems := check_components(components, personal_numbers(
                model.model_validate(applicant) if applicant else None)):
            raise Rejected(problems)
        request = row["supplement_request"] or {"items": []}
        missing = still_missing(request["items"], {c.code for c in components})
        given = [c.model_dump(mode="json") for c in components]
        all_components = [c for c in row["components"]
                          if c["code"] not in {g["code"] for g in given}] + given
        if missing:
            # Still incomplete: the clock does not start; the open request shrinks.
            await self._set(s, code, now, components=all_components,
                            supplement_request={**request, "items": missing})
            await self.outbox.emit(s, topics.INTAKE, SupplementReceived(
                dossier_code=code, received_at=now, components=components, complete=False),
                row["agency_code"])
            return {**row, "components": all_components, "missing": missing}
        # Law on Social Insurance 2024: legal times run from the day the complete dossier
        # is received, so the appointment is counted afresh from now.
        agency = self.receiver.catalogs.version(row["catalog_version"]).agency(row["agency_code"])
        calendar = self.receiver.calendar_for(agency) if agency else self.receiver.calendar
        due_at = calendar.due_at(now, LegalTime(**row["legal_time"]))
        await self._set(s, code, now, status="received", components=all_components,
                        supplement_request=None, clock_started_at=now, due_at=due_at)
        await self.outbox.emit(s, topics.INTAKE, SupplementReceived(
            dossier_code=code, received_at=now, components=components, complete=True,
            due_at=due_at), row["agency_code"])
        return {**row, "status": "received", "components": all_components, "due_at": due_at,
                "missing": []}

    async def withdraw(self, s: AsyncSession, code: str, reason: str | None, at: datetime,
                       now: datetime) -> dict[str, Any]:
        row = await self._dossier(s, code, "withdraw")
        await self._set(s, code, now, status="withdrawn", supplement_request=None)
        await self.outbox.emit(s, topics.INTAKE, DossierWithdrawn(
            dossier_code=code, withdrawn_at=at, reason=reason), row["agency_code"])
        return {**row, "status": "withdrawn"}
