"""The open-cases gauges count from a partial index of the open cases (ix_cases_open), on
both databases: a count by `state NOT IN` read every case ever received, so its cost grew
with the table for as long as processing ran. The index's condition is the resolved states
of the domain, and the count gives what the cases say."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.common.persistence.db import make_engine
from services.common.persistence.migrations import alembic_config, upgrade_async
from services.processing import domain, tables
from services.processing.repository import OPEN_COUNTS, ProcessingRepository

pytestmark = pytest.mark.integration


def test_the_index_condition_names_the_resolved_states() -> None:
    states = tables.OPEN_CASE.split("NOT IN", 1)[1].strip(" ()").split(", ")
    assert {s.strip("'") for s in states} == domain.RESOLVED


def _index_names(conn: sa.Connection) -> set[str]:
    return {i["name"] for i in sa.inspect(conn).get_indexes("cases") if i["name"]}


def _plan(conn: sa.Connection, query: sa.Select[Any]) -> str:
    compiled = query.compile(conn)
    # No bound values: a database can prove the index's condition from the statement alone,
    # at every execution (PostgreSQL's generic plans and SQLite never see a bound value).
    assert not compiled.params, compiled.params
    sql = str(compiled)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a small table is scanned
        rows = conn.exec_driver_sql(f"EXPLAIN {sql}").all()
    else:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
    return "\n".join(str(r[-1]) for r in rows)


async def test_the_gauges_count_the_open_cases_from_their_partial_index(
        database_url: str) -> None:
    await upgrade_async("processing", database_url, tables.metadata)
    engine = make_engine(database_url)
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            assert "ix_cases_open" in await conn.run_sync(_index_names)
            rows = [{"code": f"C-{i}", "agency_code": "A", "state": state,
                     "deadline": deadline, "received_at": received}
                    for i, (state, deadline, received) in enumerate([
                        ("in_step", None, now), ("in_step", "near", now),
                        ("waiting", "overdue", now), ("approved", None, now),
                        ("withdrawn", None, now), ("in_step", None, None)])]
            await conn.execute(sa.insert(tables.cases), rows)
        repo = ProcessingRepository()
        async with engine.begin() as conn:
            plan = await conn.run_sync(_plan, OPEN_COUNTS)
        assert "ix_cases_open" in plan, plan
        async with async_sessionmaker(engine)() as s:
            counts = sorted(await repo.open_counts(s), key=lambda r: r[1] or "")
        assert counts == [("A", None, 1), ("A", "near", 1), ("A", "overdue", 1)]
    finally:
        await engine.dispose()
    cfg = alembic_config("processing", database_url, tables.metadata)
    await asyncio.to_thread(command.downgrade, cfg, "0015")  # the revision below 0016
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert "ix_cases_open" not in await conn.run_sync(_index_names)
    finally:
        await engine.dispose()
