"""Reporting's domain metrics: how each touched dossier's fact was brought up to date,
counted once the batch's transaction commits (a retried batch counts once)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.observability.metrics import on_commit


class ReportingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._folds = Counter(
            "onestop_reporting_folds_total",
            "dossiers brought up to date by a batch: 'advanced' (its new events added onto "
            "the stored fold) or 'refolded' (folded again from all its events: a step or "
            "supplement event sorted before one of its sequence folded already, the "
            "calendar changed under counted steps, or the fold state was missing)",
            ["how"], registry=registry)

    def folded(self, s: AsyncSession, advanced: int, refolded: int) -> None:
        def count() -> None:
            self._folds.labels(how="advanced").inc(advanced)
            self._folds.labels(how="refolded").inc(refolded)
        on_commit(s, count)
