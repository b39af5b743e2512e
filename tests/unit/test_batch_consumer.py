"""The batch loop's guarantees, with in-memory stand-ins for the Kafka clients and a real
SQLite database: nothing is committed past a record that was neither applied nor
dead-lettered; duplicates change nothing; a poison record does not block the others."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import uuid
import weakref
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import Column, MetaData, String, Table, func, select
from sqlalchemy.exc import OperationalError

from contracts import topics
from contracts.envelope import Envelope, InboundEnvelope
from contracts.events import DossierWithdrawn
from contracts.registry import inbound
from services.common.clock import FixedClock
from services.common.messaging.consumer import (
    BatchConsumer,
    Context,
    Received,
    Refusal,
    Subscription,
)
from services.common.messaging.inbox import Inbox, content_hash, content_hash_v1, payload_hash
from services.common.observability.metrics import RuntimeMetrics
from services.common.persistence.db import make_engine, runtime_tables, session_factory

T = datetime(2026, 3, 2, 3, tzinfo=UTC)
metadata = MetaData()
tables = runtime_tables(metadata)
applied = Table("applied", metadata, Column("event_id", String(36), primary_key=True),
                Column("code", String(64)))


class FakeConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []

    async def send(self, topic: str, value: bytes, key: bytes | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[None]:
        self.sent.append((topic, value, headers or []))
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


def _record(offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic=topics.INTAKE.name, partition=0, offset=offset, timestamp=0,
                          timestamp_type=0, key=b"k", value=value, checksum=None,
                          serialized_key_size=1, serialized_value_size=len(value),
                          headers=[])


def _event(code: str, event_id: uuid.UUID | None = None, reason: str = "r") -> bytes:
    env = Envelope(id=event_id or uuid.uuid4(), type=DossierWithdrawn.event_type,
                   source="onestop/intake", subject=code, time=T, agencycode="A",
                   data=DossierWithdrawn(dossier_code=code, withdrawn_at=T,
                                         reason=reason).model_dump(mode="json"))
    return json.dumps(env.model_dump(mode="json")).encode()


@pytest.fixture
async def loop_parts(tmp_path: Any) -> Any:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    state: dict[str, Any] = {"fail_on": set(), "infra_failures": 0, "answers": []}

    async def answer(_session: Any, refusal: Refusal) -> None:
        state["answers"].append(refusal)

    sub = Subscription(topics.INTAKE, answer=answer)
    state["subscription"] = sub

    @sub.on(DossierWithdrawn)
    async def handle(ctx: Context, event: DossierWithdrawn) -> None:
        if state["infra_failures"]:
            state["infra_failures"] -= 1
            raise OperationalError("SELECT 1", {}, Exception("database is away"))
        if event.dossier_code in state["fail_on"]:
            raise RuntimeError("handler bug")
        # The id's text, made once by the consumer (a wrong one would dead-letter the record).
        assert ctx.event_id == str(ctx.envelope.id)
        await ctx.session.execute(applied.insert().values(event_id=ctx.event_id,
                                                          code=event.dossier_code))

    consumer, producer = FakeConsumer(), FakeProducer()
    loop = BatchConsumer(service="test", consumer=consumer, producer=producer,  # type: ignore[arg-type]
                         sessions=sessions, inbox=Inbox("test", tables), subscriptions=[sub],
                         dead_letter_topic="onestop.dlq.test.v1", clock=FixedClock(T),
                         metrics=RuntimeMetrics("test"), max_record_bytes=64 * 1024)

    async def count() -> int:
        async with sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(applied)) or 0)

    yield loop, consumer, producer, state, count
    await engine.dispose()


TP = TopicPartition(topics.INTAKE.name, 0)


async def test_a_batch_is_applied_once_and_then_committed(loop_parts: Any) -> None:
    loop, consumer, producer, _, count = loop_parts
    same = uuid.uuid4()
    batch = {TP: [_record(0, _event("D-A", same)), _record(1, _event("D-B")),
                  _record(2, _event("D-A", same))]}
    await loop.handle_batch(batch)
    await loop.handle_batch(batch)  # redelivered after a crash before the commit
    assert await count() == 2
    assert consumer.commits == [{TP: 3}, {TP: 3}]
    assert producer.sent == []


async def test_poison_and_failing_records_go_to_dead_letter_and_the_rest_flow(
        loop_parts: Any) -> None:
    loop, consumer, producer, state, count = loop_parts
    state["fail_on"].add("BAD")
    await loop.handle_batch({TP: [_record(0, b"\x00garbage"), _record(1, _event("OK1")),
                                  _record(2, _event("BAD")), _record(3, _event("OK2"))]})
    assert await count() == 2
    reasons = [dict(h)["dlq-reason"] for _, _, h in producer.sent]
    assert reasons == [b"unparseable", b"handler-failed"]
    headers = dict(producer.sent[1][2])
    # in the whole batch, then in [BAD, OK2], then alone
    assert headers["dlq-original-offset"] == b"2" and headers["dlq-attempts"] == b"3"
    assert headers["dlq-original-topic"] == topics.INTAKE.name.encode()
    assert consumer.commits == [{TP: 4}]


async def test_a_batch_with_dead_letters_is_freed_without_the_garbage_collector(
        loop_parts: Any) -> None:
    """A refusal kept with its traceback reached the frame holding the list it was kept
    in: a cycle that held the whole batch until a collection found it (a young generation
    larger than the interpreter's then held intake's batches longer: +36 MiB RSS)."""
    loop, _, producer, state, _ = loop_parts
    state["fail_on"].add("BAD")
    batch = {TP: [_record(0, b"\x00garbage"), _record(1, _event("OK1")),
                  _record(2, _event("BAD")), _record(3, b"")]}
    records = [weakref.ref(r) for r in batch[TP]]
    gc.disable()
    try:
        await loop.handle_batch(batch)
        del batch
        state["answers"].clear()  # the test's answer hook kept the refused records
        assert [r() for r in records] == [None] * 4, "a batch's record outlived it"
    finally:
        gc.enable()
    assert len(producer.sent) == 3  # the garbage, the empty one and BAD were dead-lettered


async def test_an_event_id_reused_for_other_content_is_surfaced(loop_parts: Any) -> None:
    loop, _, producer, _, count = loop_parts
    same = uuid.uuid4()
    await loop.handle_batch({TP: [_record(0, _event("D-A", same, reason="one"))]})
    await loop.handle_batch({TP: [_record(1, _event("D-A", same, reason="two"))]})
    assert await count() == 1
    assert [dict(h)["dlq-reason"] for _, _, h in producer.sent] == [b"id-reused"]


async def test_a_database_outage_is_waited_out_not_dead_lettered(loop_parts: Any,
                                                                 monkeypatch: Any) -> None:
    loop, consumer, producer, state, count = loop_parts
    state["infra_failures"] = 2

    async def no_wait(_seconds: float) -> None:
        return None

    monkeypatch.setattr("services.common.messaging.consumer.asyncio.sleep", no_wait)
    await loop.handle_batch({TP: [_record(0, _event("D-A"))]})
    assert await count() == 1
    assert producer.sent == []
    assert consumer.commits == [{TP: 1}]


def _envelope_dict(code: str = "D-H") -> dict[str, Any]:
    return json.loads(_event(code))


def _hostile_values() -> dict[str, bytes]:
    """One record of each kind a careless or hostile producer has sent."""
    year_one = _envelope_dict()
    year_one["time"] = "0001-01-01T00:00:00+07:00"  # OverflowError in a naive astimezone
    no_id = _envelope_dict()
    del no_id["id"]
    numeric_time = _envelope_dict()
    numeric_time["time"] = 1767225600
    numeric_data_time = _envelope_dict()
    numeric_data_time["data"]["withdrawn_at"] = 1767225600
    too_deep = _envelope_dict()
    nested: dict[str, Any] = {}
    too_deep["data"]["extra"] = nested
    for _ in range(40):
        nested["x"] = {}
        nested = nested["x"]
    bad_event = _envelope_dict()
    del bad_event["data"]["dossier_code"]
    deep = b'{"id":"' + str(uuid.uuid4()).encode() + b'","data":' + b'{"a":' * 10_000 + \
        b"1" + b"}" * 10_000 + b"}"
    return {
        "year-one": json.dumps(year_one).encode(),
        "no-id": json.dumps(no_id).encode(),
        "numeric-time": json.dumps(numeric_time).encode(),
        "numeric-event-time": json.dumps(numeric_data_time).encode(),
        "nested-40": json.dumps(too_deep).encode(),
        "nested-10000": deep,
        "invalid-event": json.dumps(bad_event).encode(),
        "not-utf8": b"\xff\xfe\x00{",
        "json-array": b"[1, 2, 3]",
        "empty": b"",
        "too-large": json.dumps({**_envelope_dict(), "pad": "x" * 70_000}).encode(),
    }


async def test_every_hostile_record_is_dead_lettered_and_answered_never_raised(
        loop_parts: Any) -> None:
    loop, consumer, producer, state, count = loop_parts
    hostile = _hostile_values()
    records = [_record(i, value) for i, value in enumerate(hostile.values())]
    records.append(_record(len(records), _event("OK-AFTER")))
    await loop.handle_batch({TP: records})
    assert await count() == 1  # the valid one behind them was applied
    reasons = dict(zip(hostile, [dict(h)["dlq-reason"].decode() for _, _, h in producer.sent],
                       strict=True))
    assert reasons == {
        "year-one": "invalid-envelope", "no-id": "invalid-envelope",
        "numeric-time": "invalid-envelope", "numeric-event-time": "invalid-event",
        "nested-40": "too-deep", "nested-10000": "unparseable",
        "invalid-event": "invalid-event", "not-utf8": "unparseable",
        "json-array": "invalid-envelope", "empty": "empty", "too-large": "too-large"}
    # each refused record answered once, with the same reason
    assert [a.reason for a in state["answers"]] == list(reasons.values())
    assert consumer.commits == [{TP: len(records)}]


async def test_failing_records_are_isolated_without_backoff(loop_parts: Any,
                                                             monkeypatch: Any) -> None:
    """Head-of-line: a record that fails alone cannot succeed on retry; waiting on it only
    delays the records behind it."""
    loop, _, producer, state, count = loop_parts
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def record_sleep(seconds: float, *args: Any) -> Any:
        # asyncio.sleep is patched for the whole process: count the consumer's own sleeps
        # only, so that any other task left in this event loop neither counts nor spins.
        if sys._getframe(1).f_globals.get("__name__") != "services.common.messaging.consumer":
            return await real_sleep(seconds, *args)
        sleeps.append(seconds)
        return None

    monkeypatch.setattr("services.common.messaging.consumer.asyncio.sleep", record_sleep)
    records = []
    for i in range(200):
        code = f"BAD-{i}" if i % 4 == 0 else f"OK-{i}"
        if code.startswith("BAD"):
            state["fail_on"].add(code)
        records.append(_record(i, _event(code)))
    await loop.handle_batch({TP: records})
    assert await count() == 150
    assert len(producer.sent) == 50
    assert {dict(h)["dlq-reason"] for _, _, h in producer.sent} == {b"handler-failed"}
    assert sleeps == []


async def test_a_strict_subscription_refuses_types_it_does_not_handle(loop_parts: Any) -> None:
    loop, _, producer, state, _ = loop_parts
    other = _envelope_dict()
    other["type"] = "vn.gov.bhxh.onestop.something.else.v1"
    await loop.handle_batch({TP: [_record(0, json.dumps(other).encode())]})
    assert producer.sent == []  # tolerant reader: not this service's concern
    state["subscription"].strict_types = True
    await loop.handle_batch({TP: [_record(1, json.dumps(other).encode())]})
    assert [dict(h)["dlq-reason"] for _, _, h in producer.sent] == [b"unknown-type"]
    assert state["answers"][0].envelope is not None


async def test_an_id_reused_in_a_batch_holds_nothing_back(loop_parts: Any) -> None:
    loop, _, producer, _, count = loop_parts
    same = uuid.uuid4()
    await loop.handle_batch({TP: [_record(0, _event("D-A", same, reason="one"))]})
    await loop.handle_batch({TP: [_record(1, _event("D-B")),
                                  _record(2, _event("D-A", same, reason="two")),
                                  _record(3, _event("D-C"))]})
    assert await count() == 3
    [(_, _, headers)] = producer.sent
    # refused in the batch's own transaction: no halving, no second attempt
    assert dict(headers)["dlq-reason"] == b"id-reused"
    assert dict(headers)["dlq-attempts"] == b"1"


async def test_a_sealed_dead_letter_drops_the_producers_own_headers(tmp_path: Any) -> None:
    from services.common.messaging.dead_letters import DeadLetter, DeadLetterPublisher

    producer = FakeProducer()
    publisher = DeadLetterPublisher(
        "test", producer, "onestop.dlq.test.v1", RuntimeMetrics("test"),  # type: ignore[arg-type]
        lambda _topic, value: (b"sealed:" + value, [("dlq-sealed", b"fernet")]))
    record = ConsumerRecord(topic=topics.INGEST.name, partition=0, offset=7, timestamp=0,
                            timestamp_type=0, key=b"k", value=b"{}", checksum=None,
                            serialized_key_size=1, serialized_value_size=2, headers=[
                                ("traceparent", b"00-abc"), ("x-phone", b"0912345678")])
    await publisher.publish([(record, DeadLetter("unparseable", "bad"), 1)])
    [(_, value, headers)] = producer.sent
    names = [k for k, _ in headers]
    assert value == b"sealed:{}"
    assert "traceparent" in names and "x-phone" not in names and "dlq-sealed" in names


def _reserialized(value: bytes) -> bytes:
    """The same event as another producer would write it: keys in reverse order, spaces,
    non-ASCII escaped."""
    def reverse(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: reverse(node[k]) for k in reversed(list(node))}
        if isinstance(node, list):
            return [reverse(v) for v in node]
        return node
    return json.dumps(reverse(json.loads(value)), indent=1, ensure_ascii=True).encode()


async def test_the_same_event_serialized_again_is_a_duplicate_not_an_id_reused(
        loop_parts: Any) -> None:
    loop, consumer, producer, state, count = loop_parts
    same = uuid.uuid4()
    first = _event("D-A", same, reason="Người nộp đề nghị rút hồ sơ")
    again = _reserialized(first)
    assert again != first
    await loop.handle_batch({TP: [_record(0, first)]})
    await loop.handle_batch({TP: [_record(1, again)]})
    assert await count() == 1
    assert producer.sent == []  # neither dead-lettered nor answered as refused
    assert state["answers"] == []
    # Other content under the same id is still refused, however it is serialized.
    other = _reserialized(_event("D-A", same, reason="another reason"))
    await loop.handle_batch({TP: [_record(2, other)]})
    assert [dict(h)["dlq-reason"] for _, _, h in producer.sent] == [b"id-reused"]
    assert consumer.commits == [{TP: 1}, {TP: 2}, {TP: 3}]


async def test_an_inbox_row_holding_the_bytes_hash_still_recognises_its_redelivery(
        loop_parts: Any) -> None:
    loop, _, producer, _, count = loop_parts
    old_id, new_id = uuid.uuid4(), uuid.uuid4()
    old, new = _event("D-OLD", old_id), _event("D-NEW", new_id)
    # What the inbox recorded before content hashes: the hash of the record's bytes.
    async with loop.sessions() as s, s.begin():
        await s.execute(tables.inbox.insert().values(
            consumer="test", event_id=str(old_id), payload_hash=payload_hash(old),
            topic=topics.INTAKE.name, applied_at=T))
    await loop.handle_batch({TP: [_record(0, old), _record(1, new)]})
    assert await count() == 1  # the old event was not applied again, nor refused
    assert producer.sent == []
    async with loop.sessions() as s:
        recorded = await s.scalar(select(tables.inbox.c.payload_hash).where(
            tables.inbox.c.event_id == str(new_id)))
    # Rows written from now on hold the hash of the content, as the typed parse gives it.
    assert recorded == content_hash(inbound(frozenset({DossierWithdrawn.event_type}))
                                    .validate_json(new))


async def test_a_row_holding_the_earlier_content_hash_still_recognises_its_redelivery(
        loop_parts: Any) -> None:
    loop, _, producer, state, count = loop_parts
    event_id = uuid.uuid4()
    first = _event("D-V1", event_id)
    # What the inbox recorded with the canonical form before this one.
    async with loop.sessions() as s, s.begin():
        await s.execute(tables.inbox.insert().values(
            consumer="test", event_id=str(event_id), topic=topics.INTAKE.name, applied_at=T,
            payload_hash=content_hash_v1(Envelope.model_validate_json(first))))
    await loop.handle_batch({TP: [_record(0, _reserialized(first))]})
    assert await count() == 0 and producer.sent == [] and state["answers"] == []
    other = _event("D-V1", event_id, reason="another reason")
    await loop.handle_batch({TP: [_record(1, other)]})
    assert [dict(h)["dlq-reason"] for _, _, h in producer.sent] == [b"id-reused"]


async def test_a_default_written_out_or_left_out_is_the_same_content(loop_parts: Any) -> None:
    loop, _, producer, _, count = loop_parts
    body = _envelope_dict("D-N")
    body["data"]["reason"] = None  # the event's default
    left_out = json.loads(json.dumps(body))
    del left_out["data"]["reason"]
    await loop.handle_batch({TP: [_record(0, json.dumps(body).encode())]})
    await loop.handle_batch({TP: [_record(1, json.dumps(left_out).encode())]})
    assert await count() == 1
    assert producer.sent == []  # a duplicate, not an id reused for other content


async def _recorded_hash(loop: BatchConsumer, event_id: uuid.UUID) -> str | None:
    async with loop.sessions() as s:
        return await s.scalar(select(tables.inbox.c.payload_hash).where(
            tables.inbox.c.event_id == str(event_id)))


async def test_a_topic_a_relay_writes_is_known_by_its_bytes(loop_parts: Any) -> None:
    loop, consumer, producer, state, count = loop_parts
    state["subscription"].hash_content = False  # as wiring makes it for a service's topic
    same, old_id = uuid.uuid4(), uuid.uuid4()
    first = _event("D-A", same)
    await loop.handle_batch({TP: [_record(0, first)]})
    assert await _recorded_hash(loop, same) == payload_hash(first)
    await loop.handle_batch({TP: [_record(1, first)]})  # redelivered: the same bytes
    assert await count() == 1 and producer.sent == []
    # A row recorded when this topic was known by content still recognises its redelivery.
    old = _event("D-OLD", old_id)
    async with loop.sessions() as s, s.begin():
        await s.execute(tables.inbox.insert().values(
            consumer="test", event_id=str(old_id), topic=topics.INTAKE.name, applied_at=T,
            payload_hash=content_hash(inbound(frozenset({DossierWithdrawn.event_type}))
                                      .validate_json(old))))
    await loop.handle_batch({TP: [_record(2, old)]})
    assert await count() == 1 and producer.sent == [] and state["answers"] == []
    # Other content under a known id is refused, as on any topic.
    other = _event("D-A", same, reason="another reason")
    await loop.handle_batch({TP: [_record(3, other)]})
    assert [dict(h)["dlq-reason"] for _, _, h in producer.sent] == [b"id-reused"]
    assert consumer.commits == [{TP: 1}, {TP: 2}, {TP: 3}, {TP: 4}]


async def test_a_row_holding_the_bytes_hash_recognises_a_redelivery_known_by_content(
        loop_parts: Any) -> None:
    """A topic recorded by bytes, then read by content (a version that hashes every topic's
    content, rolled back to): its rows are still recognised."""
    loop, _, producer, state, count = loop_parts
    state["subscription"].hash_content = False
    same = uuid.uuid4()
    first = _event("D-A", same)
    await loop.handle_batch({TP: [_record(0, first)]})
    state["subscription"].hash_content = True
    await loop.handle_batch({TP: [_record(1, first)]})
    assert await count() == 1 and producer.sent == [] and state["answers"] == []
    assert await _recorded_hash(loop, same) == payload_hash(first)


async def test_handlers_get_the_typed_event_parsed_once_from_the_bytes(
        loop_parts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    loop, _, producer, state, count = loop_parts
    seen: list[Any] = []
    handler = state["subscription"].handlers[DossierWithdrawn.event_type]

    async def looking(ctx: Context, event: DossierWithdrawn) -> None:
        seen.append((ctx.envelope, event))
        await handler(ctx, event)

    state["subscription"].handlers[DossierWithdrawn.event_type] = looking
    parsed: list[str] = []

    def second_parse(*_: Any, **__: Any) -> Any:
        parsed.append("again")
        raise AssertionError("the record was parsed a second time")

    # Neither the envelope alone nor the event from a dict: the bytes are validated once.
    monkeypatch.setattr(InboundEnvelope, "model_validate_json", second_parse)
    monkeypatch.setattr(DossierWithdrawn, "model_validate", second_parse)
    await loop.handle_batch({TP: [_record(0, _event("D-T1")), _record(1, _event("D-T2"))]})
    assert parsed == [] and producer.sent == [] and await count() == 2
    for envelope, event in seen:
        assert isinstance(event, DossierWithdrawn) and envelope.data is event
        assert envelope.time == T and envelope.type == DossierWithdrawn.event_type


async def test_acknowledged_are_the_records_applied_and_those_applied_before(
        loop_parts: Any) -> None:
    loop, _, producer, state, count = loop_parts
    acks = Table("acks", MetaData(), Column("event_id", String(36)), Column("duplicate", String(1)))
    async with loop.sessions() as s, s.begin():
        await s.run_sync(lambda sync: acks.create(sync.connection()))
    calls: list[list[tuple[str, bool]]] = []

    async def acknowledge(session: Any, received: list[Received]) -> None:
        calls.append([(r.event.dossier_code, r.duplicate) for r in received])
        for r in received:  # in the batch's transaction: gone with it if it rolls back
            await session.execute(acks.insert().values(event_id=str(r.envelope.id),
                                                       duplicate="y" if r.duplicate else "n"))

    state["subscription"].acknowledge = acknowledge
    state["fail_on"].add("BAD")
    same = uuid.uuid4()
    batch = [_record(0, _event("D-A", same)), _record(1, _event("D-B")),
             _record(2, _event("D-A", same)), _record(3, _event("BAD"))]
    await loop.handle_batch({TP: batch})
    await loop.handle_batch({TP: batch[:2]})  # sent again by a producer that heard nothing
    assert await count() == 2
    # The whole batch failed (BAD), then its halves, then BAD alone: acknowledged is what
    # committed, each time with what was applied before.
    assert calls == [[("D-A", False), ("D-B", False)], [("D-A", True)],
                     [("D-A", True), ("D-B", True)]]
    async with loop.sessions() as s:
        rows = (await s.execute(select(acks.c.duplicate, func.count()).group_by(
            acks.c.duplicate))).all()
    assert dict(rows) == {"n": 2, "y": 3}
    # BAD was refused, dead-lettered and answered, never acknowledged.
    assert [a.reason for a in state["answers"]] == ["handler-failed"]
    assert [dict(h)["dlq-reason"] for _, _, h in producer.sent] == [b"handler-failed"]


class QueuedConsumer(FakeConsumer):
    """Hands out the queued fetches one per getmany, then nothing."""

    def __init__(self, fetches: list[dict[TopicPartition, list[ConsumerRecord]]]) -> None:
        super().__init__()
        self.fetches = fetches
        self.asked: list[int] = []

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None
                      ) -> dict[TopicPartition, list[ConsumerRecord]]:
        self.asked.append(max_records or 0)
        return self.fetches.pop(0) if self.fetches else {}


async def test_a_small_batch_waits_once_for_more_and_a_large_one_does_not(
        loop_parts: Any) -> None:
    loop, _, _, _, count = loop_parts
    tp1 = TopicPartition(topics.INTAKE.name, 1)
    first = {TP: [_record(0, _event("D-1"))]}
    later = {TP: [_record(1, _event("D-2"))], tp1: [_record(0, _event("D-3"))]}
    loop.consumer = QueuedConsumer([later])
    loop.linger, loop.linger_below, loop.max_records = 0.01, 3, 10
    filled = await loop._fill(first)
    # One more fetch, for what the batch has room for; a partition's records stay in order.
    assert loop.consumer.asked == [9]
    assert {tp: [r.offset for r in rs] for tp, rs in filled.items()} == {TP: [0, 1], tp1: [0]}
    await loop.handle_batch(filled)
    assert await count() == 3
    assert loop.consumer.commits == [{TP: 2, tp1: 1}]

    full = {TP: [_record(i, _event(f"D-{i + 10}")) for i in range(3)]}
    loop.consumer = QueuedConsumer([later])
    assert await loop._fill(full) is full and loop.consumer.asked == []  # no wait: large
    loop.linger = 0.0
    assert await loop._fill(first) is first and loop.consumer.asked == []  # lingering off
