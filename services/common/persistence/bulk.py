"""Inserts deferred to the end of a transaction and written as one executemany per table.

Each `await session.execute()` is a round trip (a thread hop with SQLite); outbox rows and
append-only records are never read back inside the transaction that writes them, so they
are buffered and flushed together just before commit, in the order they were added.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Insert, Table, any_, bindparam, func, insert, select
from sqlalchemy import literal_column as column_named
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

_KEY = "deferred_inserts"
# One INSERT construct per table, built once: its compiled form is found in SQLAlchemy's
# cache by the same key every flush.
_INSERTS: dict[Table, Insert] = {}


def defer_insert(session: AsyncSession, table: Table, values: dict[str, Any]) -> None:
    buffers: dict[Table, list[dict[str, Any]]] = session.info.setdefault(_KEY, {})
    buffers.setdefault(table, []).append(values)


def defer_inserts(session: AsyncSession, table: Table, rows: Iterable[dict[str, Any]]
                  ) -> None:
    """`defer_insert` of many rows at once, in their order."""
    rows = list(rows)
    if rows:  # an empty buffer would be flushed as one INSERT without values
        buffers: dict[Table, list[dict[str, Any]]] = session.info.setdefault(_KEY, {})
        buffers.setdefault(table, []).extend(rows)


async def flush_inserts(session: AsyncSession) -> int:
    buffers: dict[Table, list[dict[str, Any]]] = session.info.pop(_KEY, {})
    for table, rows in buffers.items():  # dicts keep first-use order: outbox seq follows it
        if not rows:
            continue
        statement = _INSERTS.get(table)
        if statement is None:
            statement = _INSERTS[table] = insert(table)
        await session.execute(statement, rows)
    # A failed transaction's session is thrown away, and its buffer with it.
    return sum(len(rows) for rows in buffers.values())


def upsert(session: AsyncSession, table: Table) -> PgInsert | SqliteInsert:
    """An INSERT that takes ON CONFLICT clauses, in the session's dialect (both dialects
    spell them the same way: on_conflict_do_nothing / on_conflict_do_update)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


def dialect_of(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind else "sqlite"


def one_of(column: ColumnElement[Any], dialect: str, name: str,
           element: TypeEngine[Any] | None = None) -> ColumnElement[bool]:
    """`column` is one of the values bound as `name` (give them with `values_of`): one
    statement text whatever their count, so it is prepared once (PostgreSQL caches prepared
    statements per connection by text; an IN list of each length is another statement) and
    needs no chunking under a bound-parameter limit. PostgreSQL: `= ANY($1)`, one array;
    SQLite: `IN (SELECT value FROM json_each(?))`, one JSON text."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(element or column.type)))
    values = select(column_named("value")).select_from(func.json_each(bindparam(name)))
    return column.in_(values)


def values_of(values: Iterable[Any], dialect: str) -> Any:
    """The parameter `one_of` binds: a list on PostgreSQL, JSON text on SQLite."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))
