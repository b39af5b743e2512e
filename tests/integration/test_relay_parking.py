"""The outbox relay settles each row on its own: a row the broker refuses for good is parked
with its reason and counted, the rows behind it are published, and a relay that cannot move
(broker away) says so on /health. Real broker, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidTopicError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from aiokafka.structs import RecordMetadata, TopicPartition
from sqlalchemy import MetaData, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.topics import Topic
from deploy.local.broker import LocalBroker, free_port
from services.common.clock import SystemClock
from services.common.messaging.kafka import KeyPartitioner, ensure_topics, make_producer
from services.common.messaging.relay import OutboxRelay, classify
from services.common.observability.metrics import RuntimeMetrics
from services.common.persistence.db import (
    RuntimeTables,
    make_engine,
    runtime_tables,
    session_factory,
)
from tests.auth import AUTH
from tests.integration.support import eventually, read_topic

pytestmark = pytest.mark.integration
SERVICE = "relaytest"


@dataclass
class Rig:
    relay: OutboxRelay
    tables: RuntimeTables
    engine: AsyncEngine
    metrics: RuntimeMetrics

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels or {})

    async def add(self, topic: str, payload: bytes, key: str = "k") -> str:
        event_id = str(uuid.uuid4())
        async with self.relay.sessions() as s, s.begin():
            await s.execute(insert(self.tables.outbox).values(
                event_id=event_id, topic=topic, key=key, event_type="test.v1", payload=payload,
                created_at=datetime.now(UTC)))
        self.relay.poke()
        return event_id

    async def rows(self) -> dict[str, Any]:
        """The outbox's rows by event id, each with `published` (neither queued nor parked)."""
        async with self.relay.sessions() as s:
            result = await s.execute(select(self.tables.outbox,
                                            self.tables.published().label("published")))
            return {r.event_id: r for r in result.all()}


@contextlib.asynccontextmanager
async def rig(database_url: str, producer: Any, bootstrap: str,
              stall_seconds: float = 30.0) -> AsyncIterator[Rig]:
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    metrics = RuntimeMetrics(SERVICE)
    relay = OutboxRelay(service=SERVICE, engine=engine, sessions=session_factory(engine),
                        tables=tables, producer=producer, bootstrap=bootstrap,
                        clock=SystemClock(), metrics=metrics, reset_check_seconds=1.0,
                        stall_seconds=stall_seconds)
    try:
        yield Rig(relay, tables, engine, metrics)
    finally:
        await relay.stop()
        await relay._release_leader()
        await engine.dispose()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        await relay.stop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 10)


async def new_topic(bootstrap: str) -> str:
    name = f"test.relay-parking.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [Topic(name, "test", "k", 1, (), (), "relay parking test")])
    return name


def body(n: int) -> bytes:
    return json.dumps({"n": n, "id": str(uuid.uuid4())}).encode()


async def test_an_oversized_row_is_parked_and_the_rows_behind_it_are_published(
        kafka_bootstrap: str, database_url: str) -> None:
    topic = await new_topic(kafka_bootstrap)
    producer = make_producer(kafka_bootstrap, idempotence=False)
    await producer.start()
    try:
        async with rig(database_url, producer, kafka_bootstrap) as r:
            first = await r.add(topic, body(0))
            # 2 MB: over aiokafka's default max_request_size (1 MB), refused for good.
            huge = await r.add(topic, json.dumps({"address": "x" * 2_000_000}).encode())
            later = [await r.add(topic, body(n)) for n in range(1, 4)]
            async with running(r.relay):
                async def settled() -> bool:
                    rows = await r.rows()
                    # The counters move just after the commit (the session closes between).
                    return all(rows[e].published for e in [first, *later]) and bool(
                        rows[huge].parked_at) and r.sample(
                        "onestop_events_published_total", {"topic": topic}) == 4
                await eventually(settled, "every normal row published, the huge one parked")

                rows = await r.rows()
                assert not rows[huge].published
                assert rows[huge].park_reason.startswith("MessageSizeTooLargeError")
                assert r.sample("onestop_outbox_parked_total", {
                    "topic": topic, "reason": "MessageSizeTooLargeError"}) == 1
                assert r.sample("onestop_events_published_total", {"topic": topic}) == 4
                assert r.sample("onestop_outbox_pending") == 0
                ok, detail = r.relay.health()
                assert ok, detail
                assert "0 pending" in detail and "1 parked" in detail

                # In sequence order on the one partition; the parked row never left.
                sent = await read_topic(kafka_bootstrap, topic, lambda b, _: True, count=4,
                                        wait_seconds=10)
                assert [b["n"] for b, _ in sent] == [0, 1, 2, 3]
                assert [dict(rec.headers)["ce_id"].decode() for _, rec in sent] == [
                    first, *later]

                # A broker reset republishes the outbox, but never what was parked.
                await r.relay._republish("test: pretend the broker lost its log")
                rows = await r.rows()
                assert not rows[huge].published and rows[huge].parked_at
                await eventually(lambda: r.sample("onestop_events_published_total",
                                                  {"topic": topic}) == 8, "republished")
                assert r.sample("onestop_outbox_parked_total", {
                    "topic": topic, "reason": "MessageSizeTooLargeError"}) == 1
                assert not (await r.rows())[huge].published
                again = await read_topic(kafka_bootstrap, topic, lambda b, _: True, count=9,
                                         wait_seconds=3)
                assert [b["n"] for b, _ in again] == [0, 1, 2, 3, 0, 1, 2, 3]
    finally:
        await producer.stop()


