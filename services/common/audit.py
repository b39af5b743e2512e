"""The audit trail, written once: who did what, when, to which dossier, from where.

Every officer action and every read of personal data appends one row to the service's
`audit_log` (db.py). Each row's hash is SHA-256 over the previous row's hash and the row's
canonical JSON, so editing, inserting or deleting a row breaks the chain from that row on;
`python -m services.<name> audit verify` finds the first broken seq.

An action's row is written in the action's own transaction (they commit or vanish
together); a read's row in a small transaction of its own, before the data is answered.
Appends are serialised per database (PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE
already is), so two replicas never fork the chain; seq is the primary key besides.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from services.common.clock import Clock

GENESIS = "0" * 64  # the "previous hash" of the first row
ANONYMOUS = "anonymous"  # a consumer or job acting with no caller
FIELDS = ("seq", "at", "actor", "action", "dossier_code", "target", "address")
# Column widths (db.py): a value is clipped rather than failing the action it records.
_WIDTH = {"actor": 200, "action": 100, "dossier_code": 64, "target": 200, "address": 64}


# --- the chain, pure ----------------------------------------------------------------------


def canonical(row: Mapping[str, Any]) -> bytes:
    """The row's hashed form: its fields (not its hash) as sorted, compact JSON, the time
    as UTC ISO with microseconds, so every database gives back the same bytes."""
    body = {k: row[k] for k in FIELDS}
    body["at"] = row["at"].astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def chain_hash(previous: str, row: Mapping[str, Any]) -> str:
    return hashlib.sha256(previous.encode("ascii") + canonical(row)).hexdigest()


def _clip(value: str | None, width: int) -> str | None:
    return None if value is None else value[:width]


def next_row(head: Mapping[str, Any] | None, *, at: datetime, actor: str | None, action: str,
             dossier_code: str | None, target: str | None, address: str | None
             ) -> dict[str, Any]:
    """The row that follows `head` (the last row, or None for an empty log)."""
    row: dict[str, Any] = {
        "seq": (head["seq"] if head else 0) + 1, "at": at.astimezone(UTC),
        "actor": _clip(actor or ANONYMOUS, _WIDTH["actor"]),
        "action": _clip(action, _WIDTH["action"]),
        "dossier_code": _clip(dossier_code, _WIDTH["dossier_code"]),
        "target": _clip(target, _WIDTH["target"]),
        "address": _clip(address, _WIDTH["address"])}
    row["hash"] = chain_hash(head["hash"] if head else GENESIS, row)
    return row


@dataclass(frozen=True)
class Broken:
    seq: int
    reason: str


class ChainCheck:
    """Feeds rows in seq order (in chunks, so a long log is never loaded whole) and stops at
    the first one that does not follow from the one before."""

    def __init__(self) -> None:
        self.count = 0
        self.broken: Broken | None = None
        self._seq = 0
        self._hash = GENESIS

    def feed(self, rows: Iterable[Mapping[str, Any]]) -> Broken | None:
        for row in rows:
            if self.broken:
                break
            if row["seq"] != self._seq + 1:  # this seq deleted, or renumbered
                self.broken = Broken(self._seq + 1, f"row missing (next is seq {row['seq']})")
            elif row["hash"] != chain_hash(self._hash, row):
                self.broken = Broken(row["seq"], "hash does not match the row")
            else:
                self.count, self._seq, self._hash = self.count + 1, row["seq"], row["hash"]
        return self.broken


def verify_rows(rows: Iterable[Mapping[str, Any]]) -> Broken | None:
    return ChainCheck().feed(rows)


@dataclass(frozen=True)
class Verdict:
    count: int  # rows checked and sound
    broken: Broken | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def describe(self) -> str:
        if self.broken is None:
            return f"OK ({self.count} rows)"
        return f"BROKEN at seq {self.broken.seq}: {self.broken.reason}"


# --- the log, over the database -----------------------------------------------------------


def caller(request: Request | None) -> str | None:
    """Where the request came from (the peer; a proxy's forwarded header is not trusted)."""
    return request.client.host if request is not None and request.client else None


class AuditLog:
    def __init__(self, service: str, table: Table, clock: Clock,
                 sessions: async_sessionmaker[AsyncSession]) -> None:
        self.table = table
        self.clock = clock
        self.sessions = sessions
        # One advisory lock per service's chain, a stable 64-bit key.
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"audit_log:{service}".encode()).digest()[:8], "big", signed=True)

    async def record(self, s: AsyncSession, request: Request | None, *, actor: str | None,
                     action: str, dossier_code: str | None = None,
                     target: str | None = None) -> None:
        """Append in the caller's transaction (after its effect: the chain's lock is taken
        last and held only to commit)."""
        if s.get_bind().dialect.name == "postgresql":
            await s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key})
        # The token's user, never what a body claims; the given actor only without one.
        who = getattr(request.state, "caller", None) if request is not None else None
        actor = who.user if who is not None else actor
        t = self.table
        head = (await s.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1))
                ).mappings().first()
        await s.execute(t.insert().values(**next_row(
            head, at=self.clock.now(), actor=actor, action=action, dossier_code=dossier_code,
            target=target, address=caller(request))))

    async def read(self, request: Request | None, *, action: str, dossier_code: str | None,
                   target: str | None = None, actor: str | None = None) -> None:
        """A read of personal data, recorded in its own transaction before it is answered."""
        async with self.sessions() as s, s.begin():
            await self.record(s, request, actor=actor, action=action,
                              dossier_code=dossier_code, target=target)

    async def verify(self, chunk: int = 1000) -> Verdict:
        t = self.table
        check = ChainCheck()
        after = 0
        async with self.sessions() as s:
            while True:
                rows = (await s.execute(select(t).where(t.c.seq > after)
                                        .order_by(t.c.seq).limit(chunk))).mappings().all()
                if not rows or check.feed(rows):
                    break
                after = rows[-1]["seq"]
        return Verdict(check.count, check.broken)
