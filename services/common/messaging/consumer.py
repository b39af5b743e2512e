"""The batch consumer loop every service uses.

A fetched batch is parsed, de-duplicated through the inbox, applied and recorded in ONE
transaction, and only then are its offsets committed. Every record is answered exactly once,
whatever it holds:
- a record that cannot be read (not JSON, too large, too deep, no id, invalid envelope or
  event, a type a strict subscription does not accept) is the record's fault: it is
  dead-lettered at once, never a crash;
- if the batch fails, it is split in halves until the failing records are alone (order kept);
  a record that fails alone cannot succeed on retry and is dead-lettered at once, so one bad
  record never holds the records behind it;
- only infrastructure failures (database or broker away) are retried, and they are waited
  out without committing, so no record is skipped.
A subscription may `verify` who wrote each record (provinces sign theirs) before it is read;
a record that fails is refused like an unreadable one. It may also `answer` the producer of a
refused record (provinces hear why on their feedback topic); that answer is written through
the outbox before the offset moves. And it may `acknowledge` the records applied, and those
applied before (a producer sending again what it heard nothing of), in the transaction that
applies them: every record is then answered, one way or the other.
Dead letters of topics that carry personal data are sealed (encrypted), see sealing.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.common import Contract
from contracts.envelope import Envelope, InboundEnvelope, typed_inbound
from contracts.registry import EVENT_TYPES, inbound
from contracts.topics import Topic
from services.common.clock import Clock
from services.common.messaging.dead_letters import (
    DeadLetter,
    DeadLetterPublisher,
    DeadLetterValue,
    keep_value,
)
from services.common.messaging.inbox import Inbox, content_hash, payload_hash, same_content
from services.common.messaging.retry import retrying
from services.common.observability.logs import get_logger
from services.common.observability.metrics import RuntimeMetrics
from services.common.observability.redaction import mask
from services.common.observability.sqlstats import sql_phase
from services.common.observability.tracing import (
    BatchTrace,
    RecordContext,
    RecordTrace,
    Tracing,
    disabled,
    header,
    record_context,
    record_trace,
)
from services.common.persistence.bulk import flush_inserts

log = get_logger(__name__)

# Explicit parsing limits: bigger or deeper records are refused before any handler sees them.
MAX_RECORD_BYTES = 1024 * 1024
MAX_DEPTH = 32


@dataclass(slots=True)
class Context:
    """What a handler gets besides its event: the transaction and the envelope."""

    session: AsyncSession
    envelope: Envelope
    topic: str
    record_headers: Any = None
    # Who the subscription's `verify` found wrote the record (a province system), if any.
    principal: str | None = None
    # The record's trace: its process span's OpenTelemetry context when sampled, else its
    # traceparent text (tracing.BatchTrace.context_for); `traced` runs work in it.
    trace: RecordTrace = None
    # The envelope's id as text, made once per record by the consumer ("" where a Context
    # is built elsewhere): str() of a UUID is Python code, asked for again by handlers.
    event_id: str = ""
    # The record's bytes as received (b"" where a Context is built elsewhere): a quick look
    # through them costs less than writing the parsed event again.
    record_value: bytes = b""


EventHandler = Callable[[Context, Any], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """A handler that takes the batch's consecutive records of its types at once, in
    order, so it reads the rows they touch in one query and writes them in bulk (one
    statement per table per batch) instead of a round trip per event. Register the same
    instance for each of its event types. It sets `traced(ctx)` around each event's work
    so the events it emits carry that record's trace."""

    fn: Callable[[AsyncSession, list[tuple[Context, Any]]], Awaitable[None]]


Handler = EventHandler | Batched


def traced(ctx: Context) -> RecordContext:
    """The record's trace as the current one, for the outbox rows written under it
    (`with traced(ctx): ...`)."""
    return record_context(ctx.trace if ctx.trace is not None
                          else record_trace(header(ctx.record_headers)))


@dataclass
class Refusal:
    """A record this service could not apply, and why; `envelope` when it could be read."""

    record: ConsumerRecord
    reason: str
    detail: str
    envelope: Envelope | None = None


