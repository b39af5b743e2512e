"""The dossier fact, its step facts and its daily contributions, folded from the events of
one dossier. Pure: no I/O.

Order-independence by construction: `fold` sorts a dossier's events by a total order of
their own content (business time, lifecycle rank, recorded time, event id) before it reads
them, so any interleaving of the topics, any redelivery (events are a set keyed by id) and
any batching give the same fact. Every derived field is recomputed from the raw events
each time: single-valued facts take the first (decision, refusal, withdrawal, overdue,
explanation) or the latest (receipt, apology) event of their kind in that order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any

from contracts.events import DossierRated
from contracts.registry import short_name
from services.law.workdays import TZ, WorkCalendar, timeliness

# Which field of `data` holds the moment the event is about, per event type.
BUSINESS_TIME = {
    "dossier.received.v1": "received_at", "dossier.rejected.v1": "rejected_at",
    "dossier.withdrawn.v1": "withdrawn_at", "supplement.requested.v1": "requested_at",
    "supplement.received.v1": "received_at", "component.digitized.v1": "digitized_at",
    "dossier.digitized.v1": "digitized_at", "step.assigned.v1": "assigned_at",
    "step.completed.v1": "completed_at", "verification.requested.v1": "requested_at",
    "verification.answered.v1": "answered_at", "deadline.approaching.v1": "warned_at",
    "dossier.overdue.v1": "detected_at", "overdue.explained.v1": "explained_at",
    "apology.issued.v1": "issued_at", "dossier.resolved.v1": "resolved_at",
    "result.issued.v1": "issued_at", "result.returned.v1": "returned_at",
    "notification.sent.v1": "sent_at", "notification.failed.v1": "failed_at",
}
# Stored with a dossier's events but not part of its life: the fact ignores them, so it does
# not depend on whether they were applied before or after the rest.
NOT_FOLDED = frozenset({DossierRated.event_type})
# Ties at the same instant are broken in lifecycle order (a step is assigned before it is
# completed, a dossier received before anything else), then by event id.
_RANK = {name: i for i, name in enumerate(BUSINESS_TIME)}

MEASURES = ("received", "online", "resolved", "early", "on_time", "late", "returned",
            "refused", "withdrawn", "overdue")
AggKey = tuple[date, str, str, str]  # (day, agency, procedure, channel)
CalendarFor = Callable[[str, str | None], WorkCalendar]  # (agency, catalogue version)


@dataclass(frozen=True)
class RawEvent:
    """One stored event as the fold needs it (reporting's `events` row)."""

    event_id: str
    type: str  # full CloudEvents type
    time: datetime  # envelope time: when the producer recorded it
    agency_code: str
    data: dict[str, Any]
    # Derived once (the fold reads them many times): short type name, business moment.
    name: str = field(init=False, compare=False)
    at: datetime = field(init=False, compare=False)

    def __post_init__(self) -> None:
        name = short_name(self.type)
        object.__setattr__(self, "name", name)
        # The business moment of the event, or the envelope time if it has none.
        object.__setattr__(self, "at", _dt(self.data.get(BUSINESS_TIME.get(name, "")))
                           or self.time)

    def sort_key(self) -> tuple[datetime, int, datetime, str]:
        # Same business moment and kind (a province re-reporting a receipt): the one
        # recorded later is the correction, so it sorts last and "latest" takes it.
        return self.at, _RANK.get(self.name, len(_RANK)), self.time, self.event_id


@dataclass
class DossierFact:
    dossier_code: str
    agency_code: str = ""
    procedure_code: str = ""
    catalog_version: str | None = None
    channel: str = ""  # counter/postal/online/provincial; "" when never received
    return_channel: str | None = None
    origin_system: str | None = None
    province_processed: bool = False
    received_at: datetime | None = None  # the real time of receipt
    legal_received_at: datetime | None = None  # Decree 45/2020 moment of receipt
    receipt_day: date | None = None
    original_due_at: datetime | None = None  # the appointment given at receipt
    due_at: datetime | None = None  # legal appointment: restarted by a complete supplement
    apology_due_at: datetime | None = None  # promised in an apology; never used for timeliness
    digitized_at: datetime | None = None
    supplement_count: int = 0
    supplement_open: bool = False
    supplement_periods: list[list[str | None]] = field(default_factory=list)
    resolved_at: datetime | None = None
    decision: str | None = None
    timeliness: str | None = None  # early/on_time/late of resolved_at against due_at
    returned_at: datetime | None = None
    refused_at: datetime | None = None
    withdrawn_at: datetime | None = None
    overdue: bool = False
    overdue_at: datetime | None = None
    explained: bool = False
    explained_at: datetime | None = None
    apology: bool = False
    step_count: int = 0
    status: str = "unknown"
    event_count: int = 0
    first_recorded_at: datetime | None = None
    last_recorded_at: datetime | None = None

    def row(self) -> dict[str, Any]:
        # Shallow: dataclasses.asdict deep-copies every value, the rebuild's top cost.
        return {name: getattr(self, name) for name in _FACT_FIELDS}


@dataclass
class StepFact:
    dossier_code: str
    idx: int
    agency_code: str
    step_no: int
    step_code: str
    department: str
    assignee: str | None
    from_at: datetime | None
    to_at: datetime | None
    step_due_at: datetime | None
    outcome: str | None
    working_seconds: int | None

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _STEP_FIELDS}


