"""Dossiers a province processes in its own software and reports through ingest: the
centre does not move them (no officer acts on them here), it watches their clock. Their due
time comes from their DossierReceived, their steps, decision and return from the provincial
topic, their supplement and withdrawal from intake's topic. Pure: a case (case_record.CaseRecord)
and an event in, its changed fields and the step facts out.

Events may arrive before the receipt (two topics, no order between them after a long lag):
what they say is kept on the row, and the receipt then opens the clock only for a dossier
still in processing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.events import (
    DossierReceived,
    DossierResolved,
    DossierWithdrawn,
    Event,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from services.law.workdays import WorkCalendar
from services.processing import domain, legal_clock
from services.processing.case_record import CaseChanges, CaseRecord
from services.processing.workflow import State

# Who holds a province's dossier before its software reports a step.
PROVINCE_HOLDER = "Hệ thống của tỉnh"


@dataclass
class Move:
    """What one event does to a watched case."""

    values: CaseChanges = field(default_factory=dict)
    step: StepAssigned | None = None           # an assignment to insert, `seq`-th
    seq: int = 0
    completion: dict[str, Any] | None = None   # (dossier_code, seq, completed_at, outcome)


def is_provincial(row: CaseRecord) -> bool:
    return bool(row.origin_system)


def _clock_values(row: CaseRecord, state: legal_clock.ClockState | None) -> CaseChanges:
    return {"clock": domain.stored_clock(state)} if state is not None else {}


def _current(row: CaseRecord, calendar: WorkCalendar) -> legal_clock.ClockState | None:
    state = domain.clock_state(row, calendar) if row.clock is not None else None
    if state is None or not state.periods or state.periods[-1].end is not None:
        return None
    return state


def received(row: CaseRecord, event: DossierReceived, calendar: WorkCalendar,
             now: datetime) -> Move:
    """The province's receipt: watched at once (no central digitization to wait for)."""
    values: CaseChanges = {
        "agency_code": event.agency_code, "procedure_code": event.procedure_code,
        "catalog_version": event.catalog_version, "received_at": event.received_at,
        "due_at": event.due_at, "clock_start": event.received_at,
        "legal_time": event.legal_time, "applicant": event.applicant,
        "return_channel": event.return_channel.value, "channel": event.channel.value,
        "origin_system": event.origin_system, "updated_at": now}
    values = {k: v for k, v in values.items() if getattr(row, k) is None or k == "updated_at"}
    merged = row.changed(values)
    if row.clock is not None:
        return Move(values)  # a republished receipt: the running clock stays
    if merged.state != domain.WAITING and merged.state != State.in_step.value:
        return Move(values)  # decided before its receipt reached us: nothing to watch
    department = merged.department or PROVINCE_HOLDER
    start = legal_clock.open_clock(event.received_at, event.legal_time, calendar)
    held_from = max(event.received_at, merged.opened_at or event.received_at)
    state = legal_clock.hand_over(start, held_from, department)
    return Move(values | _clock_values(row, state) | {
        "state": State.in_step.value, "department": department,
        "opened_at": merged.opened_at or event.received_at})


def step_assigned(row: CaseRecord, event: StepAssigned, calendar: WorkCalendar,
                  now: datetime) -> Move:
    seq = row.assignments + 1
    values: CaseChanges = {"current_step": event.step_no, "department": event.department,
                              "holder": event.assignee, "assignments": seq,
                              "updated_at": now}
    if row.state == domain.WAITING:
        values |= {"state": State.in_step.value, "opened_at": event.assigned_at}
    if (state := _current(row, calendar)) is not None and \
            state.periods[-1].kind.startswith(legal_clock.AGENCY):
        at = max(event.assigned_at, state.periods[-1].start)
        values |= _clock_values(row, legal_clock.hand_over(state, at, event.department,
                                                     event.assignee))
    return Move(values, step=event, seq=seq)


def step_completed(row: CaseRecord, event: StepCompleted) -> Move:
    return Move({"updated_at": event.completed_at}, completion={
        "dossier_code": row.code, "seq": row.assignments,
        "completed_at": event.completed_at, "outcome": event.outcome.value})


