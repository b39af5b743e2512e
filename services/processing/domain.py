"""Processing's decisions without I/O: how a case row maps to and from workflow.Case and
the law's clock (legal_clock.ClockState), what each transition does to the clock, which topics an
event goes on, and what the API shows.

Intake's and digitization's topics are not ordered with each other, so a case opens once
both "received" and "digitized" are known, whichever came first, at the first step of the
procedure in the catalogue the dossier was received under (workflow's `open`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import topics
from contracts.catalog import Procedure
from contracts.common import ApplicantRef, LegalTime, Problem, ReturnChannel
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
from services.processing.workflow import Action, Case, State, Transition

WAITING = State.waiting.value

# What arrives as events only; the rest is an officer's (POST .../actions).
EVENT_ACTIONS = frozenset({Action.open, Action.supplement_received, Action.withdraw})
OFFICER_ACTIONS = tuple(a for a in Action if a not in EVENT_ACTIONS)
# Who holds a case once every step is done: the agency's leader decides (approve / deny).
LEADERSHIP = "Lãnh đạo cơ quan"


# --- rows in, rows out ------------------------------------------------------------------------


def new_row(code: str) -> dict[str, Any]:
    """A case known only by its code so far: it waits."""
    return {"code": code, "state": WAITING, "supplement_rounds": 0, "verifications": 0,
            "assignments": 0}


def received_values(event: DossierReceived) -> dict[str, Any]:
    return {"agency_code": event.agency_code, "procedure_code": event.procedure_code,
            "catalog_version": event.catalog_version, "received_at": event.received_at,
            "due_at": event.due_at, "clock_start": event.received_at,
            "legal_time": event.legal_time.model_dump(mode="json"),
            "applicant": event.applicant.model_dump(mode="json"),
            "return_channel": event.return_channel.value, "channel": event.channel.value}


def digitized_values(event: DossierDigitized) -> dict[str, Any]:
    return {"digitized_at": event.digitized_at}


def extraction_values(row: dict[str, Any], event: DossierDigitized) -> dict[str, Any]:
    """What OCR read of the dossier's scanned declaration forms, each from its latest scan
    (a form scanned again, e.g. the corrected paper of a supplement, replaces its summary;
    one scanned again without extraction drops it), kept on the case; {} when nothing
    changes, or the event does not say (written before it carried them)."""
    if event.extractions is None:
        return {}
    flags = {e.form_code: e.model_dump(mode="json") for e in event.extractions} or None
    return {} if flags == (row.get("extraction_flags") or None) else {"extraction_flags": flags}


def declaration_mismatch(flags: dict[str, Any] | None) -> bool:
    """Whether any scanned form contradicts what the applicant declared."""
    return any(summary.get("mismatches") for summary in (flags or {}).values())


def ready_to_open(row: dict[str, Any]) -> bool:
    return row["state"] == WAITING and bool(row.get("received_at")) and \
        bool(row.get("digitized_at"))


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def to_case(row: dict[str, Any], procedure: Procedure) -> Case:
    """The workflow's view of a case row."""
    return Case(
        code=row["code"], agency_code=row["agency_code"] or "",
        procedure_code=procedure.code, steps=tuple(procedure.steps),
        state=State(row["state"]), current_step=row.get("current_step"),
        holder=row.get("holder"), clock_start=row.get("clock_start"),
        due_at=row.get("due_at"),
        applicant=ApplicantRef.model_validate(row["applicant"]) if row.get("applicant")
        else None,
        result_type=procedure.result_type,
        return_channel=ReturnChannel(row["return_channel"]) if row.get("return_channel")
        else None,
        proposal=row.get("proposal"), supplement_rounds=row.get("supplement_rounds") or 0,
        verifications=row.get("verifications") or 0, open_request=row.get("open_request"),
        asked_agency=row.get("asked_agency"), stop_notice=row.get("stop_notice"),
        step_dues=tuple(d for d in map(_when, row.get("step_dues") or ()) if d))


def case_values(case: Case) -> dict[str, Any]:
    """The columns a transition may change."""
    return {
        "state": case.state.value, "current_step": case.current_step, "holder": case.holder,
        "department": _department(case), "clock_start": case.clock_start,
        "due_at": case.due_at,
        "step_dues": [d.isoformat() for d in case.step_dues] or None,
        "return_channel": case.return_channel.value if case.return_channel else None,
        "proposal": case.proposal, "supplement_rounds": case.supplement_rounds,
        "verifications": case.verifications, "open_request": case.open_request,
        "asked_agency": case.asked_agency, "stop_notice": case.stop_notice,
    }


