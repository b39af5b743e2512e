"""`python -m services.reporting rebuild [--database-url URL]`: replay every topic reporting
reads from the beginning into a fresh database, through the live consumer's batch loop
(parse, de-duplicate, refuse what it refuses), so the rebuilt facts equal the live ones.
The dossier events are stored while reading and kept in memory as the consumer parsed them
(`REPORTING_REBUILD_MEMORY_EVENTS` at most); then each dossier is folded once, with the
live projection's own fold, and the facts written in bulk: nothing is read back. Past that
many events the replay keeps only what it stores, and each dossier is folded from its
stored events at the end, a chunk at a time (`Projection.fold_stored`).

The end offsets are captured at the start and the replay reads at least to them, then
until the broker has nothing more for `idle_ms` (Tansu, the local broker, answers
ListOffsets(latest) short after batched produces, so the end alone is not trusted: what
was published while the replay ran may be included, as the live projection includes it).
Partitions are assigned directly (no consumer group, nothing committed); records the live
consumer would dead-letter are counted and skipped, not dead-lettered again.

The database must be empty: the secondary indexes of the tables the replay fills
(`DEFERRED`) are dropped once it is migrated and built at the end from the whole tables, one
sort each, where every insert kept each of them in order row by row (the events' before the
fold, which reads the stored events by dossier; the facts' after it). The rebuild is done,
and timed, only once they exist again. The replay's records start no trace: they were
traced when they were live, and a rebuild of millions of records would only fill the trace
backend.

The replay is CPU-bound Python (parse, content hash, fold), so it runs in
`REPORTING_REBUILD_WORKERS` processes (0: one per CPU), each reading every topic and taking
the dossiers whose code hashes to it (`Part`: records are keyed by dossier code, so the key
says whose a record is before it is parsed). Each folds its own dossiers; nothing a dossier's
facts depend on crosses workers, and the daily figures are sums. On PostgreSQL the workers
write into the target together (as two live replicas do); on SQLite, one writer at a time,
the first writes into the target and each other one into a database of its own beside it,
merged into the target at the end in one transaction (services/reporting/rebuild_workers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import Index, Table, event, func, make_url, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from contracts.events import Event
from contracts.topics import topics_consumed_by
from services.common.garbage import collections_paused
from services.common.messaging.consumer import (
    BatchConsumer,
    Batched,
    Context,
    DeadLetter,
    Item,
    Subscription,
)
from services.common.messaging.inbox import Inbox
from services.common.messaging.kafka import ensure_topics
from services.common.messaging.retry import retrying
from services.reporting import tables
from services.reporting.facts import AggKey, Recorded
from services.reporting.settings import ReportingSettings

if TYPE_CHECKING:
    from services.common.runtime import Runtime
    from services.reporting.handlers import Projection


# The tables the replay and the fold fill, each with secondary indexes built at the end.
DEFERRED: tuple[Table, ...] = (tables.events, tables.dossier_facts, tables.step_facts)
class NotEmpty(ValueError):
    """The rebuild's database already holds what a rebuild writes."""


class KeyNotDossier(RuntimeError):
    """A record keyed by something else than its dossier code: a worker cannot tell by its
    key whose it is, so a rebuild in parts could fold its dossier without it."""


@dataclass
class RebuildResult:
    read: int
    applied: int
    refused: int
    dossiers: int
    seconds: float
    workers: int = 1


@dataclass(frozen=True)
class Part:
    """One worker's share of a rebuild in `count` parts: the dossiers whose code's CRC-32
    is `index` modulo `count` (the same in every process, unlike Python's string hash)."""

    index: int
    count: int

    def owns(self, code: bytes) -> bool:
        return zlib.crc32(code) % self.count == self.index


class _Skipped:
    """Stands for the dead-letter publisher: the live consumer answered these already."""

    def __init__(self) -> None:
        self.count = 0

    async def publish(self, dead: list[Any]) -> None:
        self.count += len(dead)


