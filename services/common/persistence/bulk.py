"""A batch's rows written as one statement per table, through the driver; and inserts
deferred to the end of a transaction for that.

Each `await session.execute()` is a round trip (a thread hop with SQLite); outbox rows and
append-only records are never read back inside the transaction that writes them, so they
are buffered and flushed together just before commit, in the order they were added.

A table's buffer goes to the driver as prepared here (`_Writer`: the statement compiled
once per table, column set and dialect, each value through its type's own bind processor),
not through SQLAlchemy's per-row parameter processing:
- PostgreSQL: plain inserts by binary COPY inside the transaction (`_copy`: under half the
  client CPU of the arrays below, `python -m bench.inserts`), with SQLAlchemy's events and
  error classes kept; upserts and updates, and an insert that would be a transaction's
  first statement, as ONE `INSERT ... SELECT ... FROM unnest($1::type[], ...)`, a column
  per array, whatever the count (about half an executemany's client CPU and under half
  its server CPU per row);
- SQLite: the driver's executemany of tuples, in one worker call.
A table with a Python-side default for a column the rows leave out is written the usual way.
`write_rows` takes the same path for upserts (keep, replace, add) and updates by key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NoReturn

from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    Select,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy import literal_column as column_named
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import TypeEngine

from services.common.persistence.db import UtcDateTime

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
        if rows:  # an empty buffer would be flushed as one INSERT without values
            await write_rows(session, table, rows)
    # A failed transaction's session is thrown away, and its buffer with it.
    return sum(len(rows) for rows in buffers.values())


Mode = Literal["insert", "keep", "replace", "add", "update"]


async def write_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]],
                     mode: Mode = "insert", keys: Sequence[str] = (),
                     newer: str | None = None, still: Mapping[str, Any] | None = None
                     ) -> None:
    """`rows` (dicts of one shape) written by one statement, through the driver (`_Writer`).
    `mode`, for a row whose `keys` are taken already:
    - `insert`: an error (plain INSERT, no `keys`);
    - `keep`: the stored row stays as it is (ON CONFLICT DO NOTHING);
    - `replace`: its other columns take the row's values (ON CONFLICT DO UPDATE);
    - `add`: the row's other columns are added to its own (counters);
    - `update`: UPDATE only, by `keys`; with `newer`, only where that column is NULL or
      not after the row's (a late event does not overwrite a later one); with `still`
      (column -> a constant of the code's), only rows whose stored columns still hold it.
    `replace` and `update` with one key twice: the last row wins, as one statement per row
    would have it."""
    if not rows:
        return
    if mode in ("replace", "update"):
        rows = _last_per_key(rows, keys)
    held = tuple(sorted((still or {}).items()))
    if held and mode != "update":
        raise ValueError("`still` is a condition of updates only")
    dialect = session.bind.dialect if session.bind else None
    writer = (_writer(table, tuple(rows[0]), dialect, mode, tuple(keys), newer, held)
              if dialect is not None else None)
    if writer is not None and not (mode == "add" and len(_last_per_key(rows, keys)) < len(rows)):
        try:
            parameters = writer.records(rows) if writer.copy else writer.parameters(rows)
        except KeyError:  # rows of other shapes: SQLAlchemy says which value is missing
            pass
        else:
            conn = await session.connection()
            if writer.copy:
                if await _copy(conn, table, writer, parameters):
                    return
                parameters = writer.parameters(rows)
            await conn.exec_driver_sql(writer.sql, parameters)
            return
    statement, rows = _statement(session, table, rows, mode, tuple(keys), newer, held)
    await session.execute(statement, rows)


def _last_per_key(rows: list[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    by_key = {tuple(row[k] for k in keys): row for row in rows}
    return rows if len(by_key) == len(rows) else list(by_key.values())


def _statement(session: AsyncSession, table: Table, rows: list[dict[str, Any]], mode: Mode,
               keys: tuple[str, ...], newer: str | None,
               held: tuple[tuple[str, Any], ...] = ()) -> tuple[Any, list[dict[str, Any]]]:
    """The same write as SQLAlchemy's own statement, for rows `_Writer` does not take."""
    if mode == "insert":
        statement = _INSERTS.get(table)
        if statement is None:
            statement = _INSERTS[table] = insert(table)
        return statement, rows
    others = [name for name in rows[0] if name not in keys]
    if mode == "update":
        where = [table.c[k] == bindparam(f"b_{k}") for k in keys]
        if newer is not None:
            where.append(table.c[newer].is_(None) | (table.c[newer] <= bindparam(f"b_{newer}")))
        where += [table.c[name] == value for name, value in held]
        return (update(table).where(*where).values({n: bindparam(f"b_{n}") for n in others}),
                [{f"b_{k}": v for k, v in row.items()} for row in rows])
    stmt = upsert(session, table)
    if mode == "keep" or not others:
        return stmt.on_conflict_do_nothing(index_elements=list(keys)), rows
    set_ = {n: (table.c[n] + stmt.excluded[n] if mode == "add" else stmt.excluded[n])
            for n in others}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=set_), rows


