"""A poison record dead-lettered, its cause fixed, replayed with the operators' command
(`python -m services.processing dead-letters ...`, a real process): applied once; a second
replay refused; a forced one published again and kept once by the inbox; every look at the
unsealed letter and every replay in the audit trail; replays counted in /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import func, select

from contracts import topics
from contracts.common import IndividualApplicant
from contracts.events import ApplicantRecorded
from contracts.topics import dead_letter_topic
from services.common.messaging.dead_letter_replay import count_replays
from services.processing import tables
from services.processing.app import build
from services.processing.settings import ProcessingSettings
from tests.integration.support import eventually, settings_for, started

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DLQ = dead_letter_topic("processing").name
PRIVATE = topics.INTAKE_PRIVATE.name
ID_NUMBER = "001190054321"


async def records(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    """Every record on the topic now: to the end the broker reports, then until a fetch
    brings nothing more."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[ConsumerRecord] = []
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for got in batch.values():
                found.extend(got)
            if not batch and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                return found
    finally:
        await consumer.stop()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.processing", "dead-letters", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


async def test_a_poison_record_fixed_is_replayed_once(
        kafka_bootstrap: str, database_url: str, tmp_path: Path) -> None:
    # Deployed with a record limit too small for this applicant's (padded) record.
    settings = settings_for(ProcessingSettings, kafka_bootstrap, database_url, tmp_path)
    small = settings.model_copy(update={"consumer_max_record_bytes": 4096})
    code = f"000.01.02.H26-261205-{uuid.uuid4().hex[:4].upper()}"
    event = ApplicantRecorded(dossier_code=code, applicant_ref="p1_replay_test",
                              applicant=IndividualApplicant(full_name="Trần Thị Bình",
                                                            id_number=ID_NUMBER))
    runtime = await started(build(small))
    envelope = runtime.outbox.envelope(event, "000.01.02.H26")
    body = json.loads(envelope.model_dump_json())
    body["padding"] = "." * 6000  # an extension attribute the envelope ignores
    value = json.dumps(body).encode()
    headers = [("ce_type", ApplicantRecorded.event_type.encode()),
               ("ce_id", str(envelope.id).encode())]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(PRIVATE, value, key=code.encode(), headers=headers)
    finally:
        await producer.stop()

    async def dead_lettered() -> bool:
        return any(dict(r.headers).get("dlq-reason") == b"too-large"
                   for r in await records(kafka_bootstrap, DLQ))

    try:
        await eventually(dead_lettered, "the record dead-lettered as too-large")
    finally:
        await runtime.stop()
    [letter] = await records(kafka_bootstrap, DLQ)
    assert ID_NUMBER.encode() not in letter.value  # sealed: a personal-data topic

    # The cause fixed: the service restarted with the default limit, in the same group
    # (its offsets are past the poison record, so only a replay brings it back).
    runtime = await started(build(settings))
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "PROCESSING_DATABASE_URL": database_url, "ONESTOP_VAR_DIR": str(tmp_path),
           "ONESTOP_TRACING_EXPORTER": "none"}
    letter_id = f"{letter.partition}:{letter.offset}"

    async def applied() -> bool:
        return await applicants() == 1

    async def applicants() -> int:
        async with runtime.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(tables.applicants)
                                      .where(tables.applicants.c.dossier_code == code)) or 0)

    async def inbox_rows() -> int:
        inbox = runtime.tables.inbox
        async with runtime.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(inbox)
                                      .where(inbox.c.event_id == str(envelope.id))) or 0)

    def duplicates() -> float:
        return runtime.metrics.registry.get_sample_value(
            "onestop_events_duplicate_total", {"topic": PRIVATE}) or 0.0

    try:
        listed = await asyncio.to_thread(cli, env, "list")
        assert listed.returncode == 0, listed.stderr
        [line] = [x for x in listed.stdout.splitlines() if x.startswith(letter_id + " ")]
        origin = dict(letter.headers)
        assert line.split()[2:] == [
            "too-large", f"{PRIVATE}/{origin['dlq-original-partition'].decode()}"
            f"@{origin['dlq-original-offset'].decode()}", "1", "-"]  # attempts, replays
        assert await applicants() == 0

        shown = await asyncio.to_thread(cli, env, "show", letter_id, "--operator", "ops.an")
        assert shown.returncode == 0, shown.stderr
        assert ID_NUMBER in shown.stdout and "dlq-reason: too-large" in shown.stdout

        replayed = await asyncio.to_thread(cli, env, "replay", "--id", letter_id,
                                           "--operator", "ops.an")
        assert replayed.returncode == 0, replayed.stderr
        await eventually(applied, "the replayed record applied")
        assert await inbox_rows() == 1

        # The copy on the topic: the original key, bytes and headers, no dlq-* header.
        copies = [r for r in await records(kafka_bootstrap, PRIVATE) if r.key == code.encode()]
        assert len(copies) == 2 and copies[1].value == value
        assert sorted(copies[1].headers) == sorted(headers)

        again = await asyncio.to_thread(cli, env, "replay", "--id", letter_id)
        assert again.returncode == 1 and "already replayed 1x" in again.stderr
        assert "ops.an" in again.stderr
        assert len([r for r in await records(kafka_bootstrap, PRIVATE)
                    if r.key == code.encode()]) == 2  # nothing published

        before = duplicates()

        async def kept_once() -> bool:
            return duplicates() > before

        forced = await asyncio.to_thread(cli, env, "replay", "--reason", "too-large",
                                         "--force", "--operator", "ops.binh")
        assert forced.returncode == 0, forced.stderr
        await eventually(kept_once, "the forced copy kept once by the inbox")
        assert await applicants() == 1 and await inbox_rows() == 1

        listed = await asyncio.to_thread(cli, env, "list")
        assert "2x" in listed.stdout and "ops.binh" in listed.stdout

        audit = runtime.tables.audit
        async with runtime.sessions() as s:
            trail = (await s.execute(select(audit.c.actor, audit.c.action, audit.c.target)
                                     .order_by(audit.c.seq))).all()
        target = f"{DLQ}/{letter_id}"
        assert [tuple(r) for r in trail] == [("ops.an", "dead_letter.show", target),
                                             ("ops.an", "dead_letter.replay", target),
                                             ("ops.binh", "dead_letter.replay", target)]

        await count_replays(runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://processing") as client:
            scraped = (await client.get("/metrics")).text
        assert ('onestop_dead_letters_replayed_total{reason="too-large",'
                f'topic="{PRIVATE}"}} 2.0') in scraped
    finally:
        await runtime.stop()
