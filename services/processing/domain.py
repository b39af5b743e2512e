"""Processing's decisions without I/O, on the stored case (case_record.CaseRecord): how it maps
to and from workflow.Case and the law's clock (legal_clock.ClockState), what each transition
does to them, the deadline monitor's columns, and which topics an event goes on (what the
API shows is case_views.py).

Intake's and digitization's topics are not ordered with each other, so a case opens once
both "received" and "digitized" are known, whichever came first, at the first step of the
procedure in the catalogue the dossier was received under (workflow's `open`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from contracts import topics
from contracts.catalog import Procedure
from contracts.common import Problem, ReturnChannel
from contracts.events import (
    DeadlineApproaching,
    DossierDigitized,
    DossierOverdue,
    DossierReceived,
    DossierResolved,
    Event,
    ResultIssued,
    ResultReturned,
    StepAssigned,
    VerificationAnswered,
    VerificationRequested,
)
from services.law.workdays import TZ, WorkCalendar
from services.processing import agency_requests, legal_clock
from services.processing.case_record import CaseRecord, StoredClock
from services.processing.workflow import Action, Case, State, Transition

WAITING = State.waiting.value
Proposal = Literal["approve", "deny"] | None

# What arrives as events only; the rest is an officer's (POST .../actions).
EVENT_ACTIONS = frozenset({Action.open, Action.supplement_received, Action.withdraw})
OFFICER_ACTIONS = tuple(a for a in Action if a not in EVENT_ACTIONS)
# Who holds a case once every step is done: the agency's leader decides (approve / deny).
LEADERSHIP = "Lãnh đạo cơ quan"


# --- the stored case and workflow.Case ------------------------------------------------------


def new_record(code: str) -> CaseRecord:
    """A case known only by its code so far: it waits."""
    return CaseRecord(code=code, state=WAITING)


def _known(record: CaseRecord, facts: dict[str, object]) -> CaseRecord:
    """The record with the facts it does not know yet (facts already known are kept, so a
    republished receipt cannot undo a restarted clock)."""
    return record.changed({k: v for k, v in facts.items() if getattr(record, k) is None})


def with_receipt(record: CaseRecord, event: DossierReceived) -> CaseRecord:
    return _known(record, {
        "agency_code": event.agency_code, "procedure_code": event.procedure_code,
        "catalog_version": event.catalog_version, "received_at": event.received_at,
        "due_at": event.due_at, "clock_start": event.received_at,
        "legal_time": event.legal_time, "applicant": event.applicant,
        "return_channel": event.return_channel.value, "channel": event.channel.value})


def with_digitized(record: CaseRecord, event: DossierDigitized) -> CaseRecord:
    return _known(record, {"digitized_at": event.digitized_at})


def with_extractions(record: CaseRecord, event: DossierDigitized) -> CaseRecord:
    """What OCR read of the dossier's scanned declaration forms, each from its latest scan
    (a form scanned again, e.g. the corrected paper of a supplement, replaces its summary;
    one scanned again without extraction drops it), kept on the case; the record itself
    when nothing changes, or the event does not say (written before it carried them)."""
    if event.extractions is None:
        return record
    flags = {e.form_code: e.model_dump(mode="json") for e in event.extractions} or None
    if flags == (record.extraction_flags or None):
        return record
    return record.changed({"extraction_flags": flags})


def declaration_mismatch(record: CaseRecord) -> bool:
    """Whether any scanned form contradicts what the applicant declared."""
    return any(summary.get("mismatches")
               for summary in (record.extraction_flags or {}).values())


def ready_to_open(record: CaseRecord) -> bool:
    return record.state == WAITING and bool(record.received_at) and \
        bool(record.digitized_at)


def to_case(record: CaseRecord, procedure: Procedure) -> Case:
    """The workflow's view of a case."""
    return Case(
        code=record.code, agency_code=record.agency_code or "",
        procedure_code=procedure.code, steps=tuple(procedure.steps),
        state=State(record.state), current_step=record.current_step,
        holder=record.holder, clock_start=record.clock_start, due_at=record.due_at,
        applicant=record.applicant, result_type=procedure.result_type,
        return_channel=ReturnChannel(record.return_channel) if record.return_channel
        else None,
        proposal=cast(Proposal, record.proposal),
        supplement_rounds=record.supplement_rounds, verifications=record.verifications,
        open_request=record.open_request, asked_agency=record.asked_agency,
        stop_notice=record.stop_notice, step_dues=record.step_dues)