_FACT_FIELDS = tuple(f.name for f in fields(DossierFact))
_STEP_FIELDS = tuple(f.name for f in fields(StepFact))


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _latest(events: list[RawEvent], name: str) -> RawEvent | None:
    found = [e for e in events if e.name == name]
    return found[-1] if found else None


def _first(events: list[RawEvent], name: str) -> RawEvent | None:
    return next((e for e in events if e.name == name), None)


def legal_receipt(cal: WorkCalendar, received_at: datetime) -> tuple[datetime, date]:
    """Decree 45/2020: after closing or on a day off, received at the next working day's
    opening; otherwise at the real time."""
    day, moved = cal.receipt_day(received_at)
    if moved:
        return datetime.combine(day, cal.rules.opens, tzinfo=TZ), day
    return received_at, day


def working_seconds(cal: WorkCalendar, start: datetime, end: datetime) -> int:
    """Office-hours seconds of working days between two moments."""
    if end <= start:
        return 0
    a, b = start.astimezone(TZ), end.astimezone(TZ)
    total = 0.0
    day = a.date()
    while day <= b.date():
        if cal.is_working_day(day):
            opens = datetime.combine(day, cal.rules.opens, tzinfo=TZ)
            closes = datetime.combine(day, cal.rules.closes, tzinfo=TZ)
            lo, hi = max(a, opens), min(b, closes)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return int(total)


def fold(code: str, events: Iterable[RawEvent], calendar_for: CalendarFor
         ) -> tuple[DossierFact, list[StepFact]]:
    """The fact and step facts of one dossier from all its events (any order, duplicates
    by id ignored)."""
    evs = sorted({e.event_id: e for e in events if e.type not in NOT_FOLDED}.values(),
                 key=RawEvent.sort_key)
    f = DossierFact(code, event_count=len(evs))
    if not evs:
        return f, []
    f.first_recorded_at = min(e.time for e in evs)
    f.last_recorded_at = max(e.time for e in evs)
    received = _latest(evs, "dossier.received.v1")
    resolved = _first(evs, "dossier.resolved.v1")
    rejected = _first(evs, "dossier.rejected.v1")
    # Who and what: the receipt says it; else whatever else named them; else the envelope.
    named = [e for e in (received, resolved, rejected, _latest(evs, "dossier.digitized.v1"),
                         _latest(evs, "result.issued.v1")) if e is not None]
    f.agency_code = next((e.data["agency_code"] for e in named), evs[0].agency_code)
    f.procedure_code = next((e.data["procedure_code"] for e in named), "")
    cal = calendar_for(f.agency_code, received.data.get("catalog_version") if received else None)
    if received is not None:
        d = received.data
        f.catalog_version = d.get("catalog_version")
        f.channel, f.return_channel = d["channel"], d.get("return_channel")
        f.origin_system = d.get("origin_system")
        f.province_processed = f.origin_system is not None
        f.received_at = _dt(d["received_at"])
        assert f.received_at is not None
        f.legal_received_at, f.receipt_day = legal_receipt(cal, f.received_at)
        f.original_due_at = f.due_at = _dt(d["due_at"])
    _supplements(f, evs)
    if (digitized := _first(evs, "dossier.digitized.v1")) is not None:
        f.digitized_at = digitized.at
    if resolved is not None:
        f.resolved_at, f.decision = resolved.at, resolved.data["decision"]
        due = f.due_at or _dt(resolved.data.get("due_at"))
        f.due_at = due
        f.timeliness = timeliness(resolved.at, due).value if due else resolved.data.get(
            "timeliness")
    if (returned := _first(evs, "result.returned.v1")) is not None:
        f.returned_at = returned.at
        f.return_channel = returned.data.get("return_channel") or f.return_channel
    if rejected is not None:
        f.refused_at = rejected.at
    if (withdrawn := _first(evs, "dossier.withdrawn.v1")) is not None:
        f.withdrawn_at = withdrawn.at
    if (overdue := _first(evs, "dossier.overdue.v1")) is not None:
        f.overdue_at = overdue.at
    f.overdue = overdue is not None or f.timeliness == "late"
    if (explained := _first(evs, "overdue.explained.v1")) is not None:
        f.explained, f.explained_at = True, explained.at
    if (apology := _latest(evs, "apology.issued.v1")) is not None:
        f.apology, f.apology_due_at = True, _dt(apology.data.get("new_due_at"))
    steps = _steps(f, evs, cal)
    f.step_count = len(steps)
    f.status = _status(f)
    return f, steps


