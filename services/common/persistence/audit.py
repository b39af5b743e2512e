"""The audit trail, written once: who did what, when, to which dossier, from where.

Every officer action and every read of personal data appends one row to the service's
`audit_log` (db.py). Each row's hash is an HMAC-SHA256, under a key the database does not
hold (`ONESTOP_AUDIT_KEY`), of the previous row's hash and the row's canonical JSON: editing,
inserting or deleting a row breaks the chain from that row on, and whoever can write the
table but lacks the key cannot compute a chain that verifies again. `key_id` names the key
(several are listed for rotation: the first keys new rows, every one verifies). Rows written
before the chain was keyed have no `key_id` and a plain SHA-256 hash; they still verify, but
never after a keyed row: a row turned back into the unkeyed form is a rewritten one.

A key does not see rows deleted from the end. So the chain's head is anchored outside the
table: every `<SERVICE>_AUDIT_ANCHOR_SECONDS` (and at a clean stop) a line
`{service, seq, hash, at, key_id, mac}`, its own HMAC, is appended to
`<ONESTOP_VAR_DIR>/audit/<service>.anchors`, a file the database cannot rewrite (and logged,
so a log collector keeps a copy off the host). `python -m services.<name> audit verify`
checks every anchor line, the chain from its first row, each anchored seq against the hash
the anchor names, and that no anchor names a seq beyond the table's end; it names the first
broken seq. Only rows newer than the last anchor can vanish unseen.

An action's row is written in the action's own transaction (they commit or vanish
together); a read's row in a small transaction of its own, before the data is answered.
Appends and anchors are serialised per database (PostgreSQL advisory lock; SQLite's BEGIN
IMMEDIATE already is), so two replicas never fork the chain, and an anchor names a head
that was committed; seq is the primary key besides.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from services.common.clock import Clock
from services.common.observability.logs import get_logger
from services.common.sealing import key_id, parse_keys
from services.common.settings import ServiceSettings

log = get_logger(__name__)

GENESIS = "0" * 64  # the "previous hash" of the first row
ANONYMOUS = "anonymous"  # a consumer or job acting with no caller
FIELDS = ("seq", "at", "actor", "action", "dossier_code", "target", "address")
# Column widths (db.py): a value is clipped rather than failing the action it records.
_WIDTH = {"actor": 200, "action": 100, "dossier_code": 64, "target": 200, "address": 64}
# What each MAC is of, so a row's MAC can never pass for an anchor's, or the reverse.
_ROW = b"onestop-audit-row-v1\n"
_ANCHOR = b"onestop-audit-anchor-v1\n"


# --- the chain, pure ----------------------------------------------------------------------


class ChainKeys:
    """The chain's keys (ONESTOP_AUDIT_KEY): the first keys new rows and anchors, every one
    verifies; each is known by its key id (the first 8 hex digits of its SHA-256)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one key is needed (ONESTOP_AUDIT_KEY)")
        self._keys = {key_id(k): k.strip().encode() for k in keys}
        self.current = key_id(keys[0])

    @classmethod
    def from_secret(cls, secret: str) -> ChainKeys:
        return cls(parse_keys(secret))

    def mac(self, kid: str, domain: bytes, message: bytes) -> str | None:
        """HMAC-SHA256 under the key `kid`; None when no configured key has that id."""
        key = self._keys.get(kid)
        return None if key is None else hmac.new(key, domain + message,
                                                 hashlib.sha256).hexdigest()


def canonical(row: Mapping[str, Any]) -> bytes:
    """The row's hashed form: its fields (not its hash) as sorted, compact JSON, the time
    as UTC ISO with microseconds, so every database gives back the same bytes."""
    body = {k: row[k] for k in FIELDS}
    body["at"] = row["at"].astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def chain_hash(previous: str, row: Mapping[str, Any], keys: ChainKeys | None = None
               ) -> str | None:
    """The row's hash after `previous`: keyed when the row names a key (None when `keys`
    has no such key), plain SHA-256 for a row written before the chain was keyed."""
    body = previous.encode("ascii") + canonical(row)
    kid = row.get("key_id")
    if kid is None:
        return hashlib.sha256(body).hexdigest()
    return None if keys is None else keys.mac(kid, _ROW, body)


