"""The deadline monitor's columns (domain.alert_values, due_alerts, deadline_status): the
next alert time follows every change of the clock, in memory, and each threshold fires
once. Hand-checked on the 2026 calendar (office hours 7:30-17:00)."""

from __future__ import annotations

from datetime import datetime

from contracts.common import LegalTime, TimeUnit
from contracts.events import DeadlineApproaching, DossierOverdue
from services.law.workdays import TZ, WorkCalendar
from services.processing import legal_clock
from services.processing.domain import (
    AlertColumns,
    AlertPolicy,
    alert_event,
    alert_values,
    deadline_status,
    due_alerts,
)

CAL = WorkCalendar()
LEGAL = LegalTime(value=10, unit=TimeUnit.working_days)
POLICY = AlertPolicy()
DEPT = "Phòng Chế độ BHXH"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def opened() -> legal_clock.ClockState:
    # Received Mon 2 March 2026 at 9:00: ten working days, due Mon 16 March at 17:00; 80%
    # used (Thu 12 March) comes before one day left (Fri 13 March).
    return legal_clock.hand_over(legal_clock.open_clock(at(2026, 3, 2, 9), LEGAL, CAL),
                                 at(2026, 3, 2, 9), DEPT)


def test_opening_sets_the_first_threshold_and_no_status() -> None:
    state = opened()
    values = alert_values(state, set(), "in_step", at(2026, 3, 2, 9), POLICY)
    assert values == AlertColumns(legal_clock.thresholds(state)[0].at, (), None)
    assert values.next_alert_at < legal_clock.due_at(state) == at(2026, 3, 16, 17)


def test_each_threshold_fires_once_then_overdue_then_nothing() -> None:
    state, fired = opened(), set[str]()
    due = legal_clock.due_at(state)
    seen: list[str] = []
    for alert in legal_clock.thresholds(state):
        now = alert.at
        fresh = due_alerts(state, fired, now, POLICY)
        assert [a.kind for a in fresh] == [alert.kind]
        fired |= {a.kind for a in fresh}
        seen += [a.kind for a in fresh]
        assert due_alerts(state, fired, now, POLICY) == []  # a second tick: nothing
        values = alert_values(state, fired, "in_step", now, POLICY)
        assert values.next_alert_at is None or values.next_alert_at > now
    assert seen[-1] == "overdue" and len(seen) == 3
    assert alert_values(state, fired, "in_step", due, POLICY) == AlertColumns(
        None, tuple(sorted(seen)), "overdue")


def test_a_dossier_found_long_late_is_only_overdue() -> None:
    state, now = opened(), at(2026, 4, 20, 10)
    values = alert_values(state, set(), "in_step", now, POLICY)
    # just after the due time
    assert values.next_alert_at == legal_clock.thresholds(state)[-1].at
    fresh = due_alerts(state, set(), now, POLICY)
    assert [a.kind for a in fresh] == ["overdue"]
    event = alert_event("000.01.01.H26-260302-0001", state, fresh[0], now)
    assert isinstance(event, DossierOverdue)
    assert event.responsible_department == DEPT and event.due_at == legal_clock.due_at(state)


def test_near_status_and_event() -> None:
    state = opened()
    first = legal_clock.thresholds(state)[0]
    fired = {first.kind}
    assert alert_values(state, fired, "in_step", first.at, POLICY).deadline == "near"
    event = alert_event("000.01.01.H26-260302-0001", state, first, first.at)
    assert isinstance(event, DeadlineApproaching)


def test_a_supplement_stops_alerts_and_its_arrival_starts_new_ones() -> None:
    state = opened()
    fired = {legal_clock.thresholds(state)[0].kind}
    stopped = legal_clock.request_supplement(state, at(2026, 3, 6, 10))
    values = alert_values(stopped, fired, "waiting_supplement", at(2026, 3, 6, 10), POLICY)
    assert values.next_alert_at is None and values.deadline == "near"
    restarted = legal_clock.restart_after_supplement(stopped, at(2026, 3, 16, 9), DEPT)
    values = alert_values(restarted, fired, "in_step", at(2026, 3, 16, 9), POLICY)
    # A new legal time: its own thresholds, the earlier run's "near" no longer shown.
    assert values.next_alert_at == legal_clock.thresholds(restarted)[0].at
    assert values.next_alert_at > at(2026, 3, 16, 9)
    assert values.deadline is None


def test_another_agency_does_not_move_the_appointment_and_resolution_clears() -> None:
    state = opened()
    paused = legal_clock.pause_for_agency(state, at(2026, 3, 3, 9), "BHXH.TINH")
    assert alert_values(paused, set(), "waiting_agency", at(2026, 3, 3, 9), POLICY
                        ).next_alert_at == legal_clock.thresholds(state)[0].at
    back = legal_clock.resume(paused, at(2026, 3, 4, 9), DEPT)
    finished = legal_clock.finish(back, at(2026, 3, 12, 9))
    values = alert_values(finished, {"overdue"}, "approved", at(2026, 3, 12, 9), POLICY)
    assert values.next_alert_at is None and values.deadline is None


def test_deadline_status_by_run() -> None:
    assert deadline_status({"approaching:left-1d@restart-1"}, "in_step", 1) == "near"
    assert deadline_status({"approaching:left-1d"}, "in_step", 1) is None
    assert deadline_status({"overdue"}, "in_step", 1) == "overdue"
    assert deadline_status({"overdue@restart-1"}, "denied", 1) is None


def test_thresholds_are_configurable() -> None:
    state = opened()
    only_overdue = AlertPolicy(near_days=None, used_share=None)
    values = alert_values(state, set(), "in_step", at(2026, 3, 2, 9), only_overdue)
    assert values.next_alert_at == legal_clock.thresholds(state)[-1].at
