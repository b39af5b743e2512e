"""Working days and due times (docs/law.md#working-days), hand-checked against the 2025-2027
calendar of the `holidays` package, plus property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.common import LegalTime, TimeUnit
from services.law.workdays import TZ, CalendarRules, WorkCalendar

CAL = WorkCalendar()

WD = TimeUnit.working_days
DEH = TimeUnit.days_excluding_holidays
HRS = TimeUnit.hours
SAME = TimeUnit.same_day


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


# --- the package calendar we rely on --------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "holiday"),
    [
        (date(2026, 1, 1), True),
        *[(date(2026, 2, day), True) for day in range(16, 21)],  # Tết Mon 16 - Fri 20 Feb
        (date(2026, 2, 13), False),
        (date(2026, 2, 23), False),
        (date(2026, 4, 26), True),  # Hùng Kings on a Sunday
        (date(2026, 4, 27), True),  # ... observed Monday
        (date(2026, 4, 30), True),
        (date(2026, 5, 1), True),
        (date(2026, 8, 31), True),  # swapped day off (Saturday 22/08 worked)
        (date(2026, 9, 1), True),
        (date(2026, 9, 2), True),
        (date(2026, 9, 3), False),
        (date(2026, 11, 24), True),  # Vietnam Cultural Day
        (date(2025, 5, 2), True),  # swapped from Saturday 26/04/2025
        (date(2026, 2, 21), False),  # a plain Saturday is not a holiday
    ],
)
def test_is_public_holiday(d: date, holiday: bool) -> None:
    assert CAL.is_public_holiday(d) is holiday


@pytest.mark.parametrize(
    ("d", "working"),
    [
        (date(2026, 8, 22), True),  # make-up Saturday
        (date(2025, 4, 26), True),  # make-up Saturday
        (date(2026, 8, 29), False),  # ordinary Saturday
        (date(2026, 8, 30), False),  # Sunday
        (date(2026, 8, 31), False),
        (date(2026, 2, 18), False),
        (date(2026, 3, 10), True),
    ],
)
def test_is_working_day(d: date, working: bool) -> None:
    assert CAL.is_working_day(d) is working


def test_rules_add_closures_and_makeup_days() -> None:
    cal = WorkCalendar(
        CalendarRules(
            extra_days_off=frozenset({date(2026, 3, 11)}),
            extra_working_days=frozenset({date(2027, 1, 9)}),
        )
    )
    assert cal.is_public_holiday(date(2026, 3, 11))
    assert not cal.is_working_day(date(2026, 3, 11))
    assert cal.is_working_day(date(2027, 1, 9))
    assert not CAL.is_working_day(date(2027, 1, 9))
    assert cal.due_at(at(2026, 3, 10), LegalTime(value=1, unit=WD)) == at(2026, 3, 12, 17)
    assert cal.due_at(at(2027, 1, 8), LegalTime(value=1, unit=WD)) == at(2027, 1, 9, 17)
    assert CAL.due_at(at(2027, 1, 8), LegalTime(value=1, unit=WD)) == at(2027, 1, 11, 17)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opens": time(17, 0), "closes": time(8, 0)},
        {"same_day_cutoff": time(18, 0)},
        {
            "extra_days_off": frozenset({date(2026, 3, 7)}),
            "extra_working_days": frozenset({date(2026, 3, 7)}),
        },
    ],
)
def test_invalid_rules_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CalendarRules(**kwargs)  # type: ignore[arg-type]


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError):
        CAL.due_at(datetime(2026, 3, 10, 10), LegalTime(value=1, unit=WD))


# --- day arithmetic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "n", "expected"),
    [
        (date(2026, 2, 13), 0, date(2026, 2, 13)),
        (date(2026, 2, 14), 0, date(2026, 2, 23)),
        (date(2026, 2, 13), 1, date(2026, 2, 23)),
        (date(2026, 2, 12), 1, date(2026, 2, 13)),
        (date(2026, 8, 21), 1, date(2026, 8, 22)),
        (date(2026, 8, 21), 2, date(2026, 8, 24)),
        (date(2026, 8, 28), 1, date(2026, 9, 3)),
    ],
)
def test_add_working_days(d: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(d, n) == expected


def test_next_working_day_is_strictly_after() -> None:
    assert CAL.next_working_day(date(2026, 3, 10)) == date(2026, 3, 11)
    assert CAL.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (at(2026, 3, 10, 6, 0), (date(2026, 3, 10), False)),  # before opening
        (at(2026, 3, 10, 16, 59), (date(2026, 3, 10), False)),
        (at(2026, 3, 10, 17, 0), (date(2026, 3, 11), True)),  # closing time is outside
        (at(2026, 3, 10, 17, 30), (date(2026, 3, 11), True)),
        (at(2026, 3, 8), (date(2026, 3, 9), True)),  # Sunday
        (at(2026, 2, 18), (date(2026, 2, 23), True)),  # during Tết
        (at(2026, 8, 22), (date(2026, 8, 22), False)),  # make-up Saturday
        (datetime(2026, 3, 10, 10, 30, tzinfo=UTC), (date(2026, 3, 11), True)),  # 17:30 ICT
    ],
)
def test_receipt_day(received: datetime, expected: tuple[date, bool]) -> None:
    assert CAL.receipt_day(received) == expected


# --- due times, hand-checked ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "value", "unit", "expected"),
    [
        # Tết 2026 (Mon 16 - Fri 20 Feb)
        (at(2026, 2, 12, 9), 1, WD, at(2026, 2, 13, 17)),
        (at(2026, 2, 13), 3, WD, at(2026, 2, 25, 17)),
        (at(2026, 2, 13, 18), 1, WD, at(2026, 2, 24, 17)),  # moved to Mon 23, day 1 is Tue
        (at(2026, 2, 18), 5, WD, at(2026, 3, 2, 17)),  # online during Tết
        # Hùng Kings (Sun 26 + Mon 27 Apr), 30/4 and 1/5 2026
        (at(2026, 4, 24), 2, WD, at(2026, 4, 29, 17)),
        (at(2026, 4, 24), 3, WD, at(2026, 5, 4, 17)),
        (at(2026, 4, 29, 14), 2, WD, at(2026, 5, 5, 17)),
        # 2/9 2026 with Mon 31/8 swapped off
        (at(2026, 8, 28), 1, WD, at(2026, 9, 3, 17)),
        # make-up Saturdays
        (at(2026, 8, 21), 1, WD, at(2026, 8, 22, 17)),
        (at(2026, 8, 22), 1, WD, at(2026, 8, 24, 17)),
        (at(2025, 4, 25), 1, WD, at(2025, 4, 26, 17)),
        (at(2026, 8, 22), 0, SAME, at(2026, 8, 22, 17)),
        # after closing time, and in another zone
        (at(2026, 3, 10, 16, 59), 1, WD, at(2026, 3, 11, 17)),
        (at(2026, 3, 10, 17, 30), 1, WD, at(2026, 3, 12, 17)),
        (datetime(2026, 3, 10, 3, 30, tzinfo=UTC), 1, WD, at(2026, 3, 11, 17)),
        (datetime(2026, 3, 10, 10, 30, tzinfo=UTC), 1, WD, at(2026, 3, 12, 17)),
        # Sunday receipt
        (at(2026, 3, 8), 1, WD, at(2026, 3, 10, 17)),
        (at(2026, 3, 8), 0, WD, at(2026, 3, 9, 17)),
        (at(2026, 3, 8), 0, SAME, at(2026, 3, 9, 17)),
        # same-day, the 15:00 cutoff
        (at(2026, 3, 10, 6, 0), 0, SAME, at(2026, 3, 10, 17)),
        (at(2026, 3, 10, 14, 59), 0, SAME, at(2026, 3, 10, 17)),
        (at(2026, 3, 10, 15, 0), 0, SAME, at(2026, 3, 11, 17)),
        (at(2026, 3, 10, 15, 30), 0, SAME, at(2026, 3, 11, 17)),
        (at(2026, 3, 10, 18, 0), 0, SAME, at(2026, 3, 11, 17)),
        (at(2026, 3, 13, 15, 30), 0, SAME, at(2026, 3, 16, 17)),
        (at(2026, 2, 13, 15, 30), 0, SAME, at(2026, 2, 23, 17)),
        # 20 days excluding holidays (pension) across Tết
        (at(2026, 2, 9), 20, DEH, at(2026, 3, 6, 17)),
        (at(2026, 2, 11), 20, DEH, at(2026, 3, 9, 17)),  # day 20 is Sun 8 Mar -> Mon 9
        (at(2026, 2, 7), 20, DEH, at(2026, 3, 6, 17)),  # Saturday receipt moves to Mon 9
        (at(2026, 3, 2), 20, DEH, at(2026, 3, 23, 17)),  # no holiday; Sun 22 -> Mon 23
        # hours within office hours (7:30-17:00, 9.5 h a day)
        (at(2026, 3, 10, 10), 4, HRS, at(2026, 3, 10, 14)),
        (at(2026, 3, 10, 10), 7, HRS, at(2026, 3, 10, 17)),
        (at(2026, 3, 10, 10), 8, HRS, at(2026, 3, 11, 8, 30)),
        (at(2026, 3, 10, 6), 2, HRS, at(2026, 3, 10, 9, 30)),
        (at(2026, 3, 10, 18), 2, HRS, at(2026, 3, 11, 9, 30)),
        (at(2026, 2, 13, 16), 2, HRS, at(2026, 2, 23, 8, 30)),
        (at(2026, 3, 8), 24, HRS, at(2026, 3, 11, 12, 30)),
    ],
)
def test_due_at_table(received: datetime, value: int, unit: TimeUnit, expected: datetime) -> None:
    due = CAL.due_at(received, LegalTime(value=value, unit=unit))
    assert due == expected
    assert due.tzinfo == TZ


def test_same_day_cutoff_is_configurable() -> None:
    cal = WorkCalendar(CalendarRules(same_day_cutoff=time(16, 0)))
    legal = LegalTime(value=0, unit=SAME)
    assert cal.due_at(at(2026, 3, 10, 15, 30), legal) == at(2026, 3, 10, 17)
    assert CAL.due_at(at(2026, 3, 10, 15, 30), legal) == at(2026, 3, 11, 17)


# --- properties -----------------------------------------------------------------------------

ZONES = [TZ, ZoneInfo("UTC"), ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")]

received_st = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 10, 31),
    timezones=st.sampled_from(ZONES),
)
unit_st = st.sampled_from(list(TimeUnit))


def _max_value(unit: TimeUnit) -> int:
    return 200 if unit is HRS else 60


@st.composite
def legal_st(draw: st.DrawFn) -> LegalTime:
    unit = draw(unit_st)
    return LegalTime(value=draw(st.integers(0, _max_value(unit))), unit=unit)


@settings(max_examples=200, deadline=None)
@given(received=received_st, legal=legal_st())
def test_due_never_before_receipt_nor_on_a_day_off(received: datetime, legal: LegalTime) -> None:
    due = CAL.due_at(received, legal)
    assert due >= received
    assert due.tzinfo == TZ
    assert CAL.is_working_day(due.date())
    assert CAL.rules.opens <= due.time() <= CAL.rules.closes
    if legal.unit is not HRS:
        assert due.time() == CAL.rules.closes


@settings(max_examples=200, deadline=None)
@given(a=received_st, b=received_st, legal=legal_st())
def test_due_monotone_in_receipt(a: datetime, b: datetime, legal: LegalTime) -> None:
    early, late = sorted((a, b))
    assert CAL.due_at(early, legal) <= CAL.due_at(late, legal)


@settings(max_examples=200, deadline=None)
@given(
    received=received_st,
    unit=unit_st,
    v1=st.integers(0, 60),
    v2=st.integers(0, 60),
)
def test_due_monotone_in_value(received: datetime, unit: TimeUnit, v1: int, v2: int) -> None:
    small, big = sorted((v1, v2))
    assert CAL.due_at(received, LegalTime(value=small, unit=unit)) <= CAL.due_at(
        received, LegalTime(value=big, unit=unit)
    )


@settings(max_examples=200, deadline=None)
@given(
    d=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 10, 31)),
    n=st.integers(0, 40),
)
def test_add_working_days_counts_exactly_n(d: date, n: int) -> None:
    result = CAL.add_working_days(d, n)
    assert CAL.is_working_day(result)
    counted = sum(
        CAL.is_working_day(d + timedelta(days=i)) for i in range(1, (result - d).days + 1)
    )
    if n == 0:
        assert result == d or (not CAL.is_working_day(d) and counted == 1)
    else:
        assert counted == n
