"""The law's clock of a dossier in processing (docs/law.md#counting-a-period and after).

Pure: every moment is passed in, nothing is read or written. Due times come from the one
calendar module (`services.law.workdays.WorkCalendar.due_at`); this module adds what
processing needs on top of it: who held the dossier and for how long, the supplement
restart, working time used and left, the deadline monitor's thresholds and the outcome of
a step or a dossier.

Two measures of time are used, on purpose:
- the *legal measure* runs the dossier's legal time in the procedure's unit (working days
  after the day of receipt; days that skip holidays; office hours). Thresholds, "used" and
  "left" are on it, and it reaches the legal time exactly at `due_at`.
- *working time* (office hours of working days) is what a holder actually spent; every
  period is attributed with it (docs/law.md#processing-handovers-and-the-control-slip;
  Decree 61/2018 Art. 30 time at each agency).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal, NamedTuple

from contracts.catalog import StepSpec
from contracts.common import LegalTime, Timeliness, TimeUnit
from services.law.workdays import TZ, WorkCalendar, timeliness

__all__ = [
    "AGENCY",
    "APPROACHING",
    "OTHER_AGENCY",
    "OVERDUE",
    "SUB_DEADLINE",
    "SUPPLEMENT",
    "Alert",
    "Amount",
    "ApologyOutcome",
    "ClockState",
    "Holder",
    "Period",
    "apology_outcome",
    "apology_problems",
    "attributed_time",
    "clock_start",
    "due_at",
    "finish",
    "hand_over",
    "handover_due",
    "is_running",
    "next_alert",
    "next_sub_deadline_alert",
    "open_clock",
    "pause_for_agency",
    "request_supplement",
    "responsible",
    "responsible_party",
    "restart_after_supplement",
    "resume",
    "runs",
    "step_due_times",
    "sub_deadline_thresholds",
    "supplement_problems",
    "supplement_until",
    "thresholds",
    "timeliness",
    "working_time_between",
    "working_time_left",
    "working_time_used",
]

AGENCY = "agency-processing"
SUPPLEMENT = "supplement"
OTHER_AGENCY = "other-agency:"  # followed by the other agency's code

# Event names a threshold kind maps to (contracts.events).
APPROACHING = "DeadlineApproaching"
OVERDUE = "DossierOverdue"

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta()
# "On time" is "no later than the due time" (docs/law.md#counting-a-period): overdue
# only after it: the overdue threshold sits one tick after the due time.
_JUST_AFTER = timedelta(microseconds=1)
# A misconfigured calendar (nothing counts) must fail loudly rather than loop forever.
_MAX_GAP_DAYS = 366

Window = tuple[datetime, datetime]


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Who held the dossier from `start` to `end` (None: still holds it)."""

    start: datetime
    end: datetime | None
    kind: str  # AGENCY | SUPPLEMENT | OTHER_AGENCY + code
    department: str | None = None
    officer: str | None = None

    def __post_init__(self) -> None:
        _local(self.start)
        if self.end is not None and _local(self.end) < self.start:
            raise ValueError("a period cannot end before it starts")
        if self.kind not in (AGENCY, SUPPLEMENT) and not (
                self.kind.startswith(OTHER_AGENCY) and len(self.kind) > len(OTHER_AGENCY)):
            raise ValueError(f"unknown period kind: {self.kind!r}")


@dataclass(frozen=True)
class ClockState:
    """A dossier's clock: the real moment of receipt (as on DossierReceived; the calendar
    derives the legal day of receipt from it), its legal time, the agency's calendar, the
    periods of whoever held it, and the moments a completing supplement restarted it."""

    received_at: datetime
    legal_time: LegalTime
    calendar: WorkCalendar
    periods: tuple[Period, ...] = ()
    restarts: tuple[datetime, ...] = ()

    def __post_init__(self) -> None:
        _local(self.received_at)


class Amount(NamedTuple):
    """A length of time in the unit the legal time dictates."""

    value: float
    unit: Literal["working_days", "days", "hours"]


class Holder(NamedTuple):
    kind: str
    department: str | None
    officer: str | None


