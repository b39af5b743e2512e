"""Database engine and the runtime's own tables (outbox, inbox, watermarks, audit log,
dead-letter replays).

SQLite file per service by default; PostgreSQL by URL. Each service has its own MetaData
and calls `runtime_tables(metadata)` so these tables live in its own database.

SQLite has one write lock per file. A session's transaction begun with `begin()` (the
consumer's batch, `Runtime.transaction()`, the relay's marks, the audit trail) writes, so it
takes that lock at BEGIN (`BEGIN IMMEDIATE`); a session used without `begin()` reads (the
code commits only through `begin()`), so it begins DEFERRED and never waits for the lock:
under WAL a reader answers while another connection writes. How long a transaction waits
for the lock depends on who waits: background work 60 s, a request of a person as long as
`waiting_at_most()` says (the HTTP edge sets it), then "database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
    and_,
    event,
    exists,
    text,
)
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction, SessionTransactionOrigin
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.util import await_

Seq = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the system stores aware times only")
        if dialect.name != "sqlite":
            return value  # timestamptz: the server keeps the instant, whatever the zone
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @staticmethod
    def sqlite_text(value: datetime | None) -> str | None:
        """What SQLite stores for `value`: the same text as process_bind_param followed by
        SQLAlchemy's DATETIME processor (naive UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'), without
        two Python layers and a %-format of a dict; bulk.py's writer binds with it. The
        offset is subtracted and the text cut before it, where astimezone and replace made
        two datetimes: 2.0 us a value against 2.5 for the zones pydantic parses (its TzInfo
        answers each utcoffset through Rust), the most bound value of a rebuild."""
        if value is None:
            return None
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("naive datetime: the system stores aware times only")
        # isoformat writes the year in four digits: the first 26 characters are the date
        # and the time, whatever the offset's own text after them.
        return (value - offset).isoformat(" ", "microseconds")[:26]


class JsonText(TypeDecorator[str]):
    """A JSON column written from JSON text serialized already (bound as it is, no second
    serialization: a model's own `model_dump_json`), read back as JSON values."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


@dataclass(frozen=True)
class RuntimeTables:
    outbox: Table
    inbox: Table
    watermarks: Table
    audit: Table
    replays: Table
    pending: Table  # the outbox rows still to publish (`outbox_pending`)

    def published(self) -> ColumnElement[bool]:
        """An outbox row the broker acknowledged: neither queued nor parked. (Rows from
        before the queue also carry `published_at`; no row is marked so since.)"""
        o, q = self.outbox.c, self.pending.c
        return and_(o.parked_at.is_(None), ~exists().where(q.seq == o.seq))


# The outbox's pending queue is filled by the database itself, in the statement that writes
# the rows (a COPY too), so no path that writes an outbox row can leave it unqueued.
# PostgreSQL: one statement trigger over the inserted rows; SQLite: a row trigger.
PENDING_TRIGGER = "outbox_pending_add"
PENDING_TRIGGER_DDL = {
    "postgresql": (
        f"CREATE OR REPLACE FUNCTION {PENDING_TRIGGER}() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN INSERT INTO outbox_pending (seq) SELECT seq FROM added; RETURN NULL; "
        "END $$",
        f"CREATE TRIGGER {PENDING_TRIGGER} AFTER INSERT ON outbox REFERENCING NEW TABLE AS "
        f"added FOR EACH STATEMENT EXECUTE FUNCTION {PENDING_TRIGGER}()"),
    "sqlite": (
        f"CREATE TRIGGER {PENDING_TRIGGER} AFTER INSERT ON outbox FOR EACH ROW BEGIN "
        "INSERT INTO outbox_pending (seq) VALUES (NEW.seq); END",),
}
PENDING_TRIGGER_DROP = {
    "postgresql": (f"DROP TRIGGER IF EXISTS {PENDING_TRIGGER} ON outbox",
                   f"DROP FUNCTION IF EXISTS {PENDING_TRIGGER}()"),
    "sqlite": (f"DROP TRIGGER IF EXISTS {PENDING_TRIGGER}",),
}


def _create_pending_trigger(_table: Table, connection: Connection, **_: Any) -> None:
    """`metadata.create_all` makes the trigger with the queue, as the migration does."""
    for statement in PENDING_TRIGGER_DDL.get(connection.dialect.name, ()):
        connection.exec_driver_sql(statement)


def pending_trigger_present(connection: Connection) -> bool:
    """Whether the outbox's inserts still fill its pending queue. SQLite loses a table's
    triggers when Alembic's batch mode rebuilds it by copying: a later migration of
    `outbox` would silently stop the relay, so the runtime checks this at start."""
    query = ("SELECT 1 FROM pg_trigger WHERE tgname = :name AND tgrelid = 'outbox'::regclass"
             if connection.dialect.name == "postgresql" else
             "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = :name "
             "AND tbl_name = 'outbox'")
    return connection.execute(text(query), {"name": PENDING_TRIGGER}).first() is not None


def runtime_tables(metadata: MetaData) -> RuntimeTables:
    outbox = Table(
        "outbox", metadata,
        Column("seq", Seq, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("traceparent", String(64)),
        Column("created_at", UtcDateTime(), nullable=False, index=True),
        # No longer written: a row is pending while `outbox_pending` holds its seq. Marking
        # a row published by updating it wrote a new version of the whole row, with entries
        # in every index (bench/outbox_mark.py); rows from before keep their time.
        Column("published_at", UtcDateTime()),
        # A row the broker refused for good (too large, invalid...): kept with its reason,
        # never sent again, never blocking the rows behind it; left for an operator.
        Column("parked_at", UtcDateTime()),
        Column("park_reason", String(500)),
    )
    # The relay's queue: the seq of each row still to publish, in sequence order. Filled by
    # a trigger on the outbox (PENDING_TRIGGER_DDL), emptied as the broker acknowledges and
    # when a row is parked: as small as the backlog however long the history grows.
    pending = Table(
        "outbox_pending", metadata,
        Column("seq", Seq, primary_key=True, autoincrement=False),
    )
    event.listen(pending, "after_create", _create_pending_trigger)
    # The rows set aside, which the relay counts: few, so they are counted from an index of
    # their own, never by reading the table (migrations.add_outbox_parked_index).
    parked = outbox.c.published_at.is_(None) & outbox.c.parked_at.is_not(None)
    Index("ix_outbox_parked", outbox.c.seq, postgresql_where=parked, sqlite_where=parked)
    inbox = Table(
        "inbox", metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("payload_hash", String(64), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("applied_at", UtcDateTime(), nullable=False),
    )
    watermarks = Table(
        "outbox_watermarks", metadata,
        Column("topic", String(200), primary_key=True),
        Column("partition", Integer, primary_key=True, autoincrement=False),
        Column("next_offset", BigInteger, nullable=False),
    )
    # The audit trail (audit.py): append-only, each row's hash chained to the one before.
    # seq is given by the writer under the chain's lock, so it is gapless.
    audit = Table(
        "audit_log", metadata,
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("at", UtcDateTime(), nullable=False),
        Column("actor", String(200), nullable=False),
        Column("action", String(100), nullable=False),
        Column("dossier_code", String(64), index=True),
        Column("target", String(200)),
        Column("address", String(64)),
        Column("hash", String(64), nullable=False),
        # The id of the key whose HMAC `hash` is; NULL: a plain SHA-256 row from before.
        Column("key_id", String(8)),
    )
    # Dead letters an operator replayed (dead_letter_replay.py), so a second replay is
    # refused unless forced. A letter is its place on the dead-letter topic plus the broker's
    # time of it: a broker restarted empty hands out the same offsets again.
    replays = Table(
        "dead_letter_replays", metadata,
        Column("dlq_partition", Integer, primary_key=True, autoincrement=False),
        Column("dlq_offset", BigInteger, primary_key=True, autoincrement=False),
        Column("dlq_timestamp_ms", BigInteger, primary_key=True, autoincrement=False),
        Column("original_topic", String(200), nullable=False),
        Column("reason", String(100), nullable=False),
        Column("replays", Integer, nullable=False),
        Column("replayed_at", UtcDateTime(), nullable=False),
        Column("operator", String(200), nullable=False),
    )
    return RuntimeTables(outbox, inbox, watermarks, audit, replays, pending)


def json_text(value: Any) -> str:
    """What JSON columns store: compact JSON, UTF-8 unescaped, a contract model (a consumed
    record's envelope holds its event as one, consumer.py) as its JSON form. Written by
    pydantic-core: json.dumps with a default for models was 4% of processing's CPU and,
    with json.loads reading the columns back, 7% of reporting's (py-spy, PostgreSQL
    pipeline); pydantic-core writes about 4 times and reads about twice as fast."""
    return to_json(value).decode()


def json_value(text: str | bytes) -> Any:
    """A JSON column's value as read (json_text's inverse)."""
    return from_json(text)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _wal(cur: Any) -> None:
    """Put the file in WAL mode (persistent, so usually it already is).

    Opening a WAL file while another process checkpoints or recovers it can answer
    SQLITE_BUSY at once, without the busy handler: wait on the event loop and try again,
    so the other connection, maybe in this very process, can finish.
    """
    for attempt in range(50):
        try:
            cur.execute("PRAGMA journal_mode")
            if str(cur.fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # sqlite3.OperationalError, through the async adapter
            if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == 49:
                raise
            await_(asyncio.sleep(min(0.01 * 2 ** attempt, 0.5)))


# How long SQLite transactions begun in this context wait for another connection's lock
# (None: the engine's own wait, for background work).
_busy_seconds: ContextVar[float | None] = ContextVar("onestop_sqlite_busy_seconds",
                                                     default=None)
# Execution option of the sessions' engine: their BEGIN is said by `_session_begins`.
_SESSION_BEGINS = "onestop_session_begins"
_BUSY_MS, _DEFAULT_BUSY_MS = "onestop_busy_ms", "onestop_default_busy_ms"


@contextlib.contextmanager
def waiting_at_most(seconds: float) -> Iterator[None]:
    """SQLite transactions begun inside wait at most `seconds` for the write lock (or a
    reader's lock on a file not in WAL mode), then fail with "database is locked"."""
    token = _busy_seconds.set(seconds)
    try:
        yield
    finally:
        _busy_seconds.reset(token)


def _begin(conn: Any, *, immediate: bool) -> None:
    """BEGIN on a SQLite connection, after setting its busy timeout for this context (one
    PRAGMA only when it changes: background work and requests share the pool)."""
    wanted = _busy_seconds.get()
    busy_ms = conn.info[_DEFAULT_BUSY_MS] if wanted is None else int(wanted * 1000)
    if conn.info.get(_BUSY_MS) != busy_ms:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={busy_ms:d}")
        conn.info[_BUSY_MS] = busy_ms
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@event.listens_for(Session, "after_begin")
def _session_begins(_session: Session, transaction: SessionTransaction, conn: Any) -> None:
    # Called once the session has its connection, before its first statement.
    if conn.get_execution_options().get(_SESSION_BEGINS) and transaction.parent is None:
        _begin(conn, immediate=transaction.origin is SessionTransactionOrigin.BEGIN)


def make_engine(url: str, busy_timeout: float = 60.0, **kwargs: Any) -> AsyncEngine:
    """`busy_timeout`: seconds a SQLite transaction waits for the lock outside any
    `waiting_at_most()` (the consumer, the relay, periodic jobs: nobody is waiting on them,
    and a failed batch would only be retried)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout},
                                     hide_parameters=True, json_serializer=json_text,
                                     json_deserializer=json_value, **kwargs)
        default_ms = int(busy_timeout * 1000)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, record: Any) -> None:
            # WAL lets HTTP reads run beside the consumer's writes; the busy timeout makes
            # concurrent writers wait instead of failing.
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={default_ms:d}")
            record.info[_BUSY_MS] = record.info[_DEFAULT_BUSY_MS] = default_ms
            _wal(cur)
            # NORMAL in WAL mode: a commit reaches the WAL (the OS holds it) but is fsync'd
            # only at checkpoints. A killed process (SIGKILL, OOM, crash) loses no committed
            # transaction: the OS writes the WAL out and the next open replays it. A power
            # loss or OS crash may lose the transactions since the last checkpoint (the file
            # stays consistent, never corrupt), and here that costs more than rows: their
            # Kafka offsets were committed after them, so those records are not delivered
            # again (skipped by this service), and outbox rows may vanish after they were
            # published. Where power loss matters, use PostgreSQL (production) or FULL.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            # Let SQLAlchemy's "begin" event emit BEGIN itself (the documented recipe).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock at BEGIN so a read-then-write transaction never fails
            # half-way with "database is locked" when another writer committed meanwhile.
            # A session's connection is begun by `_session_begins`, which knows whether
            # the session writes.
            if not conn.get_execution_options().get(_SESSION_BEGINS):
                _begin(conn, immediate=True)

        return engine
    # hide_parameters: a failed statement's message never carries its values (personal data).
    # No ping before each checkout (with asyncpg three round trips: BEGIN, a query,
    # ROLLBACK): a connection the server dropped fails its first statement, SQLAlchemy then
    # invalidates the pool's older connections, and the work is retried (retry.py counts a
    # lost connection as transient), so only that one attempt pays for it.
    # Statements are prepared once per connection and PostgreSQL keeps a generic plan of
    # each after five runs; one planned while a table was still small (a fresh database,
    # a new deployment) stays a sequential scan as the table grows, until autovacuum
    # analyzes it. Every run is planned with its own values and the table's current size
    # instead: the batch statements are few, planning them is cheap.
    # The batch statements look up hundreds of keys at once (`= ANY($1)`, bulk.one_of). At
    # the planner's default random_page_cost (4.0, a spinning disk's) that many index
    # probes cost more than reading the table, so the inbox check read every row of the
    # consumer's inbox each batch, more as it grew (`python -m bench.pipeline --backend
    # postgres`: over a million inbox rows read in a 3,000-dossier run; a 30,000-row inbox,
    # 500 ids: 6.2 ms scanning against 2.7 ms probing). 1.1 is the usual value for data on
    # SSD or in memory, which is where a hot inbox is.
    connect_args = {"server_settings": {"plan_cache_mode": "force_custom_plan",
                                        "random_page_cost": "1.1"}}
    return create_async_engine(url, pool_size=10, max_overflow=10, hide_parameters=True,
                               json_serializer=json_text, json_deserializer=json_value,
                               connect_args={**connect_args, **kwargs.pop("connect_args", {})},
                               **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions: on SQLite, those begun with `begin()` take the write lock at BEGIN, the
    others read without it (module docstring)."""
    if engine.dialect.name == "sqlite":
        engine = engine.execution_options(**{_SESSION_BEGINS: True})  # the same pool
    return async_sessionmaker(engine, expire_on_commit=False)

