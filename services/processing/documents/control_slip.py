"""The control slip (phiếu kiểm soát quá trình giải quyết hồ sơ) as data
(docs/law.md#processing-handovers-and-the-control-slip).

Pure: the case row, its step rows (tables.steps, in `seq` order or not) and the agency's
calendar in; a ControlSlip out, whose `to_json()` the API answers and whose figures
slip_pdf.py prints. No I/O, no clock: everything not yet done stays blank.

Each row is one handover: who handed the dossier to whom, when it was handed over and when
received, the due time of the giving holder's part, and whether that part was early, on
time or late (services.law.workdays.timeliness).

- Row 1: the one-stop unit to the first step's department. A paper dossier received at
  the counter from the cut-off (15:00) on goes over at the next working day's opening
  (docs/law.md#the-1500-rules, Decree 61/2018 (confirm article)), and is due by that day's end.
- One row per change of holder between steps: a step completed, or sent back.
- The step in progress: its row shows its due time, with nothing handed over yet.
- Every step done, the leader decides (domain.LEADERSHIP); once the result is back at the
  one-stop unit (`result_at`), a last row judged against the appointment.

Beside the rows, each request to another agency (liên thông) with its sub-deadline, its
answer judged against it, and whether the other agency overran it (as of `now`, for one
still unanswered; docs/law.md#other-agencies-and-delay-attribution).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time
from enum import StrEnum
from itertools import pairwise
from typing import Any, NamedTuple

from contracts.common import Timeliness
from services.law.workdays import TZ, WorkCalendar, timeliness
from services.processing import agency_requests
from services.processing.domain import LEADERSHIP
from services.processing.legal_clock import handover_due

ONE_STOP = "Bộ phận Một cửa"
# History actions after which the result (or the written notice of a refusal or a stop)
# is back at the one-stop unit for return (workflow.Action values).
RESULT_ACTIONS = frozenset({"issue_result", "deny", "stop"})


class Status(StrEnum):
    received = "received"              # handed over and taken by the receiving side
    to_be_received = "to_be_received"  # handed over; no officer has taken it yet
    in_progress = "in_progress"        # the giving side still holds it


class Note(StrEnum):
    after_cutoff = "after_cutoff"    # paper received from the cut-off on: next working day
    outside_hours = "outside_hours"  # received after closing or on a day off (Decree 45/2020)
    sent_back = "sent_back"          # returned to an earlier step, not completed


class Party(NamedTuple):
    """A unit (department) and, once known, its officer."""

    unit: str
    officer: str | None = None


@dataclass(frozen=True)
class Handover:
    """One row of the slip; `step_no` is the giving step's (None: one-stop unit, leader)."""

    giver: Party
    taker: Party | None
    handed_at: datetime | None
    received_at: datetime | None
    due_at: datetime | None
    outcome: Timeliness | None
    status: Status
    step_no: int | None = None
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class AgencyRequest:
    """A request to another agency: asked, due back by its sub-deadline, answered (None:
    not yet); `outcome` judges the answer against the sub-deadline; `overrun` also holds
    for one still unanswered past it."""

    request_id: str
    agency: str
    requested_at: datetime
    sub_due_at: datetime | None
    answered_at: datetime | None
    outcome: Timeliness | None
    overrun: bool


@dataclass(frozen=True)
class ControlSlip:
    dossier_code: str
    agency_code: str | None
    procedure_code: str | None
    state: str | None
    received_at: datetime
    due_at: datetime | None
    paper: bool
    cutoff: time
    rows: tuple[Handover, ...]
    other_agencies: tuple[AgencyRequest, ...] = ()

    @property
    def outcome(self) -> Timeliness | None:
        """The dossier's: the last row's once the result is back at the one-stop unit."""
        last = self.rows[-1]
        return last.outcome if last.taker == Party(ONE_STOP) else None

    def to_json(self) -> dict[str, Any]:
        """Times as ISO 8601 in Asia/Ho_Chi_Minh, enums as their values."""
        return {
            "dossier_code": self.dossier_code, "agency_code": self.agency_code,
            "procedure_code": self.procedure_code, "state": self.state,
            "received_at": _iso(self.received_at), "due_at": _iso(self.due_at),
            "paper": self.paper, "handover_cutoff": self.cutoff.strftime("%H:%M"),
            "outcome": _value(self.outcome),
            "rows": [_row_json(i, r) for i, r in enumerate(self.rows, start=1)],
            "other_agencies": [_request_json(r) for r in self.other_agencies],
        }


@dataclass(frozen=True)
class _Stay:
    """One stay of the dossier at a step: its assignment, then any claim or resumption
    after a supplement (step rows of the same step, the previous one not completed)."""

    step_no: int
    department: str
    arrived_at: datetime
    taken_by: str | None
    taken_at: datetime | None
    holder: str | None
    due_at: datetime | None
    completed_at: datetime | None
    outcome: Timeliness | None