@dataclass(frozen=True)
class _Writer:
    """One table's write for one set of columns, mode and dialect, compiled once."""

    sql: str
    columns: tuple[str, ...]
    convert: tuple[Callable[[Any], Any] | None, ...]
    arrays: bool  # PostgreSQL: one parameter per column, an array of its values
    # PostgreSQL's plain inserts: the COPY that `_copy` sends, else "".
    copy: str = ""

    def parameters(self, rows: list[dict[str, Any]]) -> Any:
        pairs = tuple(zip(self.columns, self.convert, strict=True))
        if self.arrays:
            return tuple([row[name] for row in rows] if convert is None else
                         [convert(row[name]) for row in rows] for name, convert in pairs)
        return self.records(rows)

    def records(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """A tuple of the columns' values per row (SQLite's executemany, PostgreSQL's COPY),
        made a column at a time and zipped: a generator per row cost more than the values
        (1.6 against 1.2 µs a row of reporting's events, bench: 1.5 against 0.1 an inbox
        row, whose one time is the same object in every row)."""
        columns = []
        for name, convert in zip(self.columns, self.convert, strict=True):
            values = [row[name] for row in rows]
            if convert is UtcDateTime.sqlite_text:
                values = _times_text(values)
            elif convert is not None:
                values = [convert(value) for value in values]
            columns.append(values)
        return list(zip(*columns, strict=True))


_NOTHING = object()


def _times_text(values: list[Any]) -> list[str | None]:
    """UtcDateTime.sqlite_text of each, written once for a run of the same object (a
    batch's rows share their `applied_at`, `updated_at`...)."""
    out: list[str | None] = []
    last: Any = _NOTHING
    text: str | None = None
    for value in values:
        if value is not last:
            last, text = value, UtcDateTime.sqlite_text(value)
        out.append(text)
    return out


_WRITERS: dict[tuple[Any, ...], _Writer | None] = {}


def _writer(table: Table, columns: tuple[str, ...], dialect: Dialect, mode: Mode = "insert",
            keys: tuple[str, ...] = (), newer: str | None = None,
            held: tuple[tuple[str, Any], ...] = ()) -> _Writer | None:
    key = (table, columns, dialect.name, mode, keys, newer, held)
    if key not in _WRITERS:
        _WRITERS[key] = _compile_writer(table, columns, dialect, mode, keys, newer, held)
    return _WRITERS[key]


def _compile_writer(table: Table, columns: tuple[str, ...], dialect: Dialect,
                    mode: Mode = "insert", keys: tuple[str, ...] = (),
                    newer: str | None = None, held: tuple[tuple[str, Any], ...] = ()
                    ) -> _Writer | None:
    if dialect.name not in ("postgresql", "sqlite") or any(
            name not in table.c for name in (*columns, *keys, *(n for n, _ in held))):
        return None
    if any(k not in columns for k in keys) or (newer is not None and newer not in columns):
        return None
    if mode != "update" and any(c.default is not None and c.name not in columns
                                for c in table.c):
        return None  # a Python-side default only SQLAlchemy's own insert would fill in
    cols = [table.c[name] for name in columns]
    convert = tuple(_bind(c.type, dialect) for c in cols)
    q = dialect.identifier_preparer
    name = q.format_table(table)
    pg = dialect.name == "postgresql"
    # A column's value in the statement: u.cN from the arrays, ?N from the row's tuple.
    value = {c.name: (f"u.c{i}" if pg else f"?{i}") for i, c in enumerate(cols, 1)}
    others = [c.name for c in cols if c.name not in keys]
    arrays = ", ".join(f"${i}::{c.type.compile(dialect=dialect)}[]"
                       for i, c in enumerate(cols, 1))
    names = ", ".join(f"c{i}" for i in range(1, len(cols) + 1))
    if mode == "update":
        where = " AND ".join(f"{name}.{q.quote(k)} = {value[k]}" for k in keys)
        if newer is not None:
            at = f"{name}.{q.quote(newer)}"
            where += f" AND ({at} IS NULL OR {at} <= {value[newer]})"
        for column, constant in held:  # the code's own constants, quoted by the dialect
            where += f" AND {name}.{q.quote(column)} = " + str(literal(
                constant, table.c[column].type).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}))
        set_ = ", ".join(f"{q.quote(n)} = {value[n]}" for n in others)
        source = f" FROM unnest({arrays}) AS u({names})" if pg else ""
        return _Writer(f"UPDATE {name} SET {set_}{source} WHERE {where}", columns, convert,
                       arrays=pg)
    target = f"{name} ({', '.join(q.quote(c.name) for c in cols)})"
    if pg:
        # In the arrays' order, said: an outbox's sequence numbers follow the rows' order.
        sql = (f"INSERT INTO {target} SELECT {names} FROM unnest({arrays}) "
               f"WITH ORDINALITY AS u({names}, n) ORDER BY n")
    else:
        sql = f"INSERT INTO {target} VALUES ({', '.join(value[c.name] for c in cols)})"
    if mode != "insert":
        conflict = f" ON CONFLICT ({', '.join(q.quote(k) for k in keys)})"
        if mode == "keep" or not others:
            sql += f"{conflict} DO NOTHING"
        else:
            sql += f"{conflict} DO UPDATE SET " + ", ".join(
                f"{q.quote(n)} = " + (f"{name}.{q.quote(n)} + " if mode == "add" else "")
                + f"excluded.{q.quote(n)}" for n in others)
    copy = (f"COPY {target} FROM STDIN (FORMAT binary)"
            if pg and mode == "insert" else "")
    return _Writer(sql, columns, convert, arrays=pg, copy=copy)