@dataclass(frozen=True)
class Received:
    """A record of an acknowledging subscription: applied in this transaction, or applied
    before (`duplicate`: the same id and content sent again)."""

    envelope: Envelope
    event: Any
    principal: str | None
    duplicate: bool


Answer = Callable[[AsyncSession, Refusal], Awaitable[None]]
# Called once per transaction with its records, after their handlers, before the commit.
Acknowledge = Callable[[AsyncSession, list[Received]], Awaitable[None]]
# Who wrote this record, from its raw bytes and headers; raises DeadLetter when unproven.
Verify = Callable[[ConsumerRecord], str]


@dataclass
class Subscription:
    topic: Topic
    handlers: dict[str, Handler] = field(default_factory=dict)
    # A topic written by outsiders (provinces): a type nobody handles is refused, not ignored.
    strict_types: bool = False
    # Tells the producer of a refused record why, in the same way it hears of other problems.
    answer: Answer | None = None
    verify: Verify | None = None
    # Tells the producer of each record applied (or applied before) that it was taken in.
    acknowledge: Acknowledge | None = None
    # What the inbox recognises a record by: its content (`content_hash`), or its bytes
    # (`payload_hash`, for a topic only a service's relay writes: wiring.subscriptions).
    hash_content: bool = True

    # The types its handlers took when `inbound` was last asked, and their validator.
    _inbound: tuple[frozenset[str], TypeAdapter[Any]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def on(self, event_cls: type[Contract]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers[event_cls.event_type] = fn  # type: ignore[attr-defined]
            return fn
        return register

    def digest(self, envelope: BaseModel, raw: bytes) -> str:
        """What the inbox records of a record of this topic (`envelope`, parsed from `raw`)."""
        return content_hash(envelope) if self.hash_content else payload_hash(raw)

    def inbound(self) -> TypeAdapter[Any]:
        """One validator of the records its handlers take, bytes to the typed envelope
        (contracts.registry.inbound)."""
        if self._inbound is None or self.handlers.keys() != self._inbound[0]:
            types = frozenset(self.handlers)
            self._inbound = (types, inbound(types))
        return self._inbound[1]


@dataclass(slots=True)
class Item:
    record: ConsumerRecord
    envelope: Envelope
    event: Any
    handler: Handler
    digest: str
    principal: str | None = None
    event_id: str = ""

    def __post_init__(self) -> None:
        self.event_id = str(self.envelope.id)  # once: the inbox asks for it three times


def describe(exc: BaseException) -> str:
    """What went wrong, without the statement's parameters (they may hold personal data)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
    return mask(f"{type(exc).__name__}: {exc}")[:500]


def too_deep(value: Any, limit: int) -> bool:
    """Nesting deeper than `limit` (iterative: a hostile record cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


class BatchConsumer:
    def __init__(self, *, service: str, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                 sessions: async_sessionmaker[AsyncSession], inbox: Inbox,
                 subscriptions: list[Subscription], dead_letter_topic: str, clock: Clock,
                 metrics: RuntimeMetrics, max_records: int = 1000,
                 max_record_bytes: int = MAX_RECORD_BYTES, max_depth: int = MAX_DEPTH,
                 dead_letter_value: DeadLetterValue = keep_value,
                 after_commit: Callable[[], None] | None = None,
                 tracing: Tracing | None = None, linger_ms: float = 0.0,
                 linger_below: int | None = None) -> None:
        self.service = service
        self.consumer = consumer
        self.producer = producer
        self.sessions = sessions
        self.inbox = inbox
        self.routes = {s.topic.name: s for s in subscriptions}
        for route in subscriptions:  # the validators built now, not in the first batch
            if route.handlers:
                route.inbound()
        self.clock = clock
        self.metrics = metrics
        self.max_records = max_records
        self.linger = linger_ms / 1000
        self.linger_below = max_records // 4 if linger_below is None else linger_below
        self.max_record_bytes = max_record_bytes
        self.max_depth = max_depth
        self.dead_letters = DeadLetterPublisher(service, producer, dead_letter_topic, metrics,
                                                dead_letter_value)
        self.after_commit = after_commit or (lambda: None)
        self.tracer = (tracing or disabled()).tracer
        self._trace = BatchTrace(self.tracer, service, 0)
        self.stopping = asyncio.Event()
        self.applied = 0

    async def run(self) -> None:
        self.consumer.subscribe(list(self.routes))
        while not self.stopping.is_set():
            batch = await retrying(lambda: self.consumer.getmany(
                timeout_ms=500, max_records=self.max_records), "fetch failed")
            if not batch:
                continue
            await self.handle_batch(await self._fill(batch))

    async def _fill(self, batch: dict[TopicPartition, list[ConsumerRecord]]
                    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """A batch smaller than `linger_below` waits `linger` once for the records that
        arrive meanwhile (the client keeps fetching): a batch's fixed cost (transaction,
        statements, offset commit, the relay's pass after it) is then shared by more
        records, so a half-loaded machine is not kept busy by many small batches."""
        count = sum(len(records) for records in batch.values())
        if self.linger <= 0 or count >= self.linger_below:
            return batch
        await asyncio.sleep(self.linger)
        more = await retrying(lambda: self.consumer.getmany(
            timeout_ms=0, max_records=self.max_records - count), "fetch failed")
        for tp, records in more.items():  # later offsets of a partition come after
            batch[tp] = [*batch.get(tp, ()), *records]
        return batch

    async def handle_batch(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        items: list[Item] = []
        dead: list[tuple[ConsumerRecord, DeadLetter, int]] = []
        for tp, records in batch.items():
            self.metrics.fetched(topic=tp.topic).inc(len(records))
            for record in records:
                try:
                    item = self._parse(record)
                except DeadLetter as exc:
                    dead.append((record, exc.kept(), 1))
                    continue
                if item is not None:
                    items.append(item)
        parsed = time.perf_counter()
        with sql_phase("consumer"):
            await self._apply_isolating(items, dead, attempts=1)
            self.after_commit()  # the relay publishes the batch's events while this goes on
            applied = time.perf_counter()
            await self.dead_letters.publish(dead)
            if await self._answer(dead):
                self.after_commit()
        answered = time.perf_counter()
        await self._commit(batch)
        ended = time.perf_counter()
        parts = self.metrics.batch_part_seconds
        parts(part="parse").inc(parsed - started)
        parts(part="transaction").inc(applied - parsed)
        parts(part="dead_letters").inc(answered - applied)
        parts(part="offsets").inc(ended - answered)
        self.metrics.batch_seconds.observe(ended - started)

    def _parse(self, record: ConsumerRecord) -> Item | None:
        value = record.value
        if not value:
            raise DeadLetter("empty", "the record has no value")
        if len(value) > self.max_record_bytes:
            raise DeadLetter("too-large",
                             f"{len(value)} bytes; the limit is {self.max_record_bytes}")
        route = self.routes.get(record.topic)
        if route is not None and not route.strict_types and \
                (kind := header(record.headers, "ce_type")) is not None and \
                kind.decode("utf-8", "replace") not in route.handlers:
            # A service's own topic: its relay names the type in a header, so a record of a
            # type this service does not read is passed over unparsed.
            return None
        # Before the bytes are parsed: an unproven writer's record is never looked into.
        principal = route.verify(record) if route and route.verify else None
        # Nesting cannot exceed the count of brackets: only records with many are walked.
        if route is not None and route.handlers and \
                value.count(b"{") + value.count(b"[") <= self.max_depth:
            try:
                # One parse: bytes to the envelope whose `data` is the typed event.
                envelope = route.inbound().validate_json(value)
            except ValidationError:
                pass  # told apart below, as it always was: which part failed, and how
            else:
                return Item(record, envelope, envelope.data, route.handlers[envelope.type],
                            route.digest(envelope, value), principal)
        return self._parse_refusing(record, route, principal)

    def _parse_refusing(self, record: ConsumerRecord, route: Subscription | None,
                        principal: str | None) -> Item | None:
        """A record the typed parse did not take (a type this service does not handle,
        nesting to check, or something invalid), read step by step so the refusal says
        what is wrong: unreadable, the envelope, too deep, an unknown type, the event."""
        value = record.value
        try:
            # Bytes parsed once; the JSON parser refuses nesting deeper than its own limit.
            envelope: Envelope = InboundEnvelope.model_validate_json(value)
        except ValidationError as exc:
            unreadable = any(e["type"] in ("json_invalid", "json_type") for e in exc.errors())
            raise DeadLetter("unparseable" if unreadable else "invalid-envelope",
                             _errors(exc)) from exc
        except Exception as exc:  # whatever a record makes the parser raise is its own fault
            raise DeadLetter("unparseable", describe(exc)) from exc
        if value.count(b"{") + value.count(b"[") > self.max_depth and \
                too_deep(envelope.data, self.max_depth):
            raise DeadLetter("too-deep", f"data nested deeper than {self.max_depth} levels",
                             envelope)
        handler = route.handlers.get(envelope.type) if route else None
        if route is None or handler is None:
            if route is not None and route.strict_types:
                raise DeadLetter("unknown-type", f"{envelope.type} is not accepted on "
                                 f"{record.topic}", envelope)
            # Tolerant reader: types this service does not handle are not its concern.
            return None
        try:
            event = EVENT_TYPES[envelope.type].model_validate(envelope.data)
        except ValidationError as exc:
            raise DeadLetter("invalid-event", _errors(exc), envelope) from exc
        except Exception as exc:
            raise DeadLetter("invalid-event", describe(exc), envelope) from exc
        # The same envelope the typed parse gives: its attributes as validated, the event.
        typed = typed_inbound(type(event)).model_construct(
            envelope.model_fields_set, **{**dict(envelope), "data": event})
        return Item(record, typed, event, handler, route.digest(typed, value), principal)

    async def _apply_isolating(self, items: list[Item],
                               dead: list[tuple[ConsumerRecord, DeadLetter, int]],
                               attempts: int) -> None:
        """Apply `items` in one transaction; if that fails, halves (order kept) until each
        failing record is alone, and dead-letter it: it fails whatever else is beside it."""
        if not items:
            return
        try:
            refused = await self._apply_waiting_out_infrastructure(items)
        except Exception as exc:
            if len(items) == 1:
                log.warning("record failed; dead-lettering it", topic=items[0].record.topic,
                            offset=items[0].record.offset, error=describe(exc))
                dead.append((items[0].record, exc.kept() if isinstance(exc, DeadLetter) else
                             DeadLetter("handler-failed", describe(exc), _as_read(items[0])),
                             attempts))
                return
            log.warning("batch failed; isolating the failing records", size=len(items),
                        error=describe(exc))
        else:
            dead.extend((item.record, reason, attempts) for item, reason in refused)
            return
        self.metrics.retries(topic=items[0].record.topic).inc()
        middle = len(items) // 2
        await self._apply_isolating(items[:middle], dead, attempts + 1)
        await self._apply_isolating(items[middle:], dead, attempts + 1)

    async def _apply_waiting_out_infrastructure(self, items: list[Item]
                                                ) -> list[tuple[Item, DeadLetter]]:
        return await retrying(lambda: self._apply_all(items),
                              "database unavailable; the batch waits")

    async def _apply_all(self, items: list[Item]) -> list[tuple[Item, DeadLetter]]:
        """Apply and record in one transaction; the items refused as an id reused for other
        content are returned (they hold nothing else back, and are dead-lettered only once
        the transaction committed)."""
        refused: list[tuple[Item, DeadLetter]] = []
        if not items:
            return refused
        # The trace's spans end after the commit (or in error with the transaction).
        async with BatchTrace(self.tracer, self.service, len(items)) as self._trace, \
                self.sessions() as s, s.begin():
            seen = await self.inbox.seen(s, [i.event_id for i in items])
            fresh, duplicates = [], []
            batch_ids: dict[str, str] = {}
            for item in items:
                event_id = item.event_id
                known = seen.get(event_id) or batch_ids.get(event_id)
                if known is not None:
                    # A row recorded under another rule holds another hash of it.
                    if known != item.digest and not same_content(known, item.record.value,
                                                                 item.envelope):
                        refused.append((item, DeadLetter(
                            "id-reused", f"event {event_id} seen with other content",
                            _as_read(item))))
                    else:
                        self.metrics.duplicates(topic=item.record.topic).inc()
                        duplicates.append(item)
                    continue
                batch_ids[event_id] = item.digest
                fresh.append(item)
            await self._call_all(s, fresh)
            await self._acknowledge(s, fresh, duplicates)
            await self.inbox.record(
                s, [(i.event_id, i.digest, i.record.topic) for i in fresh],
                self.clock.now())
            await flush_inserts(s)
        self._count(fresh)
        return refused

    async def _call_all(self, session: AsyncSession, items: list[Item]) -> None:
        """Each item's handler in order; consecutive items of one Batched handler go to it
        together."""
        run: list[Item] = []
        for item in items:
            if run and item.handler is not run[0].handler:
                await self._call_run(session, run)
                run = []
            run.append(item)
        if run:
            await self._call_run(session, run)

    async def _call_run(self, session: AsyncSession, run: list[Item]) -> None:
        handler = run[0].handler
        contexts = [(self._context(session, item), item.event) for item in run]
        if isinstance(handler, Batched):
            await handler.fn(session, contexts)
            return
        for ctx, event in contexts:
            with traced(ctx):
                await handler(ctx, event)

    async def _acknowledge(self, session: AsyncSession, fresh: list[Item],
                           duplicates: list[Item]) -> None:
        """Each acknowledging subscription hears of its records applied and applied before,
        in this transaction: an acknowledgement is never sent for what was rolled back."""
        if all(route.acknowledge is None for route in self.routes.values()):
            return
        received: dict[Acknowledge, list[Received]] = {}
        for items, duplicate in ((fresh, False), (duplicates, True)):
            for item in items:
                route = self.routes.get(item.record.topic)
                if route is not None and route.acknowledge is not None:
                    received.setdefault(route.acknowledge, []).append(Received(
                        item.envelope, item.event, item.principal, duplicate))
        for acknowledge, records in received.items():
            await acknowledge(session, records)

    def _context(self, session: AsyncSession, item: Item) -> Context:
        return Context(session, item.envelope, item.record.topic, item.record.headers,
                       item.principal, self._record_trace(item), item.event_id,
                       item.record.value)

    def _record_trace(self, item: Item) -> RecordTrace:
        """What the record's work runs in (BatchTrace.context_for)."""
        return self._trace.context_for(item.record.headers, item.record.topic, item.envelope)

    def _count(self, items: list[Item]) -> None:
        # One label lookup per (topic, type) of the batch, not one per record.
        for (topic, event_type), n in Counter(
                (item.record.topic, item.envelope.type) for item in items).items():
            self.metrics.consumed(topic=topic, type=event_type).inc(n)
        self.applied += len(items)

    async def _answer(self, dead: list[tuple[ConsumerRecord, DeadLetter, int]]) -> bool:
        """Refused records of answering subscriptions are answered in one transaction; True
        when there were answers to write."""
        answers = [(route.answer, Refusal(record, exc.reason, exc.detail, exc.envelope))
                   for record, exc, _ in dead
                   if (route := self.routes.get(record.topic)) and route.answer]
        if not answers:
            return False
        async def write() -> None:
            async with self.sessions() as s, s.begin():
                for answer, refusal in answers:
                    await answer(s, refusal)
                await flush_inserts(s)

        try:
            await retrying(write, "database unavailable; answers wait")
        except Exception as exc:
            # An answer that cannot be written is not worth blocking the topic for: the
            # record is in the dead-letter topic already.
            log.error("refusal could not be answered", error=describe(exc))
        return True

    async def _commit(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # Partitions moved to another member (or the broker restarted): the records are
            # delivered again and the inbox skips what was applied.
            log.warning("offset commit failed; records will be redelivered", error=repr(exc))

    async def stop(self) -> None:
        self.stopping.set()


def _as_read(item: Item) -> Envelope:
    """A refused record's envelope as refusals carry it (an answer reads what it can of the
    data as sent): `data` the record's own, not the typed event. Read again: refusals are
    rare."""
    try:
        return InboundEnvelope.model_validate_json(item.record.value)
    except ValidationError:
        return item.envelope


def _errors(exc: ValidationError) -> str:
    # Pydantic's messages only, never the input values (they may hold personal data).
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(
        include_url=False, include_input=False))[:900]
