"""Why the runtime is written on aiokafka and not FastStream, measured: the same records
consumed three ways in one run, and where each way's group commits when a handler fails.

Throughput: N DossierReceived envelopes (the contracts' example, a unique id and dossier
code each) are produced once to a 6-partition topic, then each way reads all of them from
the beginning in a consumer group of its own, with a handler that does nothing:
- raw: aiokafka's `getmany` loop with an offset commit per fetch (the ceiling);
- FastStream's `KafkaBroker` subscriber, its handler typed with the event's envelope model
  (what FastStream decodes and validates for it): one record per call under its default
  acknowledgement policy (auto-commit), one record per call under `AckPolicy.ACK` (an
  offset commit per record: what at-least-once takes), and `batch=True` (1,000 records);
- the project's `BatchConsumer` (services/common/messaging/consumer.py): typed parse, its inbox on a
  SQLite file checked and written in one transaction per batch, then the batch's offsets.
Figures: records/s from the first record handled to the last, the client's CPU seconds
(this process, its threads included) and the broker's when this run started it.

Acknowledgement: ten records on one partition, the handler raising on the fifth (offset
4); once every record was delivered the subscriber stops and the group's committed offset
is read back with aiokafka. Printed and written to bench/results/<time>-consumers.json;
nothing here asserts a timing.

    python -m bench.consumers [--records N] [--bootstrap HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import platform
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy import MetaData, func, select

from bench.pipeline import sample_event, write
from contracts.envelope import typed_inbound
from contracts.events import DossierReceived
from contracts.topics import Topic
from deploy.local.broker import LocalBroker, free_port
from services.common.clock import SystemClock
from services.common.messaging.consumer import BatchConsumer, Context, Subscription
from services.common.messaging.inbox import Inbox, content_hash
from services.common.messaging.kafka import make_consumer
from services.common.observability.metrics import RuntimeMetrics
from services.common.persistence.bulk import flush_inserts
from services.common.persistence.db import make_engine, runtime_tables, session_factory

PARTITIONS = 6
BATCH = 1000  # records per fetch or batch call, for every way that takes batches
FAILING = 4  # the offset whose handler raises, of ACK_RECORDS on one partition
ACK_RECORDS = 10
TIMEOUT = 300.0  # seconds a way may take before the run gives up on it
# The envelope the handlers receive, typed as the consumer's parse gives it.
TypedEnvelope = typed_inbound(DossierReceived)

Sampler = Callable[[], float]


def events(n: int) -> list[tuple[bytes, bytes]]:
    """n DossierReceived envelopes of the example's size, each its own id and dossier."""
    example = json.loads(sample_event())
    out = []
    for i in range(n):
        code = f"000.01.01.H26-260302-c{i:07d}"
        example["id"] = str(uuid.uuid4())
        example["subject"] = example["data"]["dossier_code"] = code
        out.append((code.encode(), json.dumps(example, separators=(",", ":")).encode()))
    return out


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions,
                                            replication_factor=1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1,
                                max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Progress:
    """Records handled, the first and last moments, and a signal when all arrived."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.first = 0.0
        self.first_delivery = 0  # records handed over with the first call or fetch
        self.last = 0.0
        self.done = asyncio.Event()

    def add(self, n: int) -> None:
        now = time.perf_counter()
        if self.count == 0:
            self.first, self.first_delivery = now, n
        self.count += n
        self.last = now
        if self.count >= self.total:
            self.done.set()

    async def wait(self, label: str) -> None:
        try:
            await asyncio.wait_for(self.done.wait(), TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"{label}: {self.count} of {self.total} records after "
                               f"{TIMEOUT:.0f} s") from None


async def measured(label: str, n: int, broker_cpu: Sampler | None,
                   run: Callable[[Progress], Awaitable[None]]) -> dict[str, Any]:
    progress = Progress(n)
    cpu, broker = time.process_time(), broker_cpu() if broker_cpu else 0.0
    started = time.perf_counter()
    await run(progress)
    # The rate from the first delivery to the last, the first delivery's records left out
    # (they arrived at its start): the group's join before it is not the consumer's pace.
    span = progress.last - progress.first
    after_first = progress.count - progress.first_delivery
    figures = {"records": progress.count,
               "records_per_s": round(after_first / span, 1) if after_first and span else None,
               "first_to_last_s": round(span, 3), "first_delivery": progress.first_delivery,
               "start_to_last_s": round(progress.last - started, 3),
               "client_cpu_s": round(time.process_time() - cpu, 3)}
    if broker_cpu is not None:
        figures["broker_cpu_s"] = round(broker_cpu() - broker, 3)
    print(f"  {label:34} {_rate(figures['records_per_s']):>10} records/s  "
          f"{figures['client_cpu_s']:>7.2f} CPU s")
    return figures


async def raw(bootstrap: str, topic: str, progress: Progress) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        while progress.count < progress.total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            if batch:
                progress.add(sum(len(r) for r in batch.values()))
                await consumer.commit()
    finally:
        await consumer.stop()


async def faststream(bootstrap: str, topic: str, progress: Progress, *,
                     ack_policy: AckPolicy | None = None, batch: bool = False) -> None:
    broker = KafkaBroker(bootstrap, logger=None)
    options: dict[str, Any] = {"group_id": f"bench-fs-{uuid.uuid4().hex[:6]}",
                               "auto_offset_reset": "earliest"}
    if ack_policy is not None:
        options["ack_policy"] = ack_policy
    if batch:
        @broker.subscriber(topic, batch=True, max_records=BATCH, **options)
        async def handle_batch(envelopes: list[TypedEnvelope]) -> None:  # type: ignore[valid-type]
            progress.add(len(envelopes))
    else:
        @broker.subscriber(topic, **options)
        async def handle(envelope: TypedEnvelope) -> None:  # type: ignore[valid-type]
            progress.add(1)
    await broker.start()
    try:
        await progress.wait("FastStream")
    finally:
        await broker.stop()


async def faststream_inbox(bootstrap: str, topic: str, var: Path, progress: Progress) -> None:
    """FastStream's batch subscriber doing what the project's consumer does per batch at
    the least: the inbox checked and written in one SQLite transaction, then one offset
    commit (`AckPolicy.ACK`: after the handler, on success and on failure alike)."""
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = make_engine(f"sqlite+aiosqlite:///{var / f'{uuid.uuid4().hex[:6]}.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions, inbox, clock = session_factory(engine), Inbox("bench", tables), SystemClock()
    broker = KafkaBroker(bootstrap, logger=None)

    @broker.subscriber(topic, batch=True, max_records=BATCH, ack_policy=AckPolicy.ACK,
                       group_id=f"bench-fs-{uuid.uuid4().hex[:6]}",
                       auto_offset_reset="earliest")
    async def handle_batch(envelopes: list[TypedEnvelope]) -> None:  # type: ignore[valid-type]
        async with sessions() as s, s.begin():
            seen = await inbox.seen(s, [str(e.id) for e in envelopes])
            await inbox.record(s, [(str(e.id), content_hash(e), topic) for e in envelopes
                                   if str(e.id) not in seen], clock.now())
            await flush_inserts(s)
        progress.add(len(envelopes))

    await broker.start()
    try:
        await progress.wait("FastStream")
    finally:
        await broker.stop()
        await engine.dispose()


@contextlib.asynccontextmanager
async def project_consumer(bootstrap: str, topic: str, dead_letter_topic: str, var: Path,
                           handle: Callable[[Context, Any], Awaitable[None]], group: str,
                           after_commit: Callable[[BatchConsumer], None] | None = None
                           ) -> Any:
    """The runtime's BatchConsumer as a service runs it (services/common/runtime.py), minus
    the service: its Kafka clients, its inbox in a fresh SQLite file, one subscription."""
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = make_engine(f"sqlite+aiosqlite:///{var / f'{uuid.uuid4().hex[:6]}.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    subscription = Subscription(Topic(topic, owner="bench", key="dossier_code",
                                      partitions=PARTITIONS, events=(), consumers=("bench",),
                                      description="bench records"))
    subscription.on(DossierReceived)(handle)
    kafka = make_consumer(bootstrap, group, "bench-consumer")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await kafka.start()
    await producer.start()
    loop = BatchConsumer(service="bench", consumer=kafka, producer=producer,
                         sessions=session_factory(engine), inbox=Inbox("bench", tables),
                         subscriptions=[subscription], dead_letter_topic=dead_letter_topic,
                         clock=SystemClock(), metrics=RuntimeMetrics("bench"),
                         max_records=BATCH,
                         after_commit=(lambda: after_commit(loop)) if after_commit else None)
    task = asyncio.create_task(loop.run())
    try:
        yield loop, kafka, engine, tables
    finally:
        await loop.stop()
        await task
        await kafka.stop()
        await producer.stop()
        await engine.dispose()


async def ours(bootstrap: str, topic: str, var: Path, progress: Progress) -> None:
    async def noop(ctx: Context, event: DossierReceived) -> None:
        return None

    def applied(loop: BatchConsumer) -> None:
        # Called after each batch's transaction committed, its inbox rows written.
        if loop.applied > progress.count:
            progress.add(loop.applied - progress.count)

    async with project_consumer(bootstrap, topic, f"{topic}.dlq", var, noop,
                                f"bench-ours-{uuid.uuid4().hex[:6]}", applied) as (
            _, _, engine, tables):
        await progress.wait("BatchConsumer")
        async with engine.connect() as conn:
            recorded = await conn.scalar(select(func.count()).select_from(tables.inbox))
        if recorded != progress.total:
            raise RuntimeError(f"BatchConsumer: {recorded} inbox rows for "
                               f"{progress.count} records")


async def committed(bootstrap: str, group: str, topic: str) -> int | None:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                              enable_auto_commit=False)
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()


async def faststream_on_failure(bootstrap: str, ack_policy: AckPolicy | None,
                                seconds: float = 2.0) -> dict[str, Any]:
    """Ten records, the fifth raising: which offsets the handler saw, and where the group's
    committed offset is once every record was delivered (or after `seconds`)."""
    topic = f"bench.ack.{uuid.uuid4().hex[:6]}"
    await create_topic(bootstrap, topic, 1)
    await produce(bootstrap, topic, events(ACK_RECORDS))
    group = f"bench-ack-{uuid.uuid4().hex[:6]}"
    broker = KafkaBroker(bootstrap, logger=None)
    delivered: list[int] = []
    last = asyncio.Event()
    options: dict[str, Any] = {"group_id": group, "auto_offset_reset": "earliest"}
    if ack_policy is not None:
        options["ack_policy"] = ack_policy

    @broker.subscriber(topic, **options)
    async def handle(envelope: TypedEnvelope, message: KafkaMessage) -> None:  # type: ignore[valid-type]
        offset = message.raw_message.offset  # type: ignore[union-attr]
        delivered.append(offset)
        if offset == ACK_RECORDS - 1:
            last.set()
        if offset == FAILING:
            raise RuntimeError("the handler failed on this record")

    await broker.start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(last.wait(), seconds)
    await broker.stop()
    offset = await committed(bootstrap, group, topic)
    return {"policy": (ack_policy or AckPolicy.ACK_FIRST).name, "failed_offset": FAILING,
            "records": ACK_RECORDS, "deliveries_of_failed": delivered.count(FAILING),
            "handled_after_failed": len({o for o in delivered if o > FAILING}),
            "committed_offset": offset,
            "committed_past_failed": offset is not None and offset > FAILING}


async def ours_on_failure(bootstrap: str, var: Path) -> dict[str, Any]:
    """The same ten records through the project's BatchConsumer: where it commits, and
    whether the failed record is in the dead-letter topic before that."""
    topic = f"bench.ack.{uuid.uuid4().hex[:6]}"
    dead_letters = f"{topic}.dlq"
    await create_topic(bootstrap, topic, 1)
    await create_topic(bootstrap, dead_letters, 1)
    records = events(ACK_RECORDS)
    failing_id = json.loads(records[FAILING][1])["id"]
    await produce(bootstrap, topic, records)

    async def handle(ctx: Context, event: DossierReceived) -> None:
        if str(ctx.envelope.id) == failing_id:
            raise RuntimeError("the handler failed on this record")

    group = f"bench-ack-{uuid.uuid4().hex[:6]}"
    async with project_consumer(bootstrap, topic, dead_letters, var, handle, group) as (
            loop, kafka, _, _):
        deadline = time.monotonic() + 60
        tp = TopicPartition(topic, 0)
        while time.monotonic() < deadline:
            if (await kafka.committed(tp) or 0) >= ACK_RECORDS:
                break
            await asyncio.sleep(0.05)
        applied = loop.applied
    offset = await committed(bootstrap, group, topic)
    reader = AIOKafkaConsumer(dead_letters, bootstrap_servers=bootstrap,
                              auto_offset_reset="earliest", enable_auto_commit=False)
    await reader.start()
    try:
        batch = await reader.getmany(timeout_ms=5000)
    finally:
        await reader.stop()
    dead = [dict(r.headers) for rs in batch.values() for r in rs]
    return {"policy": "BatchConsumer", "failed_offset": FAILING, "records": ACK_RECORDS,
            "applied": applied, "committed_offset": offset,
            "committed_past_failed": offset is not None and offset > FAILING,
            "dead_lettered_offsets": [int(h["dlq-original-offset"]) for h in dead],
            "dead_letter_reason": [h["dlq-reason"].decode() for h in dead]}


async def measure(bootstrap: str, n: int, var: Path,
                  broker_cpu: Sampler | None = None) -> dict[str, Any]:
    topic = f"bench.consumers.{uuid.uuid4().hex[:6]}"
    await create_topic(bootstrap, topic, PARTITIONS)
    records = events(n)
    started = time.perf_counter()
    await produce(bootstrap, topic, records)
    print(f"produced {n:,} records of {len(records[0][1])} bytes to {topic} "
          f"({n / (time.perf_counter() - started):,.0f}/s)")
    ways: dict[str, dict[str, Any]] = {}
    runs: list[tuple[str, Callable[[Progress], Awaitable[None]]]] = [
        ("raw_aiokafka_getmany", lambda p: raw(bootstrap, topic, p)),
        ("faststream_record_default_ack", lambda p: faststream(bootstrap, topic, p)),
        ("faststream_record_ack_policy_ack",
         lambda p: faststream(bootstrap, topic, p, ack_policy=AckPolicy.ACK)),
        ("faststream_batch_default_ack", lambda p: faststream(bootstrap, topic, p, batch=True)),
        ("faststream_batch_sqlite_inbox_ack",
         lambda p: faststream_inbox(bootstrap, topic, var, p)),
        ("onestop_batch_consumer_sqlite", lambda p: ours(bootstrap, topic, var, p)),
    ]
    for name, run in runs:
        ways[name] = await measured(name, n, broker_cpu, run)
    ceiling = ways["raw_aiokafka_getmany"]["records_per_s"]
    for figures in ways.values():
        figures["share_of_raw"] = _ratio(figures["records_per_s"], ceiling, 4)
    mine = ways["onestop_batch_consumer_sqlite"]["records_per_s"]
    ratios = {f"onestop_over_{name}": _ratio(mine, figures["records_per_s"], 2)
              for name, figures in ways.items() if name.startswith("faststream")}
    print("acknowledgement: a handler raising on offset 4 of 10 records")
    # Side by side: each its own topic and group, and nothing of them is timed.
    failures = list(await asyncio.gather(
        faststream_on_failure(bootstrap, None),
        faststream_on_failure(bootstrap, AckPolicy.ACK),
        faststream_on_failure(bootstrap, AckPolicy.NACK_ON_ERROR),
        ours_on_failure(bootstrap, var)))
    for f in failures:
        print(f"  {f['policy']:16} committed offset {f['committed_offset']} "
              f"({'past' if f['committed_past_failed'] else 'not past'} the failed record)"
              + (f", dead-lettered {f['dead_lettered_offsets']}" if 'dead_lettered_offsets'
                 in f else f", the failed record delivered {f['deliveries_of_failed']}x, "
                 f"{f['handled_after_failed']} later records handled"))
    return {"at": datetime.now(UTC).isoformat(), "machine": platform.node(),
            "cpus": psutil.cpu_count(), "faststream": _version("faststream"),
            "aiokafka": _version("aiokafka"), "records": n,
            "record_bytes": len(records[0][1]), "partitions": PARTITIONS, "batch": BATCH,
            "ways": ways, "ratios": ratios, "on_failure": failures}


def _ratio(a: float | None, b: float | None, digits: int) -> float | None:
    # Too few records for a rate (all in the first delivery): no ratio either.
    return round(a / b, digits) if a is not None and b else None


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['records']:,} records of {result['record_bytes']} bytes, "
          f"{result['partitions']} partitions (FastStream {result['faststream']}, "
          f"aiokafka {result['aiokafka']})")
    print(f"{'':34}{'records/s':>12}{'client CPU s':>14}{'broker CPU s':>14}{'of raw':>9}")
    for name, f in result["ways"].items():
        share = "-" if f["share_of_raw"] is None else f"{f['share_of_raw']:.1%}"
        broker = f"{f['broker_cpu_s']:.2f}" if "broker_cpu_s" in f else "-"
        print(f"{name:34}{_rate(f['records_per_s']):>12}{f['client_cpu_s']:>14.2f}"
              f"{broker:>14}{share:>9}")
    for name, ratio in result["ratios"].items():
        print(f"{name}: {ratio}x")


@contextlib.contextmanager
def own_broker(var: Path) -> Iterator[tuple[str, Sampler]]:
    """A fresh local broker and a reading of its CPU seconds."""
    broker = LocalBroker(free_port(), var / "broker.log").start()
    assert broker.process is not None
    process = psutil.Process(broker.process.pid)

    def cpu() -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    try:
        yield broker.bootstrap, cpu
    finally:
        broker.stop()


def run(n: int, bootstrap: str | None = None, var: Path | None = None) -> dict[str, Any]:
    var = var or Path(tempfile.mkdtemp(prefix="onestop-bench-consumers-"))
    if bootstrap is not None:
        return asyncio.run(measure(bootstrap, n, var))
    with own_broker(var) as (address, cpu):
        return asyncio.run(measure(address, n, var, cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--bootstrap", default=None,
                        help="a running broker; by default a fresh local one is started")
    args = parser.parse_args()
    # aiokafka's own warnings (a group rebalancing) are not the figures.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    result = run(args.records, args.bootstrap)
    print_table(result)
    write(result, "-consumers")


if __name__ == "__main__":
    main()