class Alert(NamedTuple):
    """A threshold: `kind` is its identity (fired once per dossier clock), `at` its moment."""

    kind: str
    at: datetime

    @property
    def event(self) -> str:
        return OVERDUE if self.kind.startswith("overdue") or self.kind.endswith(":overdue") \
            else APPROACHING


class ApologyOutcome(NamedTuple):
    reported: Timeliness  # what every report shows: judged against the original due time
    kept_reappointment: bool  # for the evaluation: was the re-appointed date met?


# --- small helpers (calendar arithmetic that belongs in services/law/workdays.py) ------------


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("moments must be timezone-aware")
    return moment.astimezone(TZ)


def _day_length(calendar: WorkCalendar) -> timedelta:
    rules = calendar.rules
    return datetime.combine(date.min, rules.closes) - datetime.combine(date.min, rules.opens)


def _windows(calendar: WorkCalendar, first_day: date,
             counts: Callable[[date], bool]) -> Iterator[Window]:
    """Office hours [opens, closes) of every day from `first_day` on that `counts`."""
    opens, closes = calendar.rules.opens, calendar.rules.closes
    day, gap = first_day, 0
    while True:
        if counts(day):
            gap = 0
            yield (datetime.combine(day, opens, tzinfo=TZ),
                   datetime.combine(day, closes, tzinfo=TZ))
        else:
            gap += 1
            if gap > _MAX_GAP_DAYS:
                raise ValueError(f"no counting day within {_MAX_GAP_DAYS} days after {day}")
        day += _ONE_DAY


def _measure(windows: Iterator[Window], a: datetime, b: datetime) -> timedelta:
    """Time inside the windows between a and b."""
    total = _ZERO
    if b <= a:
        return total
    for opens, closes in windows:
        if opens >= b:
            break
        lo, hi = max(opens, a), min(closes, b)
        if hi > lo:
            total += hi - lo
    return total


def _position(windows: Iterator[Window], start: datetime, amount: timedelta) -> datetime:
    """The earliest moment at which `amount` of window time has run since `start`."""
    if amount <= _ZERO:
        return _local(start)
    remaining = amount
    for opens, closes in windows:
        lo = max(opens, start)
        if closes <= lo:
            continue
        if remaining <= closes - lo:
            return lo + remaining
        remaining -= closes - lo
    raise AssertionError("windows are endless")  # pragma: no cover


def _previous_working_day(calendar: WorkCalendar, d: date) -> date:
    """The last working day strictly before `d` (workdays.py has only the forward one)."""
    cur = d
    for _ in range(_MAX_GAP_DAYS):
        cur -= _ONE_DAY
        if calendar.is_working_day(cur):
            return cur
    raise ValueError(f"no working day within {_MAX_GAP_DAYS} days before {d}")


def working_time_between(calendar: WorkCalendar, a: datetime, b: datetime) -> timedelta:
    """Office hours of working days between two moments (belongs in workdays.py)."""
    return _measure(_windows(calendar, _local(a).date(), calendar.is_working_day), a, b)


def _amount(td: timedelta, calendar: WorkCalendar,
            unit: Literal["working_days", "days", "hours"]) -> Amount:
    if unit == "hours":
        return Amount(td / timedelta(hours=1), unit)
    return Amount(td / _day_length(calendar), unit)


def _legal_unit(unit: TimeUnit) -> Literal["working_days", "days", "hours"]:
    if unit is TimeUnit.working_days:
        return "working_days"
    if unit is TimeUnit.days_excluding_holidays:
        return "days"
    return "hours"  # hours, and same-day procedures (measured within the day)


# --- the legal measure ----------------------------------------------------------------------


def clock_start(state: ClockState) -> datetime:
    """Law on Social Insurance 2024: legal times run "kể từ ngày nhận đủ hồ sơ", so the
    clock starts at receipt or at the last supplement that completed the dossier."""
    return state.restarts[-1] if state.restarts else state.received_at


def due_at(state: ClockState) -> datetime:
    """The appointment of the current run, by the one calendar rule (docs/law.md#units),
    the same call intake makes on DossierReceived and SupplementReceived."""
    return state.calendar.due_at(clock_start(state), state.legal_time)


