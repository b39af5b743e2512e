"""The batch loop's guarantees, with in-memory stand-ins for the Kafka clients and a real
SQLite database: nothing is committed past a record that was neither applied nor
dead-lettered; duplicates change nothing; a poison record does not block the others."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import Column, MetaData, String, Table, func, select
from sqlalchemy.exc import OperationalError

from contracts import topics
from contracts.envelope import Envelope
from contracts.events import DossierWithdrawn
from services.common.clock import FixedClock
from services.common.consumer import BatchConsumer, Context, Subscription
from services.common.db import make_engine, runtime_tables, session_factory
from services.common.inbox import Inbox
from services.common.metrics import RuntimeMetrics

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

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None,
                            headers: list[tuple[str, bytes]] | None = None) -> None:
        self.sent.append((topic, value, headers or []))


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
    sub = Subscription(topics.INTAKE)
    state: dict[str, Any] = {"fail_on": set(), "infra_failures": 0}

    @sub.on(DossierWithdrawn)
    async def handle(ctx: Context, event: DossierWithdrawn) -> None:
        if state["infra_failures"]:
            state["infra_failures"] -= 1
            raise OperationalError("SELECT 1", {}, Exception("database is away"))
        if event.dossier_code in state["fail_on"]:
            raise RuntimeError("handler bug")
        await ctx.session.execute(applied.insert().values(event_id=str(ctx.envelope.id),
                                                          code=event.dossier_code))

    consumer, producer = FakeConsumer(), FakeProducer()
    loop = BatchConsumer(service="test", consumer=consumer, producer=producer,  # type: ignore[arg-type]
                         sessions=sessions, inbox=Inbox("test", tables), subscriptions=[sub],
                         dead_letter_topic="onestop.dlq.test.v1", clock=FixedClock(T),
                         metrics=RuntimeMetrics("test"), attempts=2)

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
    assert headers["dlq-original-offset"] == b"2" and headers["dlq-attempts"] == b"2"
    assert headers["dlq-original-topic"] == topics.INTAKE.name.encode()
    assert consumer.commits == [{TP: 4}]


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

    monkeypatch.setattr("services.common.consumer.asyncio.sleep", no_wait)
    await loop.handle_batch({TP: [_record(0, _event("D-A"))]})
    assert await count() == 1
    assert producer.sent == []
    assert consumer.commits == [{TP: 1}]
