"""The inbox: the event ids a consumer applied, recorded in the same transaction as the
effect. Same id and same payload hash: already applied, skip. Same id, other hash: an
error to surface (an event id was reused for different content)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bulk import defer_insert
from services.common.db import RuntimeTables


def payload_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Seen:
    event_id: str
    payload_hash: str


class Inbox:
    def __init__(self, consumer: str, tables: RuntimeTables) -> None:
        self.consumer = consumer
        self.table = tables.inbox

    async def seen(self, session: AsyncSession, event_ids: list[str]) -> dict[str, str]:
        """event id -> recorded payload hash, for the ids already applied."""
        found: dict[str, str] = {}
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start:start + 500]
            rows = await session.execute(
                select(self.table.c.event_id, self.table.c.payload_hash).where(
                    self.table.c.consumer == self.consumer, self.table.c.event_id.in_(chunk)))
            found.update({r.event_id: r.payload_hash for r in rows})
        return found

    async def record(self, session: AsyncSession, items: list[tuple[str, str, str]],
                     at: datetime) -> None:
        """items: (event id, payload hash, topic)."""
        for i, h, t in items:
            defer_insert(session, self.table, {"consumer": self.consumer, "event_id": i,
                                               "payload_hash": h, "topic": t, "applied_at": at})