def _legal_windows(state: ClockState) -> Iterator[Window]:
    cal, unit, start = state.calendar, state.legal_time.unit, clock_start(state)
    if unit in (TimeUnit.working_days, TimeUnit.days_excluding_holidays):
        # Civil Code 2015 Art. 147 and Decree 45/2020: the (possibly moved) day of receipt
        # is not counted. "Days excluding holidays" count weekends but skip public holidays.
        day, _ = cal.receipt_day(start)
        counts = cal.is_working_day if unit is TimeUnit.working_days else (
            lambda d: not cal.is_public_holiday(d))
        return _windows(cal, day + _ONE_DAY, counts)
    # Hours and same-day run inside office hours of working days from the moment itself.
    return _windows(cal, _local(start).date(), cal.is_working_day)


def _run_end(state: ClockState) -> datetime | None:
    """When the current run stopped: a supplement asked after it started, or the end."""
    start = clock_start(state)
    for p in state.periods:
        # The supplement that caused the restart ended at `start`; a later one stops it.
        if p.kind == SUPPLEMENT and p.start >= start and (p.end is None or p.end > start):
            return p.start
    last = state.periods[-1] if state.periods else None
    return last.end if last is not None else None


def is_running(state: ClockState, now: datetime) -> bool:
    """The clock runs unless a supplement stopped it or the dossier was finished."""
    end = _run_end(state)
    return end is None or end > now


def _legal_total(state: ClockState) -> timedelta:
    # The legal time on the legal measure; measured up to due_at so that it includes
    # Civil Code Art. 148's extension when a period of days ends on a day off.
    return _measure(_legal_windows(state), clock_start(state), due_at(state))


def _used(state: ClockState, now: datetime) -> timedelta:
    end = _run_end(state)
    stop = now if end is None else min(now, end)
    return _measure(_legal_windows(state), clock_start(state), stop)


def working_time_used(state: ClockState, now: datetime) -> Amount:
    """Legal time used by the current run (whoever held it), in the procedure's unit."""
    return _amount(_used(state, now), state.calendar, _legal_unit(state.legal_time.unit))


def working_time_left(state: ClockState, now: datetime) -> Amount:
    """Legal time left in the current run; zero once the due time has passed."""
    left = max(_ZERO, _legal_total(state) - _used(state, now))
    return _amount(left, state.calendar, _legal_unit(state.legal_time.unit))


def runs(state: ClockState) -> list[tuple[datetime, datetime | None]]:
    """Every run of the clock, the stopped ones kept for the report and the evaluation
    (docs/law.md#supplements-and-the-restarted-clock)."""
    starts = [state.received_at, *state.restarts]
    out: list[tuple[datetime, datetime | None]] = []
    for i, start in enumerate(starts):
        sub = replace(state, restarts=state.restarts[:i])
        out.append((start, _run_end(sub)))
    return out


# --- transitions ----------------------------------------------------------------------------


def open_clock(received_at: datetime, legal_time: LegalTime, calendar: WorkCalendar,
               department: str | None = None, officer: str | None = None) -> ClockState:
    """The clock of a DossierReceived: the receiving unit holds it from the real receipt."""
    return ClockState(received_at, legal_time, calendar,
                      (Period(received_at, None, AGENCY, department, officer),))


def _open_period(state: ClockState, at: datetime, *kinds: str) -> Period:
    last = state.periods[-1] if state.periods else None
    if last is None or last.end is not None:
        raise ValueError("the dossier is not held by anyone: the clock is finished")
    if at < last.start:
        raise ValueError("a change cannot come before the period it ends")
    if kinds and not any(last.kind.startswith(k) for k in kinds):
        raise ValueError(f"the dossier is in a {last.kind!r} period")
    return last


def _switch(state: ClockState, at: datetime, new: Period | None, *kinds: str) -> ClockState:
    last = _open_period(state, at, *kinds)
    periods = (*state.periods[:-1], replace(last, end=at))
    return replace(state, periods=periods if new is None else (*periods, new))