async def test_a_relay_that_cannot_reach_the_broker_reports_a_stall(
        database_url: str, tmp_path: Path) -> None:
    broker = LocalBroker(free_port(), tmp_path / "broker.log").start()
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5,
                                request_timeout_ms=2000, retry_backoff_ms=100)
    try:
        topic = await new_topic(broker.bootstrap)
        await producer.start()
        async with rig(database_url, producer, broker.bootstrap, stall_seconds=1.0) as r:
            async with running(r.relay):
                first = await r.add(topic, body(0))
                await eventually(lambda: r.sample("onestop_events_published_total",
                                                  {"topic": topic}) == 1, "first published")
                assert (await r.rows())[first].published
                assert r.relay.health()[0]

                broker.stop()
                for n in range(1, 4):
                    await r.add(topic, body(n))
                # The count is taken once per pass: a pass that began before the last insert
                # (and waits on the dead broker) shows fewer until the next one.
                await eventually(lambda: r.relay.health()[1].startswith("stalled: 3 pending"),
                                 "health reports the stall with every waiting row")
                ok, detail = r.relay.health()
                assert not ok and detail.startswith("stalled: 3 pending"), detail
                assert "0 parked" in detail
                assert r.sample("onestop_relay_stalled") == 1
                assert r.sample("onestop_outbox_pending") == 3
                rows = await r.rows()
                assert sum(1 for row in rows.values() if not row.published
                           and row.parked_at is None) == 3  # kept, not parked
    finally:
        broker.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 10)


# --- each error class, with a producer that answers as told (no broker needed) ---