def _clip(value: str | None, width: int) -> str | None:
    return None if value is None else value[:width]


def next_row(head: Mapping[str, Any] | None, *, at: datetime, actor: str | None, action: str,
             dossier_code: str | None, target: str | None, address: str | None,
             keys: ChainKeys | None = None) -> dict[str, Any]:
    """The row that follows `head` (the last row, or None for an empty log), keyed with the
    first key of `keys` (None: the unkeyed form of rows written before keys, for tests)."""
    row: dict[str, Any] = {
        "seq": (head["seq"] if head else 0) + 1, "at": at.astimezone(UTC),
        "actor": _clip(actor or ANONYMOUS, _WIDTH["actor"]),
        "action": _clip(action, _WIDTH["action"]),
        "dossier_code": _clip(dossier_code, _WIDTH["dossier_code"]),
        "target": _clip(target, _WIDTH["target"]),
        "address": _clip(address, _WIDTH["address"]),
        "key_id": keys.current if keys is not None else None}
    row["hash"] = chain_hash(head["hash"] if head else GENESIS, row, keys)
    return row


@dataclass(frozen=True)
class Anchor:
    """A checkpoint of the chain's head, kept outside the database, with its own MAC."""

    service: str
    seq: int
    hash: str
    at: datetime
    key_id: str
    mac: str = ""

    def body(self) -> bytes:
        return json.dumps({"service": self.service, "seq": self.seq, "hash": self.hash,
                           "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
                           "key_id": self.key_id}, sort_keys=True,
                          separators=(",", ":")).encode()

    @classmethod
    def made(cls, keys: ChainKeys, service: str, seq: int, hash: str, at: datetime) -> Anchor:
        anchor = cls(service, seq, hash, at.astimezone(UTC), keys.current)
        return replace(anchor, mac=keys.mac(keys.current, _ANCHOR, anchor.body()) or "")

    def line(self) -> bytes:
        return json.dumps({**json.loads(self.body()), "mac": self.mac}, sort_keys=True,
                          separators=(",", ":")).encode() + b"\n"

    @classmethod
    def parse(cls, line: bytes) -> Anchor:
        """An anchor from its line (ValueError when it is not one)."""
        try:
            d = json.loads(line)
            return cls(str(d["service"]), int(d["seq"]), str(d["hash"]),
                       datetime.fromisoformat(d["at"]), str(d["key_id"]), str(d["mac"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError("not an anchor line") from exc

    def sound(self, keys: ChainKeys, service: str) -> bool:
        expected = keys.mac(self.key_id, _ANCHOR, self.body())
        return (self.service == service and expected is not None
                and hmac.compare_digest(expected.encode(), self.mac.encode()))


@dataclass(frozen=True)
class Broken:
    seq: int
    reason: str


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class ChainCheck:
    """Feeds rows in seq order (in chunks, so a long log is never loaded whole) and stops at
    the first one that does not follow from the one before, or differs from an anchor;
    `finish()` then checks that no anchor names a row beyond the last one."""

    def __init__(self, keys: ChainKeys | None = None, anchors: Iterable[Anchor] = ()) -> None:
        self.keys = keys
        self.count = 0
        self.broken: Broken | None = None
        self._seq = 0
        self._hash = GENESIS
        self._keyed = False  # a keyed row was seen: every later one must be keyed too
        self._matched = 0  # the last anchored seq found as anchored
        self.anchors: dict[int, list[Anchor]] = {}
        for anchor in anchors:
            self.anchors.setdefault(anchor.seq, []).append(anchor)

    def _fault(self, row: Mapping[str, Any]) -> str | None:
        kid = row.get("key_id")
        if kid is None and self._keyed:
            return "unkeyed hash after keyed rows: rewritten without the key"
        expected = chain_hash(self._hash, row, self.keys)
        if expected is None:
            return f"keyed with key {kid}, which ONESTOP_AUDIT_KEY does not hold"
        if row["hash"] != expected:
            return "hash does not match the row"
        for anchor in self.anchors.get(row["seq"], ()):
            if anchor.hash != row["hash"]:
                return (f"not the hash anchored at {_when(anchor.at)}: a row of seq "
                        f"{self._matched + 1}..{row['seq']} was rewritten, deleted or added")
        return None

    def feed(self, rows: Iterable[Mapping[str, Any]]) -> Broken | None:
        for row in rows:
            if self.broken:
                break
            if row["seq"] != self._seq + 1:  # this seq deleted, or renumbered
                self.broken = Broken(self._seq + 1, f"row missing (next is seq {row['seq']})")
                break
            fault = self._fault(row)
            if fault is not None:
                self.broken = Broken(row["seq"], fault)
                break
            self.count, self._seq, self._hash = self.count + 1, row["seq"], row["hash"]
            self._keyed = self._keyed or row.get("key_id") is not None
            if row["seq"] in self.anchors:
                self._matched = row["seq"]
        return self.broken

    def finish(self) -> Broken | None:
        """After the last row: an anchor beyond it means the newest rows were deleted."""
        if self.broken is None and self.anchors and max(self.anchors) > self._seq:
            top = max(self.anchors)
            at = max(a.at for a in self.anchors[top])
            self.broken = Broken(self._seq + 1, (
                f"rows {self._seq + 1}..{top} missing: the anchor of {_when(at)} names seq "
                f"{top}, the log ends at {self._seq}"))
        return self.broken


def verify_rows(rows: Iterable[Mapping[str, Any]], keys: ChainKeys | None = None,
                anchors: Iterable[Anchor] = ()) -> Broken | None:
    check = ChainCheck(keys, anchors)
    return check.feed(rows) or check.finish()


@dataclass(frozen=True)
class Verdict:
    count: int  # rows checked and sound
    broken: Broken | None
    last_anchor: Anchor | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def describe(self) -> str:
        if self.broken is not None:
            return f"BROKEN at seq {self.broken.seq}: {self.broken.reason}"
        if self.last_anchor is None:
            return (f"OK ({self.count} rows; no anchor yet, so rows deleted from the end "
                    "would not be seen)")
        return (f"OK ({self.count} rows; anchored up to seq {self.last_anchor.seq} at "
                f"{_when(self.last_anchor.at)})")


# --- the anchors, outside the database ----------------------------------------------------


@dataclass
class AnchorFile:
    """`<var>/audit/<service>.anchors`: one anchor a line, appended, never rewritten."""

    path: Path
    service: str
    keys: ChainKeys
    _tail: int = field(default=4096, repr=False)

    @classmethod
    def of(cls, var_dir: Path, service: str, keys: ChainKeys) -> AnchorFile:
        return cls(Path(var_dir) / "audit" / f"{service}.anchors", service, keys)

    def _last_line(self) -> bytes | None:
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - self._tail))
            lines = [line for line in f.read().splitlines() if line.strip()]
            return lines[-1] if lines else None
        return None

    def _ends_a_line(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def append_unless_same(self, seq: int, hash: str, at: datetime) -> Anchor | None:
        """Appends the head's anchor (None: the last line already names it). A lock on the
        file keeps processes sharing it from writing at once; each line is fsync'd."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                last = self._last_line()
                with contextlib.suppress(ValueError):
                    if last is not None and (a := Anchor.parse(last)).seq == seq \
                            and a.hash == hash:
                        return None
                anchor = Anchor.made(self.keys, self.service, seq, hash, at)
                if f.tell() and not self._ends_a_line():
                    f.write(b"\n")  # after a write cut short: keep this anchor a line of its own
                f.write(anchor.line())
                f.flush()
                os.fsync(f.fileno())
                return anchor
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def read(self) -> tuple[list[Anchor], Broken | None]:
        """Every anchor, each MAC checked; the first line that fails is a break."""
        anchors: list[Anchor] = []
        with contextlib.suppress(FileNotFoundError), self.path.open("rb") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    anchor = Anchor.parse(line)
                except ValueError:
                    return anchors, Broken(0, f"line {number} of {self.path} is not an anchor")
                if not anchor.sound(self.keys, self.service):
                    return anchors, Broken(anchor.seq, (
                        f"the anchor on line {number} of {self.path} does not verify (altered, "
                        "another service's, or keyed with a key ONESTOP_AUDIT_KEY does not hold)"))
                anchors.append(anchor)
        return anchors, None


# --- the log, over the database -----------------------------------------------------------


def caller(request: Request | None) -> str | None:
    """Where the request came from (the peer; a proxy's forwarded header is not trusted)."""
    return request.client.host if request is not None and request.client else None


class AuditLog:
    def __init__(self, service: str, table: Table, clock: Clock,
                 sessions: async_sessionmaker[AsyncSession], keys: ChainKeys,
                 anchors: AnchorFile) -> None:
        self.service = service
        self.table = table
        self.clock = clock
        self.sessions = sessions
        self.keys = keys
        self.anchors = anchors
        # One advisory lock per service's chain, a stable 64-bit key.
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"audit_log:{service}".encode()).digest()[:8], "big", signed=True)

    @classmethod
    def from_settings(cls, service: str, settings: ServiceSettings, table: Table, clock: Clock,
                      sessions: async_sessionmaker[AsyncSession]) -> AuditLog:
        keys = ChainKeys.from_secret(settings.audit_key.get_secret_value())
        return cls(service, table, clock, sessions, keys,
                   AnchorFile.of(settings.var_dir, service, keys))

    async def _lock(self, s: AsyncSession) -> None:
        """The chain's lock, to the end of the transaction (SQLite: BEGIN IMMEDIATE is)."""
        if s.get_bind().dialect.name == "postgresql":
            await s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key})

    async def _head(self, s: AsyncSession) -> Mapping[str, Any] | None:
        t = self.table
        return (await s.execute(select(t.c.seq, t.c.hash).order_by(t.c.seq.desc()).limit(1))
                ).mappings().first()

    async def record(self, s: AsyncSession, request: Request | None, *, actor: str | None,
                     action: str, dossier_code: str | None = None,
                     target: str | None = None) -> None:
        """Append in the caller's transaction (after its effect: the chain's lock is taken
        last and held only to commit)."""
        await self._lock(s)
        # The token's user, never what a body claims; the given actor only without one.
        who = getattr(request.state, "caller", None) if request is not None else None
        actor = who.user if who is not None else actor
        await s.execute(self.table.insert().values(**next_row(
            await self._head(s), at=self.clock.now(), actor=actor, action=action,
            dossier_code=dossier_code, target=target, address=caller(request),
            keys=self.keys)))

    async def read(self, request: Request | None, *, action: str, dossier_code: str | None,
                   target: str | None = None, actor: str | None = None) -> None:
        """A read of personal data, recorded in its own transaction before it is answered."""
        async with self.sessions() as s, s.begin():
            await self.record(s, request, actor=actor, action=action,
                              dossier_code=dossier_code, target=target)

    async def anchor(self) -> Anchor | None:
        """Anchors the committed head outside the database (None: empty log, or its head is
        the last anchor already). Under the chain's lock, so no append is half-way and two
        replicas anchor one after the other, never a head older than one already anchored."""
        async with self.sessions() as s, s.begin():
            await self._lock(s)
            head = await self._head(s)
            if head is None:
                return None
            anchor = await asyncio.to_thread(self.anchors.append_unless_same, head["seq"],
                                             head["hash"], self.clock.now())
        if anchor is not None:
            log.info("audit chain anchored", seq=anchor.seq, hash=anchor.hash,
                     anchors=str(self.anchors.path))
        return anchor

    async def verify(self, chunk: int = 1000) -> Verdict:
        anchors, bad = await asyncio.to_thread(self.anchors.read)
        if bad is not None:
            return Verdict(0, bad)
        t = self.table
        check = ChainCheck(self.keys, anchors)
        after = 0
        async with self.sessions() as s:
            while True:
                rows = (await s.execute(select(t).where(t.c.seq > after)
                                        .order_by(t.c.seq).limit(chunk))).mappings().all()
                if not rows or check.feed(rows):
                    break
                after = rows[-1]["seq"]
        check.finish()
        last = max(anchors, key=lambda a: (a.seq, a.at)) if anchors else None
        return Verdict(check.count, check.broken, last)