def _department(case: Case) -> str | None:
    if case.state == State.deciding:
        return LEADERSHIP
    if case.state in (State.in_step, State.waiting_supplement, State.waiting_agency):
        return case.step.department if case.step else None
    return None


# --- the law's clock --------------------------------------------------------------------------


def legal_time(row: dict[str, Any]) -> LegalTime | None:
    return LegalTime.model_validate(row["legal_time"]) if row.get("legal_time") else None


def clock_state(row: dict[str, Any], calendar: WorkCalendar) -> legal_clock.ClockState | None:
    """The stored clock; for a case not opened yet, the one its receipt would start."""
    lt = legal_time(row)
    if lt is None or row.get("received_at") is None:
        return None
    stored = row.get("clock")
    if not stored:
        return legal_clock.open_clock(row["received_at"], lt, calendar)
    return legal_clock.ClockState(
        row["received_at"], lt, calendar,
        tuple(legal_clock.Period(_when(p["start"]), _when(p["end"]),  # type: ignore[arg-type]
                           p["kind"], p.get("department"), p.get("officer"))
              for p in stored["periods"]),
        tuple(_when(r) for r in stored.get("restarts", ())))  # type: ignore[misc]


def clock_json(state: legal_clock.ClockState) -> dict[str, Any]:
    return {"periods": [{"start": p.start.isoformat(),
                         "end": p.end.isoformat() if p.end else None, "kind": p.kind,
                         "department": p.department, "officer": p.officer}
                        for p in state.periods],
            "restarts": [r.isoformat() for r in state.restarts]}


def _opened_clock(row: dict[str, Any], calendar: WorkCalendar) -> legal_clock.ClockState | None:
    """The clock from receipt; a supplement completed at the counter before the case opened
    restarted it (the counter asked at receipt: intake's stage "intake")."""
    lt = legal_time(row)
    if lt is None or row.get("received_at") is None:
        return None
    state = legal_clock.open_clock(row["received_at"], lt, calendar)
    start = row.get("clock_start")
    if start is not None and start > row["received_at"]:
        state = legal_clock.restart_after_supplement(
            legal_clock.request_supplement(state, row["received_at"]), start)
    return state


def advance_clock(row: dict[str, Any], calendar: WorkCalendar, action: Action,
                  done: Transition, at: datetime) -> legal_clock.ClockState | None:
    """What a transition does to the clock (docs/law.md#processing-handovers-and-the-control-slip):
    each handover starts the next holder's working time, a supplement stops the clock and its
    completion restarts it, another agency's time is its own, the decision ends it."""
    state = _opened_clock(row, calendar) if action == Action.open else \
        clock_state(row, calendar)
    if state is None or not state.periods or state.periods[-1].end is not None:
        return state
    at = max(at, state.periods[-1].start)  # events may arrive late: never run backwards
    case = done.case
    department = _department(case) or ""
    if action in (Action.open, Action.return_to_step) or \
            (action == Action.complete_step and case.state in (State.in_step, State.deciding)):
        return legal_clock.hand_over(state, at, department)
    if action == Action.claim:
        return legal_clock.hand_over(state, at, department, case.holder)
    if action == Action.request_supplement:
        return legal_clock.request_supplement(state, at)
    if action == Action.supplement_received and case.state == State.in_step:
        return legal_clock.restart_after_supplement(state, at, department, case.holder)
    if action == Action.ask_agency:
        return legal_clock.pause_for_agency(state, at, case.asked_agency or "")
    if action == Action.record_agency_answer:
        return legal_clock.resume(state, at, department, case.holder)
    if action in (Action.approve, Action.deny, Action.stop, Action.withdraw):
        return legal_clock.finish(state, at)
    return state


def supplement_window(row: dict[str, Any], calendar: WorkCalendar, at: datetime,
                      within_days: int) -> list[Problem]:
    """Processing's request comes within `within_days` working days of receiving the
    complete dossier (docs/law.md#supplements-and-the-restarted-clock, "(confirm)"), or 422
    supplement_late. Its "once" is the workflow's guard (supplement_rounds): a request at the
    counter before the case opened was intake's one request, so clock's supplement_repeated
    is not processing's."""
    state = clock_state(row, calendar)
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


