"""A rebuild in worker processes, each taking the dossiers whose key hashes to it, gives the
tables a one-process rebuild gives, on both databases: a keyless record is taken by the
worker its dossier falls to, and a record keyed by something else than its dossier stops the
rebuild with an error that says so and what to do (one worker), never a wrong figure."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from bench.rebuild import lifecycle, lifecycles
from services.common.messaging.outbox import encode
from services.law.workdays import TZ
from services.reporting import tables
from services.reporting.app import build
from services.reporting.rebuild import Part, rebuild
from services.reporting.rebuild_workers import WorkerFailed
from services.reporting.repository import ReportingRepository
from services.reporting.settings import ReportingSettings
from tests.integration.support import fresh_database

# Every table a rebuild fills, compared row by row (events and the inbox without their
# sequence numbers: workers store in their own order, per dossier the same).
COMPARED = ("dossier_facts", "step_facts", "daily_figures", "ratings")


async def contents(settings: ReportingSettings, url: str, unordered: str) -> dict[str, Any]:
    """The rebuilt tables; the order of `unordered`'s events is left out (its records, sent
    without a key, lie on several partitions of a topic: they have none)."""
    runtime = build(settings.model_copy(update={"database_url": url}))
    try:
        async with runtime.sessions() as s:
            repo = ReportingRepository()
            out: dict[str, Any] = {n: await repo.table_rows(s, n) for n in COMPARED}
            e = tables.events.c
            out["events"] = sorted((await s.execute(select(
                e.event_id, e.dossier_code, e.type, e.time, e.data))).all())
            # Per dossier and topic, the events in the order they were stored (across topics
            # it is the order the fetches came back in, in one process as in several).
            order: dict[tuple[str, str], list[str]] = {}
            for code, topic, event_id in await s.execute(
                    select(e.dossier_code, e.topic, e.event_id).order_by(e.seq)):
                if code != unordered:
                    order.setdefault((code, topic), []).append(event_id)
            out["order"] = order
            i = runtime.tables.inbox.c
            out["inbox"] = sorted((await s.execute(select(i.event_id, i.payload_hash))).all())
        return out
    finally:
        await runtime.engine.dispose()


async def publish(bootstrap: str, records: list[tuple[str, bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def test_a_part_is_the_dossiers_hashed_to_it() -> None:
    codes = [f"000.01.01.H26-260601-r{i:07d}".encode() for i in range(200)]
    for count in (1, 2, 3):
        parts = [Part(w, count) for w in range(count)]
        owners = [[p.index for p in parts if p.owns(c)] for c in codes]
        assert all(len(o) == 1 for o in owners)  # each dossier is exactly one worker's
        if count > 1:
            assert {o[0] for o in owners} == set(range(count))  # and each worker has some


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_parts_rebuild_what_one_process_rebuilds(kafka_bootstrap: str, tmp_path: Path,
                                                       database: str) -> None:
    base = "sqlite" if database == "sqlite" else "postgresql"
    start = datetime(2026, 6, 1, 8, 0, tzinfo=TZ)
    keyed = lifecycles(600, start)
    # One dossier published without keys: its events go wherever the producer puts them.
    keyless = lifecycle(1, start, tag="k")
    await publish(kafka_bootstrap, [(t.name, e.subject.encode(), encode(e)) for t, e in keyed]
                  + [(t.name, None, encode(e)) for t, e in keyless])
    settings = ReportingSettings(kafka_bootstrap_servers=kafka_bootstrap, var_dir=tmp_path,
                                 log_level="WARNING")
    one, two = (settings.model_copy(update={"rebuild_workers": n}) for n in (1, 2))
    async with fresh_database(base, tmp_path, "one") as url_one, \
            fresh_database(base, tmp_path, "two") as url_two:
        alone = await rebuild(one, url_one)
        parted = await rebuild(two, url_two)
        assert (alone.workers, parted.workers) == (1, 2)
        assert parted.applied == alone.applied == len(keyed) + len(keyless)
        assert parted.dossiers == alone.dossiers and parted.refused == alone.refused == 0
        unordered = keyless[0][1].subject
        expected = await contents(settings, url_one, unordered)
        assert await contents(settings, url_two, unordered) == expected
        assert len(expected["inbox"]) == alone.applied
        assert unordered in {r["dossier_code"] for r in expected["dossier_facts"]}

    # Past the events kept in memory, each worker folds its dossiers from what it stored.
    spill = two.model_copy(update={"rebuild_memory_events": 50, "rebuild_batch": 97})
    async with fresh_database(base, tmp_path, "spilled") as url:
        spilled = await rebuild(spill, url)
        assert spilled.applied == alone.applied and spilled.workers == 2
        assert await contents(settings, url, unordered) == expected

    # A record keyed by another dossier's code: the worker its key falls to is not the one
    # its dossier falls to, so the parts refuse to rebuild rather than split the dossier.
    topic, envelope = keyed[0]
    moved = envelope.model_copy(update={"id": envelope.id.__class__(int=envelope.id.int ^ 1)})
    other = next(e.subject for _, e in keyed
                 if Part(0, 2).owns(e.subject.encode()) != Part(0, 2).owns(
                     moved.subject.encode()))
    await publish(kafka_bootstrap, [(topic.name, other.encode(), encode(moved))])
    async with fresh_database(base, tmp_path, "refused") as url:
        with pytest.raises(WorkerFailed, match="REPORTING_REBUILD_WORKERS=1"):
            await rebuild(two, url)
    async with fresh_database(base, tmp_path, "single") as url:
        assert (await rebuild(one, url)).applied == alone.applied + 1
