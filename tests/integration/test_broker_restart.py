"""The local broker restarted empty: no client of ours makes a topic by asking about it, and
a service's relay recreates the registry's topics with their partitions and republishes.
Province records the broker had acknowledged and intake had not read are lost with it: the
provinces, hearing no answer, send them again, and each is applied exactly once.

Before, a consumer's metadata refresh had the broker auto-create each topic it subscribed to
with one partition, and on such a topic the broker handed out repeated offsets: consumers
resuming there skipped records as already read (the broker-loss e2e test lost dossiers)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import select

from contracts import topics
from contracts.registry import short_name
from deploy.local.broker import LocalBroker, free_port
from deploy.simulate import Mix, expectation, signed, traffic
from deploy.simulate.feedback import Feedback
from services.common.messaging.kafka import ensure_topics, make_consumer, make_producer
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.auth import AUTH
from tests.integration.support import eventually, read_topic, settings_for, started
from tests.integration.test_intake_runtime import submission

pytestmark = pytest.mark.integration


async def _partitions(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = await admin.list_topics()
        described = await admin.describe_topics(list(names)) if names else []
        return {t["topic"]: len(t["partitions"]) for t in described}
    finally:
        await admin.close()


async def test_a_consumer_asking_after_a_restart_creates_no_topic(tmp_path: Path) -> None:
    broker = LocalBroker(free_port(), tmp_path / "broker.log").start()
    try:
        await ensure_topics(broker.bootstrap)
        consumer = make_consumer(broker.bootstrap, "restart-test", "restart-test")
        consumer.subscribe([topics.INTAKE.name, topics.PROCESSING.name])
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=1000)
            broker.kill()
            broker.start()
            # Longer than the consumer's metadata refresh (5 s): it asks about its topics.
            deadline = time.monotonic() + 7
            while time.monotonic() < deadline:
                await consumer.getmany(timeout_ms=500)
            assert await _partitions(broker.bootstrap) == {}
        finally:
            await consumer.stop()
        await ensure_topics(broker.bootstrap)
        assert (await _partitions(broker.bootstrap))[topics.INTAKE.name] == \
            topics.INTAKE.partitions
    finally:
        broker.stop()


async def test_the_relay_recreates_the_topics_and_republishes(tmp_path: Path,
                                                              database_url: str) -> None:
    broker = LocalBroker(free_port(), tmp_path / "broker.log").start()
    runtime = build(settings_for(IntakeSettings, broker.bootstrap, database_url, tmp_path))
    await runtime.migrate()
    await runtime.start()
    try:
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as client:
            r = await client.post("/api/v1/dossiers", json=submission("before"))
            assert r.status_code == 201, r.text
            code = r.json()["dossier_code"]

        def received(body: dict, _: object) -> bool:
            return body.get("subject") == code

        assert await read_topic(broker.bootstrap, topics.INTAKE.name, received, wait_seconds=30)
        broker.kill()  # the log, the topics and the committed offsets are gone
        broker.start()
        # Nobody creates the topics but the relay, at its next heartbeat (1 s here).
        want = {t.name: t.partitions for t in topics.TOPICS}

        async def recreated() -> bool:
            parts = await _partitions(broker.bootstrap)
            assert want.items() <= parts.items(), sorted(set(want.items()) - set(parts.items()))
            return True
        await eventually(recreated, "the relay to create the registry's topics again")
        again = await read_topic(broker.bootstrap, topics.INTAKE.name, received, wait_seconds=60)
        assert again, "the retained receipt was not republished on the new log"
    finally:
        await runtime.stop()
        broker.stop()


async def test_province_records_lost_with_the_broker_are_sent_again_and_applied_once(
        tmp_path: Path, unique: str) -> None:
    records = traffic(seed=int(unique, 16) % 10**6, dossiers=30, tag=f"b{unique}",
                      mix=Mix(duplicates=0.1, out_of_order=0.1, malformed=0.05))
    expected = expectation(records)
    half = len(records) // 2
    broker = LocalBroker(free_port(), tmp_path / "broker.log").start()
    await ensure_topics(broker.bootstrap)
    settings = settings_for(IntakeSettings, broker.bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}", tmp_path)
    producer = make_producer(broker.bootstrap, idempotence=False)
    await producer.start()
    # The provinces send again what has no answer after 3 s (the README: minutes).
    provinces = Feedback(broker.bootstrap, producer, {r.system_id for r in records}, signed,
                         resend_after=3.0)
    listening = asyncio.Event()
    runtime = await started(build(settings))
    heard = asyncio.create_task(provinces.run(listening))
    try:
        await provinces.send(records[:half])
        # Every record answered (some sent again already, while intake's consumer joined).
        await asyncio.wait_for(provinces.settled(), 90)
        resent = provinces.resent
        await runtime.stop()
        # Acknowledged by the broker, unread by intake: then the broker loses them.
        await provinces.send(records[half:])
        assert provinces.unanswered > 0
        broker.kill()
        broker.start()
        runtime = await started(build(settings))
        await asyncio.wait_for(provinces.settled(), 180)
        # Each record lost was sent again (a copy of one applied before may be answered by
        # the answers intake's relay republished on the new log).
        lost = {r.event_id for r in records[half:]} - {r.event_id for r in records[:half]}
        assert provinces.resent - resent >= len(lost - {None}) > 0
        well_formed = {r.event_id for r in records if r.well_formed}
        async with runtime.sessions() as s:
            inbox = runtime.tables.inbox
            applied = Counter((await s.scalars(select(inbox.c.event_id).where(
                inbox.c.event_id.in_(well_formed)))).all())
            outbox = runtime.tables.outbox
            emitted = Counter(short_name(t) for t in (await s.scalars(
                select(outbox.c.event_type).where(outbox.c.topic.in_(
                    (topics.INTAKE.name, topics.PROVINCIAL.name)),
                    outbox.c.key.in_({r.dossier_code for r in records})))).all())
        assert set(applied) == well_formed and set(applied.values()) == {1}
        # Each national event once: none lost with the broker, none repeated by a resend.
        assert emitted == expected.intake_events
    finally:
        listening.set()
        await heard
        await producer.stop()
        await runtime.stop()
        broker.stop()
