"""The runtime's own SQL per batch, on both real databases, counted by
services.common.observability.sqlstats:
the inbox is checked with one statement per batch whatever its size (the same text each
time, so PostgreSQL prepares it once); no liveness ping precedes each session; a pooled
connection the server dropped costs one retried attempt, nothing is lost; the relay marks a
pass's rows published with one statement, the same text whatever their number."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    event,
    func,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from contracts import topics
from contracts.envelope import Envelope
from contracts.events import DossierWithdrawn
from services.common.clock import FixedClock, SystemClock
from services.common.messaging.consumer import BatchConsumer, Batched, Context, Subscription
from services.common.messaging.inbox import Inbox
from services.common.messaging.outbox import OutboxWriter
from services.common.messaging.relay import OutboxRelay
from services.common.messaging.retry import is_transient
from services.common.observability.metrics import RuntimeMetrics
from services.common.observability.sqlstats import SqlStats, sql_phase
from services.common.persistence.bulk import (
    by_key,
    defer_inserts,
    delete_by_key,
    flush_inserts,
    values_of,
    write_rows,
)
from services.common.persistence.db import (
    UtcDateTime,
    make_engine,
    runtime_tables,
    session_factory,
)
from tests.conftest import PG_ADMIN, postgres_database

pytestmark = pytest.mark.integration

T = datetime(2026, 3, 2, 3, tzinfo=UTC)
TP = TopicPartition(topics.INTAKE.name, 0)


class NoBroker:
    """The consumer's Kafka clients, where only the database is under test."""

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        return None

    async def send(self, *_: Any, **__: Any) -> asyncio.Future[None]:
        raise AssertionError("nothing is dead-lettered here")


def _record(offset: int, code: str) -> ConsumerRecord:
    env = Envelope(id=uuid.uuid4(), type=DossierWithdrawn.event_type, source="onestop/intake",
                   subject=code, time=T, agencycode="A",
                   data=DossierWithdrawn(dossier_code=code, withdrawn_at=T).model_dump(
                       mode="json"))
    value = json.dumps(env.model_dump(mode="json")).encode()
    return ConsumerRecord(topic=TP.topic, partition=0, offset=offset, timestamp=0,
                          timestamp_type=0, key=code.encode(), value=value, checksum=None,
                          serialized_key_size=len(code), serialized_value_size=len(value),
                          headers=[])


def _statements(stats: SqlStats, verb: str, table: str) -> int:
    return int(sum(n for (phase, v, t), (n, _, _) in stats.statements.items()
                   if phase == "consumer" and v == verb and t == table))


