"""An in-memory ReportingRepository for the event-handling use case (`Projection.apply`):
the events kept, the facts with their fold memos, the step facts and the daily figures.
Only what `apply` calls is faked; any other method would reach for a database and fail."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.facts import (
    NOT_FOLDED,
    AggKey,
    DossierFact,
    DossierFold,
    FoldMemo,
    Recorded,
    StepFact,
)
from services.reporting.repository import ReportingRepository, recorded


def _copy(fact: DossierFact) -> DossierFact:
    """A fact as a fresh read gives it: the fold changes the one it loads in place."""
    return replace(fact, supplement_periods=[list(p) for p in fact.supplement_periods])


class FakeReportingRepository(ReportingRepository):
    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}  # event id -> `events` row
        self.facts: dict[str, DossierFact] = {}
        self.memos: dict[str, FoldMemo] = {}
        self.steps: dict[tuple[str, int], StepFact] = {}
        self.daily: dict[AggKey, Counter[str]] = {}

    async def add_events(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["event_id"] in self.events:  # the table's unique event id
                raise ValueError(f"event {row['event_id']} stored twice")
            self.events[row["event_id"]] = row

    async def stored_events(self, s: AsyncSession, codes: Sequence[str]
                            ) -> dict[str, list[Recorded]]:
        wanted = set(codes)
        out: dict[str, list[Recorded]] = {}
        for row in self.events.values():
            if row["dossier_code"] in wanted and row["type"] not in NOT_FOLDED:
                out.setdefault(row["dossier_code"], []).append(
                    recorded(row["event_id"], row["type"], row["time"], row["agency_code"],
                             row["data"]))
        return out

    async def lock_folds(self, s: AsyncSession, codes: Sequence[str]
                         ) -> dict[str, tuple[DossierFact, FoldMemo | None]]:
        return {code: (_copy(self.facts[code]), self.memos.get(code)) for code in codes
                if code in self.facts and self.facts[code].event_count}

    async def save_folds(self, s: AsyncSession, folds: list[DossierFold],
                         stale_steps: list[tuple[str, int]]) -> None:
        for fold in folds:
            code = fold.fact.dossier_code
            self.facts[code] = _copy(fold.fact)
            self.memos[code] = fold.memo()
            self.steps.update({(code, st.idx): replace(st) for st in fold.steps()})
        for key in stale_steps:
            self.steps.pop(key, None)

    async def apply_daily(self, s: AsyncSession, delta: dict[AggKey, Counter[str]]) -> None:
        for key, counts in delta.items():
            row = self.daily.setdefault(key, Counter())
            row.update(counts)
            if not any(row.values()):
                del self.daily[key]
