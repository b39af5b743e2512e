"""Watching a province's dossier, pure: the receipt opens the clock at once, steps hand
it over, a supplement stops and restarts it, the decision ends it; statuses that arrive
before the receipt are kept, and a receipt after the decision opens nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    LegalTime,
    ReturnChannel,
    Timeliness,
)
from contracts.events import (
    DossierReceived,
    DossierResolved,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from services.law.workdays import WorkCalendar
from services.processing import domain, legal_clock, provincial
from services.processing.case_record import CaseRecord

CALENDAR = WorkCalendar()
CODE = "000.01.01.H26-260302-P001"
RECEIVED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hanoi
LEGAL = LegalTime(value=5, unit="working_days")
DUE = CALENDAR.due_at(RECEIVED, LEGAL)
HOUR = timedelta(hours=1)
APPLICANT = ApplicantRef(kind="individual", ref="p1_provincial_unit")


def receipt() -> DossierReceived:
    return DossierReceived(
        dossier_code=CODE, agency_code="000.01.01.H26", procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=Channel.provincial,
        return_channel=ReturnChannel.counter, received_at=RECEIVED, due_at=DUE,
        legal_time=LEGAL, applicant=APPLICANT,
        components=[ComponentRef(code="GKS", form="paper")], origin_system="hcm-dvc")


def step(at: datetime) -> StepAssigned:
    return StepAssigned(dossier_code=CODE, step_no=1, step_code="XU-LY",
                        department="Phòng Chế độ (tỉnh)", assigned_at=at, step_due_at=DUE)


def decision(at: datetime) -> DossierResolved:
    return DossierResolved(dossier_code=CODE, agency_code="000.01.01.H26",
                           procedure_code="BHXH.NH.03", applicant=APPLICANT, resolved_at=at,
                           decision="approved", due_at=DUE, timeliness=Timeliness.on_time)


def after(row: CaseRecord, move: provincial.Move) -> CaseRecord:
    return row.changed(move.values)


def state_of(row: CaseRecord) -> legal_clock.ClockState:
    found = domain.clock_state(row, CALENDAR)
    assert found is not None
    return found


def test_the_receipt_opens_the_watch_and_steps_hand_it_over() -> None:
    row = after(domain.new_record(CODE), provincial.received(domain.new_record(CODE), receipt(),
                                                          CALENDAR, RECEIVED))
    assert provincial.is_provincial(row)
    assert row.state == "in_step" and row.department == provincial.PROVINCE_HOLDER
    assert legal_clock.due_at(state_of(row)) == DUE
    move = provincial.step_assigned(row, step(RECEIVED + HOUR), CALENDAR, RECEIVED + HOUR)
    assert move.step is not None and move.seq == 1
    row = after(row, move)
    assert state_of(row).periods[-1].department == "Phòng Chế độ (tỉnh)"
    assert state_of(row).periods[-1].start == RECEIVED + HOUR
    done = provincial.step_completed(row, StepCompleted(
        dossier_code=CODE, step_no=1, step_code="XU-LY", department="Phòng Chế độ (tỉnh)",
        completed_at=RECEIVED + 2 * HOUR, outcome=Timeliness.early))
    assert done.completion == {"dossier_code": CODE, "seq": 1,
                               "completed_at": RECEIVED + 2 * HOUR, "outcome": "early"}
    row = after(row, provincial.resolved(row, decision(RECEIVED + 3 * HOUR), CALENDAR))
    assert row.state == "approved"
    assert not legal_clock.is_running(state_of(row), RECEIVED + 4 * HOUR)


def test_a_republished_receipt_keeps_the_running_clock() -> None:
    row = after(domain.new_record(CODE), provincial.received(domain.new_record(CODE), receipt(),
                                                          CALENDAR, RECEIVED))
    row = after(row, provincial.step_assigned(row, step(RECEIVED + HOUR), CALENDAR,
                                              RECEIVED + HOUR))
    again = after(row, provincial.received(row, receipt(), CALENDAR, RECEIVED + 2 * HOUR))
    assert again.clock == row.clock and again.department == row.department


def test_a_supplement_stops_the_clock_and_its_completion_restarts_it() -> None:
    row = after(domain.new_record(CODE), provincial.received(domain.new_record(CODE), receipt(),
                                                          CALENDAR, RECEIVED))
    asked = RECEIVED + 2 * HOUR
    row = after(row, provincial.supplement_requested(row, SupplementRequested(
        dossier_code=CODE, requested_at=asked, stage="processing", requested_by="hcm-dvc",
        items=[{"problem_vi": "Thiếu giấy khai sinh"}]), CALENDAR))
    assert row.state == "waiting_supplement"
    assert not legal_clock.is_running(state_of(row), asked + HOUR)
    completed = RECEIVED + timedelta(days=7)
    new_due = CALENDAR.due_at(completed, LEGAL)
    row = after(row, provincial.supplement_received(row, SupplementReceived(
        dossier_code=CODE, received_at=completed, complete=True, due_at=new_due,
        components=[ComponentRef(code="GKS", form="paper")]), CALENDAR))
    assert row.state == "in_step" and row.due_at == new_due
    assert legal_clock.due_at(state_of(row)) == new_due


def test_statuses_before_the_receipt_are_kept_and_a_late_receipt_opens_nothing() -> None:
    row = domain.new_record(CODE)
    row = after(row, provincial.step_assigned(row, step(RECEIVED + HOUR), CALENDAR,
                                              RECEIVED + HOUR))
    assert row.state == "in_step" and row.department == "Phòng Chế độ (tỉnh)"
    # The receipt then opens the clock, held by the step's department since it was given.
    opened = after(row, provincial.received(row, receipt(), CALENDAR, RECEIVED + 2 * HOUR))
    assert state_of(opened).periods[-1].department == "Phòng Chế độ (tỉnh)"

    decided = after(row, provincial.resolved(row, decision(RECEIVED + 2 * HOUR), CALENDAR))
    late = after(decided, provincial.received(decided, receipt(), CALENDAR,
                                              RECEIVED + 3 * HOUR))
    assert late.state == "approved" and late.clock is None
    assert domain.alert_values(None, set(), late.state, RECEIVED, domain.AlertPolicy()
                               ).next_alert_at is None


# --- its results on the results topic --------------------------------------------------------


def returned(at: datetime) -> ResultReturned:
    return ResultReturned(dossier_code=CODE, returned_at=at, return_channel=ReturnChannel.postal)


def publish(row: CaseRecord) -> tuple[list[Any], CaseRecord]:
    events, values = provincial.results_to_publish(row)
    return events, row.changed(values)


def test_a_province_result_is_published_once_decision_first_naming_its_system() -> None:
    row = after(domain.new_record(CODE), provincial.received(domain.new_record(CODE), receipt(),
                                                          CALENDAR, RECEIVED))
    assert publish(row)[0] == []  # nothing decided yet
    row = after(row, provincial.resolved(row, decision(RECEIVED + 3 * HOUR), CALENDAR))
    events, row = publish(row)
    [resolved] = events
    assert resolved == decision(RECEIVED + 3 * HOUR).model_copy(
        update={"origin_system": "hcm-dvc"})
    assert resolved.applicant == APPLICANT  # the same pseudonym as its receipt
    assert publish(row)[0] == []  # the province says it again: nothing new goes out
    again = after(row, provincial.resolved(row, decision(RECEIVED + 4 * HOUR), CALENDAR))
    assert publish(again)[0] == []
    row = after(row, provincial.returned(row, returned(RECEIVED + 5 * HOUR), CALENDAR))
    assert row.state == "returned"
    [back], row = publish(row)
    assert back == returned(RECEIVED + 5 * HOUR).model_copy(update={"origin_system": "hcm-dvc"})
    assert row.published_results == ("resolved", "returned")
    row = after(row, provincial.returned(row, returned(RECEIVED + 6 * HOUR), CALENDAR))
    assert publish(row)[0] == []


def test_a_return_reported_before_its_decision_waits_for_it_and_nothing_before_the_receipt(
        ) -> None:
    row = domain.new_record(CODE)  # the province's statuses ahead of its receipt
    row = after(row, provincial.returned(row, returned(RECEIVED + 5 * HOUR), CALENDAR))
    assert publish(row)[0] == []  # no decision yet
    row = after(row, provincial.resolved(row, decision(RECEIVED + 3 * HOUR), CALENDAR))
    assert row.state == "returned" and row.result["returned"]["return_channel"] == \
        "postal"  # a decision after the return keeps it returned
    assert publish(row)[0] == []  # no receipt: no system to name yet
    row = after(row, provincial.received(row, receipt(), CALENDAR, RECEIVED + 6 * HOUR))
    events, row = publish(row)
    assert [type(e).__name__ for e in events] == ["DossierResolved", "ResultReturned"]
    assert {e.origin_system for e in events} == {"hcm-dvc"}
    assert publish(row)[0] == []


def test_a_central_dossier_publishes_nothing_here() -> None:
    row = replace(domain.new_record(CODE), result=decision(RECEIVED).model_dump(mode="json"))
    assert provincial.results_to_publish(row) == ([], {})
