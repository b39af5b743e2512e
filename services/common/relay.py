"""The outbox relay: publishes unpublished rows in sequence order, awaits the broker's acks,
then marks them published. A crash between publish and mark duplicates, never loses:
consumers de-duplicate by event id.

It also watches for a broker whose log was reset (the local broker keeps it in memory):
when the broker acknowledges an offset below one it had already acknowledged to this relay,
every row still within retention is published again. Only produce acknowledgements are
trusted: the local broker's ListOffsets answers the last batch's base offset, not the end.
When idle, the relay writes a heartbeat record so that a reset is seen even then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.topics import HEARTBEAT, TOPICS
from services.common.clock import Clock
from services.common.db import RuntimeTables, is_sqlite
from services.common.kafka import ensure_topics
from services.common.metrics import RuntimeMetrics
from services.common.telemetry import get_logger

log = get_logger(__name__)
LEADER_LOCK = 0x0E57_0B0C  # advisory lock: one relay per service database publishes


class OutboxRelay:
    def __init__(self, *, service: str, engine: AsyncEngine,
                 sessions: async_sessionmaker[AsyncSession], tables: RuntimeTables,
                 producer: AIOKafkaProducer, bootstrap: str, clock: Clock,
                 metrics: RuntimeMetrics, batch: int = 2000, retention_hours: float = 168,
                 reset_check_seconds: float = 3.0) -> None:
        self.service = service
        self.engine = engine
        self.sessions = sessions
        self.t = tables
        self.producer = producer
        self.bootstrap = bootstrap
        self.clock = clock
        self.metrics = metrics
        self.batch = batch
        self.retention = timedelta(hours=retention_hours)
        self.reset_check_seconds = reset_check_seconds
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.topics_ready = False
        self.watermarks: dict[tuple[str, int], int] = {}
        self._leader_conn: Any = None

    def poke(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        await self._load_watermarks()
        last_check = 0.0
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            try:
                if not await self._is_leader():
                    await self._sleep(2.0)
                    continue
                if not self.topics_ready:
                    await ensure_topics(self.bootstrap, TOPICS)
                    self.topics_ready = True
                published = await self.publish_pending()
                if published:
                    last_check = loop.time()  # acks of real rows checked the log just now
                elif loop.time() - last_check > self.reset_check_seconds:
                    last_check = loop.time()
                    await self.heartbeat()
                if published == 0:
                    await self._sleep(0.25)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: keep the rows, try again
                log.warning("outbox relay retrying", error=repr(exc))
                self.topics_ready = False
                await self._sleep(1.0)
        await self._release_leader()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()

    async def _is_leader(self) -> bool:
        # SQLite: one process per file. PostgreSQL: a session advisory lock held while alive.
        if is_sqlite(str(self.engine.url)):
            return True
        if self._leader_conn is not None:
            return True
        conn = await self.engine.connect()
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK})
        await conn.commit()
        if got:
            self._leader_conn = conn
            log.info("outbox relay is leader")
            return True
        await conn.close()
        return False

    async def _release_leader(self) -> None:
        if self._leader_conn is not None:
            with contextlib.suppress(Exception):
                await self._leader_conn.close()
            self._leader_conn = None

    async def publish_pending(self) -> int:
        async with self.sessions() as s:
            rows = (await s.execute(
                select(self.t.outbox.c.seq, self.t.outbox.c.topic, self.t.outbox.c.key,
                       self.t.outbox.c.payload, self.t.outbox.c.traceparent,
                       self.t.outbox.c.event_type, self.t.outbox.c.event_id)
                .where(self.t.outbox.c.published_at.is_(None))
                .order_by(self.t.outbox.c.seq).limit(self.batch)
            )).all()
        if not rows:
            self.metrics.outbox_pending.set(0)
            return 0
        futures = []
        for row in rows:
            headers = [("ce_type", row.event_type.encode()), ("ce_id", row.event_id.encode())]
            if row.traceparent:
                headers.append(("traceparent", row.traceparent.encode()))
            futures.append(await self.producer.send(
                row.topic, row.payload, key=row.key.encode(), headers=headers))
        results = await asyncio.gather(*futures)
        reset = False
        touched: dict[tuple[str, int], int] = {}
        for md in results:
            tp = (md.topic, md.partition)
            if md.offset < self.watermarks.get(tp, 0) and tp not in touched:
                reset = True  # the broker handed out an offset it had already given: new log
            touched[tp] = max(touched.get(tp, 0), md.offset + 1)
        async with self.sessions() as s, s.begin():
            await s.execute(update(self.t.outbox)
                            .where(self.t.outbox.c.seq.in_([r.seq for r in rows]))
                            .values(published_at=self.clock.now()))
            await self._save_watermarks(s, touched, replace=reset)
        for row in rows:
            self.metrics.published(topic=row.topic).inc()
        if reset:
            await self._republish("an acknowledged offset went backwards")
        return len(rows)

    async def _save_watermarks(self, s: AsyncSession, touched: dict[tuple[str, int], int],
                               replace: bool) -> None:
        if replace:
            self.watermarks.clear()
            await s.execute(delete(self.t.watermarks))
        for (topic, partition), offset in touched.items():
            if offset <= self.watermarks.get((topic, partition), -1):
                continue
            self.watermarks[(topic, partition)] = offset
            await s.execute(delete(self.t.watermarks).where(
                self.t.watermarks.c.topic == topic, self.t.watermarks.c.partition == partition))
            await s.execute(self.t.watermarks.insert().values(
                topic=topic, partition=partition, next_offset=offset))

    async def _load_watermarks(self) -> None:
        async with self.sessions() as s:
            for row in (await s.execute(select(self.t.watermarks))).all():
                self.watermarks[(row.topic, row.partition)] = row.next_offset

    async def heartbeat(self) -> bool:
        """Write one record and check its acknowledged offset; True when a reset was seen."""
        await self._purge_old()
        value = json.dumps({"service": self.service,
                            "time": self.clock.now().isoformat()}).encode()
        md = await self.producer.send_and_wait(HEARTBEAT.name, value,
                                               key=self.service.encode())
        tp = (md.topic, md.partition)
        reset = md.offset < self.watermarks.get(tp, 0)
        if reset:
            await self._republish(f"heartbeat acknowledged at {md.offset}, "
                                  f"after {self.watermarks[tp]}")
        async with self.sessions() as s, s.begin():
            await self._save_watermarks(s, {tp: md.offset + 1}, replace=False)
        return reset

    async def _republish(self, why: str) -> None:
        since = self.clock.now() - self.retention
        async with self.sessions() as s, s.begin():
            result = await s.execute(update(self.t.outbox)
                                     .where(self.t.outbox.c.created_at >= since)
                                     .values(published_at=None))
            await s.execute(delete(self.t.watermarks))
        self.watermarks.clear()
        self.topics_ready = False
        await ensure_topics(self.bootstrap, TOPICS)
        self.topics_ready = True
        self.metrics.broker_resets.inc()
        log.warning("broker log reset detected; republishing the outbox", why=why,
                    rows=result.rowcount)
        self.poke()

    async def _purge_old(self) -> None:
        """Published rows older than the retention period are no longer needed."""
        before = self.clock.now() - self.retention
        async with self.sessions() as s, s.begin():
            await s.execute(delete(self.t.outbox).where(
                self.t.outbox.c.published_at.is_not(None), self.t.outbox.c.created_at < before))
            pending = await s.scalar(select(func.count()).select_from(self.t.outbox)
                                     .where(self.t.outbox.c.published_at.is_(None)))
        self.metrics.outbox_pending.set(pending or 0)

    async def stop(self) -> None:
        self.stopping.set()
        self.poke()
