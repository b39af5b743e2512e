"""Intake's domain metrics: dossiers received and refused, by channel. Counted once the
transaction that records them commits (a retried batch counts once), in memory: no query."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from services.common.observability.metrics import on_commit
from services.intake.repository import Session


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._received = Counter("onestop_dossiers_received_total",
                                 "dossiers received (counter, post, online, provinces)",
                                 ["channel"], registry=registry)
        self._refused = Counter("onestop_dossiers_refused_total",
                                "dossiers refused at receipt, with a refusal slip",
                                ["channel"], registry=registry)

    def received(self, s: Session, channel: str) -> None:
        on_commit(s, self._received.labels(channel=channel).inc)

    def refused(self, s: Session, channel: str) -> None:
        on_commit(s, self._refused.labels(channel=channel).inc)