class ScriptedBatch:
    """The producer's batch builder: takes `capacity` records, then answers None (full)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.values: list[bytes] = []

    def append(self, *, key: bytes, value: bytes, timestamp: int | None,
               headers: list[tuple[str, bytes]]) -> object | None:
        if len(self.values) >= self.capacity:
            return None
        self.values.append(value)
        return object()


class ScriptedProducer:
    """send() answers per payload: RecordMetadata, or an exception raised at send (sync) or
    set on the future; a list gives one answer per attempt. A batch (send_batch) answers as
    the broker does, for all its records at once: raised when one of them is answered
    `sync`, failed with the first `fail` among them, else acknowledged with consecutive
    offsets. `capacity` records fit a batch (1: each row goes alone, as send() sent them);
    topics have `partitions` partitions."""

    def __init__(self, script: dict[bytes, list[tuple[str, Any]]], capacity: int = 1,
                 partitions: int = 1) -> None:
        self.script = script
        self.capacity = capacity
        self.partitions = partitions
        self.offsets: dict[int, int] = {}
        self.attempts: dict[bytes, int] = {}
        self.batches: list[tuple[int, list[bytes]]] = []  # (partition, payloads) as sent

    def _answer(self, value: bytes) -> tuple[str, Any]:
        n = self.attempts.get(value, 0)
        self.attempts[value] = n + 1
        answers = self.script.get(value, [("ok", None)])
        return answers[min(n, len(answers) - 1)]

    def _acked(self, topic: str, partition: int, count: int) -> RecordMetadata:
        first = self.offsets.get(partition, 0) + 1
        self.offsets[partition] = first + count - 1
        return RecordMetadata(topic, partition, TopicPartition(topic, partition), first, -1,
                              0, 0)

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> ScriptedBatch:
        return ScriptedBatch(self.capacity)

    async def send_batch(self, batch: ScriptedBatch, topic: str, *, partition: int
                         ) -> asyncio.Future[RecordMetadata]:
        answers = [self._answer(value) for value in batch.values]
        self.batches.append((partition, list(batch.values)))
        for how, exc in answers:
            if how == "sync":
                raise exc
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        failed = next((exc for how, exc in answers if how == "fail"), None)
        if failed is not None:
            future.set_exception(failed)
        else:
            future.set_result(self._acked(topic, partition, len(batch.values)))
        return future

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[RecordMetadata]:
        how, exc = self._answer(value)
        if how == "sync":
            raise exc
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        if how == "fail":
            future.set_exception(exc)
        else:
            future.set_result(self._acked(topic, 0, 1))
        return future


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_each_error_class_settles_only_its_own_row(database_url: str) -> None:
    script: dict[bytes, list[tuple[str, Any]]] = {
        # a batch the broker refused as a whole: alone it goes through, so it is published
        b"batch-mate": [("fail", RecordListTooLargeError()), ("ok", None)],
        # refused again when alone: the row itself is at fault
        b"invalid": [("fail", InvalidTopicError())],
        b"expired": [("fail", KafkaTimeoutError())],  # broker slow or away: kept pending
        b"unserializable": [("sync", TypeError("cannot encode"))],
        b"too-large": [("sync", MessageSizeTooLargeError("2000000 bytes"))],
    }
    producer = ScriptedProducer(script)
    async with rig(database_url, producer, "127.0.0.1:1") as r:
        ids = {p: await r.add("t", p) for p in
               [b"a", b"batch-mate", b"invalid", b"expired", b"unserializable", b"too-large",
                b"z"]}
        result = await r.relay.publish_pending()
        assert (result.published, result.parked) == (3, 3)
        assert isinstance(result.retry_error, KafkaTimeoutError)
        rows = await r.rows()
        state = {p: ("published" if rows[i].published else
                     "parked" if rows[i].parked_at else "pending") for p, i in ids.items()}
        assert state == {b"a": "published", b"batch-mate": "published", b"invalid": "parked",
                         b"expired": "pending", b"unserializable": "parked",
                         b"too-large": "parked", b"z": "published"}
        assert rows[ids[b"unserializable"]].park_reason == "TypeError: cannot encode"
        assert r.sample("onestop_outbox_parked_total",
                        {"topic": "t", "reason": "InvalidTopicError"}) == 1
        assert r.sample("onestop_outbox_pending") == 1 and r.relay.parked == 3

        # The next pass sends only the pending row; parked rows are never sent again.
        script[b"expired"] = [("ok", None)]
        before = dict(producer.attempts)
        result = await r.relay.publish_pending()
        assert (result.published, result.parked, result.retry_error) == (1, 0, None)
        sent_again = {p for p, n in producer.attempts.items() if n != before.get(p)}
        assert sent_again == {b"expired"}
        assert r.sample("onestop_outbox_pending") == 0
        assert r.relay.health()[0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_broker_away_at_send_stops_the_pass_and_parks_nothing(
        database_url: str) -> None:
    producer = ScriptedProducer({b"b": [("sync", KafkaTimeoutError())]})
    async with rig(database_url, producer, "127.0.0.1:1", stall_seconds=0.2) as r:
        for p in (b"a", b"b", b"c"):
            await r.add("t", p)
        result = await r.relay.publish_pending()
        assert (result.published, result.parked) == (1, 0)
        assert isinstance(result.retry_error, KafkaTimeoutError)
        assert b"c" not in producer.attempts  # not sent behind a broker that is away
        assert r.relay.pending == 2 and r.relay.health()[0]
        # Unhealthy once the rows have waited longer than stall_seconds.
        await eventually(lambda: not r.relay.health()[0], "health reports the stall")
        ok, detail = r.relay.health()
        assert not ok and "2 pending" in detail


def test_classification() -> None:
    assert classify(MessageSizeTooLargeError()) == "park"
    assert classify(ValueError()) == "park"
    assert classify(KafkaTimeoutError()) == "retry"
    assert classify(asyncio.CancelledError()) == "retry"


async def test_health_route_reports_the_relay(database_url: str, tmp_path: Path) -> None:
    """/health of a real service: ok while the relay moves, 503 naming the relay once rows
    wait behind a broker that went away."""
    import httpx

    from services.notification.app import build
    from services.notification.settings import NotificationSettings
    from tests.integration.support import settings_for

    broker = LocalBroker(free_port(), tmp_path / "broker.log").start()
    settings = settings_for(NotificationSettings, broker.bootstrap, database_url, tmp_path)
    settings.relay_stall_seconds = 1.0
    runtime = build(settings)
    try:
        await runtime.start()
        assert runtime.relay is not None
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://notification") as client:
            r = await client.get("/health")
            assert r.status_code == 200 and r.json()["checks"]["relay"] == "ok", r.text

            broker.kill()
            async with runtime.sessions() as s, s.begin():
                await s.execute(insert(runtime.tables.outbox).values(
                    event_id=str(uuid.uuid4()), topic="onestop.notification.v1", key="k",
                    event_type="test.v1", payload=b"{}", created_at=datetime.now(UTC)))
            runtime.relay.poke()

            async def relay_reported() -> bool:
                got = await client.get("/health")
                return got.status_code == 503 and got.json()["checks"]["relay"].startswith(
                    "error: stalled: 1 pending")
            await eventually(relay_reported, "/health names the stalled relay")
    finally:
        broker.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runtime.stop(), 20)


def _keys_by_partition(partitions: int) -> list[str]:
    """A key the relay sends to each partition, in partition order."""
    found: dict[int, str] = {}
    for n in range(1000):
        found.setdefault(KeyPartitioner()(f"k{n}".encode(), list(range(partitions)),
                                          list(range(partitions))), f"k{n}")
        if len(found) == partitions:
            return [found[p] for p in range(partitions)]
    raise AssertionError("no key for some partition")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_partitions_rows_go_as_one_batch_and_a_refused_batch_goes_row_by_row(
        database_url: str) -> None:
    key0, key1 = _keys_by_partition(2)
    script: dict[bytes, list[tuple[str, Any]]] = {
        b"bad": [("fail", InvalidTopicError())],  # refused for good, alone too
        b"c1": [("fail", KafkaTimeoutError()), ("ok", None)],  # broker busy, then fine
    }
    producer = ScriptedProducer(script, capacity=10, partitions=2)
    async with rig(database_url, producer, "127.0.0.1:1") as r:
        ids = {}
        for payload, key in ((b"a0", key0), (b"a1", key1), (b"bad", key0), (b"b1", key1),
                             (b"b0", key0), (b"c1", key1)):
            ids[payload] = await r.add("t", payload, key)
        result = await r.relay.publish_pending()
        # One batch per partition, its rows in sequence order.
        assert producer.batches == [(0, [b"a0", b"bad", b"b0"]), (1, [b"a1", b"b1", b"c1"])]
        # Partition 0's batch was refused as a whole: its rows went again one by one and
        # only the one at fault is parked; partition 1's waits for the broker, whole.
        assert (result.published, result.parked) == (2, 1)
        assert isinstance(result.retry_error, KafkaTimeoutError)
        assert producer.attempts == {b"a0": 2, b"bad": 2, b"b0": 2, b"a1": 1, b"b1": 1,
                                     b"c1": 1}
        rows = await r.rows()
        state = {p: ("published" if rows[i].published else
                     "parked" if rows[i].parked_at else "pending") for p, i in ids.items()}
        assert state == {b"a0": "published", b"bad": "parked", b"b0": "published",
                         b"a1": "pending", b"b1": "pending", b"c1": "pending"}
        result = await r.relay.publish_pending()
        assert (result.published, result.parked, result.retry_error) == (3, 0, None)
        assert producer.batches[-1] == (1, [b"a1", b"b1", b"c1"])
        # The batch's offsets are its rows': the next offset after it is kept.
        assert r.relay.watermarks[("t", 1)] == producer.offsets[1] + 1 == 4


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_partitions_rows_beyond_a_batch_go_in_the_next_in_order(
        database_url: str) -> None:
    producer = ScriptedProducer({}, capacity=2)
    async with rig(database_url, producer, "127.0.0.1:1") as r:
        for n in range(5):
            await r.add("t", b"r%d" % n)
        result = await r.relay.publish_pending()
        assert (result.published, result.parked, result.retry_error) == (5, 0, None)
        assert producer.batches == [(0, [b"r0", b"r1"]), (0, [b"r2", b"r3"]), (0, [b"r4"])]
        assert r.relay.watermarks[("t", 0)] == 6 and r.sample("onestop_outbox_pending") == 0
