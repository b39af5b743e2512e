"""The portal sync's tables (in processing's database, revision 0012) and every statement
on them: each dossier's record with the portal (`portal_dossiers`) and the status changes
waiting to be sent or sent (`portal_outbox`, kept PROCESSING_PORTAL_RETENTION_HOURS after
the portal took them)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.persistence.bulk import (
    delete_by_key,
    dialect_of,
    rows_by_key,
    upsert,
    values_of,
)
from services.common.persistence.db import Seq, UtcDateTime
from services.processing.portal_status import Outgoing, Track
from services.processing.tables import metadata

portal_dossiers = Table(
    "portal_dossiers", metadata,
    Column("dossier_code", String(64), primary_key=True),
    Column("last_status", Integer),                   # the last status told (1-10)
    Column("last_at", UtcDateTime()),                 # and when the dossier took it
    Column("sequence", Integer, nullable=False),      # statuses told so far
    Column("occurrences", JSON, nullable=False),      # {"4": 2, ...}: times each was told
    Column("facts", JSON),  # portal_status.Facts, of a province's dossier
    # A province's statuses waiting to go in the order of their times: [{"status", "at"}],
    # and since when (portal_status.release).
    Column("held", JSON),
    Column("held_since", UtcDateTime()),
)
Index("ix_portal_dossiers_held", portal_dossiers.c.held_since)

PENDING = "delivered_at IS NULL AND parked_at IS NULL"
PARKED = "parked_at IS NOT NULL"

portal_outbox = Table(
    "portal_outbox", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),  # the order they happened
    Column("dossier_code", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("idempotency_key", String(100), nullable=False, unique=True),
    Column("body", Text, nullable=False),  # the JSON sent, the same bytes at every attempt
    Column("created_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_error", String(500)),
    Column("delivered_at", UtcDateTime()),
    Column("parked_at", UtcDateTime()),  # refused for good by the portal
)
# The sender's query and the backlog gauge read the pending rows by seq; parked rows are
# counted on their own; delivered ones are purged by age.
Index("ix_portal_outbox_pending", portal_outbox.c.seq,
      sqlite_where=text(PENDING), postgresql_where=text(PENDING))
Index("ix_portal_outbox_parked", portal_outbox.c.seq,
      sqlite_where=text(PARKED), postgresql_where=text(PARKED))
Index("ix_portal_outbox_delivered", portal_outbox.c.delivered_at)

_pending = portal_outbox.c.delivered_at.is_(None) & portal_outbox.c.parked_at.is_(None)
_TRACKED = ("last_status", "last_at", "sequence", "occurrences", "facts", "held",
            "held_since")


class PortalRepository:
    # --- recording, in processing's transaction ------------------------------------------

    async def tracks(self, s: AsyncSession, codes: Collection[str]) -> dict[str, Track]:
        dialect = dialect_of(s)
        rows = (await s.execute(rows_by_key(portal_dossiers, "dossier_code", dialect,
                                            unique=True),
                                {"dossier_code": values_of(sorted(codes), dialect)})).mappings()
        return {r["dossier_code"]: Track.of_row(dict(r)) for r in rows}

    async def keep(self, s: AsyncSession, tracks: dict[str, Track], forget: Collection[str],
                   outgoing: list[Outgoing], now: datetime) -> None:
        """The tracks written back (code order, as the cases were locked), the forgotten
        ones deleted, the status changes queued: one statement each."""
        t = portal_dossiers
        if tracks:
            stmt = upsert(s, t)
            await s.execute(stmt.on_conflict_do_update(
                index_elements=[t.c.dossier_code],
                set_={c: stmt.excluded[c] for c in _TRACKED}),
                [tracks[code].as_row(code) for code in sorted(tracks)])
        if forget:
            dialect = dialect_of(s)
            await s.execute(delete_by_key(t, "dossier_code", dialect),
                            {"dossier_code": values_of(sorted(forget), dialect)})
        if outgoing:
            # A key queued before (it cannot be, short of a bug) is not queued twice.
            await s.execute(upsert(s, portal_outbox).on_conflict_do_nothing(
                index_elements=[portal_outbox.c.idempotency_key]),
                [{"dossier_code": o.dossier_code, "status": int(o.status),
                  "idempotency_key": o.idempotency_key, "body": o.body, "created_at": now,
                  "attempts": 0} for o in outgoing])

    # --- the sender's work ------------------------------------------------------------------

    async def holding(self, s: AsyncSession, since: datetime) -> bool:
        """Whether some track holds statuses since `since` or before (a read: no lock)."""
        t = portal_dossiers
        return await s.scalar(select(t.c.dossier_code).where(t.c.held_since <= since)
                              .limit(1)) is not None

    async def held(self, s: AsyncSession, since: datetime, limit: int) -> dict[str, Track]:
        """Tracks holding statuses since `since` or before, oldest first, locked; a track
        processing is writing now is skipped (PostgreSQL), taken next time."""
        t = portal_dossiers
        query = (select(t).where(t.c.held_since <= since).order_by(t.c.held_since)
                 .limit(limit).with_for_update(
                     **({"skip_locked": True} if s.bind.dialect.name == "postgresql" else {})))
        return {r["dossier_code"]: Track.of_row(dict(r))
                for r in (await s.execute(query)).mappings()}


    async def pending(self, s: AsyncSession, limit: int) -> list[dict[str, Any]]:
        """The oldest rows not yet taken or parked, in the order they happened."""
        o = portal_outbox.c
        return [dict(r) for r in (await s.execute(
            select(o.seq, o.dossier_code, o.status, o.idempotency_key, o.body, o.attempts,
                   o.next_attempt_at).where(_pending).order_by(o.seq).limit(limit)
        )).mappings()]

    async def settle(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Each row's outcome (seq, attempts, next_attempt_at, last_error, delivered_at,
        parked_at), one executemany."""
        if not rows:
            return
        o = portal_outbox.c
        names = ("attempts", "next_attempt_at", "last_error", "delivered_at", "parked_at")
        await s.execute(update(portal_outbox).where(o.seq == bindparam("b_seq")).values(
            {n: bindparam(f"b_{n}") for n in names}),
            [{f"b_{k}": row[k] for k in ("seq", *names)} for row in rows])

    async def retry_now(self, s: AsyncSession) -> None:
        """The portal is back: rows waiting out their own backoff go at once."""
        await s.execute(update(portal_outbox).where(
            _pending, portal_outbox.c.next_attempt_at.is_not(None)).values(next_attempt_at=None))

    async def counts(self, s: AsyncSession) -> tuple[int, int, datetime | None]:
        """Pending rows, parked rows and the oldest pending row's time, each by its index."""
        o = portal_outbox.c
        pending = select(func.count()).select_from(portal_outbox).where(_pending)
        oldest = select(func.min(o.created_at)).where(_pending)
        parked = select(func.count()).select_from(portal_outbox).where(o.parked_at.is_not(None))
        row = (await s.execute(select(pending.scalar_subquery(), parked.scalar_subquery(),
                                      oldest.scalar_subquery()))).one()
        return int(row[0]), int(row[1]), row[2]

    async def purge(self, s: AsyncSession, before: datetime) -> int:
        """Rows the portal took before `before` are no longer needed."""
        result = await s.execute(delete(portal_outbox).where(
            portal_outbox.c.delivered_at < before))
        return int(result.rowcount or 0)
