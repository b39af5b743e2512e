"""Processing's repository and outbox in memory, for fast tests of its use cases (the SQL
ones are driven by tests/integration/test_processing_*.py): the methods CaseEvents'
batch and OfficerActions call on ProcessingRepository, with the same meaning."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from contracts.envelope import Envelope
from contracts.events import Event, StepAssigned
from contracts.topics import Topic
from services.common.clock import FixedClock
from services.processing.case_record import CaseRecord


@dataclass
class FakeSession:
    """What the runtime's helpers read of a session: its `info` (deferred inserts and the
    portal's notes; the fakes defer nothing, so it stays empty)."""

    info: dict[str, Any] = field(default_factory=dict)


class FakeRepository:
    """ProcessingRepository in memory. What it hands out are copies: a caller changes a
    case only by writing it."""

    def __init__(self) -> None:
        self.cases_by_code: dict[str, CaseRecord] = {}
        self.history_rows: list[dict[str, Any]] = []
        self.step_rows: list[dict[str, Any]] = []
        self.applicants: dict[str, dict[str, Any]] = {}

    async def case(self, s: Any, code: str) -> CaseRecord | None:
        return (await self.cases(s, [code])).get(code)

    async def cases(self, s: Any, codes: list[str], *, lock: bool = False
                    ) -> dict[str, CaseRecord]:
        return {c: replace(self.cases_by_code[c]) for c in sorted(codes)
                if c in self.cases_by_code}

    async def ensure_cases(self, s: Any, records: list[CaseRecord]) -> None:
        for record in records:
            self.cases_by_code.setdefault(record.code, replace(record))

    async def write_cases(self, s: Any, records: list[CaseRecord]) -> None:
        for record in records:
            assert record.code in self.cases_by_code  # an UPDATE by code
            self.cases_by_code[record.code] = replace(record)

    def add_history(self, s: Any, code: str, history: dict[str, Any]) -> None:
        self.history_rows.append({"dossier_code": code, **history})

    def add_step(self, s: Any, event: StepAssigned, seq: int) -> None:
        self.step_rows.append({
            "dossier_code": event.dossier_code, "seq": seq, "step_no": event.step_no,
            "department": event.department, "assignee": event.assignee,
            "assigned_at": event.assigned_at, "completed_at": None, "outcome": None})

    async def complete_steps(self, s: Any, rows: list[dict[str, Any]]) -> None:
        for done in rows:
            for step in self.step_rows:
                if (step["dossier_code"], step["seq"]) == (done["dossier_code"], done["seq"]):
                    step |= {"completed_at": done["completed_at"], "outcome": done["outcome"]}

    async def keep_applicants(self, s: Any, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.applicants.setdefault(row["dossier_code"], dict(row))

    def history(self, code: str) -> list[str]:
        """The actions of a case's history rows, in order."""
        return [h["action"] for h in self.history_rows if h["dossier_code"] == code]


@dataclass
class FakeOutbox:
    """Keeps what would be written to the outbox, checked against the topic's events as
    the registry does."""

    clock: FixedClock
    written: list[tuple[str, Event]] = field(default_factory=list)

    async def emit(self, session: Any, topic: Topic, event: Event,
                   agency_code: str) -> Envelope:
        assert event.event_type in topic.events, f"{event.event_type} not on {topic.name}"
        envelope = Envelope(id=uuid.uuid4(), type=event.event_type,
                            source="onestop/processing", subject=event.dossier_code,
                            time=self.clock.now(), agencycode=agency_code,
                            data=event.model_dump(mode="json"))
        self.written.append((topic.name, event))
        return envelope

    def take(self) -> list[tuple[str, str]]:
        """(topic, event class) of everything written since the last take."""
        taken = [(topic, type(e).__name__) for topic, e in self.written]
        self.written.clear()
        return taken


def at(clock: FixedClock, when: datetime) -> FixedClock:
    """The clock set to `when` (a FixedClock only moves forward by hand)."""
    clock.advance(when - clock.now())
    return clock