def with_case(record: CaseRecord, case: Case) -> CaseRecord:
    """The record with the fields a transition may change, as the case has them."""
    return record.changed({
        "state": case.state.value, "current_step": case.current_step, "holder": case.holder,
        "department": department(case), "clock_start": case.clock_start,
        "due_at": case.due_at, "step_dues": case.step_dues,
        "return_channel": case.return_channel.value if case.return_channel else None,
        "proposal": case.proposal, "supplement_rounds": case.supplement_rounds,
        "verifications": case.verifications, "open_request": case.open_request,
        "asked_agency": case.asked_agency, "stop_notice": case.stop_notice,
    })


def department(case: Case) -> str | None:
    """Who holds the case in its state: the step's department, or the leadership."""
    if case.state == State.deciding:
        return LEADERSHIP
    if case.state in (State.in_step, State.waiting_supplement, State.waiting_agency):
        return case.step.department if case.step else None
    return None


# --- the law's clock --------------------------------------------------------------------------


def clock_state(record: CaseRecord, calendar: WorkCalendar) -> legal_clock.ClockState | None:
    """The stored clock; for a case not opened yet, the one its receipt would start."""
    lt, received = record.legal_time, record.received_at
    if lt is None or received is None:
        return None
    stored = record.clock
    if stored is None:
        return legal_clock.open_clock(received, lt, calendar)
    return legal_clock.ClockState(received, lt, calendar, stored.periods, stored.restarts)


def stored_clock(state: legal_clock.ClockState) -> StoredClock:
    return StoredClock(state.periods, state.restarts)


def _opened_clock(record: CaseRecord, calendar: WorkCalendar
                  ) -> legal_clock.ClockState | None:
    """The clock from receipt; a supplement completed at the counter before the case opened
    restarted it (the counter asked at receipt: intake's stage "intake")."""
    lt, received = record.legal_time, record.received_at
    if lt is None or received is None:
        return None
    state = legal_clock.open_clock(received, lt, calendar)
    start = record.clock_start
    if start is not None and start > received:
        state = legal_clock.restart_after_supplement(
            legal_clock.request_supplement(state, received), start)
    return state


def advance_clock(record: CaseRecord, calendar: WorkCalendar, action: Action,
                  done: Transition, at: datetime) -> legal_clock.ClockState | None:
    """What a transition does to the clock (docs/law.md#processing-handovers-and-the-control-slip):
    each handover starts the next holder's working time, a supplement stops the clock and its
    completion restarts it, another agency's time is its own, the decision ends it."""
    state = _opened_clock(record, calendar) if action == Action.open else \
        clock_state(record, calendar)
    if state is None or not state.periods or state.periods[-1].end is not None:
        return state
    at = max(at, state.periods[-1].start)  # events may arrive late: never run backwards
    case = done.case
    held_by = department(case) or ""
    if action in (Action.open, Action.return_to_step) or \
            (action == Action.complete_step and case.state in (State.in_step, State.deciding)):
        return legal_clock.hand_over(state, at, held_by)
    if action == Action.claim:
        return legal_clock.hand_over(state, at, held_by, case.holder)
    if action == Action.request_supplement:
        return legal_clock.request_supplement(state, at)
    if action == Action.supplement_received and case.state == State.in_step:
        return legal_clock.restart_after_supplement(state, at, held_by, case.holder)
    if action == Action.ask_agency:
        return legal_clock.pause_for_agency(state, at, case.asked_agency or "")
    if action == Action.record_agency_answer:
        return legal_clock.resume(state, at, held_by, case.holder)
    if action in (Action.approve, Action.deny, Action.stop, Action.withdraw):
        return legal_clock.finish(state, at)
    return state