def step_dues(row: dict[str, Any], procedure: Procedure, calendar: WorkCalendar,
              start: datetime) -> list[datetime]:
    """Each step's due time on the law's calendar from the clock's start."""
    lt = legal_time(row)
    if lt is None:
        return []
    return legal_clock.step_due_times(start, lt, procedure.steps, calendar)


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


def fired_alerts(row: dict[str, Any]) -> set[str]:
    return set(row.get("alerts_fired") or ())


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


def sub_alerts(row: dict[str, Any], calendar: WorkCalendar, policy: AlertPolicy
               ) -> list[legal_clock.Alert]:
    """The thresholds of the sub-deadline of the request another agency has yet to answer
    (docs/law.md#other-agencies-and-delay-attribution); [] without one."""
    if not row.get("agency_requests"):
        return []
    return agency_requests.thresholds(row, calendar, policy.near_days, policy.used_share)


def alert_values(state: legal_clock.ClockState | None, fired: set[str], case_state: str,
                 now: datetime, policy: AlertPolicy,
                 requests: list[legal_clock.Alert] | None = None) -> dict[str, Any]:
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
    return {"next_alert_at": following.at if following else None,
            "alerts_fired": sorted(fired),
            "deadline": deadline_status(fired, case_state, restarts)}


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


def history_row(code: str, history: dict[str, Any]) -> dict[str, Any]:
    return {"dossier_code": code, **history}


def step_row(event: StepAssigned, seq: int) -> dict[str, Any]:
    return {"dossier_code": event.dossier_code, "seq": seq, "step_no": event.step_no,
            "step_code": event.step_code, "department": event.department,
            "assignee": event.assignee, "assigned_at": event.assigned_at,
            "due_at": event.step_due_at}


def written(row: dict[str, Any], done: Transition, state: legal_clock.ClockState | None,
            now: datetime) -> dict[str, Any]:
    """The case row's new values after a transition."""
    values = case_values(done.case) | {"updated_at": now}
    if state is not None:
        values["clock"] = clock_json(state)
    assigned = sum(isinstance(e, StepAssigned) for e in done.events)
    values["assignments"] = (row.get("assignments") or 0) + assigned
    if done.history["action"] == Action.open.value:
        values["opened_at"] = done.history["at"]
    for event in done.events:
        if isinstance(event, DossierResolved | ResultIssued):
            values["result"] = result_values(row.get("result"), event)
        elif isinstance(event, ResultReturned):
            values["result"] = returned_values(row.get("result"), event, done.case)
        elif isinstance(event, VerificationRequested | VerificationAnswered):
            values["agency_requests"] = agency_requests.recorded(
                values.get("agency_requests", row.get("agency_requests")), event)
    return values


def result_values(kept: dict[str, Any] | None, event: DossierResolved | ResultIssued
                  ) -> dict[str, Any]:
    """The decision as DossierResolved said it, then ResultIssued's code and document: what
    the result document prints."""
    if isinstance(event, DossierResolved):
        return event.model_dump(mode="json")
    return (kept or {}) | {"result_code": event.result_code, "result_type": event.result_type,
                           "document_ref": event.document_ref,
                           "verification_url": event.verification_url,
                           "issued_at": event.issued_at.isoformat()}


def returned_values(kept: dict[str, Any] | None, event: ResultReturned, case: Case
                    ) -> dict[str, Any]:
    """How the result went back, kept with the decision (the case's `result`): the
    reference is the case's, since the event publishes no online account."""
    return (kept or {}) | {"returned": {"returned_at": event.returned_at.isoformat(),
                                        "return_channel": event.return_channel.value,
                                        "reference": case.return_reference}}


def result_document_ref(code: str, at: datetime) -> str:
    """An opaque reference of the result document (never built from personal numbers)."""
    digest = hashlib.sha256(f"{code}|{at.isoformat()}".encode()).hexdigest()[:16]
    return f"doc-{digest}"


# --- what the API shows -----------------------------------------------------------------------


def amount(value: legal_clock.Amount) -> dict[str, Any]:
    return {"value": round(value.value, 4), "unit": value.unit}


def allowed_for_officers(allowed: list[Action]) -> list[str]:
    return [a.value for a in allowed if a not in EVENT_ACTIONS]


