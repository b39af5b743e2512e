"""Notification's repository in memory: the methods the notifier's batch calls (contacts,
dossier facts, the send queue), so its use case runs without a database."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from services.notification.dossier import WatchedDossier
from services.notification.message import Message
from services.notification.repository import NotificationRepository

# The fake takes no session; the use case only passes it through.
NO_SESSION = cast(AsyncSession, None)


class FakeNotificationRepository(NotificationRepository):
    """What the notifier reads and writes, kept in dicts. Other methods are the real ones
    and fail without a session: a use case calling them needs its own fake."""

    def __init__(self) -> None:
        self.facts: dict[str, WatchedDossier] = {}
        self.kept_contacts: dict[str, dict[str, Any]] = {}
        self.queue: dict[str, Message] = {}  # by dedup key, as the unique index keeps them
        self.written: list[list[str]] = []  # the codes each write-back changed

    async def keep_contacts(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.kept_contacts[row["applicant_ref"]] = dict(row)

    async def dossiers(self, s: AsyncSession, codes: Collection[str]
                       ) -> dict[str, WatchedDossier]:
        for code in codes:
            self.facts.setdefault(code, WatchedDossier(code))
        # Copies, as rows read from a database: only `write_dossiers` changes what is kept.
        return {code: replace(self.facts[code]) for code in sorted(codes)}

    async def write_dossiers(self, s: AsyncSession, dossiers: list[WatchedDossier]) -> None:
        self.written.append([d.code for d in dossiers])
        for d in dossiers:
            self.facts[d.code] = replace(d)

    async def enqueue(self, s: AsyncSession, messages: list[Message]) -> None:
        for m in messages:
            self.queue.setdefault(m.dedup_key, m)  # a redelivery's message is kept as it is
