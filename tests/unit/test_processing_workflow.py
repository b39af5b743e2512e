"""Processing's workflow table, pure: a real catalogue procedure driven through every step,
the detours (supplement, another agency), the ends (stop, deny, withdrawal), and the
table's promise that anything not in it is refused with exactly what is allowed."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.common import ApplicantRef, LegalTime, Problem, ReturnChannel, Timeliness
from contracts.events import (
    DossierResolved,
    Event,
    ResultIssued,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementRequested,
    VerificationAnswered,
    VerificationRequested,
)
from services.law.catalog import load_catalogs
from services.law.workdays import WorkCalendar
from services.processing.workflow import (
    TERMINAL,
    TRANSITIONS,
    Action,
    Case,
    InvalidAction,
    State,
    Transition,
    WrongState,
    allowed_actions,
    apply,
    new_case,
    step_due,
    timeliness,
)

RECEIVED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hanoi
HOUR = timedelta(hours=1)
AGENCY = "000.00.01.H26"
CODE = "000.00.01.H26-260302-0001"
OFFICER, OTHER, LEADER = "cb.nguyen", "cb.tran", "ld.le"
PROCEDURE = load_catalogs().latest.procedure("BHXH.NH.03")
assert PROCEDURE is not None and len(PROCEDURE.steps) == 2
DUE = WorkCalendar().due_at(RECEIVED, LegalTime(value=7, unit="working_days"))
REASON = Problem.of("not_eligible", "Chưa đủ thời gian đóng BHXH",
                    "not enough contribution months")


def waiting() -> Case:
    return new_case(CODE, AGENCY, PROCEDURE, received_at=RECEIVED, due_at=DUE,
                    applicant=ApplicantRef(kind="individual", ref="pseudo-0123456789"),
                    return_channel=ReturnChannel.counter)


def step(case: Case, action: Action, payload: dict[str, Any] | None = None, *,
         at: datetime, officer: str | None = None) -> Transition:
    """apply, plus what every transition promises: a history row saying so, events of the
    rule's declared classes, each valid on the wire."""
    rule = TRANSITIONS[(case.state, action)]
    done = apply(case, action, payload, at, officer)
    assert done.history == {"at": at, "action": action.value, "officer": officer,
                            "from_state": case.state.value, "to_state": done.case.state.value,
                            "step": case.current_step or done.case.current_step,
                            "note": done.history["note"]}
    for event in done.events:
        assert isinstance(event, rule.emits)
        assert type(event).model_validate_json(event.model_dump_json()) == event
        assert event.dossier_code == CODE
    return done


def opened(at: datetime = RECEIVED + HOUR) -> Case:
    return step(waiting(), Action.open, at=at).case


def claimed(officer: str = OFFICER) -> Case:
    return step(opened(), Action.claim, at=RECEIVED + 2 * HOUR, officer=officer).case


def one(events: list[Event], kind: type[Event]) -> Any:
    found = [e for e in events if isinstance(e, kind)]
    assert len(found) == 1, events
    return found[0]


# --- the whole life of a maternity dossier (BHXH.NH.03: two steps) --------------------------