def view(row: dict[str, Any], case: Case | None, state: legal_clock.ClockState | None,
         allowed: list[Action], history: list[dict[str, Any]], steps: list[dict[str, Any]],
         now: datetime) -> dict[str, Any]:
    step = case.step if case else None
    return {
        "dossier_code": row["code"], "state": row["state"],
        "agency_code": row.get("agency_code"), "procedure_code": row.get("procedure_code"),
        "current_step": row.get("current_step"),
        "step": None if step is None else {"code": step.code, "name": step.name,
                                           "department": step.department},
        "department": row.get("department"), "holder": row.get("holder"),
        "received_at": row.get("received_at"), "clock_start": row.get("clock_start"),
        "due_at": row.get("due_at"),
        "step_due_at": case.step_dues[case.current_step - 1]
        if case and case.current_step and len(case.step_dues) >= case.current_step else None,
        "clock_running": legal_clock.is_running(state, now) if state else False,
        "working_time_used": amount(legal_clock.working_time_used(state, now)) if state else None,
        "working_time_left": amount(legal_clock.working_time_left(state, now)) if state else None,
        # Who held it and for how long (docs/law.md#other-agencies-and-delay-attribution):
        # departments and officers, other agencies, and the applicant's supplement wait.
        "attribution": attribution(state, now) if state else [],
        # Each request to another agency with its sub-deadline, and whether it was overrun
        # (docs/law.md#other-agencies-and-delay-attribution).
        "agency_requests": agency_requests.shown(row, now),
        "allowed_actions": allowed_for_officers(allowed),
        "deadline": row.get("deadline"), "alerts_fired": sorted(fired_alerts(row)),
        "processed_by_province": row.get("origin_system"),
        "explained_at": row.get("explained_at"),
        "explanations": (row.get("explanation") or {}).get("items", []),
        "apology": row.get("apology"), "result": row.get("result"),
        # The channel chosen at receipt (or at the return), and once returned, where to:
        # {"returned_at", "return_channel", "reference"} (tracking number or account).
        "return_channel": row.get("return_channel"),
        "returned": (row.get("result") or {}).get("returned"),
        # OCR of the scanned declaration forms, per component, and whether any contradicts
        # the declaration: the officer compares the scan with the applicant's record.
        "extraction": row.get("extraction_flags") or {},
        "declaration_mismatch": declaration_mismatch(row.get("extraction_flags")),
        "history": [{k: h[k] for k in ("at", "action", "officer", "from_state", "to_state",
                                       "step", "note")} for h in history],
        "steps": [{k: s[k] for k in ("seq", "step_no", "step_code", "department", "assignee",
                                     "assigned_at", "due_at", "completed_at", "outcome")}
                  for s in steps],
    }


def attribution(state: legal_clock.ClockState, now: datetime) -> list[dict[str, Any]]:
    return [{"holder": legal_clock.responsible_party(h) or
             ("applicant" if h.kind == legal_clock.SUPPLEMENT else "receiving unit"),
             "kind": h.kind, "department": h.department, "officer": h.officer,
             "working_time": amount(a)}
            for h, a in legal_clock.attributed_time(state, now).items()]


def applicant_name(applicant: dict[str, Any] | None) -> str | None:
    """The name a letter is addressed to: a person's full name or an organisation's name."""
    if not applicant:
        return None
    return applicant.get("full_name") or applicant.get("name")


def summary(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("code", "agency_code", "procedure_code", "state",
                                    "current_step", "department", "holder", "received_at",
                                    "due_at", "deadline", "explained_at")}


def action_answer(row: dict[str, Any], done: Transition) -> dict[str, Any]:
    """What an officer's action answers (GET .../cases/{code} shows the whole case)."""
    case = done.case
    return {"dossier_code": row["code"], "state": case.state.value,
            "current_step": case.current_step, "holder": case.holder,
            "department": _department(case), "due_at": case.due_at,
            "events": [type(e).__name__ for e in done.events],
            "history": {k: done.history[k] for k in ("at", "action", "officer", "from_state",
                                                     "to_state", "step", "note")}}


def sub_agencies(indexes: list[Any], code: str) -> set[str]:
    """The agency and every agency under it, in any version of the catalogue (an agency
    merged away keeps its old dossiers under its old parent)."""
    return {code} | {a for index in indexes for a in index.agencies
                     if code in index.ancestors(a)}
