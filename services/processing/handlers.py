"""Processing's use cases: a case is known from intake's and digitization's events, and
opens at its first step when both have arrived."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.events import ApplicantRecorded, DossierDigitized, DossierReceived
from services.common.consumer import Context
from services.common.outbox import OutboxWriter
from services.law.catalog import CatalogSet
from services.processing import domain
from services.processing.repository import ProcessingRepository


class CaseOpener:
    def __init__(self, catalogs: CatalogSet, outbox: OutboxWriter,
                 repository: ProcessingRepository | None = None) -> None:
        self.catalogs = catalogs
        self.outbox = outbox
        self.repo = repository or ProcessingRepository()

    async def on_received(self, ctx: Context, event: DossierReceived) -> None:
        case = await self.repo.merge_case(ctx.session, event.dossier_code,
                                          agency_code=event.agency_code,
                                          procedure_code=event.procedure_code,
                                          received_at=event.received_at, due_at=event.due_at,
                                          catalog_version=event.catalog_version)
        await self._open_if_ready(ctx.session, case)

    async def on_digitized(self, ctx: Context, event: DossierDigitized) -> None:
        case = await self.repo.merge_case(ctx.session, event.dossier_code,
                                          digitized_at=event.digitized_at)
        await self._open_if_ready(ctx.session, case)

    async def on_applicant(self, ctx: Context, event: ApplicantRecorded) -> None:
        await self.repo.keep_applicant(ctx.session, {
            "dossier_code": event.dossier_code, "applicant_ref": event.applicant_ref,
            "applicant": event.applicant.model_dump(mode="json")})

    async def _open_if_ready(self, s: AsyncSession, case: dict[str, Any]) -> None:
        if not domain.ready_to_open(case):
            return
        step = domain.first_step(self.catalogs, case)
        now = self.outbox.clock.now()
        await self.repo.update_case(s, case["code"], status=domain.PROCESSING, opened_at=now,
                                    current_step=1)
        self.repo.add_step(s, {
            "dossier_code": case["code"], "step_no": 1, "step_code": step.code,
            "department": step.department, "assigned_at": now, "due_at": case["due_at"]})
        await self.outbox.emit(s, topics.PROCESSING, domain.step_assigned(case, 1, step, now),
                               case["agency_code"])

    async def view(self, s: AsyncSession, code: str) -> dict[str, Any] | None:
        case = await self.repo.case(s, code)
        if case is None:
            return None
        return {"dossier_code": code, "status": case["status"],
                "current_step": case["current_step"],
                "steps": [{"step_no": r["step_no"], "step_code": r["step_code"],
                           "department": r["department"]}
                          for r in await self.repo.steps(s, code)]}
