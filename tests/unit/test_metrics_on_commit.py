"""A domain counter moves when the transaction that records its fact commits, never for one
rolled back (a consumer batch that fails and is retried counts once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import text

from services.common.observability.metrics import on_commit
from services.common.persistence.db import make_engine, session_factory


async def test_counted_on_commit_only(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    counter = Counter("demo_received_total", "", ["channel"], registry=registry)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    sessions = session_factory(engine)

    def counted() -> float:
        return registry.get_sample_value("demo_received_total", {"channel": "counter"}) or 0

    try:
        with pytest.raises(RuntimeError):
            async with sessions() as s, s.begin():
                await s.execute(text("SELECT 1"))
                on_commit(s, counter.labels(channel="counter").inc)
                raise RuntimeError("the batch fails")
        assert counted() == 0
        async with sessions() as s:
            async with s.begin():  # the retry
                on_commit(s, counter.labels(channel="counter").inc)
                on_commit(s, counter.labels(channel="counter").inc)
                assert counted() == 0  # not before the commit
            assert counted() == 2
            async with s.begin():  # the same session again: nothing left over to count
                await s.execute(text("SELECT 1"))
            assert counted() == 2
    finally:
        await engine.dispose()