class _FreshInbox(Inbox):
    """The rebuilt database starts empty, so what was applied is what this run applied:
    looked up in memory, still recorded in the table (the rebuilt database can take over)."""

    def __init__(self, consumer: str, tables: Any) -> None:
        super().__init__(consumer, tables)
        self.applied: dict[str, str] = {}

    async def seen(self, session: AsyncSession, event_ids: list[str]) -> dict[str, str]:
        return {i: self.applied[i] for i in event_ids if i in self.applied}

    async def record(self, session: AsyncSession, items: list[tuple[str, str, str]],
                     at: datetime) -> None:
        self.applied.update((i, h) for i, h, _ in items)
        await super().record(session, items, at)


class _Keeping:
    """The replay's handler of dossier events: stores them as the live projection does and
    keeps them in memory, up to `limit`, to be folded once at the end."""

    def __init__(self, projection: Projection, limit: int) -> None:
        self.projection = projection
        self.limit = limit
        self.kept = 0
        self.events: dict[str, list[Recorded]] | None = {}

    async def store(self, s: AsyncSession, batch: list[tuple[Context, Event]]) -> None:
        await self.projection.store(s, batch)
        if self.events is None:
            return
        self.kept += len(batch)
        if self.kept > self.limit:
            self.events = None  # from here on, folded from what was stored
            return
        for ctx, e in batch:
            self.events.setdefault(ctx.envelope.subject, []).append(
                Recorded.of(ctx.envelope, e, ctx.event_id))

    async def fold(self, s: AsyncSession, part: Part | None = None, chunk: int = 2000) -> int:
        """Every dossier (of `part`) folded once, its facts written; the daily figures once.
        Returns the dossiers."""
        if self.events is None:
            owns = None if part is None else (lambda code: part.owns(code.encode()))
            return await self.projection.fold_stored(s, chunk, owns)
        events = self.events
        total: dict[AggKey, Counter[str]] = {}
        codes = sorted(events)
        for i in range(0, len(codes), chunk):
            await self.projection.save_new(s, {c: events[c] for c in codes[i:i + chunk]},
                                           total)
        await self.projection.repo.apply_daily(s, total)
        return len(codes)


def _storing(subscriptions: list[Subscription], projection: Projection, keeping: _Keeping
             ) -> list[Subscription]:
    """The live subscriptions with the projection's fold replaced by keeping the events
    (one handler instance for every type, as the live one, so batches stay whole)."""
    store = Batched(keeping.store)
    return [replace(sub, handlers={
        t: store if isinstance(h, Batched) and h.fn == projection.apply else h
        for t, h in sub.handlers.items()}) for sub in subscriptions]


