"""Every SQL statement of processing: cases, their steps, the applicants' identities."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bulk import defer_insert, upsert
from services.processing import tables
from services.processing.domain import WAITING


class ProcessingRepository:
    async def case(self, s: AsyncSession, code: str) -> dict[str, Any] | None:
        row = (await s.execute(select(tables.cases).where(tables.cases.c.code == code))
               ).mappings().first()
        return dict(row) if row else None

    async def merge_case(self, s: AsyncSession, code: str, **values: Any) -> dict[str, Any]:
        """What is known of a case so far, with `values` added (a new case waits)."""
        case = await self.case(s, code)
        if case is None:
            case = {c.name: None for c in tables.cases.columns} | {"code": code,
                                                                  "status": WAITING}
            await s.execute(tables.cases.insert().values(**(case | values)))
        else:
            await s.execute(update(tables.cases).where(tables.cases.c.code == code)
                            .values(**values))
        return case | values

    async def update_case(self, s: AsyncSession, code: str, **values: Any) -> None:
        await s.execute(update(tables.cases).where(tables.cases.c.code == code)
                        .values(**values))

    def add_step(self, s: AsyncSession, row: dict[str, Any]) -> None:
        defer_insert(s, tables.steps, row)

    async def steps(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        t = tables.steps
        return [dict(r) for r in (await s.execute(
            select(t).where(t.c.dossier_code == code).order_by(t.c.step_no))).mappings()]

    async def keep_applicant(self, s: AsyncSession, row: dict[str, Any]) -> None:
        """Once per dossier: the same identity republished under a new event id (after a
        broker reset) changes nothing, and raises no IntegrityError to dead-letter it for."""
        t = tables.applicants
        await s.execute(upsert(s, t).values(**row).on_conflict_do_nothing(
            index_elements=[t.c.dossier_code]))
