"""Processing's domain, pure: a stored case round-trips through workflow.Case, and every
transition moves the law's clock the way docs/law.md#processing-handovers-and-the-control-slip
says (handovers attribute time, a supplement stops it and its completion restarts it,
another agency's time is its own, the decision ends it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.common import ApplicantRef, LegalTime
from services.law.catalog import load_catalogs
from services.law.workdays import WorkCalendar
from services.processing import case_views, domain, legal_clock
from services.processing.case_record import CaseRecord
from services.processing.workflow import Action, apply

CATALOGS = load_catalogs()
PROCEDURE = CATALOGS.latest.procedure("BHXH.NH.03")
assert PROCEDURE is not None
CALENDAR = WorkCalendar()
RECEIVED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hanoi
LEGAL = LegalTime(value=5, unit="working_days")
HOUR = timedelta(hours=1)


def received_row() -> CaseRecord:
    return replace(
        domain.new_record("000.01.01.H26-260302-0001"),
        agency_code="000.01.01.H26", procedure_code="BHXH.NH.03",
        received_at=RECEIVED, clock_start=RECEIVED,
        due_at=CALENDAR.due_at(RECEIVED, LEGAL), legal_time=LEGAL,
        applicant=ApplicantRef(kind="individual", ref="p1_processing_unit"),
        return_channel="counter", digitized_at=RECEIVED + HOUR)


def move(row: CaseRecord, action: Action, at: datetime, officer: str | None = None,
         **payload: Any) -> CaseRecord:
    assert PROCEDURE is not None
    done = apply(domain.to_case(row, PROCEDURE), action, payload, at, officer)
    state = domain.advance_clock(row, CALENDAR, action, done, at)
    return domain.written(row, done, state, at)


def periods(row: CaseRecord) -> list[tuple[str, str | None, str | None]]:
    state = domain.clock_state(row, CALENDAR)
    assert state is not None
    return [(p.kind, p.department, p.officer) for p in state.periods]


def test_a_case_row_round_trips_through_the_workflow() -> None:
    assert PROCEDURE is not None
    row = received_row()
    assert domain.ready_to_open(row)
    opened = move(row, Action.open, RECEIVED + 2 * HOUR)
    case = domain.to_case(opened, PROCEDURE)
    assert domain.with_case(opened, case) == opened
    assert opened.state == "in_step" and opened.department == "Phòng Chế độ BHXH"
    assert opened.assignments == 1 and opened.opened_at == RECEIVED + 2 * HOUR


def test_the_clock_follows_every_holder() -> None:
    row = move(received_row(), Action.open, RECEIVED + 2 * HOUR)
    row = move(row, Action.claim, RECEIVED + 3 * HOUR, "cb.an")
    row = move(row, Action.ask_agency, RECEIVED + 4 * HOUR, "cb.an", agency="Sở Y tế",
               sub_due_at=(RECEIVED + 48 * HOUR).isoformat(), question="Xác nhận?")
    row = move(row, Action.record_agency_answer, RECEIVED + 5 * HOUR, "cb.an",
               answer_summary="Đúng")
    row = move(row, Action.request_supplement, RECEIVED + 6 * HOUR, "cb.an",
               items=[{"problem_vi": "Thiếu giấy"}])
    state = domain.clock_state(row, CALENDAR)
    assert state is not None and not legal_clock.is_running(state, RECEIVED + 7 * HOUR)
    back = RECEIVED + timedelta(days=2)
    row = move(row, Action.supplement_received, back, complete=True,
               due_at=CALENDAR.due_at(back, LEGAL).isoformat())
    row = move(row, Action.complete_step, back + HOUR, "cb.an", decision="deny")
    row = move(row, Action.deny, back + 2 * HOUR, "ld.le", reasons=[{
        "code": "x", "message_vi": "Không đủ", "message_en": "not enough"}])
    assert periods(row) == [
        (legal_clock.AGENCY, None, None),                         # the one-stop unit, from receipt
        (legal_clock.AGENCY, "Phòng Chế độ BHXH", None),          # handed to step 1
        (legal_clock.AGENCY, "Phòng Chế độ BHXH", "cb.an"),       # claimed
        (legal_clock.OTHER_AGENCY + "Sở Y tế", None, None),       # the other agency's own time
        (legal_clock.AGENCY, "Phòng Chế độ BHXH", "cb.an"),
        (legal_clock.SUPPLEMENT, None, None),                     # the applicant's
        (legal_clock.AGENCY, "Phòng Chế độ BHXH", "cb.an"),       # restarted, complete
        (legal_clock.AGENCY, domain.LEADERSHIP, None),            # a deny proposal: the leader
    ]
    state = domain.clock_state(row, CALENDAR)
    assert state is not None and state.restarts == (back,)
    assert state.periods[-1].end == back + 2 * HOUR  # the decision ended it
    assert row.clock_start == back and row.department is None


def test_a_supplement_completed_at_the_counter_restarts_the_clock_at_opening() -> None:
    completed = RECEIVED + timedelta(days=1)
    row = replace(received_row(), clock_start=completed)
    row = move(row, Action.open, completed + HOUR)
    state = domain.clock_state(row, CALENDAR)
    assert state is not None and legal_clock.clock_start(state) == completed
    assert [p.kind for p in state.periods] == [legal_clock.AGENCY, legal_clock.SUPPLEMENT,
                                               legal_clock.AGENCY, legal_clock.AGENCY]


def test_the_return_is_kept_with_the_result_and_shown() -> None:
    row = move(received_row(), Action.open, RECEIVED + 2 * HOUR)
    row = move(row, Action.claim, RECEIVED + 3 * HOUR, "cb.an")
    row = move(row, Action.complete_step, RECEIVED + 4 * HOUR, "cb.an", decision="deny")
    row = move(row, Action.deny, RECEIVED + 5 * HOUR, "ld.le", reasons=[{
        "code": "x", "message_vi": "Không đủ", "message_en": "not enough"}])
    row = move(row, Action.record_return, RECEIVED + 6 * HOUR, "cb.an",
               return_channel="postal", postal_tracking_number="EB123456785VN")
    assert row.return_channel == "postal"
    assert row.result["decision"] == "denied"  # the decision is kept beside it
    assert row.result["returned"] == {"returned_at": (RECEIVED + 6 * HOUR).isoformat(),
                                         "return_channel": "postal",
                                         "reference": "EB123456785VN"}
    shown = case_views.view(row, None, None, [], [], [], RECEIVED + 7 * HOUR)
    assert shown["return_channel"] == "postal"
    assert shown["returned"]["reference"] == "EB123456785VN"


def test_a_supplement_is_asked_within_the_window_or_refused_as_late() -> None:
    row = move(received_row(), Action.open, RECEIVED + 2 * HOUR)
    row = move(row, Action.claim, RECEIVED + 3 * HOUR, "cb.an")
    # Received Mon 2 March 2026: Tue 3, Wed 4, Thu 5 until 17:00 (docs/law.md#counting-a-period).
    until = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
    assert domain.supplement_window(row, CALENDAR, until, 3) == []
    late = domain.supplement_window(row, CALENDAR, until + timedelta(days=1), 3)
    assert [(p.code, p.field) for p in late] == [("supplement_late", "action")]
    assert "3 ngày làm việc" in late[0].message_vi and "05/03/2026" in late[0].message_vi
    assert "3 working days" in late[0].message_en
    assert domain.supplement_window(row, CALENDAR, until + timedelta(days=1), 4) == []


def test_the_window_runs_from_a_supplement_completed_at_the_counter() -> None:
    # The counter asked for one at receipt (intake's own request): processing still may,
    # counted from the complete dossier.
    completed = RECEIVED + timedelta(days=3)  # Thu 5 March
    row = move(replace(received_row(), clock_start=completed), Action.open, completed + HOUR)
    assert domain.supplement_window(row, CALENDAR, completed + timedelta(days=4), 3) == []
    assert domain.supplement_window(row, CALENDAR, completed + timedelta(days=6), 3)


def test_results_go_on_the_public_topic_too() -> None:
    from contracts import topics
    from contracts.events import ResultReturned, StepAssigned

    returned = ResultReturned(dossier_code="x-1", returned_at=RECEIVED,
                              return_channel="counter")
    assigned = StepAssigned(dossier_code="x-1", step_no=1, step_code="A", department="D",
                            assigned_at=RECEIVED)
    assert domain.topics_for(returned) == [topics.PROCESSING, topics.RESULTS]
    assert domain.topics_for(assigned) == [topics.PROCESSING]


def test_sub_agencies_come_from_the_catalogue_tree() -> None:
    found = domain.sub_agencies(CATALOGS.indexes, "000.00.01.H26")
    assert {"000.00.01.H26", "000.01.01.H26", "000.01.02.H26"} <= found
    assert "000.79.01.H29" not in found
