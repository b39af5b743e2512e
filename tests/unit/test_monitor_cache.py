"""The dashboard's shared answers (reporting/monitoring.py `Monitor.cached`): served again
while fresh, and dropped once stale, so windows asked for once do not pile up."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from services.reporting import monitoring
from services.reporting.monitoring import CACHE_SECONDS, Monitor


class Repo:
    async def change_token(self, _session: Any) -> int:
        return 7


async def test_stale_answers_are_dropped_when_another_is_stored(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(monitoring.time, "monotonic", lambda: now[0])
    monitor = Monitor.__new__(Monitor)
    monitor.projection = SimpleNamespace(scope=SimpleNamespace(agency="HN"))  # type: ignore[assignment]
    monitor.repo = Repo()  # type: ignore[assignment]
    monitor._cache = {}
    computed: list[str] = []

    def compute(label: str) -> Any:
        async def run() -> str:
            computed.append(label)
            return label
        return run

    assert await monitor.cached(None, ("emulation", "2026-Q1"), compute("q1")) == "q1"  # type: ignore[arg-type]
    assert await monitor.cached(None, ("emulation", "2026-Q1"), compute("again")) == "q1"  # type: ignore[arg-type]
    now[0] += CACHE_SECONDS / 2
    await monitor.cached(None, ("emulation", "2026-Q2"), compute("q2"))  # type: ignore[arg-type]
    assert set(monitor._cache) == {("HN", "emulation", "2026-Q1"), ("HN", "emulation", "2026-Q2")}
    now[0] += CACHE_SECONDS
    await monitor.cached(None, ("emulation", "2026-Q3"), compute("q3"))  # type: ignore[arg-type]
    assert set(monitor._cache) == {("HN", "emulation", "2026-Q3")}
    assert computed == ["q1", "q2", "q3"]