class _Replay(BatchConsumer):
    part: Part | None = None

    async def _commit(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        return  # no group: the replay keeps nothing on the broker

    def _record_trace(self, item: Any) -> None:
        return None  # no trace (the module's docstring): a trace id each was 5% of a replay

    def _count(self, items: list[Any]) -> None:
        self.applied += len(items)  # no per-type counters: nobody scrapes a one-shot command

    def _parse(self, record: ConsumerRecord) -> Item | None:
        part = self.part
        if part is None:
            return super()._parse(record)
        key = record.key
        if key is not None and not part.owns(key):
            return None  # another worker's dossier: not even parsed
        try:
            item = super()._parse(record)
        except DeadLetter:
            # A keyless record is read by every worker: the first one counts its refusal.
            if key is None and part.index:
                return None
            raise
        if item is not None and not part.owns(item.envelope.subject.encode()):
            if key is None:
                return None  # another worker's dossier, told by its subject
            raise KeyNotDossier(
                f"{record.topic}[{record.partition}]@{record.offset} is keyed "
                f"{key.decode('utf-8', 'replace')!r}, not by its dossier "
                f"{item.envelope.subject!r}: rebuild it with REPORTING_REBUILD_WORKERS=1")
        return item


class DeferredIndexes:
    """`DEFERRED`'s secondary indexes, dropped from an empty database and built again."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dropped: list[Index] = []

    async def drop(self) -> None:
        async with self.engine.begin() as conn:
            for table in DEFERRED:
                if await conn.scalar(select(func.count()).select_from(
                        select(table).limit(1).subquery())):
                    raise NotEmpty(f"the rebuild's database already holds {table.name}: "
                                   "give it a fresh, empty one")
            for table in DEFERRED:
                for index in sorted(table.indexes, key=lambda i: str(i.name)):
                    await conn.run_sync(index.drop)
                    self.dropped.append(index)

    async def build(self, *of: Table) -> None:
        """The dropped indexes of `of` (all when none is named) built again."""
        todo = [i for i in self.dropped if not of or i.table in of]
        async with self.engine.begin() as conn:
            for index in todo:
                await conn.run_sync(index.create)
        self.dropped = [i for i in self.dropped if i not in todo]


def _bulk_cache(dbapi_conn: Any, _record: Any) -> None:
    # SQLite's default page cache (2 MiB) is far smaller than the indexes a replay grows.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA cache_size=-65536")  # KiB: 64 MiB at most, taken as it fills
    cur.close()


def open_runtime(settings: ReportingSettings, database_url: str) -> Runtime:
    from services.reporting.app import build  # the same handlers as the live service

    runtime = build(settings.model_copy(update={"database_url": database_url}))
    if runtime.engine.dialect.name == "sqlite":
        event.listen(runtime.engine.sync_engine, "connect", _bulk_cache)
    return runtime


async def prepared(settings: ReportingSettings, database_url: str
                   ) -> tuple[Runtime, DeferredIndexes]:
    """The runtime on `database_url`, migrated, its deferred indexes dropped (refused with
    `NotEmpty` unless it is empty)."""
    runtime = open_runtime(settings, database_url)
    try:
        await runtime.migrate()
        indexes = DeferredIndexes(runtime.engine)
        await indexes.drop()
    except BaseException:
        await runtime.engine.dispose()
        raise
    return runtime, indexes


async def topics_ready(bootstrap: str) -> None:
    # As a starting service does: a topic nobody created yet is an empty one, not an error.
    await retrying(lambda: ensure_topics(bootstrap), "broker not reachable yet (topics)",
                   delay=0.5, max_delay=5.0)


@dataclass
class _Replayed:
    read: int
    applied: int
    refused: int
    seconds: float
    keeping: _Keeping


async def replay_topics(runtime: Runtime, settings: ReportingSettings, idle_ms: int,
                        part: Part | None = None) -> _Replayed:
    """Every topic reporting reads, from the beginning to the end, through the live batch
    loop: the events stored, and kept for the fold (see `_Keeping`)."""
    projection: Projection = runtime.app.state.projection
    kafka = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                             group_id=None, enable_auto_commit=False,
                             client_id="reporting-rebuild",
                             max_partition_fetch_bytes=8 * 1024 * 1024,
                             fetch_max_bytes=64 * 1024 * 1024)
    await retrying(kafka.start, "broker not reachable yet (rebuild)", delay=0.5, max_delay=5.0)
    skipped = _Skipped()
    try:
        names = [t.name for t in topics_consumed_by("reporting")]
        await kafka.topics()  # loads the cluster's metadata: partitions of every topic
        partitions = [TopicPartition(n, p) for n in names
                      for p in sorted(kafka.partitions_for_topic(n) or ())]
        kafka.assign(partitions)
        await kafka.seek_to_beginning(*partitions)
        end = await kafka.end_offsets(partitions)
        # The memory bound is the rebuild's, whatever the number of workers sharing it.
        keeping = _Keeping(projection,
                           settings.rebuild_memory_events // (part.count if part else 1))
        replay = _Replay(service="reporting", consumer=kafka, producer=None,  # type: ignore[arg-type]
                         sessions=runtime.sessions, inbox=_FreshInbox("reporting", runtime.tables),
                         subscriptions=_storing(runtime.subscriptions, projection, keeping),
                         dead_letter_topic="",
                         clock=runtime.clock, metrics=runtime.metrics,
                         max_records=settings.rebuild_batch)
        replay.part = part
        replay.dead_letters = skipped  # type: ignore[assignment]
        with collections_paused():
            started = last = time.perf_counter()
            read = 0
            while True:
                batch = await _fetch(kafka, settings.rebuild_batch, idle_ms)
                if not any(batch.values()):
                    # Past every captured end and nothing more: done. (Tansu under-reports
                    # ListOffsets(latest) after batched produces, so the end alone is not
                    # trusted: the replay drains what the broker still has.)
                    positions = {tp: await kafka.position(tp) for tp in partitions}
                    if all(positions[tp] >= end[tp] for tp in partitions):
                        break
                    continue
                read += sum(len(r) for r in batch.values())
                await replay.handle_batch(batch)
                last = time.perf_counter()  # the final idle wait is not replay time
    finally:
        await kafka.stop()
    return _Replayed(read, replay.applied, skipped.count, last - started, keeping)


async def rebuild(settings: ReportingSettings, database_url: str, idle_ms: int = 1000
                  ) -> RebuildResult:
    """Replay into `database_url` (migrated first; it must be empty), in
    `settings.rebuild_workers` processes (0: one per CPU)."""
    workers = settings.rebuild_workers or os.cpu_count() or 1
    if workers > 1 and not _partable(database_url):
        workers = 1  # an in-memory SQLite database has no file to put parts beside
    if workers > 1:
        from services.reporting.rebuild_workers import rebuild_parallel

        return await rebuild_parallel(settings, database_url, idle_ms, workers)
    runtime, indexes = await prepared(settings, database_url)
    try:
        await topics_ready(settings.kafka_bootstrap_servers)
        with collections_paused():
            done = await replay_topics(runtime, settings, idle_ms)
            folding = time.perf_counter()
            await indexes.build(tables.events)  # the fold of stored events reads by dossier
            async with runtime.sessions() as s, s.begin():
                await done.keeping.fold(s)
            await indexes.build()
            seconds = done.seconds + (time.perf_counter() - folding)
        dossiers = await dossier_count(runtime)
    finally:
        if indexes.dropped:  # failed on the way: the partial database keeps its schema
            with contextlib.suppress(Exception):
                await indexes.build()
        await runtime.engine.dispose()
    return RebuildResult(done.read, done.applied, done.refused, dossiers, seconds)


async def dossier_count(runtime: Runtime) -> int:
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(tables.dossier_facts)) or 0)


def _partable(database_url: str) -> bool:
    url = make_url(database_url)
    return url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:")


async def _fetch(kafka: AIOKafkaConsumer, size: int, idle_ms: int
                 ) -> dict[TopicPartition, list[ConsumerRecord]]:
    """Up to `size` records, gathered over several fetches (one fetch holds a few dozen
    records per partition): one transaction, a few statements, per `size` records."""
    out: dict[TopicPartition, list[ConsumerRecord]] = {}
    count, wait = 0, idle_ms
    while count < size:
        got = await kafka.getmany(timeout_ms=wait, max_records=size - count)
        if not got:
            break
        for tp, records in got.items():
            out.setdefault(tp, []).extend(records)
            count += len(records)
        wait = 0  # after the first records, only what has arrived: no idle tail per batch
    return out


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m services.reporting rebuild",
                                     description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", help="the fresh database to fill (default "
                        "REPORTING_REBUILD_DATABASE_URL)")
    args = parser.parse_args(argv)
    settings = ReportingSettings()
    url = args.database_url or settings.rebuild_database_url
    if not url:
        parser.error("give --database-url or set REPORTING_REBUILD_DATABASE_URL")
    try:
        result = asyncio.run(rebuild(settings, url))
    except NotEmpty as exc:
        parser.error(str(exc))
    print(f"reporting rebuilt: {result.applied} events applied of {result.read} read "
          f"({result.refused} refused), {result.dossiers} dossiers, {result.seconds:.1f} s, "
          f"{result.applied / max(result.seconds, 1e-9):,.0f} events/s, "
          f"{result.workers} worker(s)")
    return 0