def _finished(row: CaseRecord, calendar: WorkCalendar, at: datetime,
              values: CaseChanges) -> Move:
    state = _current(row, calendar)
    if state is not None:
        values |= _clock_values(row, legal_clock.finish(state, max(at, state.periods[-1].start)))
    return Move(values | {"holder": None, "updated_at": at})


def resolved(row: CaseRecord, event: DossierResolved, calendar: WorkCalendar) -> Move:
    # A decision reported after the return (a province's records sent out of order) leaves
    # the dossier returned, and its return kept beside the decision.
    returned_already = row.state == State.returned.value
    state = State.returned if returned_already else \
        State.approved if event.decision == "approved" else State.denied
    kept = (row.result or {}).get("returned")
    result = domain.result_values(row.result, event) | (
        {"returned": kept} if kept else {})
    return _finished(row, calendar, event.resolved_at,
                     {"state": state.value, "proposal": event.decision, "result": result})


def returned(row: CaseRecord, event: ResultReturned, calendar: WorkCalendar) -> Move:
    result = (row.result or {}) | {"returned": {
        "returned_at": event.returned_at.isoformat(),
        "return_channel": event.return_channel.value, "reference": None}}
    return _finished(row, calendar, event.returned_at,
                     {"state": State.returned.value,
                      "return_channel": event.return_channel.value, "result": result})


# --- its results on the results topic ----------------------------------------------------------

RESOLVED, RETURNED = "resolved", "returned"


def results_to_publish(row: CaseRecord) -> tuple[list[Event], CaseChanges]:
    """The results of a province's dossier not yet published on the results topic, as a
    central one's are (DossierResolved, then ResultReturned; a province reports no
    ResultIssued), naming the province's system (`origin_system`), and the row's new
    `published_results`. Each goes out once, whatever the province sends again: the row
    says what already went, in the transaction that sends it. Nothing before the
    dossier's receipt names its system; a return waits for its decision, so a subscriber
    reads the decision first."""
    system = row.origin_system
    result = row.result or {}
    if not system or not result.get("decision"):
        return [], {}
    published = list(row.published_results)
    events: list[Event] = []
    if RESOLVED not in published:
        events.append(DossierResolved.model_validate(
            {k: v for k, v in result.items() if k in DossierResolved.model_fields}
            | {"origin_system": system}))
        published.append(RESOLVED)
    back = result.get("returned")
    if back and RETURNED not in published:
        events.append(ResultReturned(dossier_code=row.code, returned_at=back["returned_at"],
                                     return_channel=back["return_channel"],
                                     origin_system=system))
        published.append(RETURNED)
    return events, {"published_results": tuple(published)} if events else {}


def withdrawn(row: CaseRecord, event: DossierWithdrawn, calendar: WorkCalendar) -> Move:
    return _finished(row, calendar, event.withdrawn_at, {"state": State.withdrawn.value})


def supplement_requested(row: CaseRecord, event: SupplementRequested,
                         calendar: WorkCalendar) -> Move:
    """The province asked the applicant for more: the clock stops
    (docs/law.md#supplements-and-the-restarted-clock)."""
    state = _current(row, calendar)
    if state is None or not state.periods[-1].kind.startswith(legal_clock.AGENCY):
        return Move()
    at = max(event.requested_at, state.periods[-1].start)
    return Move(_clock_values(row, legal_clock.request_supplement(state, at)) | {
        "state": State.waiting_supplement.value,
        "supplement_rounds": row.supplement_rounds + 1,
        "updated_at": event.requested_at})


def supplement_received(row: CaseRecord, event: SupplementReceived,
                        calendar: WorkCalendar) -> Move:
    """Complete: the legal time runs afresh; the due time is the one intake computed."""
    state = _current(row, calendar)
    if not event.complete or state is None or \
            not state.periods[-1].kind.startswith(legal_clock.SUPPLEMENT):
        return Move()
    at = max(event.received_at, state.periods[-1].start)
    moved = legal_clock.restart_after_supplement(state, at, row.department or
                                           PROVINCE_HOLDER)
    return Move(_clock_values(row, moved) | {
        "state": State.in_step.value, "clock_start": at,
        "due_at": event.due_at or legal_clock.due_at(moved), "updated_at": at})