# --- public -------------------------------------------------------------------------------


def build_control_slip(case: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                       calendar: WorkCalendar, *, paper: bool | None = None,
                       result_at: datetime | None = None,
                       cutoff: time | None = None,
                       now: datetime | None = None) -> ControlSlip:
    """The control slip of `case` (a cases row) from its `steps` (steps rows).

    paper: received on paper at the counter; None reads the row's `channel` ("counter").
    result_at: when the result (or the refusal/stop notice) went back to the one-stop
    unit, e.g. `result_handed_at(history)`; None: not yet, no last row.
    cutoff: the paper handover cut-off; None takes the calendar's (CalendarRules
    .same_day_cutoff, 15:00).
    now: when an unanswered request to another agency is judged overrun or not; None:
    only an answer says so.
    """
    code = str(case["code"])
    received = _when(case.get("received_at"), "received_at")
    if received is None:
        raise ValueError(f"case {code} has no received_at: nothing to hand over yet")
    if paper is None:
        paper = case.get("channel") == "counter"
    if cutoff is not None and cutoff != calendar.rules.same_day_cutoff:
        # CalendarRules checks the cut-off against office hours.
        calendar = WorkCalendar(replace(calendar.rules, same_day_cutoff=cutoff))
    stays = _stays(code, steps)
    due = _when(case.get("due_at"), "due_at")
    rows = [_first_row(calendar, received, paper, stays[0] if stays else None)]
    rows += [_between(a, b) for a, b in pairwise(stays)]
    if stays:
        rows += _last_rows(stays[-1], due, _when(result_at, "result_at"))
    return ControlSlip(code, case.get("agency_code"), case.get("procedure_code"),
                       case.get("state"), received, due, paper,
                       calendar.rules.same_day_cutoff, tuple(rows),
                       _agency_requests(case, now))


def control_slip(case: Mapping[str, Any], steps: Sequence[Mapping[str, Any]],
                 calendar: WorkCalendar, *, paper: bool | None = None,
                 result_at: datetime | None = None,
                 cutoff: time | None = None, now: datetime | None = None) -> dict[str, Any]:
    """`build_control_slip(...).to_json()`: the slip as the API answers it."""
    return build_control_slip(case, steps, calendar, paper=paper, result_at=result_at,
                              cutoff=cutoff, now=now).to_json()


def _agency_requests(case: Mapping[str, Any], now: datetime | None
                     ) -> tuple[AgencyRequest, ...]:
    out = []
    for r in case.get("agency_requests") or ():
        asked = _when(r["requested_at"], "requested_at")
        assert asked is not None
        due, answered = _when(r.get("sub_due_at"), "sub_due_at"), _when(
            r.get("answered_at"), "answered_at")
        # An answer is judged as given; an unanswered request as of `now`, if known.
        judged_at = answered or now
        overrun = judged_at is not None and \
            agency_requests.status(r, judged_at) in agency_requests.OVERRUN
        out.append(AgencyRequest(r["request_id"], r["agency"], asked, due, answered,
                                 timeliness(answered, due) if answered and due else None,
                                 overrun))
    return tuple(out)


def result_handed_at(history: Sequence[Mapping[str, Any]]) -> datetime | None:
    """When the result went back to the one-stop unit, from case_history rows: the last
    issue_result, deny or stop (a refusal's or a stop's notice is what is returned)."""
    times = [_when(h["at"], "at") for h in history if h.get("action") in RESULT_ACTIONS]
    return max((t for t in times if t is not None), default=None)


# --- rows ---------------------------------------------------------------------------------


def _first_row(calendar: WorkCalendar, received: datetime, paper: bool,
               first: _Stay | None) -> Handover:
    day, moved = calendar.receipt_day(received)
    notes: tuple[Note, ...] = (Note.outside_hours,) if moved else ()
    if paper:
        due = handover_due(calendar, received)
        if not moved and due.astimezone(TZ).date() != day:
            notes = (Note.after_cutoff,)
    else:
        # Decree 61/2018: an electronic dossier goes over at once; judged by the day.
        due = datetime.combine(day, calendar.rules.closes, tzinfo=TZ)
    opening = datetime.combine(due.astimezone(TZ).date(), calendar.rules.opens, tzinfo=TZ)
    giver = Party(ONE_STOP)
    if first is None:  # not yet opened in processing (waiting for digitization)
        return Handover(giver, None, None, None, due, None, Status.in_progress, notes=notes)
    # It goes over no earlier than the rule allows, and no earlier than processing opened
    # the case; paper taken in the system before it arrives is received when it arrives.
    handed = max(received, opening, first.arrived_at)
    taken = max(first.taken_at, handed) if first.taken_at else None
    return Handover(giver, Party(first.department, first.taken_by), handed, taken, due,
                    timeliness(handed, due), _status(taken), notes=notes)