def test_a_dossier_goes_through_every_step_of_its_procedure_to_its_return() -> None:
    at = RECEIVED + HOUR
    t = step(waiting(), Action.open, at=at)
    first = one(t.events, StepAssigned)
    assert (t.case.state, t.case.current_step, t.case.holder) == (State.in_step, 1, None)
    assert (first.step_no, first.step_code, first.department, first.assignee) == \
        (1, "CDBHXH", "Phòng Chế độ BHXH", None)
    # Step 1 has 70% of the legal time, the last step ends at the appointment.
    assert first.step_due_at == RECEIVED + (DUE - RECEIVED) * 0.7
    assert step_due(t.case, 2) == DUE

    history = [t.history]
    for no, code, officer in ((1, "CDBHXH", OFFICER), (2, "KHTC", OTHER)):
        at += HOUR
        t = step(t.case, Action.claim, at=at, officer=officer)
        assert one(t.events, StepAssigned).assignee == officer
        assert t.case.holder == officer
        at += HOUR
        t_done = step(t.case, Action.complete_step,
                      {"decision": "approve", "comment": "Đủ điều kiện"}, at=at,
                      officer=officer)
        completed = one(t_done.events, StepCompleted)
        assert (completed.step_no, completed.step_code, completed.outcome) == \
            (no, code, Timeliness.early)
        history += [t.history, t_done.history]
        t = t_done
    # Step 1 handed to step 2's department; the last step hands to the decision.
    assert history[2]["step"] == 1 and history[4]["step"] == 2
    assert completed.handed_to is None
    assert (t.case.state, t.case.holder, t.case.proposal) == (State.deciding, None, "approve")

    at += HOUR
    t = step(t.case, Action.approve, {"comment": "Đồng ý"}, at=at, officer=LEADER)
    resolved = one(t.events, DossierResolved)
    assert (resolved.decision, resolved.timeliness, resolved.due_at, resolved.reasons) == \
        ("approved", Timeliness.early, DUE, [])
    assert resolved.applicant.ref == "pseudo-0123456789"

    t = step(t.case, Action.issue_result, {"result_code": "QD-0001"}, at=at + HOUR,
             officer=LEADER)
    issued = one(t.events, ResultIssued)
    assert issued.result_type == PROCEDURE.result_type and issued.result_code == "QD-0001"

    t = step(t.case, Action.record_return, None, at=at + 2 * HOUR, officer=OFFICER)
    assert one(t.events, ResultReturned).return_channel == ReturnChannel.counter
    assert t.case.state == State.returned and allowed_actions(t.case) == []
    assert [h["to_state"] for h in history] == ["in_step"] * 4 + ["deciding"]


def test_the_step_after_its_share_of_the_time_is_late_and_the_next_step_still_runs() -> None:
    late = step_due(claimed(), 1) + HOUR  # type: ignore[operator]
    t = step(claimed(), Action.complete_step, {"decision": "approve"}, at=late,
             officer=OFFICER)
    assert one(t.events, StepCompleted).outcome == Timeliness.late
    assert one(t.events, StepCompleted).handed_to == "Phòng Kế hoạch - Tài chính"
    assert one(t.events, StepAssigned).step_no == 2


def test_step_due_times_on_the_laws_calendar_are_used_when_the_caller_gives_them() -> None:
    dues = (RECEIVED + 30 * HOUR, DUE)
    case = step(replace(waiting(), step_dues=dues), Action.open, at=RECEIVED + HOUR).case
    assert step_due(case, 1) == dues[0]
    with pytest.raises(InvalidAction) as bad:
        apply(replace(waiting(), step_dues=dues[:1]), Action.open, {}, RECEIVED)
    assert [p.code for p in bad.value.problems] == ["step_dues_mismatch"]
    # Shares are scaled when they add up past the whole (every step left at 1.0).
    even = replace(waiting(), steps=tuple(s.model_copy(update={"share": 1.0})
                                          for s in PROCEDURE.steps))
    assert step_due(even, 1) == RECEIVED + (DUE - RECEIVED) / 2 and step_due(even, 2) == DUE


# --- detours -------------------------------------------------------------------------------


def test_a_supplement_during_processing_waits_and_restarts_the_clock_once_complete() -> None:
    at = RECEIVED + 3 * HOUR
    items = [{"component_code": "GKS", "problem_vi": "Bản sao giấy khai sinh bị mờ"}]
    t = step(claimed(), Action.request_supplement, {"items": items}, at=at, officer=OFFICER)
    asked = one(t.events, SupplementRequested)
    assert (asked.stage, asked.requested_by, asked.items[0].component_code) == \
        ("processing", OFFICER, "GKS")
    assert t.case.state == State.waiting_supplement
    assert allowed_actions(t.case) == [Action.supplement_received, Action.withdraw, Action.stop]

    # Intake's SupplementReceived: still incomplete changes nothing and says nothing new.
    still = step(t.case, Action.supplement_received, {"complete": False}, at=at + HOUR)
    assert (still.case, still.events) == (t.case, [])

    back_at, new_due = at + 48 * HOUR, DUE + 48 * HOUR
    with pytest.raises(InvalidAction) as bad:
        apply(t.case, Action.supplement_received,
              {"complete": True, "step_dues": [new_due]}, back_at)
    assert [p.code for p in bad.value.problems] == ["step_dues_mismatch"]
    back = step(t.case, Action.supplement_received,
                {"complete": True, "due_at": new_due, "components": []}, at=back_at)
    again = one(back.events, StepAssigned)
    assert (back.case.state, back.case.current_step, back.case.holder) == \
        (State.in_step, 1, OFFICER)
    assert (back.case.clock_start, back.case.due_at) == (back_at, new_due)
    assert again.step_due_at == back_at + (new_due - back_at) * 0.7
    # Processing asks once, listing everything.
    assert Action.request_supplement not in allowed_actions(back.case)


