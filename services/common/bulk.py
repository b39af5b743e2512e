"""Inserts deferred to the end of a transaction and written as one executemany per table.

Each `await session.execute()` is a round trip (a thread hop with SQLite); outbox rows and
append-only records are never read back inside the transaction that writes them, so they
are buffered and flushed together just before commit, in the order they were added.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "deferred_inserts"


def defer_insert(session: AsyncSession, table: Table, values: dict[str, Any]) -> None:
    buffers: dict[Table, list[dict[str, Any]]] = session.info.setdefault(_KEY, {})
    buffers.setdefault(table, []).append(values)


async def flush_inserts(session: AsyncSession) -> int:
    buffers: dict[Table, list[dict[str, Any]]] = session.info.pop(_KEY, {})
    for table, rows in buffers.items():  # dicts keep first-use order: outbox seq follows it
        await session.execute(insert(table), rows)
    # A failed transaction's session is thrown away, and its buffer with it.
    return sum(len(rows) for rows in buffers.values())



def upsert(session: AsyncSession, table: Table) -> PgInsert | SqliteInsert:
    """An INSERT that takes ON CONFLICT clauses, in the session's dialect (both dialects
    spell them the same way: on_conflict_do_nothing / on_conflict_do_update)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