async def _copy(conn: AsyncConnection, table: Table, writer: _Writer,
                records: list[tuple[Any, ...]]) -> bool:
    """PostgreSQL: `records` (`_Writer.records`) inserted by asyncpg's binary COPY, in
    their order (an outbox's sequence follows it), inside the session's transaction; False,
    with nothing sent, when that transaction has not begun on the server yet (the adapter
    begins it with its first statement: the caller's INSERT then does). COPY takes under
    half the client CPU of the INSERT from arrays (`python -m bench.inserts`: no array to
    encode, no statement to bind) and half the server CPU for the inbox's rows.

    It is not a SQLAlchemy statement, so what one would have is done here: the cursor
    events (SqlStats, the bench's timers) are dispatched around it, and a failure is raised
    as SQLAlchemy raises a statement's: a duplicate key as IntegrityError (callers catch
    it), a lost connection as a DBAPIError with the connection invalidated (retry.py waits
    it out)."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None or not driver.is_in_transaction():
        return False
    sync = conn.sync_connection
    assert sync is not None  # a connection of a session, begun above
    sync.dispatch.before_cursor_execute(sync, None, writer.copy, records, None, True)
    try:
        await driver.copy_records_to_table(table.name, records=records,
                                           columns=writer.columns, schema_name=table.schema)
    except Exception as error:
        await conn.run_sync(_raise_as_a_statement, raw.dbapi_connection, writer.copy, error)
    sync.dispatch.after_cursor_execute(sync, None, writer.copy, records, None, True)
    return True


def _raise_as_a_statement(sync: Connection, adapter: Any, statement: str,
                          error: Exception) -> NoReturn:
    """`error`, raised by asyncpg, raised as SQLAlchemy raises a failed statement's: the
    dialect's adapter translates it to its DB-API class (its `_handle_exception`, which
    always raises), and the connection handles that as its own statement's
    (`_handle_dbapi_exception`: wrapped in sqlalchemy.exc's class of that name, parameters
    hidden as the engine hides them, a lost connection invalidated along with the pool's
    older ones). Both are SQLAlchemy's private methods, the only way to the same handling;
    tests/integration/test_runtime_sql.py holds them to it."""
    try:
        adapter._handle_exception(error)
    except Exception as translated:
        sync._handle_dbapi_exception(translated, statement, None, None, None)
    raise error  # not reached: both of the above raise


def _bind(kind: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """A column's bind processor for the driver: its type's own, but a UtcDateTime's on
    SQLite in one step (UtcDateTime.sqlite_text: the same text)."""
    if dialect.name == "sqlite" and isinstance(kind, UtcDateTime):
        return UtcDateTime.sqlite_text
    return kind.dialect_impl(dialect).bind_processor(dialect)


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


def by_key(column: ColumnElement[Any], dialect: str, name: str,
           query: Callable[[ColumnElement[bool]], Select[Any]], *, unique: bool) -> Select[Any]:
    """The rows of `query(condition)` whose `column` is one of the values bound as `name`
    (give them with `values_of`): the batch read of a table by key, whatever the planner
    knows of the table. PostgreSQL: `per_key`, `query(column = key)` once per key through
    the index (LIMIT 1 when the key is `unique`, else OFFSET 0, either of which keeps the
    subquery per key); a lock the query takes is taken per key in the keys' order, so bind
    them sorted. SQLite: `query(one_of(...))`, one statement. `= ANY($1)` alone was planned
    as a sequential scan on tables without statistics once a batch had some hundred keys
    (a 20-minute soak's reads came to scan millions of rows a minute)."""
    if dialect != "postgresql":
        return query(one_of(column, dialect, name))

    def each(key: ColumnElement[Any]) -> Select[Any]:
        probe = query(column == key)
        return probe.limit(1) if unique else probe.offset(0)
    return per_key(column, name, each, f"{name}_row")


@cache
def rows_by_key(table: Table, key: str, dialect: str, *, unique: bool,
                lock: bool = False) -> Select[Any]:
    """`table`'s rows whose column `key` is one of the values bound as `key` (by_key),
    `lock`ed for writing back (FOR UPDATE, per key in the order bound), built once per
    table, column, dialect and lock: a statement object reused keeps its memoized cache
    key, where building it each batch cost a few percent of a service's CPU."""
    def read(condition: ColumnElement[bool]) -> Select[Any]:
        query = select(table).where(condition)
        return query.with_for_update() if lock else query
    return by_key(table.c[key], dialect, key, read, unique=unique)


@cache
def delete_by_key(table: Table, key: str, dialect: str) -> Delete:
    """`table`'s rows whose column `key` is one of the values bound as `key` deleted: one
    statement text whatever their count (`one_of`), built once. An IN list of each length
    was another statement, prepared again on each pooled connection."""
    return delete(table).where(one_of(table.c[key], dialect, key))


def values_of(values: Iterable[Any], dialect: str) -> Any:
    """The parameter `one_of` binds: a list on PostgreSQL, JSON text on SQLite."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))