def _supplements(f: DossierFact, evs: list[RawEvent]) -> None:
    """Each request opens a period that the next complete supplement closes; a complete
    supplement with a new appointment restarts the legal clock (the latest one counts)."""
    periods: list[list[str | None]] = []
    for e in evs:
        if e.name == "supplement.requested.v1":
            f.supplement_count += 1
            if not periods or periods[-1][1] is not None:
                periods.append([e.at.isoformat(), None])
        elif e.name == "supplement.received.v1" and e.data.get("complete"):
            if periods and periods[-1][1] is None:
                periods[-1][1] = e.at.isoformat()
            if (due := _dt(e.data.get("due_at"))) is not None:
                f.due_at = due
    f.supplement_periods = periods
    f.supplement_open = bool(periods) and periods[-1][1] is None


def _steps(f: DossierFact, evs: list[RawEvent], cal: WorkCalendar) -> list[StepFact]:
    """Who held the dossier from when to when: an assignment opens a holding, the step's
    completion or the step's reassignment closes it."""
    out: list[StepFact] = []
    open_: dict[int, StepFact] = {}
    for e in evs:
        d = e.data
        if e.name == "step.assigned.v1":
            if (held := open_.pop(d["step_no"], None)) is not None:
                held.to_at = e.at
            step = StepFact(f.dossier_code, len(out), f.agency_code, d["step_no"],
                            d["step_code"], d["department"], d.get("assignee"), e.at, None,
                            _dt(d.get("step_due_at")), None, None)
            out.append(step)
            open_[step.step_no] = step
        elif e.name == "step.completed.v1":
            step = open_.pop(d["step_no"], None)
            if step is None:  # completion of a step whose assignment was never reported
                step = StepFact(f.dossier_code, len(out), f.agency_code, d["step_no"],
                                d["step_code"], d["department"], None, None, None, None,
                                None, None)
                out.append(step)
            step.to_at, step.outcome = e.at, d.get("outcome")
    for step in out:
        if step.from_at is not None and step.to_at is not None:
            step.working_seconds = working_seconds(cal, step.from_at, step.to_at)
    return out


def _status(f: DossierFact) -> str:
    if f.withdrawn_at:
        return "withdrawn"
    if f.returned_at:
        return "returned"
    if f.resolved_at:
        return "resolved"
    if f.refused_at and not f.received_at:
        return "refused"
    if f.supplement_open:
        return "awaiting_supplement"
    if f.received_at:
        return "in_progress"
    return "unknown"


def _day(at: datetime) -> date:
    return at.astimezone(TZ).date()


def contributions(f: DossierFact | None) -> dict[AggKey, Counter[str]]:
    """What one fact adds to the daily aggregates, per (day, agency, procedure, channel)."""
    out: dict[AggKey, Counter[str]] = {}
    if f is None:
        return out

    def add(at: datetime | date | None, *measures: str) -> None:
        if at is None:
            return
        day = at if not isinstance(at, datetime) else _day(at)
        counter = out.setdefault((day, f.agency_code, f.procedure_code, f.channel), Counter())
        counter.update(measures)

    if f.receipt_day is not None:
        add(f.receipt_day, "received", *(("online",) if f.channel == "online" else ()))
    if f.resolved_at is not None:
        add(f.resolved_at, "resolved", *((f.timeliness,) if f.timeliness else ()))
    add(f.returned_at, "returned")
    add(f.refused_at, "refused")
    add(f.withdrawn_at, "withdrawn")
    add(f.overdue_at or (f.resolved_at if f.overdue else None), "overdue")
    return out
