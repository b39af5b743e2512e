"""Inserts deferred to the end of a transaction and written as one statement per table.

Each `await session.execute()` is a round trip (a thread hop with SQLite); outbox rows and
append-only records are never read back inside the transaction that writes them, so they
are buffered and flushed together just before commit, in the order they were added.

A table's buffer goes to the driver as prepared here (`_Writer`: the statement compiled
once per table, column set and dialect, each value through its type's own bind processor),
not through SQLAlchemy's per-row parameter processing:
- PostgreSQL: ONE `INSERT ... SELECT ... FROM unnest($1::type[], ...)`, a column per array,
  whatever the count (`python -m bench.inserts`: about half an executemany's client CPU and
  under half its server CPU per row, close to COPY, while the statement stays SQLAlchemy's:
  its errors wrapped, its events seen, the transaction begun by it as by any other);
- SQLite: the driver's executemany of tuples, in one worker call.
A table with a Python-side default for a column the rows leave out is written the usual way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    any_,
    bindparam,
    func,
    insert,
    select,
    true,
)
from sqlalchemy import literal_column as column_named
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
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
        dialect = session.bind.dialect if session.bind else None
        writer = _writer(table, tuple(rows[0]), dialect) if dialect is not None else None
        if writer is not None:
            try:
                parameters = writer.parameters(rows)
            except KeyError:  # rows of other shapes: SQLAlchemy says which value is missing
                pass
            else:
                conn = await session.connection()
                await conn.exec_driver_sql(writer.sql, parameters)
                continue
        statement = _INSERTS.get(table)
        if statement is None:
            statement = _INSERTS[table] = insert(table)
        await session.execute(statement, rows)
    # A failed transaction's session is thrown away, and its buffer with it.
    return sum(len(rows) for rows in buffers.values())


@dataclass(frozen=True)
class _Writer:
    """One table's insert for one set of columns in one dialect, compiled once."""

    sql: str
    columns: tuple[str, ...]
    convert: tuple[Callable[[Any], Any] | None, ...]
    arrays: bool  # PostgreSQL: one parameter per column, an array of its values

    def parameters(self, rows: list[dict[str, Any]]) -> Any:
        pairs = tuple(zip(self.columns, self.convert, strict=True))
        if self.arrays:
            return tuple([row[name] for row in rows] if convert is None else
                         [convert(row[name]) for row in rows] for name, convert in pairs)
        if not any(convert for _, convert in pairs):
            return [tuple(row[name] for name in self.columns) for row in rows]
        return [tuple(row[name] if convert is None else convert(row[name])
                      for name, convert in pairs) for row in rows]


_WRITERS: dict[tuple[Table, tuple[str, ...], str], _Writer | None] = {}


def _writer(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Writer | None:
    key = (table, columns, dialect.name)
    if key not in _WRITERS:
        _WRITERS[key] = _compile_writer(table, columns, dialect)
    return _WRITERS[key]


def _compile_writer(table: Table, columns: tuple[str, ...], dialect: Dialect
                    ) -> _Writer | None:
    if dialect.name not in ("postgresql", "sqlite") or any(
            name not in table.c for name in columns):
        return None
    if any(c.default is not None and c.name not in columns for c in table.c):
        return None  # a Python-side default only SQLAlchemy's own insert would fill in
    cols = [table.c[name] for name in columns]
    convert = tuple(c.type.dialect_impl(dialect).bind_processor(dialect) for c in cols)
    preparer = dialect.identifier_preparer
    target = f"{preparer.format_table(table)} ({', '.join(preparer.quote(c.name) for c in cols)})"
    if dialect.name == "postgresql":
        arrays = ", ".join(f"${i}::{c.type.compile(dialect=dialect)}[]"
                           for i, c in enumerate(cols, 1))
        names = ", ".join(f"c{i}" for i in range(1, len(cols) + 1))
        # In the arrays' order, said: an outbox's sequence numbers follow the rows' order.
        return _Writer(f"INSERT INTO {target} SELECT {names} FROM unnest({arrays}) "
                       f"WITH ORDINALITY AS u({names}, n) ORDER BY n", columns, convert,
                       arrays=True)
    marks = ", ".join("?" for _ in cols)
    return _Writer(f"INSERT INTO {target} VALUES ({marks})", columns, convert, arrays=False)


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


def per_key(column: ColumnElement[Any], name: str,
            query: Callable[[ColumnElement[Any]], Select[Any]], alias: str) -> Select[Any]:
    """PostgreSQL: `query(key)` run once per value bound as `name` (a list), through
    `column`'s index, whatever the planner knows of the table. `= ANY($1)` on a young
    table (no statistics until autovacuum's first analyze) was planned as reading the whole
    table each batch; a lateral subquery with a LIMIT or OFFSET cannot be flattened into
    that. The result's columns are `query`'s, under `alias`."""
    keys = func.unnest(bindparam(name, type_=ARRAY(column.type))).table_valued(
        "key").render_derived(name=f"{name}_keys")
    each = query(keys.c.key).lateral(alias)
    return select(*each.c).select_from(keys).join(each, true())


def values_of(values: Iterable[Any], dialect: str) -> Any:
    """The parameter `one_of` binds: a list on PostgreSQL, JSON text on SQLite."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))
