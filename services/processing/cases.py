"""Opening a case. Intake's and digitization's topics are not ordered with each other, so
the case opens when both "received" and "digitized" are known, whichever came first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.events import ApplicantRecorded, DossierDigitized, DossierReceived, StepAssigned
from services.common.bulk import defer_insert, upsert
from services.common.consumer import Context
from services.common.outbox import OutboxWriter
from services.law.catalog import CatalogSet
from services.processing import tables


class CaseOpener:
    def __init__(self, catalogs: CatalogSet, outbox: OutboxWriter) -> None:
        self.catalogs = catalogs
        self.outbox = outbox

    async def _case(self, s: AsyncSession, code: str) -> dict[str, Any] | None:
        row = (await s.execute(select(tables.cases).where(tables.cases.c.code == code))
               ).mappings().first()
        return dict(row) if row else None

    async def _upsert(self, s: AsyncSession, code: str, **values: Any) -> dict[str, Any]:
        case = await self._case(s, code)
        if case is None:
            case = {c.name: None for c in tables.cases.columns} | {"code": code,
                                                                  "status": "waiting"}
            await s.execute(tables.cases.insert().values(**(case | values)))
        else:
            await s.execute(update(tables.cases).where(tables.cases.c.code == code)
                            .values(**values))
        return case | values

    async def on_received(self, ctx: Context, event: DossierReceived) -> None:
        case = await self._upsert(ctx.session, event.dossier_code,
                                  agency_code=event.agency_code,
                                  procedure_code=event.procedure_code,
                                  received_at=event.received_at, due_at=event.due_at,
                                  catalog_version=event.catalog_version)
        await self._open_if_ready(ctx.session, case)

    async def on_digitized(self, ctx: Context, event: DossierDigitized) -> None:
        case = await self._upsert(ctx.session, event.dossier_code,
                                  digitized_at=event.digitized_at)
        await self._open_if_ready(ctx.session, case)

    async def on_applicant(self, ctx: Context, event: ApplicantRecorded) -> None:
        # Known already (the same record republished under a new event id after a broker
        # reset): nothing to do, and no IntegrityError to dead-letter it for.
        await ctx.session.execute(upsert(ctx.session, tables.applicants).values(
            dossier_code=event.dossier_code, applicant_ref=event.applicant_ref,
            applicant=event.applicant.model_dump(mode="json")).on_conflict_do_nothing(
            index_elements=[tables.applicants.c.dossier_code]))

    async def _open_if_ready(self, s: AsyncSession, case: dict[str, Any]) -> None:
        if case["status"] != "waiting" or not case["received_at"] or not case["digitized_at"]:
            return
        # The steps of the catalogue the dossier was received under.
        catalog = self.catalogs.version(case["catalog_version"] or "")
        procedure = catalog.procedure(case["procedure_code"])
        if procedure is None:
            raise LookupError(f"procedure {case['procedure_code']} not in the catalogue")
        step = procedure.steps[0]
        now = self.outbox.clock.now()
        await s.execute(update(tables.cases).where(tables.cases.c.code == case["code"])
                        .values(status="processing", opened_at=now, current_step=1))
        defer_insert(s, tables.steps, {
            "dossier_code": case["code"], "step_no": 1, "step_code": step.code,
            "department": step.department, "assigned_at": now, "due_at": case["due_at"]})
        await self.outbox.emit(s, topics.PROCESSING, StepAssigned(
            dossier_code=case["code"], step_no=1, step_code=step.code,
            department=step.department, assigned_at=now, step_due_at=case["due_at"]),
            case["agency_code"])