def test_another_agency_is_asked_with_its_sub_deadline_and_its_answer_resumes_the_step() -> None:
    at = RECEIVED + 3 * HOUR
    with pytest.raises(InvalidAction) as bad:
        apply(claimed(), Action.ask_agency, {"agency": "Bệnh viện Bạch Mai",
                                             "sub_due_at": at - HOUR, "question": "?"},
              at, OFFICER)
    assert [p.code for p in bad.value.problems] == ["sub_due_in_past"]

    t = step(claimed(), Action.ask_agency,
             {"agency": "Bệnh viện Bạch Mai", "sub_due_at": at + 24 * HOUR,
              "question": "Xác nhận giấy chứng nhận nghỉ việc"}, at=at, officer=OFFICER)
    asked = one(t.events, VerificationRequested)
    assert (asked.request_id, asked.to_agency, asked.sub_due_at) == \
        ("V1", "Bệnh viện Bạch Mai", at + 24 * HOUR)
    assert t.case.state == State.waiting_agency
    assert allowed_actions(t.case) == [Action.withdraw, Action.record_agency_answer,
                                       Action.stop]

    t = step(t.case, Action.record_agency_answer, {"answer_summary": "Giấy hợp lệ"},
             at=at + 5 * HOUR, officer=OFFICER)
    answered = one(t.events, VerificationAnswered)
    assert (answered.request_id, answered.from_agency) == ("V1", "Bệnh viện Bạch Mai")
    assert (t.case.state, t.case.current_step, t.case.holder, t.case.open_request) == \
        (State.in_step, 1, OFFICER, None)
    nxt = step(t.case, Action.ask_agency, {"agency": "Công an", "sub_due_at": DUE,
                                           "question": "?"}, at=at + 6 * HOUR,
               officer=OFFICER)
    assert one(nxt.events, VerificationRequested).request_id == "V2"


def test_a_step_goes_back_to_an_earlier_one_unclaimed() -> None:
    t = step(claimed(), Action.complete_step, {"decision": "approve"}, at=RECEIVED + 3 * HOUR,
             officer=OFFICER)
    at_two = step(t.case, Action.claim, at=RECEIVED + 4 * HOUR, officer=OTHER).case
    with pytest.raises(InvalidAction) as bad:
        apply(at_two, Action.return_to_step, {"step": 2, "comment": "x"}, RECEIVED, OTHER)
    assert [p.code for p in bad.value.problems] == ["no_such_step"]
    back = step(at_two, Action.return_to_step, {"step": 1, "comment": "Thiếu số liệu"},
                at=RECEIVED + 5 * HOUR, officer=OTHER)
    assert one(back.events, StepAssigned).step_no == 1
    assert (back.case.current_step, back.case.holder) == (1, None)
    assert back.history["note"] == "→ 1: Thiếu số liệu"


# --- the ends ------------------------------------------------------------------------------


