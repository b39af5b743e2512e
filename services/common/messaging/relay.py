"""The outbox relay: publishes the rows its pending queue holds (`outbox_pending`, filled by
a trigger as rows are written, db.py) in sequence order, awaits the broker's acks, then
takes them off the queue. A crash between publish and dequeue duplicates, never loses:
consumers de-duplicate by event id.

It also watches for a broker whose log was reset (the local broker keeps it in memory):
when the broker acknowledges an offset below one it had already acknowledged to this relay,
every row still within retention is published again. Only produce acknowledgements are
trusted: the local broker's ListOffsets answers the last batch's base offset, not the end.
When idle, the relay writes a heartbeat record so that a reset is seen even then; and since
no client of ours asks the broker to auto-create a topic, a topic it had published to that
has vanished is a reset too.

Each row's outcome is its own (`classify`): acknowledged rows leave the queue; a row the
broker refuses for good (too large, invalid, anything not a Kafka error) is parked with
its reason, leaves the queue and is counted, and never holds back the rows behind it; a
row that failed because the broker is away or busy stays pending and is retried after a
backoff. `health()` reports a relay with pending rows that has not moved for
`stall_seconds`.

A pass sends each partition's rows, in sequence order, as whole batches (`send_batch`): the
broker answers a partition's batch as a whole either way, and the producer's `send` cost a
future, a size estimate and a partition lookup per row. A batch refused for good is sent
again row by row, so only the row at fault is parked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from sqlalchemy import (
    BigInteger,
    Delete,
    Select,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.topics import HEARTBEAT, TOPICS
from services.common.clock import Clock
from services.common.messaging.kafka import KeyPartitioner, ensure_topics
from services.common.messaging.retry import is_transient
from services.common.observability.logs import get_logger
from services.common.observability.metrics import RuntimeMetrics
from services.common.observability.sqlstats import sql_phase
from services.common.observability.tracing import SendSpan, Tracing, disabled
from services.common.persistence.bulk import dialect_of, one_of, values_of, write_rows
from services.common.persistence.db import RuntimeTables
from services.common.persistence.sealed_columns import open_payload

log = get_logger(__name__)
LEADER_LOCK = 0x0E57_0B0C  # advisory lock: one relay per service database publishes
RETRY_BACKOFF = 1.0  # seconds between passes while the broker is away

# aiokafka marks these not retriable, yet they say nothing against the record: the request
# expired (broker away), the client is closing, or the service lacks a permission that every
# row of the topic would lack too. Parking would empty the outbox into the parking lot; the
# rows stay pending instead and /health reports the stall.
def classify(exc: BaseException) -> Literal["retry", "park"]:
    """What a failed send means for its row: `retry` keeps it pending, `park` sets it aside
    (the runtime's one retry policy decides, retry.py)."""
    return "retry" if is_transient(exc) else "park"


def park_reason(exc: BaseException) -> str:
    text = str(exc)  # aiokafka's errors already start with their class name
    name = type(exc).__name__
    return (text if text.startswith(name) else f"{name}: {text}")[:500]


def _append(batch: Any, record: tuple[bytes, bytes], headers: list[tuple[str, bytes]]
            ) -> bool:
    """Whether the producer's batch took the record (False: it is full, or refused it)."""
    try:
        return batch.append(key=record[0], value=record[1], timestamp=None,
                            headers=headers) is not None
    except Exception:
        return False


async def _outcome(sent: asyncio.Future[RecordMetadata]) -> RecordMetadata | BaseException:
    """The broker's answer to one send, or why it failed. Awaited one after another: the
    sends of a pass are answered together, and a gather would cost more than the waits."""
    try:
        return await sent
    except asyncio.CancelledError as exc:
        # The send was cancelled (the producer stopping), not this task. A task cancelled
        # while it waits cancels the future it waits on too, so `sent.cancelled()` alone
        # took the relay's own cancellation for the send's and went on with its pass.
        task = asyncio.current_task()
        if sent.cancelled() and (task is None or not task.cancelling()):
            return exc
        raise
    except Exception as exc:
        return exc


class Pending(NamedTuple):
    """An outbox row a pass publishes (`pending_rows`' columns, in their order). A plain
    tuple: a pass reads each row's fields about fifteen times, and a SQLAlchemy `Row`
    answers a field by name in ~0.4 µs where a named tuple takes ~0.03."""

    seq: int
    topic: str
    key: str
    payload: bytes
    traceparent: str | None
    event_type: str
    event_id: str


@dataclass
class Acked:
    """Rows the broker acknowledged together, with consecutive offsets from `first`."""

    rows: list[Pending]
    topic: str
    partition: int
    first: int


@dataclass
class Sent:
    """A batch of one partition's rows handed to the producer: its answer is theirs."""

    rows: list[Pending]
    topic: str
    partition: int
    future: asyncio.Future[RecordMetadata]


@dataclass
class PassResult:
    """One publish_pending pass: rows published, rows parked, and why rows were kept."""

    published: int = 0
    parked: int = 0
    retry_error: BaseException | None = None  # a retriable failure: back off, then again

    @property
    def moved(self) -> int:
        return self.published + self.parked


class ScanFloor:
    """Where the relay's scan for pending rows starts: above the last row of a pass that
    left nothing pending behind it, once `late_commit_seconds` have passed since (a row
    whose transaction took its sequence number earlier but committed later is still seen),
    and from the start every `full_scan_seconds` (whatever committed later still, or was
    made pending again by another process, waits at most that long). Published rows leave
    dead entries in the pending index until VACUUM; a scan from the start read them all,
    pass after pass: 877 index pages per pass after 30 minutes of a soak. The queue's
    primary key keeps such entries too, one per row published, until a VACUUM."""

    def __init__(self, late_commit_seconds: float, full_scan_seconds: float) -> None:
        self.late_commit_seconds = late_commit_seconds
        self.full_scan_seconds = full_scan_seconds
        self.seq = 0  # rows at or below it are settled, but for late commits
        self._passes: deque[tuple[float, int]] = deque()  # (when, last seq), oldest first
        self._full_at = -float("inf")

    def start(self, now: float) -> int:
        """The sequence number a pass starting `now` scans above (0: from the start)."""
        while self._passes and now - self._passes[0][0] >= self.late_commit_seconds:
            self.seq = max(self.seq, self._passes.popleft()[1])
        if now - self._full_at >= self.full_scan_seconds:
            self._full_at = now
            return 0
        return self.seq

    def passed(self, now: float, last_seq: int) -> None:
        """A pass settled every row it read, the last being `last_seq`."""
        self._passes.append((now, last_seq))

    def reset(self) -> None:
        """Rows at or below the floor may be pending: the next pass scans from the start."""
        self.seq = 0
        self._passes.clear()
        self._full_at = -float("inf")


class OutboxRelay:
    def __init__(self, *, service: str, engine: AsyncEngine,
                 sessions: async_sessionmaker[AsyncSession], tables: RuntimeTables,
                 producer: AIOKafkaProducer, bootstrap: str, clock: Clock,
                 metrics: RuntimeMetrics, batch: int = 2000, retention_hours: float = 168,
                 reset_check_seconds: float = 3.0, stall_seconds: float = 30.0,
                 tracing: Tracing | None = None, late_commit_seconds: float = 5.0,
                 full_scan_seconds: float = 10.0) -> None:
        self.service = service
        self.tracer = (tracing or disabled()).tracer
        self.engine = engine
        self.sessions = sessions
        self.t = tables
        self.producer = producer
        self.bootstrap = bootstrap
        self.clock = clock
        self.metrics = metrics
        self.batch = batch
        self.retention = timedelta(hours=retention_hours)
        self.reset_check_seconds = reset_check_seconds
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.topics_ready = False
        self.watermarks: dict[tuple[str, int], int] = {}
        self._leader_conn: Any = None
        self.stall_seconds = stall_seconds
        # Progress: when a row was last published or parked, or nothing was pending. Counts
        # are refreshed once per pass (one COUNT query), never per row.
        self.progress_at = time.monotonic()
        self.pending = 0
        self.parked = 0
        self.leading: bool | None = None  # False: another replica publishes this outbox
        self._marks: dict[str, Delete] = {}
        # Statements built once, as `_mark`: building a select and its cache key again each
        # pass was about 1% of digitization's samples.
        self._pending_rows: Select[Any] | None = None
        self._counts: tuple[Select[tuple[int]], Select[tuple[int]]] | None = None
        # Where a pass's scan for pending rows starts (ScanFloor): dequeued rows leave dead
        # entries in the queue's primary key that a scan from the start reads until VACUUM.
        self.floor = ScanFloor(late_commit_seconds, full_scan_seconds)
        # The producer's own choice of partition for a key (kafka.make_producer's): a row's
        # batch must go where `send` would have put the row.
        self.partitioner = KeyPartitioner()
        # A row's key and value above this go alone (`send`), where the producer measures
        # them against its request limit: a batch would take an oversized first record.
        self.batch_record_limit = int(getattr(producer, "_max_request_size", 1_048_576)) - 4096

    def poke(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        try:
            with sql_phase("relay"):
                await self._run()
        finally:
            # Also when cancelled (Runtime.stop): a lock left on a pooled connection would
            # keep the next relay of this process on standby.
            await self._release_leader()

    async def _run(self) -> None:
        await self._load_watermarks()
        last_check = 0.0
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            try:
                if not await self._is_leader():
                    self.leading = False
                    self.health()
                    await self._sleep(2.0)
                    continue
                self.leading = True
                if not self.topics_ready:
                    created = await ensure_topics(self.bootstrap, TOPICS)
                    self.topics_ready = True
                    if created and self.watermarks:
                        # No client of ours auto-creates a topic (kafka.py): a topic this
                        # relay had published to is gone only with the broker's log.
                        await self._republish(f"topics were missing: {', '.join(created)}")
                result = await self.publish_pending()
                self.health()  # keeps the stalled gauge current without an HTTP probe
                if result.retry_error is not None:
                    log.warning("outbox relay retrying", error=repr(result.retry_error),
                                pending=self.pending)
                    self.topics_ready = False  # a vanished topic is recreated next pass
                    await self._backoff(RETRY_BACKOFF)
                    continue
                if result.published:
                    last_check = loop.time()  # acks of real rows checked the log just now
                elif loop.time() - last_check > self.reset_check_seconds:
                    last_check = loop.time()
                    await self.heartbeat()
                if result.moved == 0:
                    await self._sleep(0.25)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, try again
                log.warning("outbox relay retrying", error=repr(exc))
                self.topics_ready = False
                # The pass may not have reached its count (ensure_topics failed first):
                # count now so /health sees the rows waiting.
                with contextlib.suppress(Exception):
                    await self._refresh_counts()
                self.health()
                await self._backoff(RETRY_BACKOFF)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()

    async def _backoff(self, seconds: float) -> None:
        # Unlike _sleep, commits do not cut this short: a busy service pokes the relay on
        # every transaction, which would turn the backoff into a spin while the broker is away.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    def health(self) -> tuple[bool, str]:
        """Not ok when rows are pending and nothing moved for longer than stall_seconds."""
        idle = time.monotonic() - self.progress_at
        if self.leading is False:
            self.metrics.relay_stalled.set(0)
            return True, "standby: another replica holds the relay lock"
        detail = (f"{self.pending} pending, last progress {idle:.1f}s ago, "
                  f"{self.parked} parked")
        stalled = self.pending > 0 and idle > self.stall_seconds
        self.metrics.relay_stalled.set(1 if stalled else 0)
        return (False, f"stalled: {detail}") if stalled else (True, detail)

    def _progressed(self) -> None:
        self.progress_at = time.monotonic()

    async def _refresh_counts(self) -> None:
        """Pending and parked rows, counted from the queue and from the partial index
        ix_outbox_parked, so the cost follows the backlog, not the history; the pending
        gauge follows the real backlog. One query over `published_at IS NULL` read every
        version of every row ever written through ix_outbox_published_at on a PostgreSQL
        outbox never vacuumed: 744 ms a count at 650,000 rows, in each full relay pass and
        each idle heartbeat, the relay stalled meanwhile."""
        async with self.sessions() as s:
            pending, parked = [await s.scalar(count) for count in self.counts()]
        self.pending, self.parked = int(pending or 0), int(parked or 0)
        self.metrics.outbox_pending.set(self.pending)

    def counts(self) -> tuple[Select[tuple[int]], Select[tuple[int]]]:
        """The statements counting pending rows (the queue) and parked rows (the predicate
        of their partial index)."""
        if self._counts is None:
            o = self.t.outbox.c
            self._counts = (select(func.count()).select_from(self.t.pending),
                            select(func.count()).select_from(self.t.outbox).where(
                                o.published_at.is_(None), o.parked_at.is_not(None)))
        return self._counts

    def pending_rows(self) -> Select[Any]:
        """A pass's rows: the first the queue holds in sequence order above the one bound
        as `floor` (ScanFloor), each read from the outbox by its primary key. On PostgreSQL
        through a LATERAL subquery with its own LIMIT, which the planner cannot flatten
        into a join: as a plain join, it was planned as a merge join over a sort of the
        whole outbox, every published row of the history read for the few queued."""
        if self._pending_rows is None:
            o, q = self.t.outbox.c, self.t.pending.c
            first = (select(q.seq).where(q.seq > bindparam("floor", type_=BigInteger()))
                     .order_by(q.seq).limit(self.batch).subquery("queued"))
            columns = (o.seq, o.topic, o.key, o.payload, o.traceparent, o.event_type,
                       o.event_id)  # those of `Pending`, in its order
            if self.engine.dialect.name == "postgresql":
                row = select(*columns).where(o.seq == first.c.seq).limit(1).lateral("row")
                self._pending_rows = (select(*row.c).select_from(first.join(row, true()))
                                      .order_by(first.c.seq))
            else:  # SQLite: a nested loop, the queue outside, the outbox by its rowid
                self._pending_rows = (select(*columns)
                                      .join_from(first, self.t.outbox, o.seq == first.c.seq)
                                      .order_by(first.c.seq))
        return self._pending_rows

    async def _is_leader(self) -> bool:
        # SQLite: one process per file. PostgreSQL: a session advisory lock held while alive.
        # The dialect's name, not is_sqlite(str(url)): rendering and parsing the URL again
        # each pass was 5% of intake's relay.
        if self.engine.dialect.name == "sqlite":
            return True
        if self._leader_conn is not None:
            return True
        conn = await self.engine.connect()
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK})
        await conn.commit()
        if got:
            self._leader_conn = conn
            log.info("outbox relay is leader")
            return True
        await conn.close()
        return False

    async def _release_leader(self) -> None:
        if self._leader_conn is not None:
            conn, self._leader_conn = self._leader_conn, None
            with contextlib.suppress(Exception):
                # Closing returns the connection to the pool, which does not end the
                # session: unlock explicitly.
                await conn.scalar(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK})
                await conn.commit()
            with contextlib.suppress(Exception):
                await conn.close()

    async def publish_pending(self) -> PassResult:
        """Send one batch in sequence order; settle each row by its own outcome."""
        rows = await self._pending(self.floor.start(time.monotonic()))
        if not rows:
            self.pending = 0
            self.metrics.outbox_pending.set(0)
            self._progressed()  # nothing waits: an idle relay is not a stalled one
            return PassResult()
        if len(rows) < self.batch:
            self.pending = len(rows)  # known before the broker answers (it may not)
            self.metrics.outbox_pending.set(self.pending)
        else:
            await self._refresh_counts()
        result = PassResult()
        parked: list[tuple[Pending, BaseException]] = []
        suspects: list[Pending] = []
        sent = await self._send_batches(rows, result, suspects)
        acked: list[Acked] = []
        for batch in sent:
            outcome = await _outcome(batch.future)
            if isinstance(outcome, RecordMetadata):
                acked.append(Acked(batch.rows, batch.topic, batch.partition, outcome.offset))
            elif classify(outcome) == "retry":
                result.retry_error = outcome  # stays pending; later rows are not held back
            else:
                suspects.extend(batch.rows)
        # The broker refuses a batch as a whole, failing each record in it: send each
        # refused row again on its own so that only the one at fault is parked.
        for row in sorted(suspects, key=lambda r: r.seq):
            try:
                md = await (await self._send(row))
                acked.append(Acked([row], md.topic, md.partition, md.offset))
            except Exception as exc:
                if classify(exc) == "retry":
                    result.retry_error = exc
                else:
                    parked.append((row, exc))
        await self._settle(acked, parked)
        if result.retry_error is not None:
            self.floor.reset()  # rows stayed pending: scan from the start until they move
        else:
            self.floor.passed(time.monotonic(), rows[-1].seq)
        result.published, result.parked = sum(len(a.rows) for a in acked), len(parked)
        if result.moved:
            self._progressed()
        if result.parked or result.retry_error or len(rows) == self.batch:
            await self._refresh_counts()
        else:  # all of a partial batch went out: what waits now arrived meanwhile
            self.pending = 0
            self.metrics.outbox_pending.set(0)
        return result

    async def _pending(self, floor: int) -> Sequence[Pending]:
        """A pass's rows (`pending_rows`). PostgreSQL: one statement outside a transaction,
        one round trip; in a session, a BEGIN and a ROLLBACK went with it every pass (at a
        quarter of the full load, BEGIN and ROLLBACK were 8% of a service's CPU samples).
        SQLite: a session, whose reads take no write lock."""
        if self.engine.dialect.name == "postgresql":
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                return list(map(Pending._make, await conn.execute(
                    self.pending_rows(), {"floor": floor})))
        async with self.sessions() as s:
            return list(map(Pending._make, await s.execute(self.pending_rows(),
                                                           {"floor": floor})))

    async def _send_batches(self, rows: Sequence[Pending], result: PassResult,
                            suspects: list[Pending]) -> list[Sent]:
        """The rows as batches, one partition's rows in sequence order in each, handed to
        the producer. A row the producer will not take into a batch is a suspect (sent on
        its own, it says why); a batch it will not queue for good makes its rows suspects;
        a broker away or a full buffer stops the pass there (`result.retry_error`): what
        was handed over is still settled."""
        groups: dict[tuple[str, int], list[tuple[Pending, bytes]]] = {}
        partitions: dict[str, list[int]] = {}
        for row in rows:
            try:
                if row.topic not in partitions:
                    partitions[row.topic] = sorted(await self.producer.partitions_for(row.topic))
            except Exception as exc:
                if self.stopping.is_set() or classify(exc) == "retry":
                    result.retry_error = exc  # every row behind this one would wait as long
                    break
                suspects.append(row)
                continue
            names, key = partitions[row.topic], row.key.encode()
            groups.setdefault((row.topic, self.partitioner(key, names, names)),
                              []).append((row, key))
        sent: list[Sent] = []
        for (topic, partition), group in groups.items():
            members: list[tuple[Pending, SendSpan]] = []
            batch = self.producer.create_batch()
            for row, key in group:
                headers, span = self._headers(row)
                record = self._record(row, key)
                if record is not None and not _append(batch, record, headers):
                    # Full: this batch goes, the row starts the next.
                    if not await self._hand_over(batch, topic, partition, members, sent,
                                                 result, suspects):
                        return sent
                    members, batch = [], self.producer.create_batch()
                    if not _append(batch, record, headers):
                        record = None
                if record is None:  # alone, its own send says what is wrong with it
                    span.done()
                    suspects.append(row)
                else:
                    members.append((row, span))
            if members and not await self._hand_over(batch, topic, partition, members, sent,
                                                     result, suspects):
                return sent
        return sent

    def _record(self, row: Pending, key: bytes) -> tuple[bytes, bytes] | None:
        """The row's key and value for a batch; None when it should go alone: its payload
        does not open, or it is near the producer's request limit (`send` measures it
        exactly, and refuses it for good when over, where a batch takes an oversized first
        record)."""
        try:
            # Opened only now (sealed at rest when it carries personal data), also when a
            # broker reset has every retained row published again.
            value = open_payload(row.payload)
        except Exception:
            return None
        return None if len(key) + len(value) > self.batch_record_limit else (key, value)

    async def _hand_over(self, batch: Any, topic: str, partition: int,
                         members: list[tuple[Pending, SendSpan]], sent: list[Sent],
                         result: PassResult, suspects: list[Pending]) -> bool:
        """One batch queued for its partition; False when the pass must stop."""
        try:
            future: asyncio.Future[RecordMetadata] = await self.producer.send_batch(
                batch, topic, partition=partition)
        except Exception as exc:
            for _, span in members:
                span.done(exc)
            if self.stopping.is_set() or classify(exc) == "retry":
                result.retry_error = exc  # broker away or buffer full: the rest waits too
                return False
            suspects.extend(row for row, _ in members)
            return True
        spans = [span for _, span in members if span.span is not None]
        if spans:  # sampled rows: their send spans end at the broker's answer
            future.add_done_callback(lambda f: [
                span.done(None if f.cancelled() else f.exception()) for span in spans])
        sent.append(Sent([row for row, _ in members], topic, partition, future))
        return True

    def _headers(self, row: Pending) -> tuple[list[tuple[str, bytes]], SendSpan]:
        """A row's record headers, and its send span (a sampled row's, ended at the
        broker's answer, is the record's parent)."""
        headers = [("ce_type", row.event_type.encode()), ("ce_id", row.event_id.encode())]
        span = SendSpan(self.tracer, row.topic, row.key, row.event_id, row.event_type,
                        row.traceparent)
        traceparent = span.header(row.traceparent)
        if traceparent:
            headers.append(("traceparent", traceparent.encode()))
        return headers, span

    async def _send(self, row: Pending) -> asyncio.Future[RecordMetadata]:
        """One row on its own (a suspect of a refused batch)."""
        headers, span = self._headers(row)
        try:
            future: asyncio.Future[RecordMetadata] = await self.producer.send(
                row.topic, open_payload(row.payload), key=row.key.encode(), headers=headers)
        except BaseException as exc:
            span.done(exc)
            raise
        if span.span is not None:
            future.add_done_callback(
                lambda f: span.done(None if f.cancelled() else f.exception()))
        return future

    async def _settle(self, acked: Sequence[Acked],
                      parked: Sequence[tuple[Pending, BaseException]]) -> None:
        """Take acknowledged rows off the queue and park refused rows, in one transaction."""
        if not acked and not parked:
            return
        reset = False
        touched: dict[tuple[str, int], int] = {}
        for a in acked:
            tp = (a.topic, a.partition)
            if a.first < self.watermarks.get(tp, 0) and tp not in touched:
                reset = True  # the broker handed out an offset it had already given: new log
            touched[tp] = max(touched.get(tp, 0), a.first + len(a.rows))
        now = self.clock.now()
        async with self.sessions() as s, s.begin():
            if acked:
                dialect = dialect_of(s)
                seqs = [r.seq for a in acked for r in a.rows]
                await s.execute(self._mark(dialect), {
                    "seqs": values_of(seqs, dialect), "low": min(seqs), "high": max(seqs)})
            for row, exc in parked:  # rare: one statement each, to keep each reason
                await s.execute(update(self.t.outbox).where(self.t.outbox.c.seq == row.seq)
                                .values(parked_at=now, park_reason=park_reason(exc)))
                await s.execute(delete(self.t.pending).where(self.t.pending.c.seq == row.seq))
            await self._save_watermarks(s, touched, replace=reset)
        # One label lookup per topic of the pass, not one per row.
        published: Counter[str] = Counter()
        for a in acked:
            published[a.topic] += len(a.rows)
        for topic, n in published.items():
            self.metrics.published(topic=topic).inc(n)
        for row, exc in parked:
            self.metrics.outbox_parked(topic=row.topic, reason=type(exc).__name__).inc()
            log.error("outbox row parked: the broker refused it for good", seq=row.seq,
                      event_id=row.event_id, topic=row.topic, event_type=row.event_type,
                      size=len(row.payload), reason=park_reason(exc))
        if reset:
            await self._republish("an acknowledged offset went backwards")

    def _mark(self, dialect: str) -> Delete:
        """The acknowledged rows taken off the queue: one statement, prepared once."""
        statement = self._marks.get(dialect)
        if statement is None:
            seq = self.t.pending.c.seq
            # The range lets the planner walk the primary key over a pass's few rows
            # whatever it guesses of the list (an IN list was answered with a table scan).
            statement = self._marks[dialect] = delete(self.t.pending).where(
                seq.between(bindparam("low"), bindparam("high")),
                one_of(seq, dialect, "seqs", BigInteger()))
        return statement

    async def _save_watermarks(self, s: AsyncSession, touched: dict[tuple[str, int], int],
                               replace: bool) -> None:
        if replace:
            self.watermarks.clear()
            await s.execute(delete(self.t.watermarks))
        rows = []
        for (topic, partition), offset in touched.items():
            if offset <= self.watermarks.get((topic, partition), -1):
                continue
            self.watermarks[(topic, partition)] = offset
            rows.append({"topic": topic, "partition": partition, "next_offset": offset})
        if rows:  # one statement for every partition the pass moved (not one row each)
            await write_rows(s, self.t.watermarks, rows, "replace", ("topic", "partition"))

    async def _load_watermarks(self) -> None:
        async with self.sessions() as s:
            for row in (await s.execute(select(self.t.watermarks))).all():
                self.watermarks[(row.topic, row.partition)] = row.next_offset

    async def heartbeat(self) -> bool:
        """Write one record and check its acknowledged offset; True when a reset was seen."""
        await self._purge_old()
        value = json.dumps({"service": self.service,
                            "time": self.clock.now().isoformat()}).encode()
        md = await self.producer.send_and_wait(HEARTBEAT.name, value,
                                               key=self.service.encode())
        tp = (md.topic, md.partition)
        reset = md.offset < self.watermarks.get(tp, 0)
        if reset:
            await self._republish(f"heartbeat acknowledged at {md.offset}, "
                                  f"after {self.watermarks[tp]}")
        async with self.sessions() as s, s.begin():
            await self._save_watermarks(s, {tp: md.offset + 1}, replace=False)
        return reset

    async def _republish(self, why: str) -> None:
        since = self.clock.now() - self.retention
        o = self.t.outbox.c
        async with self.sessions() as s, s.begin():
            # The published rows queued again. Parked rows stay parked: the new log must not
            # receive what the old one refused.
            result = await s.execute(insert(self.t.pending).from_select(
                ["seq"], select(o.seq).where(o.created_at >= since, self.t.published())))
            await s.execute(delete(self.t.watermarks))
        self.watermarks.clear()
        self.floor.reset()  # old rows are pending again
        self.topics_ready = False
        await ensure_topics(self.bootstrap, TOPICS)
        self.topics_ready = True
        self.metrics.broker_resets.inc()
        log.warning("broker log reset detected; republishing the outbox", why=why,
                    rows=result.rowcount)
        self.poke()

    async def _purge_old(self) -> None:
        """Published rows older than the retention period are no longer needed (neither
        queued nor parked: published)."""
        before = self.clock.now() - self.retention
        async with self.sessions() as s, s.begin():
            await s.execute(delete(self.t.outbox).where(
                self.t.outbox.c.created_at < before, self.t.published()))
        await self._refresh_counts()

    async def stop(self) -> None:
        self.stopping.set()
        self.poke()
