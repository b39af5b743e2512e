"""Every service's outbox, as its migrations leave it, on both databases: the indexes its
queries read (the primary key, the event id's, created_at for the purge and the republish,
the partial index of parked rows; the relay's pending rows have their own table since,
test_outbox_queue.py) and no other. ix_outbox_published_at was read by no query
while every row written and every row marked published paid for an entry in it; its
revision drops it, and its downgrade brings it back."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from services.common.persistence.db import make_engine
from services.common.persistence.migrations import alembic_config, upgrade_async
from services.digitization import tables as digitization
from services.intake import tables as intake
from services.notification import tables as notification
from services.processing import tables as processing
from services.reporting import tables as reporting

pytestmark = pytest.mark.integration

METADATA = {"intake": intake.metadata, "digitization": digitization.metadata,
            "processing": processing.metadata, "notification": notification.metadata,
            "reporting": reporting.metadata}
READ = {"ix_outbox_created_at", "ix_outbox_parked"}
SERVICES = Path(__file__).resolve().parents[2] / "services"


def revision_below(service: str, call: str) -> str:
    """The revision below the one whose upgrade makes `call` (later revisions of the
    service come down with it)."""
    for path in sorted((SERVICES / service / "migrations" / "versions").glob("*.py")):
        text = path.read_text("utf-8")
        if f"{call}()" in text:
            found = re.search(r"^down_revision: .* = '(\w+)'", text, re.MULTILINE)
            assert found, path
            return found.group(1)
    raise AssertionError(f"{service}: no revision calls {call}")


def _indexes(conn: Connection) -> set[str]:
    # The event id's unique constraint is checked apart: PostgreSQL lists its index too.
    unique = [c["column_names"] for c in sa.inspect(conn).get_unique_constraints("outbox")]
    assert unique == [["event_id"]]
    return {i["name"] for i in sa.inspect(conn).get_indexes("outbox")
            if i["name"] and not i.get("duplicates_constraint")}


async def _outbox_indexes(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_indexes)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", sorted(METADATA))
async def test_the_outbox_keeps_only_the_indexes_its_queries_read(database_url: str,
                                                                  service: str) -> None:
    await upgrade_async(service, database_url, METADATA[service])
    assert await _outbox_indexes(database_url) == READ
    cfg = alembic_config(service, database_url, METADATA[service])
    below = revision_below(service, "drop_outbox_published_at_index")
    await asyncio.to_thread(command.downgrade, cfg, below)
    # Below the queue too: the partial index it replaced is back.
    assert await _outbox_indexes(database_url) == READ | {"ix_outbox_published_at",
                                                          "ix_outbox_pending"}
    await upgrade_async(service, database_url, METADATA[service])
    assert await _outbox_indexes(database_url) == READ