def test_a_stop_is_resolved_as_denied_with_its_reasons_and_its_notice_goes_back() -> None:
    items = [{"problem_vi": "Thiếu giấy khai sinh"}]
    waiting_for_it = step(claimed(), Action.request_supplement, {"items": items},
                          at=RECEIVED + 3 * HOUR, officer=OFFICER).case
    with pytest.raises(InvalidAction) as bad:
        apply(waiting_for_it, Action.stop, {"reasons": []}, RECEIVED, LEADER)
    assert sorted(p.code for p in bad.value.problems) == ["invalid_field", "missing_field"]

    at = DUE + 24 * HOUR
    t = step(waiting_for_it, Action.stop,
             {"reasons": [REASON], "notice": "Thông báo 12/TB-BHXH ngày 20/03/2026"},
             at=at, officer=LEADER)
    resolved = one(t.events, DossierResolved)
    assert (resolved.decision, resolved.timeliness) == ("denied", Timeliness.late)
    assert [r.code for r in resolved.reasons] == ["not_eligible"]
    assert (t.case.state, t.case.stop_notice) == (State.stopped,
                                                   "Thông báo 12/TB-BHXH ngày 20/03/2026")
    assert allowed_actions(t.case) == [Action.record_return]
    t = step(t.case, Action.record_return, {"return_channel": "postal",
                                            "postal_tracking_number": "EB123456785VN"},
             at=at + HOUR)
    assert one(t.events, ResultReturned).return_channel == ReturnChannel.postal


def test_a_deny_proposal_skips_the_remaining_steps_and_the_leader_denies() -> None:
    t = step(claimed(), Action.complete_step, {"decision": "deny", "comment": "Không đủ"},
             at=RECEIVED + 3 * HOUR, officer=OFFICER)
    assert (t.case.state, t.case.proposal) == (State.deciding, "deny")
    assert not [e for e in t.events if isinstance(e, StepAssigned)]
    # Approving against a deny proposal means sending it back through the steps first.
    with pytest.raises(WrongState) as wrong:
        apply(t.case, Action.approve, {}, RECEIVED + 4 * HOUR, LEADER)
    assert wrong.value.allowed == [Action.withdraw, Action.return_to_step, Action.stop,
                                   Action.deny]
    with pytest.raises(InvalidAction) as bad:
        apply(t.case, Action.deny, {"reason": "typo"}, RECEIVED, LEADER)
    assert sorted((p.code, p.field) for p in bad.value.problems) == \
        [("missing_field", "reasons"), ("unknown_field", "reason")]

    t = step(t.case, Action.deny, {"reasons": [REASON.model_dump()]}, at=DUE, officer=LEADER)
    resolved = one(t.events, DossierResolved)
    assert (resolved.decision, resolved.timeliness, resolved.reasons[0].message_en) == \
        ("denied", Timeliness.on_time, "not enough contribution months")
    assert allowed_actions(t.case) == [Action.record_return]


# --- the return, by the channel the applicant chose -------------------------------------------


def issued(channel: ReturnChannel = ReturnChannel.counter) -> Case:
    return replace(claimed(), state=State.result_issued, return_channel=channel)


def test_a_postal_return_needs_its_tracking_number_and_publishes_it() -> None:
    at = RECEIVED + 30 * HOUR
    with pytest.raises(InvalidAction) as bad:
        apply(issued(ReturnChannel.postal), Action.record_return, None, at, OFFICER)
    assert [(p.code, p.field) for p in bad.value.problems] == [
        ("tracking_number_required", "postal_tracking_number")]
    assert bad.value.problems[0].message_vi.startswith("Trả kết quả qua bưu chính")

    t = step(issued(ReturnChannel.postal), Action.record_return,
             {"postal_tracking_number": "EB123456785VN"}, at=at, officer=OFFICER)
    returned = one(t.events, ResultReturned)
    assert (returned.return_channel, returned.channel_reference) == (
        ReturnChannel.postal, "EB123456785VN")
    assert (t.case.state, t.case.return_reference) == (State.returned, "EB123456785VN")
    assert t.history["note"] == "postal: EB123456785VN"


def test_a_postal_return_chosen_at_the_return_needs_the_number_too() -> None:
    with pytest.raises(InvalidAction) as bad:
        apply(issued(), Action.record_return, {"return_channel": "postal"},
              RECEIVED + 30 * HOUR, OFFICER)
    assert [p.code for p in bad.value.problems] == ["tracking_number_required"]


