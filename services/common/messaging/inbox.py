"""The inbox: the event ids a consumer applied, recorded in the same transaction as the
effect. Same id and same content: already applied, skip. Same id, other content: an error
to surface (an event id was reused for different content).

What a record's content is depends on who writes its topic (the registry's owner,
wiring.subscriptions):
- written from outside (provinces): the parsed envelope (`content_hash`), not its bytes: the
  same event serialized again (keys in another order, other spacing, characters escaped or
  not, a default written out or left out) is the same event, as a province that resends
  what had no answer may write it;
- written by a service's relay: the record's bytes (`payload_hash`). A relay publishes the
  bytes its outbox stored when the event was made, every time (a redelivery, a publish
  again after a broker lost its log, a dead letter replayed): the same event is never
  written twice any other way, and hashing the bytes spares writing the model again, the
  larger part of the content hash's cost (`python -m bench.inbox_hash`).
Rows recorded under another rule hold another hash of the same event: the other of those
two, an earlier canonical form (`content_hash_v1`, the data as received with its keys
sorted); a record whose hash differs from a row's is still a duplicate when one of those
matches (`same_content`), so a redelivery of an event recorded then is never refused as
reused. They are computed only then, for the rare id seen again."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope, InboundEnvelope
from services.common.persistence.bulk import (
    by_key,
    defer_inserts,
    dialect_of,
    values_of,
)
from services.common.persistence.db import RuntimeTables


def payload_hash(raw: bytes) -> str:
    """The hash of a record's bytes: what rows recorded before content hashes hold."""
    return hashlib.sha256(raw).hexdigest()


def content_hash(envelope: BaseModel) -> str:
    """SHA-256 of the parsed envelope as its model writes it: every attribute and the typed
    event in the models' fixed field order, times as validated (the envelope's in UTC),
    compact, UTF-8 unescaped; fields holding their default left out, so a default written
    out or left out, or an optional field a later contract version adds, changes nothing.
    Written by pydantic-core from the model the consumer already holds: no second parse."""
    return hashlib.sha256(envelope.__pydantic_serializer__.to_json(
        envelope, exclude_defaults=True)).hexdigest()


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


def content_hash_v1(envelope: Envelope) -> str:
    """The canonical form rows were recorded with before `content_hash`: the envelope's
    attributes in a fixed order, the time in UTC, `data` as received (a dict) with every
    object's keys sorted, compact, UTF-8 unescaped."""
    canonical = to_json({
        "id": str(envelope.id), "type": envelope.type, "source": envelope.source,
        "subject": envelope.subject, "time": envelope.time, "agencycode": envelope.agencycode,
        "datacontenttype": envelope.datacontenttype, "dataschema": envelope.dataschema,
        "data": _keys_sorted(envelope.data)})
    return hashlib.sha256(canonical).hexdigest()


def same_content(recorded: str, raw: bytes, envelope: BaseModel) -> bool:
    """Whether a row's hash made under another rule is this record's (`envelope`, parsed
    from `raw`): its bytes', its content's, or its content's by the earlier canonical
    form."""
    if recorded == payload_hash(raw) or recorded == content_hash(envelope):
        return True
    try:
        return recorded == content_hash_v1(InboundEnvelope.model_validate_json(raw))
    except ValueError:
        return False


@dataclass(frozen=True)
class Seen:
    event_id: str
    payload_hash: str


class Inbox:
    def __init__(self, consumer: str, tables: RuntimeTables) -> None:
        self.consumer = consumer
        self.table = tables.inbox
        self._seen: dict[str, Select[tuple[str, str]]] = {}

    async def seen(self, session: AsyncSession, event_ids: list[str]) -> dict[str, str]:
        """event id -> recorded hash, for the ids already applied: one statement for the
        batch, the same text whatever its size."""
        if not event_ids:
            return {}
        dialect = dialect_of(session)
        statement = self._seen.get(dialect)
        if statement is None:
            statement = self._seen[dialect] = self._probe(dialect)
        rows = await session.execute(statement, {"ids": values_of(event_ids, dialect),
                                                 "consumer": self.consumer})
        return {event_id: digest for event_id, digest in rows}

    def _probe(self, dialect: str) -> Select[tuple[str, str]]:
        """One primary-key lookup per id on PostgreSQL (bulk.by_key): as `consumer = $1 AND
        event_id = ANY($2)` it read every row of the consumer's inbox each batch while the
        table's statistics were missing (over a million rows in a 3,000-dossier bench run)."""
        t = self.table.c
        return by_key(t.event_id, dialect, "ids", lambda c: select(t.event_id, t.payload_hash)
                      .where(t.consumer == bindparam("consumer"), c), unique=True)

    async def record(self, session: AsyncSession, items: list[tuple[str, str, str]],
                     at: datetime) -> None:
        """items: (event id, content hash, topic)."""
        consumer = self.consumer
        defer_inserts(session, self.table, [
            {"consumer": consumer, "event_id": i, "payload_hash": h, "topic": t,
             "applied_at": at} for i, h, t in items])