async def _created(url: str, metadata: MetaData) -> AsyncEngine:
    """An engine on `url`, `metadata`'s tables created."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


async def test_a_batch_checks_its_inbox_once_and_pings_nothing(database_url: str) -> None:
    metadata = MetaData()
    tables = runtime_tables(metadata)
    applied = Table("applied", metadata, Column("code", String(64), primary_key=True))
    engine = await _created(database_url, metadata)
    stats = SqlStats.watch(engine)
    sessions = session_factory(engine)
    subscription = Subscription(topics.INTAKE)

    @subscription.on(DossierWithdrawn)
    async def handle(ctx: Context, event: DossierWithdrawn) -> None:
        await ctx.session.execute(applied.insert().values(code=event.dossier_code))

    loop = BatchConsumer(service="test", consumer=NoBroker(), producer=NoBroker(),  # type: ignore[arg-type]
                         sessions=sessions, inbox=Inbox("test", tables),
                         subscriptions=[subscription], dead_letter_topic="onestop.dlq.test.v1",
                         clock=FixedClock(T), metrics=RuntimeMetrics("test"))
    try:
        offset = 0
        for size in (1200, 7, 600):
            await loop.handle_batch({TP: [_record(offset + i, f"D-{offset + i}")
                                          for i in range(size)]})
            offset += size
        # Three batches: three inbox checks (the first, 1,200 ids, was three before), all
        # one statement text; each batch's session took a connection without a ping.
        assert _statements(stats, "select", "inbox") == 3
        texts = {s for s in stats._shapes if s.lstrip().upper().startswith("SELECT")
                 and "FROM inbox" in s}
        assert len(texts) == 1
        assert sum(c[2] for c in stats.checkouts.values()) == 0  # no pings
        assert sum(c[0] for c in stats.checkouts.values()) >= 3
        async with sessions() as s:
            assert await s.scalar(select(func.count()).select_from(applied)) == offset
            assert await s.scalar(select(func.count()).select_from(tables.inbox)) == offset
    finally:
        await engine.dispose()


async def _terminate_backends(database: str) -> int:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        return len(await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()", database))
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_a_connection_the_server_dropped_costs_one_retried_attempt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_wait(_seconds: float) -> None:
        return None

    monkeypatch.setattr("services.common.messaging.retry.asyncio.sleep", no_wait)
    async with postgres_database() as url:
        metadata = MetaData()
        tables = runtime_tables(metadata)
        engine = await _created(url, metadata)
        sessions = session_factory(engine)
        subscription = Subscription(topics.INTAKE)
        seen: list[str] = []

        @subscription.on(DossierWithdrawn)
        async def handle(ctx: Context, event: DossierWithdrawn) -> None:
            seen.append(event.dossier_code)

        loop = BatchConsumer(service="test", consumer=NoBroker(), producer=NoBroker(),  # type: ignore[arg-type]
                             sessions=sessions, inbox=Inbox("test", tables),
                             subscriptions=[subscription],
                             dead_letter_topic="onestop.dlq.test.v1", clock=FixedClock(T),
                             metrics=RuntimeMetrics("test"))
        try:
            await loop.handle_batch({TP: [_record(0, "D-0")]})
            # The pooled connection is dropped by the server (a restart, an idle timeout).
            assert await _terminate_backends(url.rsplit("/", 1)[1]) >= 1
            await loop.handle_batch({TP: [_record(1, "D-1"), _record(2, "D-2")]})
            async with sessions() as s:
                recorded = await s.scalar(select(func.count()).select_from(tables.inbox))
            assert recorded == 3 and sorted(set(seen)) == ["D-0", "D-1", "D-2"]
        finally:
            await engine.dispose()


async def test_the_relay_marks_a_pass_with_one_statement(database_url: str,
                                                         kafka_bootstrap: str) -> None:
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = await _created(database_url, metadata)
    stats = SqlStats.watch(engine)
    sessions = session_factory(engine)
    writer = OutboxWriter("test", tables, SystemClock())
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    relay = OutboxRelay(service="test", engine=engine, sessions=sessions, tables=tables,
                        producer=producer, bootstrap=kafka_bootstrap, clock=SystemClock(),
                        metrics=RuntimeMetrics("test"))
    sent: list[str] = []  # PostgreSQL: every query the driver sent during the passes
    capturing = False

    def _log_queries(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(
            lambda q: sent.append(q.query) if capturing else None)

    if engine.dialect.name == "postgresql":
        event.listen(engine.sync_engine, "connect", _log_queries)
        await engine.dispose()  # the pool's connections are made again, logged
    try:
        for size in (300, 5):
            async with sessions() as s, s.begin():
                for i in range(size):
                    await writer.emit(s, topics.INTAKE, DossierWithdrawn(
                        dossier_code=f"D-{size}-{i}", withdrawn_at=T), "A")
                await flush_inserts(s)
            capturing = True
            with sql_phase("relay"):
                result = await relay.publish_pending()
            capturing = False
            assert result.published == size
        marks = [(key, counts) for key, counts in stats.statements.items()
                 if key[0] == "relay" and key[1] == "delete" and key[2] == "outbox_pending"]
        assert sum(counts[0] for _, counts in marks) == 2  # one per pass
        assert not [key for key in stats.statements if key[:3] == ("relay", "update",
                                                                   "outbox")]
        texts = {s for s in stats._shapes
                 if s.lstrip().upper().startswith("DELETE FROM OUTBOX_PENDING")}
        assert len(texts) == 1  # the same text for 300 rows and for 5
        # The watermarks of the partitions a pass moved: one statement (not one row each).
        saved = stats.statements[("relay", "insert", "outbox_watermarks")]
        assert saved[0] == 2 and saved[2] >= 2
        if engine.dialect.name == "postgresql":
            # A pass's read is one statement outside a transaction: the server saw a BEGIN
            # for the settling of each pass only (asyncpg's own log of what it sent).
            begins = [q for q in sent if q.lstrip().upper().startswith("BEGIN")]
            assert len(begins) == 2, sent
        async with sessions() as s:
            pending = await s.scalar(select(func.count()).select_from(tables.pending))
            watermarks = await s.scalar(text("SELECT count(*) FROM outbox_watermarks"))
        assert pending == 0 and watermarks >= 1
    finally:
        await producer.stop()
        await engine.dispose()


async def test_a_json_column_takes_a_consumed_events_typed_data(database_url: str) -> None:
    """A handler storing `ctx.envelope.data` (the typed event now, a dict before) in a JSON
    column keeps working: it is stored as the event's JSON form."""
    metadata = MetaData()
    kept = Table("kept", metadata, Column("id", String(36), primary_key=True),
                 Column("data", JSON))
    engine = await _created(database_url, metadata)
    envelope = Subscription(topics.INTAKE, handlers={
        DossierWithdrawn.event_type: Batched(lambda *_: None)}).inbound().validate_json(
        _record(0, "D-J").value)
    assert isinstance(envelope.data, DossierWithdrawn)
    try:
        async with session_factory(engine)() as s, s.begin():
            await s.execute(kept.insert(), [{"id": str(envelope.id), "data": envelope.data}])
        async with session_factory(engine)() as s:
            stored = await s.scalar(select(kept.c.data))
        assert stored == envelope.data.model_dump(mode="json")
        assert DossierWithdrawn.model_validate(stored) == envelope.data
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_statement_first_run_on_an_empty_table_is_never_kept_as_a_generic_plan(
) -> None:
    """A fresh database: the inbox check runs (prepared once on the connection) while the
    inbox is empty, then the inbox grows with no ANALYZE yet. PostgreSQL would keep a
    generic plan after five runs, made for the empty table (a whole-table scan, every
    batch); every run is planned for its own values and the table's size instead."""
    async with postgres_database() as url:
        metadata = MetaData()
        tables = runtime_tables(metadata)
        engine = make_engine(url)
        inbox = Inbox("test", tables)
        try:
            async with engine.connect() as conn:  # one connection: its prepared statements
                await conn.run_sync(metadata.create_all)
                await conn.execute(text("ALTER TABLE inbox SET (autovacuum_enabled = false)"))
                await conn.commit()
                session = AsyncSession(bind=conn)
                for _ in range(8):
                    await inbox.seen(session, [str(uuid.uuid4()) for _ in range(500)])
                    await session.commit()
                known = [str(uuid.uuid4()) for _ in range(30_000)]
                await inbox.record(session, [(i, "h", TP.topic) for i in known], T)
                await flush_inserts(session)
                await session.commit()
                for _ in range(3):
                    found = await inbox.seen(session, known[:250] + [str(uuid.uuid4())
                                                                     for _ in range(250)])
                    assert len(found) == 250
                plans = (await session.execute(text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE 'SELECT ids_row.event_id%'"))).all()
                await session.close()
            assert len(plans) == 1  # one statement text for every batch size
            generic, custom = plans[0]
            assert generic == 0 and custom >= 11
        finally:
            await engine.dispose()


async def test_deferred_inserts_go_as_one_statement_per_table_in_their_order(
        database_url: str) -> None:
    """A table's buffered rows are written with one statement (PostgreSQL: unnest of one
    array per column; SQLite: one executemany), in the order they were added: the outbox's
    sequence follows it. Values go through their types (aware times, bytes, JSON, NULL); a
    table with a Python-side default for a column the rows leave out is written by
    SQLAlchemy's own insert, which fills it in."""
    metadata = MetaData()
    tables = runtime_tables(metadata)
    kept = Table("kept_defaults", metadata, Column("id", String(36), primary_key=True),
                 Column("data", JSON), Column("state", String(10), default="new"))
    engine = await _created(database_url, metadata)
    stats = SqlStats.watch(engine)
    codes = [f"D-{i:03d}" for i in reversed(range(120))]
    try:
        async with session_factory(engine)() as s, s.begin():
            defer_inserts(s, tables.outbox, [
                {"event_id": str(uuid.uuid4()), "topic": "t", "key": code,
                 "event_type": "x", "payload": code.encode() + b"\x00", "traceparent": None,
                 "created_at": T} for code in codes])
            defer_inserts(s, kept, [{"id": "k-1", "data": {"a": [1, "b"]}}])
            with sql_phase("consumer"):
                assert await flush_inserts(s) == 121
        async with session_factory(engine)() as s:
            rows = (await s.execute(select(tables.outbox).order_by(tables.outbox.c.seq))).all()
            stored = (await s.execute(select(kept))).one()
            queued = (await s.scalars(select(tables.pending.c.seq))).all()
        assert [r.key for r in rows] == codes
        assert rows[0].payload == b"D-119\x00" and rows[0].created_at == T
        assert rows[0].traceparent is None and rows[0].published_at is None
        assert sorted(queued) == [r.seq for r in rows]  # the trigger queued each row
        assert stored.data == {"a": [1, "b"]} and stored.state == "new"
        outbox = stats.statements[("consumer", "insert", "outbox")]
        assert outbox[0] == 1 and outbox[2] == 120  # one statement carrying every row
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_inserts_of_a_begun_transaction_go_by_copy_and_fail_as_statements(
        ) -> None:
    """`bulk._copy`: once the transaction has begun on the server, a table's deferred rows
    are one binary COPY, in their order (the outbox's sequence follows it), values through
    their types, counted as a ("copy", table) statement carrying every row. Its failures
    are raised as a statement's: a duplicate key as SQLAlchemy's IntegrityError (the
    counter and the officers' writes catch it) with nothing of the transaction kept; a
    connection the server dropped as an error retry.py waits out, the pool's next
    connection a fresh one."""
    async with postgres_database() as url:
        metadata = MetaData()
        tables = runtime_tables(metadata)
        engine = await _created(url, metadata)
        stats = SqlStats.watch(engine)
        sessions = session_factory(engine)
        count = select(func.count()).select_from(tables.outbox)

        def row(code: str, event_id: str | None = None) -> dict[str, Any]:
            return {"event_id": event_id or str(uuid.uuid4()), "topic": "t", "key": code,
                    "event_type": "x", "payload": code.encode() + b"\x00",
                    "traceparent": None, "created_at": T}

        codes = [f"D-{i:03d}" for i in reversed(range(120))]
        try:
            async with sessions() as s, s.begin():
                assert await s.scalar(count) == 0  # the transaction's first statement
                defer_inserts(s, tables.outbox, [row(code) for code in codes])
                with sql_phase("consumer"):
                    assert await flush_inserts(s) == 120
            async with sessions() as s:
                rows = (await s.execute(select(tables.outbox).order_by(
                    tables.outbox.c.seq))).all()
                queued = (await s.scalars(select(tables.pending.c.seq))).all()
            assert [r.key for r in rows] == codes
            assert rows[0].payload == b"D-119\x00" and rows[0].created_at == T
            assert rows[0].traceparent is None and rows[0].published_at is None
            # The COPY fired the statement trigger: every row it wrote is queued.
            assert sorted(queued) == [r.seq for r in rows]
            assert stats.statements[("consumer", "copy", "outbox")][0::2] == [1, 120]
            assert ("consumer", "insert", "outbox") not in stats.statements

            with pytest.raises(IntegrityError):
                async with sessions() as s, s.begin():
                    await s.scalar(count)
                    await write_rows(s, tables.outbox, [row("D-new"),
                                                        row("D-dup", rows[0].event_id)])
            async with sessions() as s:
                assert await s.scalar(count) == 120

            with pytest.raises(DBAPIError) as lost:
                async with sessions() as s, s.begin():
                    await s.scalar(count)
                    driver = (await (await s.connection()).get_raw_connection()
                              ).driver_connection
                    assert await _terminate_backends(url.rsplit("/", 1)[1]) >= 1
                    # Once the client has seen it closed: a COPY begun while the server
                    # was still ending it fails in asyncpg's protocol state instead.
                    for _ in range(500):
                        if driver.is_closed():
                            break
                        await asyncio.sleep(0.01)
                    await write_rows(s, tables.outbox, [row("D-lost")])
            assert lost.value.connection_invalidated
            assert is_transient(lost.value)
            async with sessions() as s:
                assert await s.scalar(count) == 120
        finally:
            await engine.dispose()


async def test_batch_writes_keep_replace_add_and_update_by_key_in_one_statement(
        database_url: str) -> None:
    """`write_rows`' modes, each one statement through the driver on both databases: keep
    leaves a taken key's row alone, replace sets its other columns (the last of one key
    twice wins), add sums counters into it, update changes only rows that exist and, with
    `newer`, only where the stored time is not after the row's. A row of another shape
    still goes through SQLAlchemy's statement and says what it lacks."""
    metadata = MetaData()
    t = Table("counted", metadata, Column("code", String(20), primary_key=True),
              Column("part", Integer, primary_key=True), Column("label", String(20)),
              Column("n", Integer, nullable=False), Column("data", JSON),
              Column("at", UtcDateTime()))
    engine = await _created(database_url, metadata)
    stats = SqlStats.watch(engine)
    key = ("code", "part")
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)

    def row(code: str, label: str, n: int, at: datetime | None = None) -> dict[str, Any]:
        return {"code": code, "part": 1, "label": label, "n": n, "data": {"l": [label]},
                "at": at}

    async def stored() -> dict[str, tuple[Any, ...]]:
        async with session_factory(engine)() as s:
            return {r.code: (r.label, r.n, r.data, r.at)
                    for r in (await s.execute(select(t))).all()}

    try:
        with sql_phase("consumer"):
            async with session_factory(engine)() as s, s.begin():
                await write_rows(s, t, [row("A", "a", 1, early), row("B", "b", 2, late)])
                await write_rows(s, t, [row("A", "kept?", 9), row("C", "c", 3)], "keep", key)
        assert await stored() == {"A": ("a", 1, {"l": ["a"]}, early),
                                  "B": ("b", 2, {"l": ["b"]}, late),
                                  "C": ("c", 3, {"l": ["c"]}, None)}
        with sql_phase("consumer"):
            async with session_factory(engine)() as s, s.begin():
                await write_rows(s, t, [row("A", "first", 5), row("D", "d", 4),
                                        row("A", "last", 6, late)], "replace", key)
                await write_rows(s, t, [{"code": c, "part": 1, "n": n} for c, n in
                                        (("B", 10), ("E", 7))], "add", key)
        got = await stored()
        assert got["A"] == ("last", 6, {"l": ["last"]}, late) and got["D"][:2] == ("d", 4)
        assert got["B"][:2] == ("b", 12) and got["E"][:2] == (None, 7)
        with sql_phase("consumer"):
            async with session_factory(engine)() as s, s.begin():
                await write_rows(s, t, [{"code": c, "part": 1, "label": "new", "at": at}
                                        for c, at in (("A", early), ("B", late), ("C", early),
                                                      ("Z", late))], "update", key,
                                 newer="at")
                await write_rows(s, t, [{"code": "D", "part": 1, "n": 40}], "update", key)
                # Only where the stored row still holds the constant: D's n is 40, E's 7.
                await write_rows(s, t, [{"code": c, "part": 1, "label": "held"}
                                        for c in ("D", "E")], "update", key, still={"n": 40})
        got = await stored()
        assert got["A"][0] == "last"  # stored June is after the row's January: kept
        assert got["B"][0] == "new" and got["C"][0] == "new"  # same time; no time stored
        assert got["D"][:2] == ("held", 40) and "Z" not in got  # update never inserts
        assert got["E"][:2] == (None, 7)
        for verb in ("insert", "update"):
            n, _, _ = stats.statements[("consumer", verb, "counted")]
            assert n == {"insert": 4, "update": 3}[verb]  # one statement per call
        with pytest.raises(ValueError, match="updates only"):
            async with session_factory(engine)() as s, s.begin():
                await write_rows(s, t, [row("H", "h", 1)], "keep", key, still={"n": 1})
        with pytest.raises(Exception, match="value is required for bind parameter 'label'"):
            async with session_factory(engine)() as s, s.begin():
                await write_rows(s, t, [row("F", "f", 1), {"code": "G", "part": 1}], "keep",
                                 key)
        assert "F" not in await stored()  # the whole write failed with its transaction
    finally:
        await engine.dispose()


async def test_reads_by_key_answer_every_key_and_never_scan_a_table_without_statistics(
        database_url: str) -> None:
    """`bulk.by_key`, the batch read of a table by key: every row of each key and none of
    another, with a condition of its own and a lock, on both databases. On PostgreSQL the
    plan probes the key's index per key even for a table never analyzed (as on a young
    deployment, or a server with autovacuum off): `= ANY($1)` with a few hundred keys was
    planned there as a sequential scan, every batch, ever longer as the table grew."""
    metadata = MetaData()
    t = Table("keyed", metadata, Column("code", String(20), primary_key=True),
              Column("n", Integer, nullable=False))
    parts = Table("parts", metadata, Column("code", String(20), primary_key=True),
                  Column("part", Integer, primary_key=True), Column("n", Integer))
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            pg = conn.dialect.name == "postgresql"
            if pg:
                for name in ("keyed", "parts"):
                    await conn.execute(text(
                        f"ALTER TABLE {name} SET (autovacuum_enabled = false)"))
            await conn.execute(t.insert(), [{"code": f"C{i:05}", "n": i % 7}
                                            for i in range(20_000)])
            await conn.execute(parts.insert(), [{"code": f"C{i:05}", "part": p, "n": p}
                                                for i in range(5_000) for p in range(3)])
        wanted = sorted([f"C{i:05}" for i in range(0, 20_000, 61)] + ["absent"])
        dialect = conn.dialect.name
        one = by_key(t.c.code, dialect, "codes",
                     lambda c: select(t).where(c, t.c.n != 3).with_for_update(), unique=True)
        many = by_key(parts.c.code, dialect, "codes", select(parts).where, unique=False)
        async with session_factory(engine)() as s, s.begin():
            got = {r.code: r.n for r in await s.execute(one, {"codes": values_of(
                wanted, dialect)})}
            many_got = sorted((r.code, r.part) for r in await s.execute(
                many, {"codes": values_of(wanted[:100], dialect)}))
            plans = []
            if pg:
                driver = (await (await s.connection()).get_raw_connection()).driver_connection
                for stmt, keys in ((one, wanted), (many, wanted[:100])):
                    compiled = stmt.compile(dialect=conn.dialect)
                    values = {**compiled.params, "codes": keys}
                    plans.append("\n".join(r[0] for r in await driver.fetch(
                        f"EXPLAIN {compiled}", *(values[n] for n in compiled.positiontup))))
        assert got == {c: int(c[1:]) % 7 for c in wanted
                       if c != "absent" and int(c[1:]) % 7 != 3}
        assert many_got == [(c, p) for c in wanted[:100] if c != "absent" and int(c[1:]) < 5_000
                            for p in range(3)]
        for plan in plans:
            assert "Index Scan" in plan and "Seq Scan" not in plan, plan
    finally:
        await engine.dispose()


async def test_deletes_by_key_take_exactly_the_keyed_rows_with_one_statement_text(
        database_url: str) -> None:
    """`bulk.delete_by_key`: the rows of the keys bound, all of them and no other, with the
    same statement text whatever their number (on PostgreSQL one prepared statement on the
    connection, where an IN list of each length was prepared anew)."""
    metadata = MetaData()
    t = Table("doomed", metadata, Column("code", String(20), primary_key=True),
              Column("n", Integer, nullable=False))
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:  # one connection: its prepared statements
            await conn.run_sync(metadata.create_all)
            await conn.execute(t.insert(), [{"code": f"C{i:03}", "n": i} for i in range(50)])
            await conn.commit()
            dialect = conn.dialect.name
            statement = delete_by_key(t, "code", dialect)
            assert delete_by_key(t, "code", dialect) is statement  # built once
            for keys in (["C001"], ["C002", "C003", "absent"], [f"C{i:03}" for i in range(10, 20)]):
                await conn.execute(statement, {"code": values_of(keys, dialect)})
                await conn.commit()
            left = sorted((await conn.execute(select(t.c.code))).scalars())
            prepared = ((await conn.execute(text(
                "SELECT count(*) FROM pg_prepared_statements "
                "WHERE statement LIKE 'DELETE FROM doomed%'"))).scalar()
                if dialect == "postgresql" else None)
        assert left == [f"C{i:03}" for i in range(50) if i not in {1, 2, 3, *range(10, 20)}]
        assert prepared in (None, 1)
    finally:
        await engine.dispose()


async def _unvacuumed_outbox(conn: Any, metadata: MetaData, tables: Any, topic: str,
                             payload: bytes, rows: int = 20_000) -> bool:
    """The runtime tables with `rows` pending outbox rows of `topic` (queued by the
    outbox's trigger), on PostgreSQL never vacuumed (as on the development server); True on
    PostgreSQL."""
    await conn.run_sync(metadata.create_all)
    pg = bool(conn.dialect.name == "postgresql")
    if pg:
        for table in ("outbox", "outbox_pending"):
            await conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    await conn.execute(tables.outbox.insert(), [
        {"event_id": str(uuid.uuid4()), "topic": topic, "key": f"k{i}",
         "event_type": "test.v1", "payload": payload, "traceparent": None,
         "created_at": T} for i in range(rows)])
    return pg


async def test_the_relay_counts_its_backlog_and_parked_rows_from_their_own_indexes(
        database_url: str) -> None:
    """The relay's counts (after each full pass, at each idle heartbeat) cost what the
    backlog costs, not what the history does. On PostgreSQL, an outbox whose rows were
    nearly all published (never vacuumed, nor analyzed) is counted from the queue, which
    holds only the backlog, and through the partial index ix_outbox_parked, never by
    reading the outbox: a single query over `published_at IS NULL` once read every version
    through ix_outbox_published_at, 744 ms at 650,000 rows in a soak. The counts are right
    on both databases."""
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    try:
        async with engine.begin() as conn:
            pg = await _unvacuumed_outbox(conn, metadata, tables, "t", b"x" * 200)
            o, q = tables.outbox.c, tables.pending.c
            await conn.execute(tables.pending.delete().where(q.seq > 30))  # published
            await conn.execute(tables.outbox.update().where(o.seq <= 4).values(
                parked_at=T, park_reason="too large"))
            await conn.execute(tables.pending.delete().where(q.seq <= 4))
        relay = OutboxRelay(service="test", engine=engine, sessions=sessions, tables=tables,
                            producer=None, bootstrap="127.0.0.1:1",  # type: ignore[arg-type]
                            clock=SystemClock(), metrics=RuntimeMetrics("test"))
        stats = SqlStats.watch(engine)
        await relay._refresh_counts()
        assert (relay.pending, relay.parked) == (26, 4)
        counted = {table: n for (_, verb, table), (n, *_) in stats.statements.items()
                   if verb == "select"}
        assert counted == {"outbox_pending": 1, "outbox": 1}
        if pg:
            async with engine.connect() as conn:
                pending, parked = ["\n".join(r[0] for r in await conn.execute(text(
                    f"EXPLAIN {count.compile(dialect=conn.dialect)}")))
                    for count in relay.counts()]
                assert "outbox_pending" in pending and " on outbox " not in pending, pending
                assert "ix_outbox_parked" in parked and "Seq Scan" not in parked, parked
    finally:
        await engine.dispose()


def _buffers_hit(plan: str) -> int:
    """The shared buffers the plan's top node hit (EXPLAIN (ANALYZE, BUFFERS))."""
    for line in plan.splitlines():
        if "Buffers: shared" in line:
            return sum(int(part.split("=")[1]) for part in line.split()
                       if part.startswith(("hit=", "read=")))
    return 0


async def test_the_relay_scans_for_pending_rows_above_what_it_settled(
        database_url: str, kafka_bootstrap: str) -> None:
    """A pass reads pending rows above the last row of passes that settled everything
    (ScanFloor), so the history's published rows are not read again pass after pass: on
    PostgreSQL their dead entries stay in the queue's primary key until VACUUM (with the
    partial index of before, a soak's intake read 877 index pages per pass after 30
    minutes). A row queued again below the floor is still published, by the next scan from
    the start."""
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    q = tables.pending.c
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with engine.begin() as conn:
            pg = await _unvacuumed_outbox(conn, metadata, tables, topics.INTAKE.name, b"{}")
            # The history: all but the last three published (on PostgreSQL a dead entry
            # of each stays in the queue's primary key).
            await conn.execute(tables.pending.delete().where(q.seq <= 19_997))
        relay = OutboxRelay(service="test", engine=engine, sessions=sessions, tables=tables,
                            producer=producer, bootstrap=kafka_bootstrap, clock=SystemClock(),
                            metrics=RuntimeMetrics("test"), late_commit_seconds=0.0,
                            full_scan_seconds=3600.0)
        assert (await relay.publish_pending()).published == 3  # the first pass: all of it
        async with engine.begin() as conn:
            await conn.execute(tables.outbox.insert(), [
                {"event_id": str(uuid.uuid4()), "topic": topics.INTAKE.name, "key": "new",
                 "event_type": "test.v1", "payload": b"{}", "traceparent": None,
                 "created_at": T} for _ in range(2)])
        assert relay.floor.start(relay.floor._passes[-1][0] + 1) == 20_000
        if pg:
            async with engine.connect() as conn:
                hits = {}
                for floor in (0, 20_000):
                    sql = relay.pending_rows().params(floor=floor).compile(
                        dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                    plan = "\n".join(r[0] for r in await conn.execute(text(
                        f"EXPLAIN (ANALYZE, BUFFERS) {sql}")))
                    # The queue by its key, each row by the outbox's: never the history
                    # (a plain join was planned as a merge join over the whole outbox).
                    assert "outbox_pending_pkey" in plan and "outbox_pkey" in plan, plan
                    assert "Seq Scan" not in plan, plan
                    hits[floor] = _buffers_hit(plan)
            # From the start: every dead entry's page; from the floor: a descent, and the
            # two rows read from the outbox by its primary key.
            assert hits[20_000] <= 15 < 50 <= hits[0], hits
        assert (await relay.publish_pending()).published == 2
        # Another process queues an old row again (below the floor): the floor's passes
        # do not see it; the next scan from the start publishes it.
        async with engine.begin() as conn:
            await conn.execute(tables.pending.insert().values(seq=5))
        assert (await relay.publish_pending()).published == 0
        relay.floor.full_scan_seconds = 0.0
        assert (await relay.publish_pending()).published == 1
        async with sessions() as s:
            assert await s.scalar(select(func.count()).select_from(tables.pending)) == 0
    finally:
        await producer.stop()
        await engine.dispose()