def test_an_online_return_keeps_the_account_on_the_case_but_never_publishes_it() -> None:
    t = step(issued(ReturnChannel.online), Action.record_return,
             {"portal_account": "001190012345"}, at=RECEIVED + 30 * HOUR, officer=OFFICER)
    returned = one(t.events, ResultReturned)
    assert (returned.return_channel, returned.channel_reference) == (ReturnChannel.online,
                                                                     None)
    assert "001190012345" not in returned.model_dump_json()  # a public topic
    assert t.case.return_reference == "001190012345"
    assert t.history["note"] == "online: 001190012345"
    # The account is optional: the portal delivers to the one the applicant has.
    bare = step(issued(ReturnChannel.online), Action.record_return, None,
                at=RECEIVED + 30 * HOUR, officer=OFFICER)
    assert (bare.case.return_reference, bare.history["note"]) == (None, "online")


def test_a_counter_pickup_needs_no_reference_and_refuses_another_channels() -> None:
    t = step(issued(), Action.record_return, None, at=RECEIVED + 30 * HOUR, officer=OFFICER)
    assert one(t.events, ResultReturned).channel_reference is None
    assert (t.case.return_reference, t.history["note"]) == (None, "counter")
    with pytest.raises(InvalidAction) as bad:
        apply(issued(), Action.record_return, {"postal_tracking_number": "EB123456785VN",
                                               "portal_account": "hoa.le"},
              RECEIVED + 30 * HOUR, OFFICER)
    assert [(p.code, p.field) for p in bad.value.problems] == [
        ("not_for_this_channel", "postal_tracking_number"),
        ("not_for_this_channel", "portal_account")]
    with pytest.raises(InvalidAction) as short:
        apply(issued(ReturnChannel.postal), Action.record_return,
              {"postal_tracking_number": "EB"}, RECEIVED + 30 * HOUR, OFFICER)
    assert [(p.code, p.field) for p in short.value.problems] == [
        ("invalid_field", "postal_tracking_number")]


def test_problems_the_caller_found_are_answered_with_the_tables_after_a_wrong_state() -> None:
    late = Problem.of("supplement_late", "Quá hạn", "too late", "action")
    items = {"items": [{"problem_vi": "Thiếu giấy"}]}
    with pytest.raises(InvalidAction) as bad:
        apply(claimed(), Action.request_supplement, items, RECEIVED + 3 * HOUR, OTHER,
              found=[late])
    assert [p.code for p in bad.value.problems] == ["not_the_holder", "supplement_late"]
    with pytest.raises(WrongState):
        apply(opened(), Action.request_supplement, items, RECEIVED + 3 * HOUR, OFFICER,
              found=[late])


@pytest.mark.parametrize("case", [waiting(), opened(), claimed()], ids=["waiting", "step", "held"])
def test_a_withdrawal_from_intake_closes_the_case_without_an_event_of_its_own(case: Case
                                                                                ) -> None:
    t = step(case, Action.withdraw, {"reason": "Người nộp rút hồ sơ", "withdrawn_at": "x"},
             at=RECEIVED + 5 * HOUR)
    assert (t.case.state, t.events, t.case.holder) == (State.withdrawn, [], None)
    assert t.history["note"] == "Người nộp rút hồ sơ" and allowed_actions(t.case) == []


# --- who may act, and what a case must know ------------------------------------------------


def test_only_the_officer_holding_the_step_acts_on_it_and_only_once_claimed() -> None:
    with pytest.raises(WrongState) as wrong:
        apply(opened(), Action.complete_step, {"decision": "approve"}, RECEIVED, OFFICER)
    assert wrong.value.allowed == [Action.withdraw, Action.claim]
    with pytest.raises(InvalidAction) as bad:
        apply(claimed(), Action.complete_step, {"decision": "approve"}, RECEIVED, OTHER)
    assert [(p.code, p.field) for p in bad.value.problems] == [("not_the_holder", "officer")]
    with pytest.raises(InvalidAction):
        apply(opened(), Action.claim, None, RECEIVED, None)