def supplement_window(record: CaseRecord, calendar: WorkCalendar, at: datetime,
                      within_days: int) -> list[Problem]:
    """Processing's request comes within `within_days` working days of receiving the
    complete dossier (docs/law.md#supplements-and-the-restarted-clock, "(confirm)"), or 422
    supplement_late. Its "once" is the workflow's guard (supplement_rounds): a request at the
    counter before the case opened was intake's one request, so clock's supplement_repeated
    is not processing's."""
    state = clock_state(record, calendar)
    if state is None:
        return []
    start = legal_clock.clock_start(state)
    if "supplement_late" not in legal_clock.supplement_problems(state, at, within_days,
                                                          since=start):
        return []
    until = legal_clock.supplement_until(state, within_days, start).astimezone(TZ)
    return [Problem.of(
        "supplement_late",
        f"Đã quá thời hạn yêu cầu bổ sung hồ sơ: {within_days} ngày làm việc kể từ ngày "
        f"nhận đủ hồ sơ (đến {until:%H:%M ngày %d/%m/%Y})",
        f"a supplement must be asked within {within_days} working days of receiving the "
        f"complete dossier (until {until.isoformat()})", "action")]


def step_dues(record: CaseRecord, procedure: Procedure, calendar: WorkCalendar,
              start: datetime) -> list[datetime]:
    """Each step's due time on the law's calendar from the clock's start."""
    if record.legal_time is None:
        return []
    return legal_clock.step_due_times(start, record.legal_time, procedure.steps, calendar)


# --- the deadline monitor ---------------------------------------------------------------------

# States in which a dossier is resolved: no alert is pending and none is listed.
RESOLVED = frozenset({State.approved.value, State.denied.value, State.stopped.value,
                      State.result_issued.value, State.returned.value,
                      State.withdrawn.value})
NEAR, OVERDUE = "near", "overdue"


@dataclass(frozen=True)
class AlertPolicy:
    """The monitor's thresholds (legal_clock.thresholds): working days left, share of the legal
    time used; either may be None (off)."""

    near_days: float | None = 1
    used_share: float | None = 0.8


def fired_alerts(record: CaseRecord) -> set[str]:
    return set(record.alerts_fired or ())


def deadline_status(fired: set[str], state: str, restarts: int) -> str | None:
    """What `deadline=near|overdue` lists: overdue once a DossierOverdue fired (a late
    dossier stays late, whatever restarts the clock); near once the current run's
    DeadlineApproaching fired; nothing once the dossier is resolved."""
    if state in RESOLVED:
        return None
    if any(k.startswith("overdue") for k in fired):
        return OVERDUE
    run = f"restart-{restarts}" if restarts else ""
    if any(k.startswith("approaching") and k.partition("@")[2] == run for k in fired):
        return NEAR
    return None


def sub_alerts(record: CaseRecord, calendar: WorkCalendar, policy: AlertPolicy
               ) -> list[legal_clock.Alert]:
    """The thresholds of the sub-deadline of the request another agency has yet to answer
    (docs/law.md#other-agencies-and-delay-attribution); [] without one."""
    if not record.agency_requests:
        return []
    return agency_requests.thresholds(record.agency_requests, calendar, policy.near_days,
                                      policy.used_share)


@dataclass(frozen=True, slots=True)
class AlertColumns:
    """The deadline monitor's columns of a case."""

    next_alert_at: datetime | None
    alerts_fired: tuple[str, ...]
    deadline: str | None

    def differ(self, record: CaseRecord) -> bool:
        return (self.next_alert_at, self.alerts_fired, self.deadline) != (
            record.next_alert_at, record.alerts_fired, record.deadline)

    def on(self, record: CaseRecord) -> CaseRecord:
        return record.changed({"next_alert_at": self.next_alert_at,
                               "alerts_fired": self.alerts_fired, "deadline": self.deadline})


def alert_values(state: legal_clock.ClockState | None, fired: set[str], case_state: str,
                 now: datetime, policy: AlertPolicy,
                 requests: list[legal_clock.Alert] | None = None) -> AlertColumns:
    """The monitor's columns after the clock changed or an alert fired: the next threshold
    not fired yet, the dossier's (NULL while the clock is stopped or finished) or the open
    request's sub-deadline's (`requests`: sub_alerts), the fired set, and the list's
    deadline status. In memory: no query."""
    following = None
    if state is not None and state.periods and case_state not in RESOLVED:
        following = legal_clock.next_alert(state, fired, now, policy.near_days, policy.used_share)
    if requests and case_state not in RESOLVED:
        sub = legal_clock.next_sub_deadline_alert(requests, fired, now)
        if sub is not None and (following is None or sub.at < following.at):
            following = sub
    restarts = len(state.restarts) if state is not None else 0
    return AlertColumns(following.at if following else None, tuple(sorted(fired)),
                        deadline_status(fired, case_state, restarts))


