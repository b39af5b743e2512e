"""The runtime's SQL counts on both real databases: every statement counted once under the
phase that asked for it, by verb and table, an executemany with its rows; commits, pool
checkouts and the transactions begun; exported on the registry /metrics serves."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from services.common.observability.sqlstats import SqlStats, shape, sql_phase
from services.common.persistence.db import make_engine, session_factory

pytestmark = pytest.mark.integration

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True),
               Column("name", String(20)))


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def _get(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_statements_commits_and_checkouts_are_counted_per_phase(
        database_url: str) -> None:
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    registry = CollectorRegistry()
    stats = SqlStats.watch(engine, registry)
    sessions = session_factory(engine)
    try:
        with sql_phase("consumer"):
            for batch in range(3):
                async with sessions() as s, s.begin():
                    await s.execute(select(things.c.id).where(things.c.id < 0))
                    await s.execute(insert(things), [{"id": batch * 10 + i, "name": "x"}
                                                     for i in range(4)])
        async with sessions() as s:  # HTTP reads: phase "other", no commit
            await s.execute(select(things.c.name))
        async with sessions() as s:  # compiled each time: no cache to find it in
            await s.connection(execution_options={"compiled_cache": None})
            for _ in range(2):
                await s.execute(select(things.c.name).where(things.c.id > 1))
    finally:
        await engine.dispose()
    got = _samples(registry)
    consumer = {"phase": "consumer"}
    assert _get(got, "onestop_sql_statements_total", verb="select", table="things",
                **consumer) == 3
    assert _get(got, "onestop_sql_statements_total", verb="select", table="things",
                phase="other") == 3
    # One executemany per batch, carrying its four rows.
    assert _get(got, "onestop_sql_statements_total", verb="insert", table="things",
                **consumer) == 3
    assert _get(got, "onestop_sql_parameter_sets_total", verb="insert", table="things",
                **consumer) == 12
    assert _get(got, "onestop_sql_statement_seconds_total", verb="insert", table="things",
                **consumer) > 0
    assert _get(got, "onestop_sql_commits_total", **consumer) == 3
    assert _get(got, "onestop_sql_commits_total", phase="other") == 0
    assert _get(got, "onestop_sql_commit_seconds_total", **consumer) > 0
    assert _get(got, "onestop_sql_transactions_total", **consumer) == 3
    assert _get(got, "onestop_sql_checkouts_total", **consumer) == 3
    assert _get(got, "onestop_sql_checkouts_total", phase="other") == 2
    # SQLAlchemy compiled the batch's select once and found it in its cache after; the
    # uncached one anew each time. A bulk insert is driver SQL: nothing compiled.
    assert _get(got, "onestop_sql_compilations_total", verb="select", table="things",
                **consumer) == 1
    assert _get(got, "onestop_sql_compilations_total", verb="select", table="things",
                phase="other") == 3
    # The same two statement texts each batch (the prepared statements' cache holds them).
    assert stats.distinct_statements() >= 3
    assert got[("onestop_sql_distinct_statements", ())] == stats.distinct_statements()


def test_a_statement_is_known_by_its_verb_and_table() -> None:
    assert shape('INSERT INTO inbox (consumer, event_id) VALUES (?, ?)') == ("insert", "inbox")
    assert shape("SELECT inbox.event_id FROM inbox WHERE inbox.consumer = $1") == \
        ("select", "inbox")
    assert shape("UPDATE outbox SET published_at=$1 WHERE outbox.seq IN ($2)") == \
        ("update", "outbox")
    assert shape("DELETE FROM outbox_watermarks WHERE topic = ?") == \
        ("delete", "outbox_watermarks")
    # A batch's keys spread with unnest: the table probed or written is the one named.
    assert shape("SELECT probed.event_id FROM unnest($1::VARCHAR[]) AS ids(id), LATERAL "
                 "(SELECT inbox.event_id FROM inbox WHERE inbox.event_id = ids.id LIMIT 1) "
                 "AS probed") == ("select", "inbox")
    assert shape("INSERT INTO outbox (seq) SELECT c1 FROM unnest($1::BIGINT[]) AS u(c1)") == \
        ("insert", "outbox")
    # bulk.py's COPY: the table copied into, not the STDIN its rows come from.
    assert shape('COPY "inbox" (consumer, event_id) FROM STDIN (FORMAT binary)') == \
        ("copy", "inbox")
    assert shape("COPY outbox (seq) FROM STDIN (FORMAT binary)") == ("copy", "outbox")
    assert shape("BEGIN IMMEDIATE") == ("begin", "")
    assert shape("SELECT pg_try_advisory_lock($1)") == ("select", "")
