"""The relay's PostgreSQL leader lock is let go when the runtime stops, even when the stop
cancels the relay in the middle of a pass: a runtime started next in the same process leads
and publishes (a lock left on a pooled connection would keep it on standby for good)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from services.common.messaging.relay import LEADER_LOCK
from services.processing.app import build
from services.processing.settings import ProcessingSettings
from tests.conftest import postgres_database
from tests.integration.support import eventually, settings_for, started

pytestmark = pytest.mark.integration


async def _held(url: str, tmp_path: Path, bootstrap: str) -> int:
    probe = build(settings_for(ProcessingSettings, bootstrap, url, tmp_path))
    try:
        async with probe.engine.connect() as conn:
            return int(await conn.scalar(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k "
                "AND database = (SELECT oid FROM pg_database WHERE datname = "
                "current_database())"), {"k": LEADER_LOCK}))
    finally:
        await probe.engine.dispose()


async def test_a_stopped_relay_lets_go_of_its_leader_lock(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    async with postgres_database() as url:
        for round_ in range(3):  # stop at different moments of the relay's pass
            runtime = await started(build(settings_for(ProcessingSettings, kafka_bootstrap,
                                                       url, tmp_path)))
            await eventually(lambda r=runtime: r.relay is not None and r.relay.leading,
                             f"round {round_}: the relay to lead", seconds=5, interval=0.05)
            await asyncio.sleep(0.1 * round_)
            await runtime.stop()
            assert await _held(url, tmp_path, kafka_bootstrap) == 0