def hand_over(state: ClockState, at: datetime, department: str,
              officer: str | None = None) -> ClockState:
    """A handover on the control slip: the next holder's working time starts
    (docs/law.md#processing-handovers-and-the-control-slip)."""
    return _switch(state, at, Period(at, None, AGENCY, department, officer), AGENCY)


def request_supplement(state: ClockState, at: datetime) -> ClockState:
    """A supplement stops the clock, whether asked at the counter (intake) or during
    processing: one rule for both. The wait is the applicant's
    (docs/law.md#supplements-and-the-restarted-clock)."""
    return _switch(state, at, Period(at, None, SUPPLEMENT), AGENCY, OTHER_AGENCY)


def restart_after_supplement(state: ClockState, completed_at: datetime,
                             department: str | None = None,
                             officer: str | None = None) -> ClockState:
    """The dossier is complete: the legal time runs afresh from now ("kể từ ngày nhận đủ hồ
    sơ", Law on Social Insurance 2024); the earlier run is kept in the periods."""
    moved = _switch(state, completed_at, Period(completed_at, None, AGENCY, department,
                                                officer), SUPPLEMENT)
    return replace(moved, restarts=(*state.restarts, completed_at))


def pause_for_agency(state: ClockState, at: datetime, agency_code: str) -> ClockState:
    """Another agency (liên thông) holds the dossier: its time is attributed to it
    (docs/law.md#other-agencies-and-delay-attribution). The applicant's appointment stays."""
    return _switch(state, at, Period(at, None, OTHER_AGENCY + agency_code), AGENCY)


def resume(state: ClockState, at: datetime, department: str,
           officer: str | None = None) -> ClockState:
    """The other agency answered; the dossier is back with a BHXH department."""
    return _switch(state, at, Period(at, None, AGENCY, department, officer), OTHER_AGENCY)


def finish(state: ClockState, at: datetime) -> ClockState:
    """The result is ready (or the dossier withdrawn or stopped): the clock ends."""
    return _switch(state, at, None)


# --- attribution ----------------------------------------------------------------------------


def attributed_time(state: ClockState, now: datetime) -> dict[Holder, Amount]:
    """Working time of every holder over the dossier's whole life, both runs included:
    departments and officers, other agencies, and the applicant's supplement wait."""
    unit: Literal["working_days", "hours"] = (
        "hours" if _legal_unit(state.legal_time.unit) == "hours" else "working_days")
    spent: dict[Holder, timedelta] = {}
    for p in state.periods:
        key = Holder(p.kind, p.department, p.officer)
        td = working_time_between(state.calendar, p.start, p.end or max(now, p.start))
        spent[key] = spent.get(key, _ZERO) + td
    return {k: _amount(v, state.calendar, unit) for k, v in spent.items()}


def responsible(state: ClockState, at: datetime) -> Period | None:
    """Who held the dossier at `at` (e.g. the due time, for DossierOverdue's
    responsible_department): the delay is theirs
    (docs/law.md#other-agencies-and-delay-attribution)."""
    for p in reversed(state.periods):
        if p.start <= at and (p.end is None or at < p.end):
            return p
    return None


def responsible_party(period: Period | Holder) -> str | None:
    """Who answers for a period's time, e.g. in DossierOverdue's responsible_department:
    the BHXH department that held the dossier, the other agency that held it (its code;
    docs/law.md#other-agencies-and-delay-attribution), or nobody
    for the applicant's supplement wait."""
    if period.kind.startswith(OTHER_AGENCY):
        return period.kind[len(OTHER_AGENCY):]
    if period.kind == SUPPLEMENT:
        return None
    return period.department or None


# --- the deadline monitor -------------------------------------------------------------------


def thresholds(state: ClockState, near_days: float | None = 1,
               used_share: float | None = 0.8) -> list[Alert]:
    """The current run's thresholds, in order: DeadlineApproaching when `used_share` of the
    legal time is used and when `near_days` working days are left (both configurable, seed
    004 "nhắc nhở, cảnh báo"), DossierOverdue just after the due time. A restarted clock is
    a new legal time, so its thresholds are new ones (suffix "@restart-N")."""
    lt = state.legal_time
    return list(_thresholds(state.calendar, clock_start(state), lt.value, lt.unit,
                            len(state.restarts), near_days, used_share))


