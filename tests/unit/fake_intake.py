"""Intake's repository port and outbox in memory, for fast tests of its use cases (the SQL
ones are driven by tests/integration/test_intake_lifecycle.py and test_province_*.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from contracts.envelope import Envelope
from contracts.events import Event
from contracts.registry import short_name
from contracts.topics import Topic
from services.common.clock import FixedClock
from services.intake.dossier import Dossier

SESSION: Any = object()  # the handlers pass it through; the fakes never look inside


class FakeRepository:
    """IntakeStore in memory, with the same meaning as the SQL one: what it hands out are
    copies, so a caller changes a dossier only by writing it."""

    def __init__(self) -> None:
        self.dossiers: dict[str, Dossier] = {}
        self.sequences: dict[tuple[str, date], int] = {}
        self.parked: dict[str, dict[str, Any]] = {}
        self.answers: dict[str, dict[str, Any]] = {}

    async def dossier(self, s: Any, code: str) -> Dossier | None:
        found = self.dossiers.get(code)
        return replace(found) if found else None

    async def begin_batch(self, s: Any, codes: set[str]) -> None:
        return None  # every call already answers from memory

    async def end_batch(self, s: Any) -> None:
        return None

    async def dossiers(self, s: Any, codes: list[str]) -> dict[str, Dossier]:
        return {c: replace(self.dossiers[c]) for c in codes if c in self.dossiers}

    async def update_dossiers(self, s: Any, now: datetime, dossiers: list[Dossier],
                              columns: tuple[str, ...]) -> None:
        for d in dossiers:
            await self.update_dossier(s, d, columns, now)

    async def dossier_by_submission(self, s: Any, submission_id: str | None
                                    ) -> Dossier | None:
        return next((replace(d) for d in self.dossiers.values()
                     if d.submission_id == submission_id), None)

    async def next_sequence(self, s: Any, agency_code: str, day: date) -> int:
        last = self.sequences[agency_code, day] = self.sequences.get((agency_code, day), 0) + 1
        return last

    async def insert_dossier(self, s: Any, dossier: Dossier) -> None:
        assert dossier.code not in self.dossiers
        self.dossiers[dossier.code] = replace(dossier)

    async def update_dossier(self, s: Any, dossier: Dossier, columns: tuple[str, ...],
                             now: datetime) -> None:
        kept = self.dossiers.get(dossier.code)
        if kept is not None:  # only the columns named are written, as the SQL one does
            self.dossiers[dossier.code] = replace(
                kept, updated_at=now, **{c: getattr(dossier, c) for c in columns})

    async def set_status_if_newer(self, s: Any, code: str, status: str, at: datetime,
                                  now: datetime) -> None:
        kept = self.dossiers.get(code)
        if kept is not None and (kept.status_at is None or kept.status_at <= at):
            self.dossiers[code] = replace(kept, status=status, status_at=at, updated_at=now)

    async def page(self, s: Any, *, agency: str | None, status: str | None,
                   channel: str | None, from_: datetime | None, to: datetime | None,
                   after: tuple[datetime, str] | None, limit: int,
                   within: set[str] | None = None) -> list[Dossier]:
        found = sorted(self.dossiers.values(), key=lambda d: (d.received_at, d.code))
        return [replace(d) for d in found
                if (agency is None or d.agency_code == agency)
                and (within is None or d.agency_code in within)
                and (status is None or d.status == status)
                and (channel is None or d.channel == channel)
                and (from_ is None or d.received_at >= from_)
                and (to is None or d.received_at < to)
                and (after is None or (d.received_at, d.code) > after)][:limit]

    async def park(self, s: Any, row: dict[str, Any]) -> None:
        self.parked[row["event_id"]] = dict(row)

    async def parked_for(self, s: Any, code: str) -> list[dict[str, Any]]:
        return sorted((dict(r) for r in self.parked.values() if r["dossier_code"] == code),
                      key=lambda r: r["occurred_at"])

    async def drop_parked_for(self, s: Any, code: str) -> None:
        self.parked = {k: r for k, r in self.parked.items() if r["dossier_code"] != code}

    async def parked_before(self, s: Any, before: datetime, limit: int
                            ) -> list[dict[str, Any]]:
        return sorted((dict(r) for r in self.parked.values() if r["parked_at"] < before),
                      key=lambda r: r["parked_at"])[:limit]

    async def drop_parked(self, s: Any, event_ids: list[str]) -> None:
        for event_id in event_ids:
            self.parked.pop(event_id, None)

    async def kept_answer(self, s: Any, key: str) -> dict[str, Any] | None:
        return self.answers.get(key)

    async def keep_answer(self, s: Any, row: dict[str, Any]) -> None:
        self.answers[row["key"]] = dict(row)


@dataclass
class FakeOutbox:
    """Keeps what would be written to the outbox, checked against the registry as the real
    one does."""

    clock: FixedClock
    source: str = "onestop/intake"
    written: list[tuple[str, Envelope]] = field(default_factory=list)

    async def add(self, session: Any, topic: Topic, envelope: Envelope,
                  key: str | None = None) -> None:
        assert envelope.type in topic.events, f"{envelope.type} not on {topic.name}"
        self.written.append((topic.name, envelope))

    async def emit(self, session: Any, topic: Topic, event: Event,
                   agency_code: str) -> Envelope:
        envelope = Envelope(id=uuid.uuid4(), type=event.event_type, source=self.source,
                            subject=event.dossier_code, time=self.clock.now(),
                            agencycode=agency_code, data=event.model_dump(mode="json"))
        await self.add(session, topic, envelope)
        return envelope

    def take(self) -> list[tuple[str, str]]:
        """(topic, short event type) of everything written since the last take."""
        taken = [(topic, short_name(e.type)) for topic, e in self.written]
        self.written.clear()
        return taken

    def last(self, kind: str) -> dict[str, Any]:
        return next(e.data for _, e in reversed(self.written) if short_name(e.type) == kind)


@dataclass
class FakeAudit:
    """The audit log's two calls, kept: (action, dossier code[, target])."""

    records: list[tuple[str, str | None]] = field(default_factory=list)
    reads: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    async def record(self, s: Any, request: Any, *, actor: str | None, action: str,
                     dossier_code: str | None = None, target: str | None = None) -> None:
        self.records.append((action, dossier_code))

    async def read(self, request: Any, *, action: str, dossier_code: str | None,
                   target: str | None = None, actor: str | None = None) -> None:
        self.reads.append((action, dossier_code, target))


@dataclass
class FakeRuntime:
    """What the counter uses of the runtime: sessions, a transaction, the audit log and the
    clock. Nothing rolls back: a test of a failure asserts only what came before a write."""

    clock: FixedClock
    audit: FakeAudit = field(default_factory=FakeAudit)

    @asynccontextmanager
    async def sessions(self) -> AsyncIterator[Any]:
        yield SESSION

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        yield SESSION


@dataclass
class FakeWarehouse:
    """The data warehouse's answer: which (applicant, document) pairs it holds."""

    held: set[tuple[str, str]] = field(default_factory=set)
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def holds(self, applicant_ref: str, document_ref: str) -> bool:
        self.asked.append((applicant_ref, document_ref))
        return (applicant_ref, document_ref) in self.held
