"""The law's clock: working days, day of receipt and due times (docs/law.md#working-days).

Pure calendar arithmetic in Asia/Ho_Chi_Minh; no I/O. Public holidays come from the
`holidays` package (VN, lunar dates and government swaps included) plus configuration,
never from a hand-written lunar table.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from contracts.catalog import Agency
from contracts.common import LegalTime, Timeliness, TimeUnit

__all__ = ["TZ", "CalendarRules", "WorkCalendar"]

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_ONE_DAY = timedelta(days=1)
# A misconfiguration (every day closed) must fail loudly rather than loop forever.
_MAX_SCAN_DAYS = 366


class _NationalCalendar:
    """The statutory holidays and swapped working days, one per process: every agency's
    calendar reads the same ones, and expanding a year of the `holidays` package costs
    milliseconds (a service meeting a hundred agencies paid it a hundred times)."""

    def __init__(self) -> None:
        self._holidays: holidays.HolidayBase = holidays.country_holidays("VN")
        self._years_loaded: set[int] = set()
        self._lock = threading.Lock()  # the package fills years lazily, in place

    def _ensure_year(self, year: int) -> None:
        # The package fills `weekend_workdays` only when it fills the year of the swapped
        # day off, which may be the year after the worked Saturday.
        if {year - 1, year, year + 1} <= self._years_loaded:
            return
        with self._lock:
            for y in (year - 1, year, year + 1):
                if y not in self._years_loaded:
                    _ = date(y, 1, 1) in self._holidays  # membership test expands the year
                    self._years_loaded.add(y)

    def is_holiday(self, d: date) -> bool:
        self._ensure_year(d.year)
        return d in self._holidays

    def is_makeup_day(self, d: date) -> bool:
        self._ensure_year(d.year)
        # Older `holidays` releases lack the attribute; then only configuration applies.
        return d in getattr(self._holidays, "weekend_workdays", ())


_NATIONAL = _NationalCalendar()


@dataclass(frozen=True)
class CalendarRules:
    """Per-agency configuration on top of the statutory calendar."""

    extra_days_off: frozenset[date] = frozenset()  # government-announced days off / closures
    extra_working_days: frozenset[date] = frozenset()  # make-up Saturdays announced by government
    opens: time = time(7, 30)
    closes: time = time(17, 0)
    # Decree 61/2018's 15:00 rule, a parameter: its article is (confirm);
    # docs/law.md#the-1500-rules.
    same_day_cutoff: time = time(15, 0)

    def __post_init__(self) -> None:
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes")
        # A same-day dossier accepted before the cutoff is due at closes, so cutoff <= closes
        # keeps due_at >= received_at.
        if self.same_day_cutoff > self.closes:
            raise ValueError("same_day_cutoff must not be after closes")
        if self.extra_days_off & self.extra_working_days:
            raise ValueError("a date cannot be both an extra day off and an extra working day")


class WorkCalendar:
    """Working-day calendar of an agency and the due-time rules built on it."""

    def __init__(self, rules: CalendarRules = CalendarRules()) -> None:
        self.rules = rules
        # Per-day answers: the deadline monitor walks the same days for every dossier, and
        # a `holidays` lookup costs far more than a dict hit. Rules are fixed per calendar.
        self._holiday_days: dict[date, bool] = {}
        self._working_days: dict[date, bool] = {}

    # --- calendar -------------------------------------------------------------------------

    def is_public_holiday(self, d: date) -> bool:
        """Labour Code 2019 Art. 112 holidays (incl. Tết, swapped days off) or a closure."""
        known = self._holiday_days.get(d)
        if known is None:
            if d in self.rules.extra_days_off:
                known = True
            else:
                known = _NATIONAL.is_holiday(d)
            self._holiday_days[d] = known
        return known

    def _is_makeup_day(self, d: date) -> bool:
        if d in self.rules.extra_working_days:
            return True
        return _NATIONAL.is_makeup_day(d)

    def is_working_day(self, d: date) -> bool:
        """Mon-Fri or a make-up Saturday, and not a public holiday or closure."""
        known = self._working_days.get(d)
        if known is None:
            known = self._working_days[d] = not self.is_public_holiday(d) and (
                d.weekday() < 5 or self._is_makeup_day(d))
        return known

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        cur = d
        for _ in range(_MAX_SCAN_DAYS):
            cur += _ONE_DAY
            if self.is_working_day(cur):
                return cur
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days after {d}")

    def add_working_days(self, d: date, n: int) -> date:
        """The nth working day after `d` (Civil Code 2015 Art. 147: day `d` is not counted).

        n == 0 gives `d` itself when it is a working day, else the next one.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        if n == 0:
            return d if self.is_working_day(d) else self.next_working_day(d)
        cur = d
        for _ in range(n):
            cur = self.next_working_day(cur)
        return cur

    # --- receipt and deadlines ------------------------------------------------------------

    @staticmethod
    def _local(received_at: datetime) -> datetime:
        if received_at.tzinfo is None or received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware")
        return received_at.astimezone(TZ)

    def _at(self, d: date, t: time) -> datetime:
        return datetime.combine(d, t, tzinfo=TZ)

    def receipt_day(self, received_at: datetime) -> tuple[date, bool]:
        """The legal day of receipt and whether it was moved.

        Decree 45/2020: a dossier arriving after closing time or on a day off is received at
        the start of the next working day. Before opening on a working day it is still that
        day's receipt (nothing is lost by it, and the day is not counted anyway).
        Office hours are the half-open interval [opens, closes).
        """
        local = self._local(received_at)
        d = local.date()
        if self.is_working_day(d) and local.time() < self.rules.closes:
            return d, False
        return self.next_working_day(d), True

    def due_at(self, received_at: datetime, legal_time: LegalTime) -> datetime:
        """When the result is due, as an aware datetime in TZ (docs/law.md#units)."""
        unit, n = legal_time.unit, legal_time.value
        if n < 0:
            raise ValueError("legal time must be >= 0")
        if unit is TimeUnit.working_days:
            return self._due_working_days(received_at, n)
        if unit is TimeUnit.days_excluding_holidays:
            return self._due_days_excluding_holidays(received_at, n)
        if unit is TimeUnit.hours:
            return self._due_hours(received_at, n)
        if unit is TimeUnit.same_day:
            return self._due_same_day(received_at)
        raise ValueError(f"unsupported time unit: {unit!r}")

    def _due_working_days(self, received_at: datetime, n: int) -> datetime:
        # Civil Code 2015 Art. 147: the (possibly moved) day of receipt is not counted;
        # the appointment is the end of office hours of the last day.
        day, _ = self.receipt_day(received_at)
        return self._at(self.add_working_days(day, n), self.rules.closes)

    def _due_days_excluding_holidays(self, received_at: datetime, n: int) -> datetime:
        # Calendar days that count weekends but skip public holidays and Tết (e.g. the
        # pension's 20 days); day of receipt not counted (Civil Code 2015 Art. 147).
        day, _ = self.receipt_day(received_at)
        cur = day
        counted = 0
        while counted < n:
            cur += _ONE_DAY
            if not self.is_public_holiday(cur):
                counted += 1
        # Civil Code 2015 Art. 148: a period ending on a day off ends on the next working day.
        if not self.is_working_day(cur):
            cur = self.next_working_day(cur)
        return self._at(cur, self.rules.closes)

    def _due_hours(self, received_at: datetime, n: int) -> datetime:
        # Hours run only inside office hours of working days; outside them the clock starts
        # at the next opening (Decree 45/2020 receipt rule).
        local = self._local(received_at)
        d, t = local.date(), local.time()
        opens, closes = self.rules.opens, self.rules.closes
        if self.is_working_day(d) and t < closes:
            cur = local if t >= opens else self._at(d, opens)
        else:
            cur = self._at(self.next_working_day(d), opens)
        remaining = timedelta(hours=n)
        while True:
            available = self._at(cur.date(), closes) - cur
            if remaining <= available:
                return cur + remaining
            remaining -= available
            cur = self._at(self.next_working_day(cur.date()), opens)

    def _due_same_day(self, received_at: datetime) -> datetime:
        # Decree 61/2018: received on a working day before the cutoff -> returned that day;
        # otherwise the next working day. A moved receipt (Decree 45/2020) counts as received
        # at opening of its new day, which is before the cutoff.
        local = self._local(received_at)
        day, moved = self.receipt_day(received_at)
        if not moved and local.time() >= self.rules.same_day_cutoff:
            day = self.next_working_day(day)
        return self._at(day, self.rules.closes)


def timeliness(done_at: datetime, due_at: datetime) -> Timeliness:
    """Early: done on an earlier day than due (in Vietnam); on time: by the due time; late:
    after it (docs/law.md#counting-a-period)."""
    if done_at > due_at:
        return Timeliness.late
    if done_at.astimezone(TZ).date() < due_at.astimezone(TZ).date():
        return Timeliness.early
    return Timeliness.on_time


def agency_calendar(rules: CalendarRules, agency: Agency | None) -> WorkCalendar:
    """The agency's own office hours and closures on top of the national calendar: what
    intake counts a receipt by and processing counts its steps and alerts by."""
    if agency is None:
        return WorkCalendar(rules)
    return WorkCalendar(replace(rules, opens=agency.office_hours.opens,
                                closes=agency.office_hours.closes,
                                extra_days_off=rules.extra_days_off | frozenset(agency.closures)))
