"""Reporting's use cases: keep every event it reads; answer the figures and a trace."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import Event
from services.common.consumer import Context
from services.reporting import domain
from services.reporting.repository import ReportingRepository


class Projection:
    def __init__(self, repository: ReportingRepository | None = None) -> None:
        self.repo = repository or ReportingRepository()

    async def record(self, ctx: Context, _event: Event) -> None:
        env = ctx.envelope
        self.repo.add_event(ctx.session, {
            "event_id": str(env.id), "dossier_code": env.subject, "type": env.type,
            "source": env.source, "agency_code": env.agencycode, "time": env.time,
            "topic": ctx.topic, "data": env.data})

    async def stats(self, s: AsyncSession) -> dict[str, Any]:
        return domain.stats(await self.repo.dossiers_by_agency_and_type(s),
                            await self.repo.events_by_agency(s),
                            await self.repo.event_count(s))

    async def trace(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        return [domain.trace_entry(r) for r in await self.repo.events_of(s, code)]
