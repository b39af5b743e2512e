"""The dossier fact, its step facts and its daily contributions, folded from the events of
one dossier. Pure: no I/O.

The fold reads contract events (contracts/events.py), each with its envelope's id, time and
agency (`Recorded`), never dicts keyed by field names: a renamed contract field is an
AttributeError here and a failing test, not a silent None.

Order-independence by construction: a dossier's events are folded in a total order of
their own content (business time, lifecycle rank, recorded time, event id), so any
interleaving of the topics, any redelivery (events are a set keyed by id) and any batching
give the same fact. Single-valued facts take the first (decision, refusal, withdrawal,
overdue, explanation) or the latest (receipt, apology) event of their kind in that order.

`DossierFold` is the fold so far: the fact, the step holdings still open and the few
values derived facts need, with the order key of the event each single-valued part comes
from (`memo`). A new event is added in O(1) (`DossierFold.advance`): a single-valued part
takes it or not by its key, whatever the order of arrival; only a step or supplement event
that sorts before the latest of its sequence folded cannot be added, and the caller folds
the dossier again from all its events (`DossierFold.of`). Either way the fact, its steps
and the memo are the same function of the set of events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from contracts.envelope import Envelope
from contracts.events import (
    ApologyIssued,
    ComponentDigitized,
    DeadlineApproaching,
    DossierDigitized,
    DossierOverdue,
    DossierRated,
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    Event,
    NotificationFailed,
    NotificationSent,
    OverdueExplained,
    ResultIssued,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
    VerificationAnswered,
    VerificationRequested,
)
from contracts.registry import EVENT_TYPES, short_name
from services.law.workdays import TZ, WorkCalendar, timeliness

# Which field of each event holds the moment it is about. The order is the lifecycle
# order that breaks ties at the same instant (a step is assigned before it is completed,
# a dossier received before anything else).
EVENT_TIME: dict[type[Event], str] = {
    DossierReceived: "received_at", DossierRejected: "rejected_at",
    DossierWithdrawn: "withdrawn_at", SupplementRequested: "requested_at",
    SupplementReceived: "received_at", ComponentDigitized: "digitized_at",
    DossierDigitized: "digitized_at", StepAssigned: "assigned_at",
    StepCompleted: "completed_at", VerificationRequested: "requested_at",
    VerificationAnswered: "answered_at", DeadlineApproaching: "warned_at",
    DossierOverdue: "detected_at", OverdueExplained: "explained_at",
    ApologyIssued: "issued_at", DossierResolved: "resolved_at",
    ResultIssued: "issued_at", ResultReturned: "returned_at",
    NotificationSent: "sent_at", NotificationFailed: "failed_at",
}
# The same by short type name, for readers of stored rows (the dashboard's trace).
BUSINESS_TIME = {short_name(cls.event_type): name for cls, name in EVENT_TIME.items()}
# Stored with a dossier's events but not part of its life: the fact ignores them, so it does
# not depend on whether they were applied before or after the rest.
NOT_FOLDED = frozenset({DossierRated.event_type})
_RANK = {cls: i for i, cls in enumerate(EVENT_TIME)}

MEASURES = ("received", "online", "resolved", "early", "on_time", "late", "returned",
            "refused", "withdrawn", "overdue")
AggKey = tuple[date, str, str, str]  # (day, agency, procedure, channel)
CalendarFor = Callable[[str, str | None], WorkCalendar]  # (agency, catalogue version)
# (business moment, lifecycle rank, recorded time, event id), times as microseconds since
# the epoch: compared many times, and aware datetimes of different zones compare slowly.
SortKey = tuple[int, int, int, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One event as the fold reads it: the contract event and its envelope's id, time (when
    the producer recorded it) and agency."""

    event_id: str
    time: datetime
    agency_code: str
    event: Event
    # Derived once: the business moment (the envelope time if the event has none) and
    # the event's place in the fold's order.
    at: datetime = field(init=False, compare=False)
    key: SortKey = field(init=False, compare=False)

    def __post_init__(self) -> None:
        kind = type(self.event)
        name = EVENT_TIME.get(kind)
        at = getattr(self.event, name) if name is not None else self.time
        object.__setattr__(self, "at", at)
        # Same business moment and kind (a province re-reporting a receipt): the one
        # recorded later is the correction, so it sorts last and "latest" takes it.
        object.__setattr__(self, "key", ((at - _EPOCH) // _MICROSECOND,
                                         _RANK.get(kind, len(_RANK)),
                                         (self.time - _EPOCH) // _MICROSECOND, self.event_id))

    @classmethod
    def of(cls, envelope: Envelope, event: Event, event_id: str = "") -> Recorded:
        """`event_id`: the envelope's id as text when the caller holds it already."""
        return cls(event_id or str(envelope.id), envelope.time, envelope.agencycode, event)

    @classmethod
    def parsed(cls, envelope: Envelope) -> Recorded:
        """From an envelope whose data is not parsed yet (tests, tools)."""
        event = EVENT_TYPES[envelope.type].model_validate(envelope.data)
        return cls.of(envelope, event)  # type: ignore[arg-type]


@dataclass(slots=True)
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


@dataclass(slots=True)
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


# Not frozen: a memo is built for every dossier a batch folds, and a frozen dataclass's
# __init__ costs about five times as much.
@dataclass(slots=True)
class OpenHolding:
    """A step holding still open, as the memo keeps it (the rest of its step fact is
    derived when the fold is loaded)."""

    step_no: int
    idx: int
    step_code: str
    department: str
    assignee: str | None
    since: datetime | None
    step_due_at: datetime | None


@dataclass(slots=True)
class FoldMemo:
    """What the fold needs besides the fact to take the next event: the order key of the
    event each part comes from, who named the dossier, the values derived facts need and
    the holdings still open."""

    keys: dict[str, SortKey]
    first_agency: str
    named: dict[int, tuple[str, str]]  # _NAMED_BY index -> (agency, procedure)
    received_return_channel: str | None
    returned_channel: str | None
    resolved_due: datetime | None
    resolved_timeliness: str | None
    supplement_due: datetime | None
    open: tuple[OpenHolding, ...]  # by step number


# Who and what the dossier is about: the receipt says it; else, in this order, whatever
# else named them (the decision, the refusal, the digitization, the result).
_NAMED_BY = (DossierReceived, DossierResolved, DossierRejected, DossierDigitized, ResultIssued)


class DossierFold:
    """One dossier's fold so far. Each single-valued part of the fact is the first or the
    latest event of its kind, kept with that event's order key, so an event of such a kind
    is added in any order: it replaces the part or does not. Step holdings and supplement
    periods are sequences: their events are added in order only (`add` answers False for
    one sorting before the latest of its sequence folded). `finish` derives what depends
    on several parts (who, the calendar, the legal appointment, timeliness, status).
    `changed` holds the step facts added or changed since the fold was loaded."""

    __slots__ = ("_calendar_before", "_steps_before", "changed", "fact", "first_agency",
                 "keys", "named", "open", "received_return_channel", "resolved_due",
                 "resolved_timeliness", "returned_channel", "supplement_due")

    def __init__(self, code: str) -> None:
        self.fact = DossierFact(code)
        # The order key of the event each part comes from ("first": of all events).
        self.keys: dict[str, SortKey] = {}
        self.first_agency = ""  # the envelope agency of the first event
        self.named: dict[int, tuple[str, str]] = {}  # _NAMED_BY index -> (agency, procedure)
        self.received_return_channel: str | None = None
        self.returned_channel: str | None = None
        self.resolved_due: datetime | None = None
        self.resolved_timeliness: str | None = None
        self.supplement_due: datetime | None = None  # the latest complete supplement's
        self.open: dict[int, StepFact] = {}  # step_no -> the holding still open
        self.changed: dict[int, StepFact] = {}  # idx -> step fact to write
        self._calendar_before: tuple[str, str | None] | None = None
        self._steps_before = 0

    @classmethod
    def of(cls, code: str, events: Iterable[Recorded], calendar_for: CalendarFor
           ) -> DossierFold:
        """The fold of all a dossier's events (any order, duplicates by id ignored)."""
        fold = cls(code)
        unique = {r.event_id: r for r in events if r.event.event_type not in NOT_FOLDED}
        for r in sorted(unique.values(), key=_key):
            fold.add(r)
        fold.finish(calendar_for)
        return fold

    def advance(self, events: list[Recorded], calendar_for: CalendarFor) -> bool:
        """Adds new events (not folded before); False, with the fold left unusable, when a
        step or supplement event sorts before one of its sequence folded already, or when
        the dossier's calendar changes under steps already counted: the caller folds the
        dossier again from all its events."""
        for r in sorted(events, key=_key):
            if not self.add(r):
                return False
        self.finish(calendar_for)
        f = self.fact
        return not (self._steps_before and
                    (f.agency_code, f.catalog_version) != self._calendar_before)

    def steps(self) -> list[StepFact]:
        return [self.changed[i] for i in sorted(self.changed)]

    # --- one event -----------------------------------------------------------------------

    def _first(self, part: str, key: SortKey) -> bool:
        """Whether the event of `key` is the first of `part` so far (and now its key)."""
        held = self.keys.get(part)
        if held is not None and held <= key:
            return False
        self.keys[part] = key
        return True

    def _latest(self, part: str, key: SortKey) -> bool:
        held = self.keys.get(part)
        if held is not None and held >= key:
            return False
        self.keys[part] = key
        return True

    def add(self, r: Recorded) -> bool:
        """Folds one event in; False (nothing folded) for a step or supplement event that
        sorts before the latest of its sequence."""
        f, e, at, key = self.fact, r.event, r.at, r.key
        if isinstance(e, StepAssigned | StepCompleted):
            if not self._latest("steps", key):
                return False
            if isinstance(e, StepAssigned):
                self._assigned(e, at)
            else:
                self._completed(e, at)
        elif isinstance(e, SupplementRequested | SupplementReceived):
            if not self._latest("supplements", key):
                return False
            self._supplement(e, at)
        elif isinstance(e, DossierReceived):
            if self._latest("received", key):
                self.named[0] = (e.agency_code, e.procedure_code)
                f.catalog_version, f.channel = e.catalog_version, e.channel.value
                self.received_return_channel = e.return_channel.value
                f.origin_system = e.origin_system
                f.province_processed = e.origin_system is not None
                f.received_at, f.original_due_at = at, e.due_at
        elif isinstance(e, DossierResolved):
            if self._first("resolved", key):
                self.named[1] = (e.agency_code, e.procedure_code)
                f.resolved_at, f.decision = at, e.decision
                self.resolved_due, self.resolved_timeliness = e.due_at, e.timeliness.value
        elif isinstance(e, DossierRejected):
            if self._first("rejected", key):
                self.named[2] = (e.agency_code, e.procedure_code)
                f.refused_at = at
        elif isinstance(e, DossierDigitized):
            if self._latest("digitized_named", key):
                self.named[3] = (e.agency_code, e.procedure_code)
            if self._first("digitized", key):
                f.digitized_at = at
        elif isinstance(e, ResultIssued):
            if self._latest("result", key):
                self.named[4] = (e.agency_code, e.procedure_code)
        elif isinstance(e, ResultReturned):
            if self._first("returned", key):
                f.returned_at, self.returned_channel = at, e.return_channel.value
        elif isinstance(e, DossierWithdrawn):
            if self._first("withdrawn", key):
                f.withdrawn_at = at
        elif isinstance(e, DossierOverdue) and e.other_agency is None:
            # Another agency's sub-deadline passing is not the dossier's (subdeadlines.py).
            if self._first("overdue", key):
                f.overdue_at = at
        elif isinstance(e, OverdueExplained):
            if self._first("explained", key):
                f.explained, f.explained_at = True, at
        elif isinstance(e, ApologyIssued):
            if self._latest("apology", key):
                f.apology, f.apology_due_at = True, e.new_due_at
        if self._first("first", key):
            self.first_agency = r.agency_code
        f.event_count += 1
        if f.first_recorded_at is None or r.time < f.first_recorded_at:
            f.first_recorded_at = r.time
        if f.last_recorded_at is None or r.time > f.last_recorded_at:
            f.last_recorded_at = r.time
        return True

    def _supplement(self, e: SupplementRequested | SupplementReceived, at: datetime) -> None:
        """Each request opens a period that the next complete supplement closes; a complete
        supplement with a new appointment restarts the legal clock (the latest counts)."""
        f = self.fact
        periods = f.supplement_periods
        if isinstance(e, SupplementRequested):
            f.supplement_count += 1
            if not periods or periods[-1][1] is not None:
                periods.append([at.isoformat(), None])
        elif e.complete:
            if periods and periods[-1][1] is None:
                periods[-1][1] = at.isoformat()
            if e.due_at is not None:
                self.supplement_due = e.due_at

    def _assigned(self, e: StepAssigned, at: datetime) -> None:
        """An assignment opens a holding; it closes the step's holding still open."""
        if (held := self.open.pop(e.step_no, None)) is not None:
            held.to_at = at
            self.changed[held.idx] = held
        step = StepFact(self.fact.dossier_code, self.fact.step_count, "", e.step_no,
                        e.step_code, e.department, e.assignee, at, None, e.step_due_at,
                        None, None)
        self.fact.step_count += 1
        self.changed[step.idx] = self.open[e.step_no] = step

    def _completed(self, e: StepCompleted, at: datetime) -> None:
        step = self.open.pop(e.step_no, None)
        if step is None:  # completion of a step whose assignment was never reported
            step = StepFact(self.fact.dossier_code, self.fact.step_count, "", e.step_no,
                            e.step_code, e.department, None, None, None, None, None, None)
            self.fact.step_count += 1
        step.to_at, step.outcome = at, e.outcome.value
        self.changed[step.idx] = step

    # --- what depends on several events ------------------------------------------------

    def finish(self, calendar_for: CalendarFor) -> None:
        f = self.fact
        if not f.event_count:
            return
        named = next((self.named[i] for i in range(len(_NAMED_BY)) if i in self.named), None)
        f.agency_code, f.procedure_code = named or (self.first_agency, "")
        cal = calendar_for(f.agency_code, f.catalog_version)
        if f.received_at is not None:
            f.legal_received_at, f.receipt_day = legal_receipt(cal, f.received_at)
        due = self.supplement_due or f.original_due_at
        if f.resolved_at is not None:
            due = due or self.resolved_due
            f.timeliness = (timeliness(f.resolved_at, due).value if due
                            else self.resolved_timeliness)
        f.due_at = due
        f.return_channel = self.returned_channel or self.received_return_channel
        f.supplement_open = bool(f.supplement_periods) and f.supplement_periods[-1][1] is None
        f.overdue = f.overdue_at is not None or f.timeliness == "late"
        f.status = _status(f)
        for step in self.changed.values():
            step.agency_code = f.agency_code
            if step.from_at is not None and step.to_at is not None:
                step.working_seconds = working_seconds(cal, step.from_at, step.to_at)

    # --- kept beside the fact ------------------------------------------------------------

    def memo(self) -> FoldMemo:
        """What the fold needs besides the fact to take the next event."""
        return FoldMemo(
            dict(self.keys), self.first_agency, dict(self.named),
            self.received_return_channel, self.returned_channel, self.resolved_due,
            self.resolved_timeliness, self.supplement_due,
            tuple([OpenHolding(s.step_no, s.idx, s.step_code, s.department, s.assignee,
                               s.from_at, s.step_due_at) for _, s in sorted(self.open.items())]))

    @classmethod
    def load(cls, fact: DossierFact, memo: FoldMemo | None) -> DossierFold | None:
        """The fold a stored fact and its memo stand for; None when the memo is missing
        (the dossier is folded again from its events)."""
        fold = cls(fact.dossier_code)
        fold.fact = fact
        if not fact.event_count:
            return fold
        if memo is None:
            return None
        fold.keys = dict(memo.keys)
        fold.first_agency = memo.first_agency
        fold.named = dict(memo.named)
        fold.received_return_channel = memo.received_return_channel
        fold.returned_channel = memo.returned_channel
        fold.resolved_due, fold.resolved_timeliness = memo.resolved_due, memo.resolved_timeliness
        fold.supplement_due = memo.supplement_due
        fold.open = {h.step_no: StepFact(fact.dossier_code, h.idx, fact.agency_code, h.step_no,
                                         h.step_code, h.department, h.assignee, h.since, None,
                                         h.step_due_at, None, None)
                     for h in memo.open}
        fold._calendar_before = (fact.agency_code, fact.catalog_version)
        fold._steps_before = fact.step_count
        return fold


def _key(r: Recorded) -> SortKey:
    return r.key


def fold(code: str, events: Iterable[Recorded], calendar_for: CalendarFor
         ) -> tuple[DossierFact, list[StepFact]]:
    """The fact and step facts of one dossier from all its events (any order, duplicates
    by id ignored)."""
    folded = DossierFold.of(code, events, calendar_for)
    return folded.fact, folded.steps()


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


def contributed(f: DossierFact | None) -> Iterator[tuple[AggKey, str]]:
    """Each daily measure one fact counts in, with its (day, agency, procedure, channel)."""
    if f is None:
        return
    who = (f.agency_code, f.procedure_code, f.channel)
    if f.receipt_day is not None:
        key = (f.receipt_day, *who)
        yield key, "received"
        if f.channel == "online":
            yield key, "online"
    if f.resolved_at is not None:
        key = (_day(f.resolved_at), *who)
        yield key, "resolved"
        if f.timeliness:
            yield key, f.timeliness
    for at, measure in ((f.returned_at, "returned"), (f.refused_at, "refused"),
                        (f.withdrawn_at, "withdrawn"),
                        (f.overdue_at or (f.resolved_at if f.overdue else None), "overdue")):
        if at is not None:
            yield (_day(at), *who), measure


def contributions(f: DossierFact | None) -> dict[AggKey, Counter[str]]:
    """What one fact adds to the daily aggregates, per (day, agency, procedure, channel)."""
    out: dict[AggKey, Counter[str]] = {}
    for key, measure in contributed(f):
        out.setdefault(key, Counter())[measure] += 1
    return out
