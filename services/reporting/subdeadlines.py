"""Sub-deadlines of other agencies (liên thông, docs/law.md#other-agencies-and-delay-attribution):
each verification a dossier asked of another agency, with the sub-deadline the request gave
it (`VerificationRequested.sub_due_at`), whether and when it was answered, and whether the
other agency overran it. Pure: no I/O.

An overrun is an answer after the sub-deadline, or no answer once it has passed. A request
without a sub-deadline is never overrun. Per period (the quarterly report's), a request
counts when it is open in it (asked before its cut-off and not answered before its start),
as the form counts dossiers: answered in the period on time or late, or pending at the
cut-off within its sub-deadline or past it. So a request still unanswered long after its
sub-deadline is pending overdue at each cut-off it stays open across."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from contracts.events import VerificationAnswered, VerificationRequested
from services.law.workdays import TZ
from services.reporting.facts import Recorded

# The event types a verification is read from (the events table's `type`).
EVENT_TYPES: tuple[str, ...] = (VerificationRequested.event_type,
                                VerificationAnswered.event_type)


@dataclass(frozen=True)
class Verification:
    dossier_code: str
    request_id: str
    asking_agency: str  # the agency of the request's envelope: the dossier's office
    to_agency: str
    requested_at: datetime
    sub_due_at: datetime | None
    answered_at: datetime | None
    answered_by: str | None

    def status(self, at: datetime) -> str:
        """answered_on_time / answered_late (answered before `at`), else pending_within_time
        / pending_overdue at `at`."""
        if self.answered_at is not None and self.answered_at < at:
            late = self.sub_due_at is not None and self.answered_at > self.sub_due_at
            return "answered_late" if late else "answered_on_time"
        if self.sub_due_at is not None and self.sub_due_at < at:
            return "pending_overdue"
        return "pending_within_time"

    def json(self, at: datetime) -> dict[str, Any]:
        status = self.status(at)
        return {"request_id": self.request_id, "to_agency": self.to_agency,
                "requested_at": _iso(self.requested_at), "sub_due_at": _iso(self.sub_due_at),
                "answered_at": _iso(self.answered_at), "answered_by": self.answered_by,
                "status": status, "overrun": status in OVERRUN}


OVERRUN = frozenset({"answered_late", "pending_overdue"})


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(TZ).isoformat()


def verifications(records: Iterable[Recorded]) -> list[Verification]:
    """Each request with its answer, from a set of events (any order, any dossiers; other
    event types ignored). The first request and the first answer of an id count (in the
    fold's order), as a redelivered or repeated one changes nothing."""
    asked: dict[tuple[str, str], tuple[Recorded, VerificationRequested]] = {}
    answered: dict[tuple[str, str], tuple[Recorded, VerificationAnswered]] = {}
    for r in records:
        e = r.event
        if isinstance(e, VerificationRequested):
            key = (e.dossier_code, e.request_id)
            if key not in asked or r.key < asked[key][0].key:
                asked[key] = (r, e)
        elif isinstance(e, VerificationAnswered):
            key = (e.dossier_code, e.request_id)
            if key not in answered or r.key < answered[key][0].key:
                answered[key] = (r, e)
    out = []
    for key in sorted(asked):
        r, e = asked[key]
        answer = answered.get(key)
        out.append(Verification(e.dossier_code, e.request_id, r.agency_code, e.to_agency,
                                e.requested_at, e.sub_due_at,
                                answer[1].answered_at if answer else None,
                                answer[1].from_agency if answer else None))
    return out


@dataclass
class Counts:
    requested: int = 0
    answered_on_time: int = 0
    answered_late: int = 0
    pending_within_time: int = 0
    pending_overdue: int = 0

    def json(self, agency: str) -> dict[str, Any]:
        return {"agency": agency, "requested": self.requested,
                "answered_on_time": self.answered_on_time, "answered_late": self.answered_late,
                "pending_within_time": self.pending_within_time,
                "pending_overdue": self.pending_overdue,
                "overruns": self.answered_late + self.pending_overdue}


def per_agency(found: Iterable[Verification], start: datetime, end: datetime,
               within: Callable[[str, date], bool]) -> list[dict[str, Any]]:
    """Per other agency asked: the requests open in [start, end) whose dossier's office
    `within(office, day)` takes (the day its office is judged on: the request's, or the
    period's first), most overruns first."""
    counts: dict[str, Counts] = {}
    for v in found:
        if v.requested_at >= end or (v.answered_at is not None and v.answered_at < start):
            continue
        on = max(v.requested_at, start).astimezone(TZ).date()
        if not within(v.asking_agency, on):
            continue
        c = counts.setdefault(v.to_agency, Counts())
        c.requested += 1
        status = v.status(end)
        setattr(c, status, getattr(c, status) + 1)
    rows = [c.json(agency) for agency, c in counts.items()]
    return sorted(rows, key=lambda r: (-r["overruns"], r["agency"]))
