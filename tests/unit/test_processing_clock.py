"""The processing clock (services/processing/legal_clock.py), hand-checked against the real 2026
calendar of the `holidays` package (Tết: Mon 16 - Fri 20 February 2026; office hours
7:30-17:00, 9.5 hours a day)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.catalog import StepSpec
from contracts.common import LegalTime, Timeliness, TimeUnit
from services.law.workdays import TZ, WorkCalendar
from services.processing.legal_clock import (
    AGENCY,
    OVERDUE,
    SUPPLEMENT,
    Alert,
    Amount,
    ClockState,
    Holder,
    apology_outcome,
    apology_problems,
    attributed_time,
    due_at,
    finish,
    hand_over,
    handover_due,
    is_running,
    next_alert,
    open_clock,
    pause_for_agency,
    request_supplement,
    responsible,
    responsible_party,
    restart_after_supplement,
    resume,
    runs,
    step_due_times,
    supplement_problems,
    supplement_until,
    thresholds,
    timeliness,
    working_time_between,
    working_time_left,
    working_time_used,
)

CAL = WorkCalendar()
DAY = 9.5  # office hours a day
JUST_AFTER = timedelta(microseconds=1)


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def wd(n: int) -> LegalTime:
    return LegalTime(value=n, unit=TimeUnit.working_days)


def days(value: float) -> Amount:
    return Amount(pytest.approx(value), "working_days")  # type: ignore[arg-type]


def monitor(state: ClockState, start: datetime, end: datetime) -> list[Alert]:
    """What a monitor polling every hour would fire: each threshold when its time comes."""
    fired: list[Alert] = []
    now = start
    while now <= end:
        while (alert := next_alert(state, {a.kind for a in fired}, now)) is not None \
                and alert.at <= now:
            fired.append(alert)
        now += timedelta(hours=1)
    return fired


# --- receipt and the due time --------------------------------------------------------------


def test_received_friday_after_office_hours() -> None:
    # Decree 45/2020: received Monday 9 March; Civil Code Art. 147: day 1 is Tuesday.
    state = open_clock(at(2026, 3, 6, 18), wd(5), CAL)
    assert due_at(state) == at(2026, 3, 16, 17)
    assert due_at(state) == CAL.due_at(at(2026, 3, 6, 18), wd(5))  # as on DossierReceived
    assert working_time_used(state, at(2026, 3, 7)) == days(0)
    assert working_time_used(state, at(2026, 3, 9, 16)) == days(0)  # receipt day not counted
    assert working_time_used(state, at(2026, 3, 10, 12)) == days(4.5 / DAY)
    assert working_time_left(state, at(2026, 3, 9, 16)) == days(5)
    assert working_time_left(state, at(2026, 3, 20)) == days(0)


def test_five_working_days_across_tet_2026() -> None:
    state = open_clock(at(2026, 2, 12), wd(5), CAL)
    # Fri 13 (1), Tết, Mon 23 (2), Tue 24 (3), Wed 25 (4), Thu 26 (5).
    assert due_at(state) == at(2026, 2, 26, 17)
    assert working_time_used(state, at(2026, 2, 18, 12)) == days(1)  # Tết does not count
    assert working_time_left(state, at(2026, 2, 18, 12)) == days(4)
    assert working_time_used(state, at(2026, 2, 23, 12)) == days(1 + 4.5 / DAY)
    # 80% used and one day left fall together at the end of day 4; both fire, once each.
    alerts = thresholds(state)
    assert [a.at for a in alerts] == [at(2026, 2, 25, 17)] * 2 + [at(2026, 2, 26, 17)
                                                                    + JUST_AFTER]
    fired = monitor(state, at(2026, 2, 12), at(2026, 3, 5))
    assert [a.kind for a in fired] == ["approaching:used-80%", "approaching:left-1d",
                                       "overdue"]


# --- supplements: one rule, the clock restarts, both periods kept --------------------------


def test_supplement_across_tet_restarts_the_clock_keeping_both_periods() -> None:
    state = open_clock(at(2026, 2, 10, 9), wd(5), CAL, "Bộ phận một cửa", "mc01")
    state = hand_over(state, at(2026, 2, 10, 14), "Phòng Chế độ BHXH", "cb01")
    assert due_at(state) == at(2026, 2, 24, 17)
    assert supplement_problems(state, at(2026, 2, 12)) == []  # within 3 working days
    state = request_supplement(state, at(2026, 2, 12))
    # Stopped: no alerts while the applicant has the dossier; used is frozen.
    assert not is_running(state, at(2026, 2, 13))
    assert next_alert(state, set(), at(2026, 2, 13)) is None
    assert working_time_used(state, at(2026, 2, 13, 16)) == days((9.5 + 2.5) / DAY)
    # Completed online during Tết: received Monday 23, counted from Tuesday 24.
    state = restart_after_supplement(state, at(2026, 2, 18), "Phòng Chế độ BHXH", "cb01")
    assert due_at(state) == at(2026, 3, 2, 17)
    assert due_at(state) == CAL.due_at(at(2026, 2, 18), wd(5))  # intake's SupplementReceived
    assert working_time_used(state, at(2026, 2, 23, 12)) == days(0)
    assert working_time_used(state, at(2026, 2, 25, 12)) == days(1 + 4.5 / DAY)
    assert runs(state) == [(at(2026, 2, 10, 9), at(2026, 2, 12)), (at(2026, 2, 18), None)]
    assert [p.kind for p in state.periods] == [AGENCY, AGENCY, SUPPLEMENT, AGENCY]
    spent = attributed_time(state, at(2026, 2, 24, 17))
    assert spent[Holder(SUPPLEMENT, None, None)] == days((7 + 9.5) / DAY)  # Tết not counted
    assert spent[Holder(AGENCY, "Bộ phận một cửa", "mc01")] == days(5 / DAY)
    # Both runs: Feb 10-12 before the request, Mon 23 and Tue 24 after the restart.
    assert spent[Holder(AGENCY, "Phòng Chế độ BHXH", "cb01")] == days(
        (3 + 9.5 + 2.5 + 9.5 + 9.5) / DAY)
    # The restarted clock's thresholds are new ones.
    kinds = [a.kind for a in thresholds(state)]
    assert kinds == ["approaching:used-80%@restart-1", "approaching:left-1d@restart-1",
                     "overdue@restart-1"]
    assert next_alert(state, {"approaching:used-80%", "approaching:left-1d"},
                      at(2026, 2, 19)) == Alert("approaching:used-80%@restart-1",
                                                at(2026, 2, 27, 17))
    # Once per dossier: a second request is refused.
    assert supplement_problems(state, at(2026, 2, 24)) == ["supplement_repeated",
                                                           "supplement_late"]


def test_supplement_at_the_counter_follows_the_same_rule() -> None:
    state = open_clock(at(2026, 3, 2, 9), wd(5), CAL, "Bộ phận một cửa")
    state = request_supplement(state, at(2026, 3, 2, 9))  # at receipt, stage "intake"
    assert runs(state) == [(at(2026, 3, 2, 9), at(2026, 3, 2, 9))]
    state = restart_after_supplement(state, at(2026, 3, 4), "Bộ phận một cửa")
    assert due_at(state) == CAL.due_at(at(2026, 3, 4), wd(5)) == at(2026, 3, 11, 17)


def test_the_supplement_window_can_run_from_the_complete_dossier() -> None:
    # Asked at the counter on Mon 2 March, complete on Wed 4: no receipt until complete.
    state = open_clock(at(2026, 3, 2, 9), wd(5), CAL, "Bộ phận một cửa")
    state = restart_after_supplement(request_supplement(state, at(2026, 3, 2, 9)),
                                     at(2026, 3, 4, 9), "Bộ phận một cửa")
    assert supplement_until(state) == at(2026, 3, 5, 17)  # Tue 3, Wed 4, Thu 5
    assert supplement_until(state, since=at(2026, 3, 4, 9)) == at(2026, 3, 9, 17)
    assert supplement_problems(state, at(2026, 3, 9, 16), max_rounds=2) == ["supplement_late"]
    assert supplement_problems(state, at(2026, 3, 9, 16), max_rounds=2,
                               since=at(2026, 3, 4, 9)) == []


# --- another agency (liên thông) -----------------------------------------------------------


def test_another_agency_holds_the_dossier_three_working_days() -> None:
    state = open_clock(at(2026, 3, 2, 9), wd(10), CAL, "Bộ phận một cửa", "mc01")
    state = hand_over(state, at(2026, 3, 2, 14), "Phòng Chế độ BHXH", "cb01")
    state = pause_for_agency(state, at(2026, 3, 4, 7, 30), "H01.01")
    state = resume(state, at(2026, 3, 9, 7, 30), "Phòng Chế độ BHXH", "cb01")
    # The appointment does not move; the legal clock ran meanwhile.
    assert due_at(state) == at(2026, 3, 16, 17)
    assert working_time_used(state, at(2026, 3, 9, 7, 30)) == days(4)
    holder = responsible(state, at(2026, 3, 5))
    assert holder is not None and holder.kind == "other-agency:H01.01"
    state = finish(state, at(2026, 3, 12, 12))
    spent = attributed_time(state, at(2026, 3, 20))
    assert spent == {
        Holder(AGENCY, "Bộ phận một cửa", "mc01"): days(5 / DAY),
        Holder(AGENCY, "Phòng Chế độ BHXH", "cb01"): days((3 + 9.5 + 3 * 9.5 + 4.5) / DAY),
        Holder("other-agency:H01.01", None, None): days(3),
    }
    assert next_alert(state, set(), at(2026, 3, 20)) is None  # finished


def test_an_overdue_dossier_held_by_another_agency_is_that_agency_s_delay() -> None:
    # DossierOverdue's responsible_department comes from the holder at the due time: an
    # other agency's period has no BHXH department, yet the delay is the agency's.
    state = open_clock(at(2026, 3, 2, 9), wd(5), CAL)  # the counter, no department
    state = hand_over(state, at(2026, 3, 2, 14), "Phòng Chế độ BHXH", "cb01")
    state = pause_for_agency(state, at(2026, 3, 4, 7, 30), "H01.01")
    holder = responsible(state, due_at(state))  # still unanswered at Mon 9 at 17:00
    assert holder is not None and responsible_party(holder) == "H01.01"
    assert responsible_party(state.periods[1]) == "Phòng Chế độ BHXH"
    assert responsible_party(state.periods[0]) is None
    waiting = request_supplement(resume(state, at(2026, 3, 5), "Phòng Chế độ BHXH"),
                                 at(2026, 3, 6))
    assert responsible_party(waiting.periods[-1]) is None  # the applicant's wait


def test_transitions_are_checked() -> None:
    state = open_clock(at(2026, 3, 2, 9), wd(10), CAL)
    with pytest.raises(ValueError):
        resume(state, at(2026, 3, 3), "Phòng Chế độ BHXH")  # not with another agency
    with pytest.raises(ValueError):
        restart_after_supplement(state, at(2026, 3, 3))  # no supplement asked
    with pytest.raises(ValueError):
        hand_over(state, at(2026, 3, 1), "Phòng Chế độ BHXH")  # before the period started
    with pytest.raises(ValueError):
        open_clock(datetime(2026, 3, 2, 9), wd(10), CAL)  # naive
    with pytest.raises(ValueError):
        hand_over(finish(state, at(2026, 3, 3)), at(2026, 3, 4), "Phòng Chế độ BHXH")


# --- the deadline monitor ------------------------------------------------------------------


def test_thresholds_of_a_ten_working_day_procedure() -> None:
    state = open_clock(at(2026, 3, 2, 9), wd(10), CAL)
    due = at(2026, 3, 16, 17)
    assert thresholds(state) == [
        Alert("approaching:used-80%", at(2026, 3, 12, 17)),  # end of day 8
        Alert("approaching:left-1d", at(2026, 3, 13, 17)),  # end of day 9
        Alert("overdue", due + JUST_AFTER),
    ]
    assert next_alert(state, set(), at(2026, 3, 2, 10)) == thresholds(state)[0]
    fired = monitor(state, at(2026, 3, 2, 10), at(2026, 3, 25))
    assert [(a.kind, a.event) for a in fired] == [
        ("approaching:used-80%", "DeadlineApproaching"),
        ("approaching:left-1d", "DeadlineApproaching"),
        ("overdue", "DossierOverdue")]
    assert next_alert(state, {a.kind for a in fired}, at(2026, 4, 1)) is None
    # On time means by the due time inclusive: not overdue at 17:00 itself.
    pending = next_alert(state, {a.kind for a in fired[:2]}, due)
    assert pending is not None and pending.at > due


def test_thresholds_are_configurable() -> None:
    state = open_clock(at(2026, 3, 2, 9), wd(10), CAL)
    assert thresholds(state, near_days=2, used_share=0.5) == [
        Alert("approaching:used-50%", at(2026, 3, 9, 17)),
        Alert("approaching:left-2d", at(2026, 3, 12, 17)),
        Alert("overdue", at(2026, 3, 16, 17) + JUST_AFTER),
    ]
    assert [a.kind for a in thresholds(state, near_days=None)] == ["approaching:used-80%",
                                                                   "overdue"]


def test_received_forty_days_ago_is_overdue_at_once() -> None:
    now = at(2026, 4, 10)
    state = open_clock(now - timedelta(days=40), wd(10), CAL)
    alert = next_alert(state, set(), now)
    assert alert == Alert("overdue", at(2026, 3, 16, 17) + JUST_AFTER)
    assert alert.event == OVERDUE
    # The passed "approaching" thresholds are stale, never sent after the overdue one.
    assert next_alert(state, {"overdue"}, now) is None
    # Used is not capped (total time against the legal time, for the evaluation): 21
    # working days in March from the 3rd, 7 in April, and Friday 10 April until 10:00.
    assert working_time_used(state, now) == days(28 + 2.5 / DAY)
    assert working_time_left(state, now) == days(0)
    assert responsible(state, alert.at) == state.periods[0]


# --- steps, outcomes, apologies ------------------------------------------------------------


def _steps(*shares: float) -> list[StepSpec]:
    return [StepSpec(code=f"B{i}", name=f"Bước {i}", department="Phòng", share=s)
            for i, s in enumerate(shares, 1)]


def test_step_due_times_from_shares() -> None:
    received = at(2026, 3, 2, 9)
    assert step_due_times(received, wd(10), _steps(0.2, 0.6, 0.2), CAL) == [
        at(2026, 3, 4, 17), at(2026, 3, 12, 17), at(2026, 3, 16, 17)]
    # Default shares split the legal time equally (95 h / 3 = 31 h 40 min each).
    assert step_due_times(received, wd(10), _steps(1, 1, 1), CAL) == [
        at(2026, 3, 6, 10, 40), at(2026, 3, 11, 13, 50), at(2026, 3, 16, 17)]
    # Shares under 1 leave the rest before the dossier's due time.
    assert step_due_times(received, wd(10), _steps(0.5), CAL) == [at(2026, 3, 9, 17)]
    # Across Tết.
    assert step_due_times(at(2026, 2, 12), wd(5), _steps(0.4, 0.6), CAL) == [
        at(2026, 2, 23, 17), at(2026, 2, 26, 17)]


def test_timeliness() -> None:
    due = at(2026, 3, 16, 17)
    assert timeliness(at(2026, 3, 13, 16), due) is Timeliness.early
    assert timeliness(at(2026, 3, 16, 8), due) is Timeliness.on_time
    assert timeliness(due, due) is Timeliness.on_time
    assert timeliness(due + JUST_AFTER, due) is Timeliness.late


def test_apology_date_does_not_change_lateness() -> None:
    due, new_due = at(2026, 3, 16, 17), at(2026, 3, 20, 17)
    done = at(2026, 3, 18)
    assert apology_outcome(done, due, new_due) == (Timeliness.late, True)
    assert apology_outcome(at(2026, 3, 23), due, new_due) == (Timeliness.late, False)
    assert apology_outcome(at(2026, 3, 16), due, new_due) == (Timeliness.on_time, True)
    assert apology_problems(CAL, at(2026, 3, 13), due, new_due) == []
    assert apology_problems(CAL, at(2026, 3, 16, 8), due, new_due) == ["apology_too_late"]
    assert apology_problems(CAL, at(2026, 3, 13), due, due, earlier_apologies=1) == [
        "apology_repeated", "reappointment_not_later"]


def test_same_day_procedure_received_after_three_pm() -> None:
    same_day = LegalTime(value=0, unit=TimeUnit.same_day)
    state = open_clock(at(2026, 3, 10, 15, 30), same_day, CAL)
    assert due_at(state) == at(2026, 3, 11, 17)  # Decree 61/2018: next working day
    assert working_time_used(state, at(2026, 3, 11, 12)) == Amount(6.0, "hours")
    assert working_time_left(state, at(2026, 3, 11, 12)) == Amount(5.0, "hours")
    assert thresholds(state) == [
        Alert("approaching:left-1d", at(2026, 3, 10, 17)),  # 1.5 h + 9.5 h in all
        Alert("approaching:used-80%", at(2026, 3, 11, 14, 48)),
        Alert("overdue", at(2026, 3, 11, 17) + JUST_AFTER),
    ]
    assert timeliness(at(2026, 3, 10, 16, 30), due_at(state)) is Timeliness.early
    assert timeliness(at(2026, 3, 11, 16), due_at(state)) is Timeliness.on_time
    assert timeliness(at(2026, 3, 11, 17, 1), due_at(state)) is Timeliness.late
    assert due_at(open_clock(at(2026, 3, 10, 14), same_day, CAL)) == at(2026, 3, 10, 17)
    # Paper handed to processing after 15:00: next working day, the same rule.
    assert handover_due(CAL, at(2026, 3, 13, 15, 30)) == at(2026, 3, 16, 17)


def test_other_units() -> None:
    pension = open_clock(at(2026, 2, 9), LegalTime(value=20,
                                                   unit=TimeUnit.days_excluding_holidays), CAL)
    assert due_at(pension) == at(2026, 3, 6, 17)
    assert working_time_left(pension, at(2026, 2, 9)) == Amount(pytest.approx(20), "days")
    # Tue 10 - Sun 15 and Sat 21 - Sun 22 count, Tết does not; then Mon 23 until 10:00.
    assert working_time_used(pension, at(2026, 2, 23)) == Amount(
        pytest.approx(8 + 2.5 / DAY), "days")
    hours = open_clock(at(2026, 3, 10), LegalTime(value=8, unit=TimeUnit.hours), CAL)
    assert due_at(hours) == at(2026, 3, 11, 8, 30)
    assert working_time_used(hours, at(2026, 3, 10, 18)) == Amount(7.0, "hours")
    assert working_time_between(CAL, at(2026, 2, 13, 16), at(2026, 2, 23, 8, 30)) == \
        timedelta(hours=2)


# --- properties ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(received=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 30),
                             timezones=st.just(TZ)),
       n=st.integers(1, 40), unit=st.sampled_from(list(TimeUnit)))
def test_the_legal_time_is_used_exactly_at_the_due_time(received: datetime, n: int,
                                                        unit: TimeUnit) -> None:
    state = open_clock(received, LegalTime(value=n, unit=unit), CAL)
    due = due_at(state)
    assert working_time_left(state, due).value == pytest.approx(0)
    if unit is TimeUnit.working_days:
        assert working_time_used(state, due).value == pytest.approx(n)
    alerts = thresholds(state)
    assert [a.at for a in alerts] == sorted(a.at for a in alerts)
    assert all(received <= a.at <= due + JUST_AFTER for a in alerts)
    assert alerts[-1].kind == "overdue"
