"""Processing's domain gauges: open cases, near-due and overdue ones, per agency. Near and
overdue are what the deadline monitor already wrote on each case (`cases.deadline`), so a
refresh is one grouped query, run periodically (app.py), never per scrape or per event."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.processing import domain
from services.processing.repository import ProcessingRepository


class CaseGauges:
    def __init__(self, registry: CollectorRegistry,
                 sessions: async_sessionmaker[AsyncSession],
                 repo: ProcessingRepository) -> None:
        self.sessions = sessions
        self.repo = repo
        self.open = Gauge("onestop_cases_open", "received cases not resolved yet",
                          ["agency"], registry=registry)
        self.near = Gauge("onestop_cases_near_due",
                          "open cases whose deadline warning fired", ["agency"],
                          registry=registry)
        self.overdue = Gauge("onestop_cases_overdue", "open cases past their due time",
                             ["agency"], registry=registry)

    async def refresh(self) -> None:
        async with self.sessions() as s:
            rows = await self.repo.open_counts(s)
        totals: dict[str, dict[str, int]] = {}
        for agency, deadline, count in rows:
            per = totals.setdefault(agency, {"open": 0, domain.NEAR: 0, domain.OVERDUE: 0})
            per["open"] += count
            if deadline in (domain.NEAR, domain.OVERDUE):
                per[deadline] += count
        # No await from here on: a scrape sees the old set or the new one, and an agency
        # whose last case closed drops out instead of keeping its last count.
        for gauge in (self.open, self.near, self.overdue):
            gauge.clear()
        for agency, per in totals.items():
            self.open.labels(agency=agency).set(per["open"])
            self.near.labels(agency=agency).set(per[domain.NEAR])
            self.overdue.labels(agency=agency).set(per[domain.OVERDUE])
