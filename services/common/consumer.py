"""The batch consumer loop every service uses.

A fetched batch is parsed, de-duplicated through the inbox, applied and recorded in ONE
transaction, and only then are its offsets committed. If the batch fails, each record is
retried alone with bounded backoff; one that still fails, or cannot be parsed, goes to the
service's dead-letter topic (reason, origin and attempts in headers) before the offset
moves past it. Infrastructure failures (database or broker away) are never dead-lettered:
the loop waits and tries again without committing, so no record is skipped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.common import Contract
from contracts.envelope import Envelope
from contracts.registry import EVENT_TYPES
from contracts.topics import Topic
from services.common.bulk import flush_inserts
from services.common.clock import Clock
from services.common.inbox import Inbox, payload_hash
from services.common.metrics import RuntimeMetrics
from services.common.telemetry import current_traceparent, get_logger

log = get_logger(__name__)


@dataclass
class Context:
    """What a handler gets besides its event: the transaction and the envelope."""

    session: AsyncSession
    envelope: Envelope
    topic: str


Handler = Callable[[Context, Any], Awaitable[None]]


@dataclass
class Subscription:
    topic: Topic
    handlers: dict[str, Handler] = field(default_factory=dict)

    def on(self, event_cls: type[Contract]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers[event_cls.event_type] = fn  # type: ignore[attr-defined]
            return fn
        return register


@dataclass
class Item:
    record: ConsumerRecord
    envelope: Envelope
    event: Any
    handler: Handler
    digest: str


class DeadLetter(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def is_infrastructure(exc: BaseException) -> bool:
    """Database or broker away: wait and retry, never blame (dead-letter) the record."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | ConnectionError | KafkaError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class BatchConsumer:
    def __init__(self, *, service: str, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                 sessions: async_sessionmaker[AsyncSession], inbox: Inbox,
                 subscriptions: list[Subscription], dead_letter_topic: str, clock: Clock,
                 metrics: RuntimeMetrics, max_records: int = 1000, attempts: int = 3,
                 after_commit: Callable[[], None] | None = None) -> None:
        self.service = service
        self.consumer = consumer
        self.producer = producer
        self.sessions = sessions
        self.inbox = inbox
        self.routes = {s.topic.name: s for s in subscriptions}
        self.dlq = dead_letter_topic
        self.clock = clock
        self.metrics = metrics
        self.max_records = max_records
        self.attempts = attempts
        self.after_commit = after_commit or (lambda: None)
        self.stopping = asyncio.Event()
        self.applied = 0

    async def run(self) -> None:
        self.consumer.subscribe(list(self.routes))
        while not self.stopping.is_set():
            try:
                batch = await self.consumer.getmany(timeout_ms=500, max_records=self.max_records)
            except KafkaError as exc:
                log.warning("fetch failed; retrying", error=repr(exc))
                await asyncio.sleep(1.0)
                continue
            if not batch:
                continue
            await self.handle_batch(batch)

    async def handle_batch(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        items: list[Item] = []
        dead: list[tuple[ConsumerRecord, DeadLetter, int]] = []
        for records in batch.values():
            for record in records:
                try:
                    item = self._parse(record)
                except DeadLetter as exc:
                    dead.append((record, exc, 1))
                    continue
                if item is not None:
                    items.append(item)
        while True:
            try:
                await self._apply_all(items)
                break
            except Exception as exc:
                if is_infrastructure(exc):
                    log.warning("database unavailable; batch will be retried", error=repr(exc))
                    await asyncio.sleep(1.0)
                    continue
                # A handler failed: find which record, one by one.
                log.warning("batch failed; applying records one by one", error=repr(exc))
                for item in items:
                    failure = await self._apply_one_with_retries(item)
                    if failure is not None:
                        dead.append(failure)
                break
        for record, reason, attempts in dead:
            await self._dead_letter(record, reason, attempts)
        self.after_commit()
        await self._commit(batch)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)

    def _parse(self, record: ConsumerRecord) -> Item | None:
        try:
            body = json.loads(record.value)
        except (TypeError, ValueError, UnicodeDecodeError) as exc:
            raise DeadLetter("unparseable", f"not JSON: {exc}") from exc
        try:
            envelope = Envelope.model_validate(body)
        except ValidationError as exc:
            raise DeadLetter("invalid-envelope", _errors(exc)) from exc
        route = self.routes.get(record.topic)
        handler = route.handlers.get(envelope.type) if route else None
        if handler is None:
            # Tolerant reader: types this service does not handle are not its concern.
            return None
        try:
            event = EVENT_TYPES[envelope.type].model_validate(envelope.data)
        except ValidationError as exc:
            raise DeadLetter("invalid-event", _errors(exc)) from exc
        return Item(record, envelope, event, handler, payload_hash(record.value))

    async def _apply_all(self, items: list[Item]) -> None:
        if not items:
            return
        async with self.sessions() as s, s.begin():
            seen = await self.inbox.seen(s, [str(i.envelope.id) for i in items])
            fresh = []
            batch_ids: dict[str, str] = {}
            for item in items:
                event_id = str(item.envelope.id)
                known = seen.get(event_id) or batch_ids.get(event_id)
                if known is not None:
                    if known != item.digest:
                        raise DeadLetter("id-reused", f"event {event_id} seen with other content")
                    self.metrics.duplicates(topic=item.record.topic).inc()
                    continue
                batch_ids[event_id] = item.digest
                await self._call(s, item)
                fresh.append(item)
            await self.inbox.record(
                s, [(str(i.envelope.id), i.digest, i.record.topic) for i in fresh],
                self.clock.now())
            await flush_inserts(s)
        self._count(fresh)

    async def _apply_one_with_retries(self, item: Item) -> tuple[ConsumerRecord, DeadLetter,
                                                                   int] | None:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.sessions() as s, s.begin():
                    event_id = str(item.envelope.id)
                    known = (await self.inbox.seen(s, [event_id])).get(event_id)
                    if known is not None:
                        if known != item.digest:
                            raise DeadLetter("id-reused",
                                             f"event {event_id} seen with other content")
                        return None
                    await self._call(s, item)
                    await self.inbox.record(s, [(event_id, item.digest, item.record.topic)],
                                            self.clock.now())
                    await flush_inserts(s)
                self._count([item])
                return None
            except DeadLetter as exc:
                return (item.record, exc, attempt)
            except Exception as exc:
                if is_infrastructure(exc):
                    log.warning("database unavailable; record will be retried", error=repr(exc))
                    attempt -= 1  # not the record's fault: it does not use up its attempts
                    await asyncio.sleep(1.0)
                    continue
                self.metrics.retries(topic=item.record.topic).inc()
                if attempt >= self.attempts:
                    return (item.record, DeadLetter("handler-failed", repr(exc)[:500]), attempt)
                await asyncio.sleep(0.2 * 2 ** (attempt - 1))

    async def _call(self, session: AsyncSession, item: Item) -> None:
        parent = dict(item.record.headers or ()).get("traceparent")
        token = current_traceparent.set(parent.decode() if parent else None)
        try:
            await item.handler(Context(session, item.envelope, item.record.topic), item.event)
        finally:
            current_traceparent.reset(token)

    def _count(self, items: list[Item]) -> None:
        for item in items:
            self.metrics.consumed(topic=item.record.topic, type=item.envelope.type).inc()
        self.applied += len(items)

    async def _dead_letter(self, record: ConsumerRecord, reason: DeadLetter,
                           attempts: int) -> None:
        headers = [
            *(record.headers or ()),
            ("dlq-reason", reason.reason.encode()),
            ("dlq-detail", reason.detail[:1000].encode()),
            ("dlq-original-topic", record.topic.encode()),
            ("dlq-original-partition", str(record.partition).encode()),
            ("dlq-original-offset", str(record.offset).encode()),
            ("dlq-attempts", str(attempts).encode()),
            ("dlq-consumer", self.service.encode()),
        ]
        while True:  # the offset may not move past it until the dead-letter is acknowledged
            try:
                await self.producer.send_and_wait(self.dlq, record.value, key=record.key,
                                                  headers=headers)
                break
            except KafkaError as exc:
                log.warning("dead-letter publish failed; retrying", error=repr(exc))
                await asyncio.sleep(1.0)
        self.metrics.dead_letters(topic=record.topic, reason=reason.reason).inc()
        log.warning("record dead-lettered", topic=record.topic, partition=record.partition,
                    offset=record.offset, reason=reason.reason, detail=reason.detail[:300])

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


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:900]
