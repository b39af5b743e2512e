"""The runtime's gauges that need a look at the database or the consumer: outbox backlog
and the age of its oldest row (one query), consumer lag per assigned partition (no query:
the consumer knows its positions and the high watermarks of its last fetches). Refreshed
by a periodic job (Runtime.start), never per scrape or per event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.common.clock import Clock
from services.common.observability.metrics import RuntimeMetrics
from services.common.persistence.db import RuntimeTables

POSITION_WAIT = 1.0  # seconds: a partition with no position yet (being reset) is skipped


class RuntimeGauges:
    def __init__(self, metrics: RuntimeMetrics, sessions: async_sessionmaker[AsyncSession],
                 tables: RuntimeTables, clock: Clock,
                 consumer: Callable[[], AIOKafkaConsumer | None]) -> None:
        self.metrics = metrics
        self.sessions = sessions
        self.outbox = tables.outbox
        self.pending = tables.pending
        self.clock = clock
        self.consumer = consumer  # a function: the consumer is made after the gauges

    async def refresh(self) -> None:
        await self.refresh_outbox()
        await self.refresh_lag()

    async def refresh_outbox(self) -> None:
        o, q = self.outbox.c, self.pending.c
        async with self.sessions() as s:
            pending, oldest = (await s.execute(  # the queue's rows, their times the outbox's
                select(func.count(), func.min(o.created_at))
                .join_from(self.pending, self.outbox, o.seq == q.seq))).one()
        age = (self.clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        self.metrics.outbox_pending.set(int(pending))
        self.metrics.outbox_oldest_seconds.set(max(age, 0.0))

    async def refresh_lag(self) -> None:
        consumer = self.consumer()
        if consumer is None:
            return
        lags = await consumer_lag(consumer)
        # No await from here on: a scrape never sees the set half replaced.
        gauge = self.metrics.consumer_lag
        gauge.clear()
        for (topic, partition), lag in lags.items():
            gauge.labels(topic=topic, partition=str(partition)).set(lag)


async def consumer_lag(consumer: AIOKafkaConsumer) -> dict[tuple[str, int], int]:
    """Records between the consumer's position and the high watermark its last fetch saw,
    per assigned partition; a partition not fetched from yet is left out (unknown, not 0)."""
    lags: dict[tuple[str, int], int] = {}
    for tp in sorted(consumer.assignment()):
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        try:
            position = await asyncio.wait_for(consumer.position(tp), POSITION_WAIT)
        except Exception:  # revoked or resetting meanwhile: the next refresh sees it
            continue
        lags[(tp.topic, tp.partition)] = max(highwater - position, 0)
    return lags
