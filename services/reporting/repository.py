"""Every SQL statement of reporting: the events it applied, as they came."""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bulk import defer_insert
from services.reporting import tables


class ReportingRepository:
    def add_event(self, s: AsyncSession, row: dict[str, Any]) -> None:
        defer_insert(s, tables.events, row)

    async def dossiers_by_agency_and_type(self, s: AsyncSession
                                          ) -> list[tuple[str, str, int]]:
        e = tables.events
        return [tuple(r) for r in (await s.execute(  # type: ignore[misc]
            select(e.c.agency_code, e.c.type, func.count(distinct(e.c.dossier_code)))
            .group_by(e.c.agency_code, e.c.type))).all()]

    async def events_by_agency(self, s: AsyncSession) -> list[tuple[str, int]]:
        e = tables.events
        return [tuple(r) for r in (await s.execute(  # type: ignore[misc]
            select(e.c.agency_code, func.count()).group_by(e.c.agency_code))).all()]

    async def event_count(self, s: AsyncSession) -> int:
        return int(await s.scalar(select(func.count()).select_from(tables.events)) or 0)

    async def events_of(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        e = tables.events
        return [dict(r) for r in (await s.execute(
            select(e).where(e.c.dossier_code == code).order_by(e.c.time, e.c.seq))).mappings()]