def test_a_case_opens_only_when_its_receipt_is_known_and_decides_only_with_its_applicant(
        ) -> None:
    with pytest.raises(InvalidAction) as bad:
        apply(Case(CODE, AGENCY, PROCEDURE.code, tuple(PROCEDURE.steps)), Action.open, {},
              RECEIVED)
    assert [p.code for p in bad.value.problems] == ["not_received"]
    nameless = Case(CODE, AGENCY, PROCEDURE.code, tuple(PROCEDURE.steps),
                    state=State.deciding, current_step=2, clock_start=RECEIVED, due_at=DUE,
                    proposal="approve")
    with pytest.raises(InvalidAction) as bad:
        apply(nameless, Action.approve, {}, RECEIVED, LEADER)
    assert [p.code for p in bad.value.problems] == ["applicant_unknown"]


def test_timeliness_is_counted_in_vietnam_days() -> None:
    due = datetime(2026, 3, 11, 10, 0, tzinfo=UTC)  # 17:00 in Hanoi
    assert timeliness(due - timedelta(days=1), due) == Timeliness.early
    assert timeliness(datetime(2026, 3, 10, 17, 30, tzinfo=UTC), due) == Timeliness.on_time
    assert timeliness(due, due) == Timeliness.on_time
    assert timeliness(due + timedelta(minutes=1), due) == Timeliness.late


# --- the table's promise -------------------------------------------------------------------


def valid_payload(case: Case, action: Action, at: datetime,
                  rng: random.Random | None = None) -> dict[str, Any]:
    """A payload each action accepts, so a walk can take any allowed action."""
    yes = rng.random() < 0.8 if rng else True
    return {
        Action.complete_step: {"decision": "approve" if yes else "deny"},
        Action.return_to_step: {"step": 1, "comment": "Làm lại"},
        Action.request_supplement: {"items": [{"problem_vi": "Thiếu giấy tờ"}]},
        Action.ask_agency: {"agency": "Sở Y tế", "sub_due_at": at + HOUR, "question": "?"},
        Action.record_agency_answer: {"answer_summary": "Đúng"},
        Action.stop: {"reasons": [REASON], "notice": "TB-01"},
        Action.deny: {"reasons": [REASON]},
        Action.issue_result: {"result_code": "QD-1"},
        Action.supplement_received: {"complete": yes},
    }.get(action, {})


def officer_for(case: Case, action: Action) -> str | None:
    if action in (Action.open, Action.withdraw, Action.supplement_received):
        return None
    return OFFICER if action == Action.claim else case.holder or LEADER


# Ends and detours are taken now and then, so that most lives reach a decision.
RARE = {Action.withdraw: 1, Action.stop: 1, Action.return_to_step: 2}


def walk(seed: int) -> list[Case]:
    """A random life from waiting to an end, taking only allowed actions."""
    rng, case, at = random.Random(seed), waiting(), RECEIVED
    seen = [case]
    while allowed := allowed_actions(case):
        action = rng.choices(allowed, [RARE.get(a, 10) for a in allowed])[0]
        at += HOUR
        case = step(case, action, valid_payload(case, action, at, rng), at=at,
                    officer=officer_for(case, action)).case
        seen.append(case)
        assert len(seen) < 500, "a life that never ends"
    assert case.state in TERMINAL
    return seen


CASES = [case for seed in range(200) for case in walk(seed)]


def test_random_lives_reach_every_state_and_every_rule_of_the_table() -> None:
    assert {c.state for c in CASES} == set(State)
    taken = {(c.state, a) for c in CASES for a in allowed_actions(c)}
    assert taken == set(TRANSITIONS)


@pytest.mark.parametrize("action", list(Action))
def test_every_action_outside_the_table_is_refused_with_exactly_what_is_allowed(
        action: Action) -> None:
    for case in CASES:
        allowed = allowed_actions(case)
        assert set(allowed) <= {a for (s, a) in TRANSITIONS if s == case.state}
        if action in allowed:
            continue
        with pytest.raises(WrongState) as wrong:
            apply(case, action, valid_payload(case, action, RECEIVED), RECEIVED,
                  officer_for(case, action))
        assert (wrong.value.state, wrong.value.allowed) == (case.state, allowed)
