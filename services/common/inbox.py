"""The inbox: the event ids a consumer applied, recorded in the same transaction as the
effect. Same id and same content: already applied, skip. Same id, other content: an error
to surface (an event id was reused for different content).

Content is the parsed envelope (`content_hash`), not its bytes: the same event serialized
again (keys in another order, other spacing, characters escaped or not) is the same event.
Rows recorded before hold the hash of the record's bytes (`payload_hash`); a record whose
content hash differs from a row's is still a duplicate when its bytes hash to the row's,
so a redelivery of an event recorded then is never refused as reused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope
from services.common.bulk import defer_insert
from services.common.db import RuntimeTables


def payload_hash(raw: bytes) -> str:
    """The hash of a record's bytes: what rows recorded before content hashes hold."""
    return hashlib.sha256(raw).hexdigest()


def _keys_sorted(node: dict[str, Any]) -> dict[str, Any]:
    # Only containers are descended into: a call per leaf would double the cost.
    out = {}
    for key in sorted(node):
        value = node[key]
        kind = type(value)
        if kind is dict:
            value = _keys_sorted(value)
        elif kind is list:
            value = _items_sorted(value)
        out[key] = value
    return out


def _items_sorted(items: list[Any]) -> list[Any]:
    return [_keys_sorted(v) if type(v) is dict else _items_sorted(v) if type(v) is list else v
            for v in items]


def content_hash(envelope: Envelope) -> str:
    """SHA-256 of the envelope as one canonical JSON text: its attributes in a fixed order,
    the time in UTC (the envelope converts it), `data` with every object's keys sorted,
    compact, UTF-8 unescaped. pydantic-core writes it (the consumer's hot path: json.dumps
    is slower)."""
    canonical = to_json({
        "id": str(envelope.id), "type": envelope.type, "source": envelope.source,
        "subject": envelope.subject, "time": envelope.time, "agencycode": envelope.agencycode,
        "datacontenttype": envelope.datacontenttype, "dataschema": envelope.dataschema,
        "data": _keys_sorted(envelope.data)})
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class Seen:
    event_id: str
    payload_hash: str


class Inbox:
    def __init__(self, consumer: str, tables: RuntimeTables) -> None:
        self.consumer = consumer
        self.table = tables.inbox

    async def seen(self, session: AsyncSession, event_ids: list[str]) -> dict[str, str]:
        """event id -> recorded hash, for the ids already applied."""
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
        """items: (event id, content hash, topic)."""
        for i, h, t in items:
            defer_insert(session, self.table, {"consumer": self.consumer, "event_id": i,
                                               "payload_hash": h, "topic": t, "applied_at": at})