@functools.lru_cache(maxsize=8192)
def _thresholds(calendar: WorkCalendar, start: datetime, value: int, unit: TimeUnit,
                restarts: int, near_days: float | None, used_share: float | None
                ) -> tuple[Alert, ...]:
    # They depend on the run's start and legal time only, not on who held the dossier:
    # the monitor asks several times per case per tick, and many cases share a start.
    run = ClockState(start, LegalTime(value=value, unit=unit), calendar)
    due = due_at(run)
    total = _legal_total(run)
    suffix = f"@restart-{restarts}" if restarts else ""
    alerts: list[Alert] = []
    if used_share is not None:
        used = timedelta(seconds=round(total.total_seconds() * used_share))
        at = min(_position(_legal_windows(run), start, used), due)
        alerts.append(Alert(f"approaching:used-{used_share:.0%}{suffix}", at))
    if near_days is not None:
        left = total - near_days * _day_length(calendar)
        at = min(_position(_legal_windows(run), start, left), due)
        alerts.append(Alert(f"approaching:left-{near_days:g}d{suffix}", at))
    alerts.append(Alert(f"overdue{suffix}", due + _JUST_AFTER))
    return tuple(sorted(alerts, key=lambda a: a.at))


def next_alert(state: ClockState, fired: set[str], now: datetime, near_days: float | None = 1,
               used_share: float | None = 0.8) -> Alert | None:
    """The earliest threshold not yet fired, for the monitor's indexed next-alert time.

    Each fires once (`fired` holds the kinds already sent). A threshold whose moment has
    passed together with a later one is stale and skipped: a dossier found 40 days late is
    overdue at once, not first "approaching". None while the clock is stopped.
    """
    if not is_running(state, now):
        return None
    return _first_pending(thresholds(state, near_days, used_share), fired, now)


def _first_pending(alerts: Sequence[Alert], fired: set[str], now: datetime) -> Alert | None:
    """The first of `alerts` (in order) not fired, stale ones skipped."""
    latest_passed = max((a.at for a in alerts if a.at <= now), default=None)
    for alert in alerts:
        if alert.kind in fired:
            continue
        if latest_passed is not None and alert.at < latest_passed:
            continue
        return alert
    return None


# --- another agency's sub-deadline ----------------------------------------------------------

SUB_DEADLINE = "sub-deadline:"  # followed by the request's id, ":approaching" or ":overdue"


def sub_deadline_thresholds(calendar: WorkCalendar, request_id: str, requested_at: datetime,
                            sub_due_at: datetime, near_days: float | None = 1,
                            used_share: float | None = 0.8) -> list[Alert]:
    """The thresholds of a request to another agency (liên thông,
    docs/law.md#other-agencies-and-delay-attribution), on office hours of working days
    between the request and its sub-deadline: one DeadlineApproaching at the earlier of the
    dossier's two policy thresholds (`used_share` of that time used; `near_days` working
    days left, when the sub-deadline is further off than that), and DossierOverdue just
    after the sub-deadline. Their kinds never start with "approaching" or "overdue": the
    dossier's own deadline status is not theirs."""
    kind = f"{SUB_DEADLINE}{request_id}"
    total = working_time_between(calendar, requested_at, sub_due_at)
    windows = functools.partial(_windows, calendar, _local(requested_at).date(),
                                calendar.is_working_day)
    warn: list[datetime] = []
    if total > _ZERO and used_share is not None:
        used = timedelta(seconds=round(total.total_seconds() * used_share))
        warn.append(_position(windows(), requested_at, used))
    if near_days is not None and total > near_days * _day_length(calendar):
        warn.append(_position(windows(), requested_at, total - near_days * _day_length(calendar)))
    alerts = [Alert(f"{kind}:approaching", min(min(warn), sub_due_at))] if warn else []
    return [*alerts, Alert(f"{kind}:overdue", sub_due_at + _JUST_AFTER)]


