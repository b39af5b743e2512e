"""Every SQL statement of notification: dossier facts, contacts, the send queue (which is
also the inbox), escalations and digests."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.persistence.bulk import (
    dialect_of,
    one_of,
    rows_by_key,
    values_of,
    write_rows,
)
from services.notification import tables
from services.notification.domain import PENDING
from services.notification.dossier import WatchedDossier
from services.notification.message import Message

D, C, M = tables.dossiers, tables.contacts, tables.messages
# The dossier's columns written back (its code is the key), and a message's columns: the
# aggregates' fields bear the columns' names.
FACTS = tuple(c.name for c in D.columns if c.name != "code")
MESSAGE = tuple(c.name for c in M.columns)


def watched_dossier(row: Any) -> WatchedDossier:
    return WatchedDossier(**row)


def message(row: Any) -> Message:
    return Message(**row)


def message_values(message: Message) -> dict[str, Any]:
    return {name: getattr(message, name) for name in MESSAGE}


def _lock(s: AsyncSession) -> dict[str, Any]:
    """Row locks that other replicas skip (PostgreSQL); SQLite's BEGIN IMMEDIATE already
    holds the one write lock."""
    return {"skip_locked": True} if s.bind.dialect.name == "postgresql" else {}


class NotificationRepository:
    # --- facts and contacts, a consumer batch at a time ----------------------------------

    async def keep_contacts(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        await write_rows(s, C, rows, "replace", ("applicant_ref",))

    async def dossiers(self, s: AsyncSession, codes: Collection[str]
                       ) -> dict[str, WatchedDossier]:
        """Dossiers of these codes, created if absent, locked in code order for writing
        back."""
        if not codes:
            return {}
        ordered = sorted(codes)
        await write_rows(s, D, [{"code": c} for c in ordered], "keep", ("code",))
        dialect = dialect_of(s)
        rows = await s.execute(rows_by_key(D, "code", dialect, unique=True, lock=True),
                               {"code": values_of(ordered, dialect)})
        return {r["code"]: watched_dossier(r) for r in rows.mappings()}

    async def write_dossiers(self, s: AsyncSession, dossiers: list[WatchedDossier]) -> None:
        await write_rows(s, D, [{n: getattr(d, n) for n in ("code", *FACTS)} for d in dossiers],
                         "update", ("code",))

    async def enqueue(self, s: AsyncSession, messages: list[Message]) -> None:
        """One statement for the batch; a message already queued (a redelivery) is kept
        as it is."""
        await write_rows(s, M, [message_values(m) for m in messages], "keep", ("dedup_key",))

    # --- the sender ---------------------------------------------------------------------

    async def claim(self, s: AsyncSession, now: datetime, limit: int, lease_until: datetime
                    ) -> list[Message]:
        """Due messages, taken for one pass: their next try moves to the lease's end, so a
        crashed sender's messages are tried again then, and other replicas skip them now."""
        query = (select(M).where(M.c.status == PENDING, M.c.not_before <= now)
                 .order_by(M.c.not_before).limit(limit).with_for_update(**_lock(s)))
        taken = [message(r) for r in (await s.execute(query)).mappings()]
        if taken:
            # One statement text whatever the count (bulk.one_of): an IN list prepared a new
            # statement on each connection for each count, a slow climb of the service's
            # memory (asyncpg keeps 100 per connection) and of the server's.
            dialect = dialect_of(s)
            await s.execute(update(M).where(one_of(M.c.id, dialect, "ids")).values(
                attempts=M.c.attempts + 1, not_before=lease_until),
                {"ids": values_of([m.id for m in taken], dialect)})
        for m in taken:
            m.attempts += 1
        return taken

    async def hold(self, s: AsyncSession, messages: list[Message]) -> None:
        """Just-claimed messages put back, due at their `not_before`, the claim's attempt
        undone (same transaction as the claim: the rows are still locked)."""
        if messages:
            await s.execute(update(M).where(
                M.c.id == bindparam("b_id"), M.c.attempts == bindparam("b_attempts"),
                M.c.status == PENDING).values(
                attempts=M.c.attempts - 1, not_before=bindparam("b_not_before")),
                [{"b_id": m.id, "b_attempts": m.attempts, "b_not_before": m.not_before}
                 for m in messages])

    async def contacts(self, s: AsyncSession, refs: Collection[str]
                       ) -> dict[str, dict[str, Any]]:
        if not refs:
            return {}
        dialect = dialect_of(s)
        rows = await s.execute(rows_by_key(C, "applicant_ref", dialect, unique=True),
                               {"applicant_ref": values_of(sorted(refs), dialect)})
        return {r["applicant_ref"]: dict(r) for r in rows.mappings()}

    async def settle(self, s: AsyncSession, messages: list[Message]) -> None:
        """Every message's outcome in one statement (bulk.write_rows; an executemany ran
        one UPDATE per message on PostgreSQL); a row another pass took meanwhile (its
        attempts moved on) is left to that pass."""
        await write_rows(s, M, [
            {"id": m.id, "attempts": m.attempts, "status": m.status,
             "not_before": m.not_before, "last_error": m.last_error, "sent_at": m.sent_at}
            for m in messages], "update", ("id", "attempts"), still={"status": PENDING})

    # --- escalation and digests ---------------------------------------------------------

    async def escalations_due(self, s: AsyncSession, now: datetime, limit: int
                              ) -> list[WatchedDossier]:
        query = (select(D).where(D.c.escalate_at <= now, D.c.escalated_at.is_(None),
                                 D.c.closed_at.is_(None))
                 .order_by(D.c.escalate_at).limit(limit).with_for_update(**_lock(s)))
        return [watched_dossier(r) for r in (await s.execute(query)).mappings()]

    async def mark_escalated(self, s: AsyncSession, codes: list[str], now: datetime) -> None:
        if codes:
            dialect = dialect_of(s)
            await s.execute(update(D).where(one_of(D.c.code, dialect, "codes"))
                            .values(escalated_at=now), {"codes": values_of(codes, dialect)})

    async def watched(self, s: AsyncSession) -> list[WatchedDossier]:
        """Open dossiers that are near their due time or overdue, for the digests."""
        query = select(D).where(D.c.closed_at.is_(None), D.c.agency_code.is_not(None),
                                or_(D.c.near_at.is_not(None), D.c.overdue_at.is_not(None)))
        return [watched_dossier(r) for r in (
            await s.execute(query.order_by(D.c.due_at, D.c.code))).mappings()]

    # --- reading ------------------------------------------------------------------------

    async def inbox(self, s: AsyncSession, recipient: str, unread_only: bool, limit: int,
                    within: Collection[str] | None = None) -> list[Message]:
        """`within`: only items about these agencies (None: all), filtered before the limit."""
        query = select(M).where(M.c.recipient == recipient, M.c.channel == "inbox")
        if within is not None:
            query = query.where(M.c.agency_code.in_(within))
        if unread_only:
            query = query.where(M.c.read_at.is_(None))
        query = query.order_by(M.c.created_at.desc(), M.c.id).limit(limit)
        return [message(r) for r in (await s.execute(query)).mappings()]

    async def mark_read(self, s: AsyncSession, message_id: str, now: datetime,
                        recipient: str | None = None, within: Collection[str] | None = None
                        ) -> Message | None:
        """`recipient`: only that recipient's item (None: anyone's); `within`: only an item
        about these agencies (None: any)."""
        mine = [M.c.id == message_id, M.c.channel == "inbox"]
        if recipient is not None:
            mine.append(M.c.recipient == recipient)
        if within is not None:
            mine.append(M.c.agency_code.in_(within))
        await s.execute(update(M).where(*mine, M.c.read_at.is_(None)).values(read_at=now))
        found = (await s.execute(select(M).where(*mine))).mappings().first()
        return message(found) if found else None

    async def of_dossier(self, s: AsyncSession, code: str) -> list[Message]:
        query = select(M).where(M.c.dossier_code == code).order_by(M.c.created_at, M.c.id)
        return [message(r) for r in (await s.execute(query)).mappings()]