def _between(a: _Stay, b: _Stay) -> Handover:
    handed = a.completed_at or b.arrived_at
    taken = max(b.taken_at, handed) if b.taken_at else None
    return Handover(Party(a.department, a.holder), Party(b.department, b.taken_by),
                    handed, taken, a.due_at, _judged(a, handed), _status(taken), a.step_no,
                    () if a.completed_at else (Note.sent_back,))


def _last_rows(last: _Stay, due: datetime | None, result_at: datetime | None) -> list[Handover]:
    holder = Party(last.department, last.holder)
    if last.completed_at is None and result_at is None:
        return [Handover(holder, None, None, None, last.due_at, None, Status.in_progress,
                         last.step_no)]
    rows: list[Handover] = []
    if last.completed_at is not None:
        # The leader's queue takes it at once: there is no claim to wait for.
        leader = Party(LEADERSHIP)
        rows.append(Handover(holder, leader, last.completed_at, last.completed_at,
                             last.due_at, _judged(last, last.completed_at), Status.received,
                             last.step_no))
        holder = leader
    if result_at is None:
        rows.append(Handover(holder, None, None, None, due, None, Status.in_progress))
    else:
        rows.append(Handover(holder, Party(ONE_STOP), result_at, result_at, due,
                             timeliness(result_at, due) if due else None, Status.received,
                             None if last.completed_at else last.step_no))
    return rows


def _judged(stay: _Stay, handed: datetime) -> Timeliness | None:
    # The outcome the workflow recorded at completion, else judged here (a step sent back).
    if stay.outcome is not None:
        return stay.outcome
    return timeliness(handed, stay.due_at) if stay.due_at else None


def _status(taken: datetime | None) -> Status:
    return Status.received if taken else Status.to_be_received


# --- step rows to stays -------------------------------------------------------------------


def _stays(code: str, steps: Sequence[Mapping[str, Any]]) -> list[_Stay]:
    groups: list[list[Mapping[str, Any]]] = []
    for row in sorted(steps, key=lambda r: int(r["seq"])):
        if row["dossier_code"] != code:
            raise ValueError(f"step row of {row['dossier_code']} given for {code}")
        prev = groups[-1][-1] if groups else None
        # A claim or a resumption repeats the step it continues; a completed step or
        # another step number starts a new stay.
        if prev is not None and prev["step_no"] == row["step_no"] and not prev.get("completed_at"):
            groups[-1].append(row)
        else:
            groups.append([row])
    return [_stay(g) for g in groups]


def _stay(rows: list[Mapping[str, Any]]) -> _Stay:
    first, last = rows[0], rows[-1]
    claimed = next((r for r in rows if r.get("assignee")), None)
    arrived = _when(first["assigned_at"], "assigned_at")
    assert arrived is not None  # tables.steps: assigned_at is NOT NULL
    return _Stay(
        step_no=int(first["step_no"]), department=str(first["department"]),
        arrived_at=arrived,
        taken_by=claimed["assignee"] if claimed else None,
        taken_at=_when(claimed["assigned_at"], "assigned_at") if claimed else None,
        holder=last.get("assignee"), due_at=_when(last.get("due_at"), "due_at"),
        completed_at=_when(last.get("completed_at"), "completed_at"),
        outcome=Timeliness(last["outcome"]) if last.get("outcome") else None)


# --- values -------------------------------------------------------------------------------


def _when(value: Any, what: str) -> datetime | None:
    """A row's time: a datetime or an ISO 8601 string (a JSON row), always aware."""
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware time, not {value!r}")
    return at


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(TZ).isoformat() if at else None


def _value(e: StrEnum | None) -> str | None:
    return e.value if e is not None else None


def _party(party: Party | None) -> dict[str, str | None] | None:
    return None if party is None else {"unit": party.unit, "officer": party.officer}


def _request_json(r: AgencyRequest) -> dict[str, Any]:
    return {"request_id": r.request_id, "agency": r.agency,
            "requested_at": _iso(r.requested_at), "sub_due_at": _iso(r.sub_due_at),
            "answered_at": _iso(r.answered_at), "outcome": _value(r.outcome),
            "overrun": r.overrun}


def _row_json(no: int, r: Handover) -> dict[str, Any]:
    return {"no": no, "from": _party(r.giver), "to": _party(r.taker),
            "handed_at": _iso(r.handed_at), "received_at": _iso(r.received_at),
            "due_at": _iso(r.due_at), "outcome": _value(r.outcome), "status": r.status.value,
            "step_no": r.step_no, "notes": [n.value for n in r.notes]}
