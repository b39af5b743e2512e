"""The relay's pending queue (`outbox_pending`), as every service's migrations leave it, on
both databases: the revision queues the rows pending before it (not the published, not the
parked), the outbox's trigger queues each row written after, in the statement that writes
it, and the downgrade gives the rows the queue no longer holds their `published_at` back.
A table rebuild that dropped the trigger (Alembic's SQLite batch mode copies the table)
stops the service at start instead of leaving its events unpublished."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection

from services.common.persistence.db import make_engine, pending_trigger_present
from services.common.persistence.migrations import alembic_config, upgrade_async
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.integration.support import settings_for
from tests.integration.test_outbox_indexes import METADATA, revision_below

pytestmark = pytest.mark.integration
T = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)


def _row(name: str, **values: object) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "topic": "t", "key": name, "event_type": "x.v1",
            "payload": b"{}", "traceparent": None, "created_at": T, "published_at": None,
            "parked_at": None, "park_reason": None} | values


def _state(conn: Connection) -> dict[str, object]:
    names = set(sa.inspect(conn).get_table_names())
    rows = conn.execute(sa.text("SELECT seq, key, published_at FROM outbox ORDER BY seq"))
    keys = {seq: (key, published) for seq, key, published in rows}
    queued = (sorted(keys[seq][0] for (seq,) in conn.execute(
        sa.text("SELECT seq FROM outbox_pending"))) if "outbox_pending" in names else None)
    return {"queued": queued, "trigger": "outbox_pending" in names
            and pending_trigger_present(conn),
            "published": sorted(key for key, published in keys.values() if published)}


@pytest.mark.parametrize("service", sorted(METADATA))
async def test_the_queue_takes_over_the_pending_rows_and_gives_them_back(
        database_url: str, service: str) -> None:
    below = revision_below(service, "add_outbox_queue")
    cfg = alembic_config(service, database_url, METADATA[service])
    await asyncio.to_thread(command.upgrade, cfg, below)
    engine = make_engine(database_url)
    try:
        outbox = METADATA[service].tables["outbox"]
        async with engine.begin() as conn:  # the trigger is not there yet: nothing queued
            await conn.execute(outbox.insert(), [
                _row("sent", published_at=T), _row("waiting"),
                _row("refused", parked_at=T, park_reason="too large"), _row("also")])
        await upgrade_async(service, database_url, METADATA[service])
        async with engine.begin() as conn:
            assert await conn.run_sync(_state) == {
                "queued": ["also", "waiting"], "trigger": True, "published": ["sent"]}
            await conn.execute(outbox.insert(), [_row("new")])
        async with engine.connect() as conn:
            assert (await conn.run_sync(_state))["queued"] == ["also", "new", "waiting"]
        # The relay publishes "waiting" (it leaves the queue); then down below the queue.
        async with engine.begin() as conn:
            await conn.execute(sa.text(
                "DELETE FROM outbox_pending WHERE seq = "
                "(SELECT seq FROM outbox WHERE key = 'waiting')"))
        await asyncio.to_thread(command.downgrade, cfg, below)
        async with engine.connect() as conn:
            assert await conn.run_sync(_state) == {
                "queued": None, "trigger": False, "published": ["sent", "waiting"]}
        await upgrade_async(service, database_url, METADATA[service])
        async with engine.connect() as conn:
            assert await conn.run_sync(_state) == {
                "queued": ["also", "new"], "trigger": True, "published": ["sent", "waiting"]}
    finally:
        await engine.dispose()


def _rebuild_outbox(conn: Connection) -> None:
    """What a later revision of the outbox does on SQLite: the table copied anew."""
    operations = Operations(MigrationContext.configure(conn))
    with operations.batch_alter_table("outbox", recreate="always") as batch:
        batch.alter_column("park_reason", existing_type=sa.String(500), type_=sa.String(600))


async def test_a_service_whose_outbox_lost_its_trigger_refuses_to_start(
        tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
    runtime = build(settings_for(IntakeSettings, "127.0.0.1:1", url, tmp_path))
    try:
        await runtime.migrate()
        async with runtime.engine.begin() as conn:
            assert await conn.run_sync(pending_trigger_present)
            await conn.run_sync(_rebuild_outbox)
            assert not await conn.run_sync(pending_trigger_present)
        with pytest.raises(RuntimeError, match="no outbox_pending_add trigger"):
            await runtime.start(migrate=False)
        assert runtime.producer is None  # stopped before it met the broker
    finally:
        await runtime.engine.dispose()
