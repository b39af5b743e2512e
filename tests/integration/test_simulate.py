"""A small simulated run of the provinces on the real broker is absorbed by intake: every
well-formed dossier received (or refused) and each of its events applied exactly once,
whatever the duplicates and the order; every malformed record answered on the feedback
topic (IngestRejected). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from contracts import topics
from contracts.registry import short_name
from deploy.simulate import Mix, expectation, ready, traffic
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.integration.support import group_of, handled, read_topic, settings_for, started

pytestmark = pytest.mark.integration
NATIONAL = (topics.INTAKE.name, topics.PROVINCIAL.name)


async def test_a_simulated_run_is_absorbed_by_intake(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    records = traffic(seed=int(unique, 16) % 10**6, dossiers=24, tag=f"t{unique}",
                      mix=Mix(duplicates=0.2, out_of_order=0.3, malformed=0.1, refused=0.1))
    expected = expectation(records)
    malformed = {r.dossier_code for r in records if not r.well_formed}
    well_formed = {r.dossier_code for r in records if r.well_formed}
    assert expected.duplicates and expected.out_of_order and malformed  # the mix is there
    runtime = await started(build(settings_for(IntakeSettings, kafka_bootstrap, database_url,
                                               tmp_path)))
    try:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
        await producer.start()
        try:
            sent = [await producer.send(topics.INGEST.name, value, key=key, headers=headers)
                    for key, value, headers in ready(records)]
            delivered = await asyncio.gather(*sent)
        finally:
            await producer.stop()
        outbox = runtime.tables.outbox
        query = select(outbox.c.key, outbox.c.event_type).where(
            outbox.c.topic.in_(NATIONAL), outbox.c.key.in_(well_formed))
        # Every record handled, late duplicates included: its events are in the outbox (one
        # transaction with the handling), and no record is left to add more.
        await handled(kafka_bootstrap, group_of(runtime), delivered, seconds=120)
        async with runtime.sessions() as s:
            rows = (await s.execute(query)).all()
        emitted = Counter(short_name(t) for _, t in rows)
        # Each distinct event once, duplicates and held-back events included: no more, no less.
        assert emitted == expected.intake_events
        received = {k for k, t in rows if short_name(t) == "dossier.received.v1"}
        assert len(received) == expected.received
        feedback = await read_topic(
            kafka_bootstrap, topics.INGEST_REJECTED.name,
            lambda b, _: b.get("data", {}).get("dossier_code") in malformed | well_formed,
            count=len(malformed), wait_seconds=90)
        answered = {b["data"]["dossier_code"] for b, _ in feedback}
        assert answered == malformed  # every malformed record, and no well-formed one
        # Still nothing more emitted for them.
        async with runtime.sessions() as s:
            assert len((await s.execute(query)).all()) == len(rows)
    finally:
        await runtime.stop()