def due_alerts(state: legal_clock.ClockState, fired: set[str], now: datetime,
               policy: AlertPolicy) -> list[legal_clock.Alert]:
    """The thresholds to fire now, each once: stale ones (passed together with a later
    one) are skipped by legal_clock.next_alert, so a dossier found long late is only overdue."""
    out: list[legal_clock.Alert] = []
    seen = set(fired)
    while (alert := legal_clock.next_alert(state, seen, now, policy.near_days,
                                     policy.used_share)) is not None and alert.at <= now:
        out.append(alert)
        seen.add(alert.kind)
    return out


def alert_event(code: str, state: legal_clock.ClockState, alert: legal_clock.Alert,
                now: datetime) -> Event:
    """The contract event of a threshold: DeadlineApproaching or DossierOverdue, with the
    department, or the other agency, that held the dossier at the due time
    (docs/law.md#other-agencies-and-delay-attribution)."""
    due = legal_clock.due_at(state)
    if alert.event == legal_clock.OVERDUE:
        holder = legal_clock.responsible(state, due) or legal_clock.responsible(state, now)
        department = legal_clock.responsible_party(holder) if holder else None
        return DossierOverdue(dossier_code=code, due_at=due, detected_at=now,
                              responsible_department=department)
    return DeadlineApproaching(dossier_code=code, due_at=due, warned_at=now)


# --- what a transition writes -----------------------------------------------------------------


def topics_for(event: Event) -> list[topics.Topic]:
    """Processing's topic always; results go on the public one too, and supplement requests
    on the counter's, as the registry says."""
    return [t for t in (topics.PROCESSING, topics.SUPPLEMENTS, topics.RESULTS)
            if event.event_type in t.events]


def written(record: CaseRecord, done: Transition, state: legal_clock.ClockState | None,
            now: datetime) -> CaseRecord:
    """The case after a transition."""
    values: dict[str, object] = {"updated_at": now}
    if state is not None:
        values["clock"] = stored_clock(state)
    assigned = sum(isinstance(e, StepAssigned) for e in done.events)
    values["assignments"] = record.assignments + assigned
    if done.history["action"] == Action.open.value:
        values["opened_at"] = done.history["at"]
    result, requests = record.result, record.agency_requests
    for event in done.events:
        if isinstance(event, DossierResolved | ResultIssued):
            result = result_values(result, event)
        elif isinstance(event, ResultReturned):
            result = returned_values(result, event, done.case)
        elif isinstance(event, VerificationRequested | VerificationAnswered):
            requests = agency_requests.recorded(requests, event)
    if result is not record.result:
        values["result"] = result
    if requests is not record.agency_requests:
        values["agency_requests"] = requests
    return with_case(record, done.case).changed(values)


def result_values(kept: dict[str, object] | None, event: DossierResolved | ResultIssued
                  ) -> dict[str, object]:
    """The decision as DossierResolved said it, then ResultIssued's code and document: what
    the result document prints."""
    if isinstance(event, DossierResolved):
        return event.model_dump(mode="json")
    return (kept or {}) | {"result_code": event.result_code, "result_type": event.result_type,
                           "document_ref": event.document_ref,
                           "verification_url": event.verification_url,
                           "issued_at": event.issued_at.isoformat()}


def returned_values(kept: dict[str, object] | None, event: ResultReturned, case: Case
                    ) -> dict[str, object]:
    """How the result went back, kept with the decision (the case's `result`): the
    reference is the case's, since the event publishes no online account."""
    return (kept or {}) | {"returned": {"returned_at": event.returned_at.isoformat(),
                                        "return_channel": event.return_channel.value,
                                        "reference": case.return_reference}}


def result_document_ref(code: str, at: datetime) -> str:
    """An opaque reference of the result document (never built from personal numbers)."""
    digest = hashlib.sha256(f"{code}|{at.isoformat()}".encode()).hexdigest()[:16]
    return f"doc-{digest}"


def sub_agencies(indexes: list[Any], code: str) -> set[str]:
    """The agency and every agency under it, in any version of the catalogue (an agency
    merged away keeps its old dossiers under its old parent)."""
    return {code} | {a for index in indexes for a in index.agencies
                     if code in index.ancestors(a)}
