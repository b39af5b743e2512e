"""The local broker restarted empty: no client of ours makes a topic by asking about it, and
a service's relay recreates the registry's topics with their partitions and republishes.

Before, a consumer's metadata refresh had the broker auto-create each topic it subscribed to
with one partition, and on such a topic the broker handed out repeated offsets: consumers
resuming there skipped records as already read (the broker-loss e2e test lost dossiers)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from contracts import topics
from deploy.local.broker import LocalBroker, free_port
from services.common.kafka import ensure_topics, make_consumer
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.auth import AUTH
from tests.integration.support import read_topic, settings_for
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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            parts = await _partitions(broker.bootstrap)
            if want.items() <= parts.items():
                break
            await asyncio.sleep(0.5)
        assert want.items() <= parts.items()
        again = await read_topic(broker.bootstrap, topics.INTAKE.name, received, wait_seconds=60)
        assert again, "the retained receipt was not republished on the new log"
    finally:
        await runtime.stop()
        broker.stop()