def next_sub_deadline_alert(alerts: Sequence[Alert], fired: set[str], now: datetime
                            ) -> Alert | None:
    """The request's earliest threshold not fired; stale ones skipped as the dossier's
    are (a request found long past its sub-deadline is only overdue)."""
    return _first_pending(alerts, fired, now)


# --- steps, outcomes, apologies -------------------------------------------------------------


def step_due_times(received: datetime, legal_time: LegalTime, steps: Sequence[StepSpec],
                   calendar: WorkCalendar) -> list[datetime]:
    """Each step's due time from its `share` of the legal time, cumulated in order (the
    control slip's "due for that step", docs/law.md#processing-handovers-and-the-control-slip).
    Shares summing past 1 (e.g. every step left at the default 1.0) are scaled to split the
    legal time; shares summing under 1 leave the rest before the dossier's due time."""
    state = open_clock(received, legal_time, calendar)
    start, due, total = received, due_at(state), _legal_total(state)
    scale = max(1.0, sum(s.share for s in steps))
    out: list[datetime] = []
    cumulated = 0.0
    for step in steps:
        cumulated += step.share / scale
        if cumulated >= 1 - 1e-9:
            out.append(due)
            continue
        amount = timedelta(minutes=round(total / timedelta(minutes=1) * cumulated))
        out.append(min(_position(_legal_windows(state), start, amount), due))
    return out


def handover_due(calendar: WorkCalendar, received_at: datetime) -> datetime:
    """Paper received at the counter after the cutoff (15:00) goes to the processing
    department on the next working day (Decree 61/2018, (confirm article)): the same-day
    rule, with the calendar's configurable cutoff."""
    return calendar.due_at(received_at, LegalTime(value=0, unit=TimeUnit.same_day))


def apology_outcome(done_at: datetime, original_due: datetime,
                    reappointed_due: datetime | None) -> ApologyOutcome:
    """The re-appointed date never makes a late dossier on time in the report
    (docs/law.md#explanation-and-apology-letter): the report judges the original due time;
    the new date is only checked for whether it was kept."""
    kept = reappointed_due is not None and done_at <= reappointed_due
    return ApologyOutcome(timeliness(done_at, original_due), kept)


def apology_problems(calendar: WorkCalendar, issued_at: datetime, original_due: datetime,
                     reappointed_due: datetime, earlier_apologies: int = 0,
                     days_before: int = 1, max_per_dossier: int = 1) -> list[str]:
    """docs/law.md#explanation-and-apology-letter: issued before the due date, at least
    `days_before` working day before it, once per dossier (both (confirm), hence
    parameters), and a later date."""
    problems: list[str] = []
    latest = _local(original_due).date()
    for _ in range(days_before):
        latest = _previous_working_day(calendar, latest)
    if _local(issued_at).date() > latest:
        problems.append("apology_too_late")
    if earlier_apologies >= max_per_dossier:
        problems.append("apology_repeated")
    if reappointed_due <= original_due:
        problems.append("reappointment_not_later")
    return problems


def supplement_until(state: ClockState, within_days: int = 3,
                     since: datetime | None = None) -> datetime:
    """The last moment to ask for a supplement: the end of the `within_days`-th working day
    after receipt, or after `since` (e.g. the complete dossier's receipt, when the counter
    had to ask for it first: an incomplete dossier gets no receipt,
    docs/law.md#supplements-and-the-restarted-clock)."""
    return state.calendar.due_at(since or state.received_at,
                                 LegalTime(value=within_days, unit=TimeUnit.working_days))


def supplement_problems(state: ClockState, at: datetime, within_days: int = 3,
                        max_rounds: int = 1, since: datetime | None = None) -> list[str]:
    """docs/law.md#supplements-and-the-restarted-clock: one request listing everything (not
    several rounds), asked within 3 working days of receipt ((confirm), hence parameters)."""
    problems: list[str] = []
    if sum(p.kind == SUPPLEMENT for p in state.periods) >= max_rounds:
        problems.append("supplement_repeated")
    if at > supplement_until(state, within_days, since):
        problems.append("supplement_late")
    return problems
