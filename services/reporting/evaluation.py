"""The internal evaluation of how procedures are handled (Decree 61/2018 Art. 30) and the
applicants' satisfaction (Art. 31), per office, department and officer over a period, each
scored by the rubric in force (`rubric.py`): docs/law.md#evaluation-and-satisfaction. Pure.

Per office, of its dossiers (the office that received them):
- resolved in the period: the share on time (early or on time against the legal
  appointment); the time used against the legal time (`time_ratio`: office-hours time from
  the legal receipt, or from the complete supplement that restarted the clock, to the
  resolution, less the time the applicant owed a supplement, over the time from that start
  to the appointment; below 1 is within it); supplements asked of the applicant per
  dossier; contacts per dossier (the submission and one more per supplement asked);
- received in the period: the share received online;
- rated in the period: the citizens' average (scored) and the counter surveys' (shown
  apart, not scored).
Per holder (office, department, officer), of the steps completed in the period: their
number, the share completed by the step's due time, the working days per step and in all,
and the overdue days they caused in the period (delay attribution, `attribution.py`, its
late window cut to the period) per step handled.

A quarter is the quarterly report's period (from 0:00 on the 15th of the previous quarter's
last month); any other period runs from 0:00 on its first day to 24:00 on its last."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.law.workdays import TZ, WorkCalendar
from services.reporting import quarterly
from services.reporting.emulation import Held, StepTotals, per_holder
from services.reporting.facts import DossierFact, working_seconds
from services.reporting.rubric import RubricVersion

CalendarOf = Callable[[str, str | None], WorkCalendar]  # (agency, catalogue version)


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive
    end: datetime  # exclusive
    year: int | None = None
    quarter: int | None = None

    @classmethod
    def of_quarter(cls, year: int, quarter: int) -> Window:
        p = quarterly.period(year, quarter)
        return cls(p.start, p.end, year, quarter)

    @classmethod
    def of_days(cls, first: date, last: date) -> Window:
        return cls(datetime.combine(first, datetime.min.time(), tzinfo=TZ),
                   datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=TZ))

    @property
    def first_day(self) -> date:
        return self.start.astimezone(TZ).date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).astimezone(TZ).date()

    def holds(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end

    def json(self) -> dict[str, Any]:
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat(),
                "year": self.year, "quarter": self.quarter, "start": self.start.isoformat(),
                "end": self.end.isoformat()}


def legal_run(cal: WorkCalendar, f: DossierFact) -> tuple[int, int] | None:
    """(office-hours seconds used, allowed) of a resolved dossier's legal run: from its legal
    receipt, or from the complete supplement that restarted its clock, to its resolution
    and to its appointment; the applicant's supplement time is not the office's."""
    if f.resolved_at is None or f.legal_received_at is None or f.due_at is None:
        return None
    start = f.legal_received_at
    if f.due_at != f.original_due_at:  # restarted: the legal time runs from the complete one
        closed = [datetime.fromisoformat(b) for a, b in f.supplement_periods
                  if b is not None and datetime.fromisoformat(b) <= f.resolved_at]
        if closed:
            start = max(start, max(closed))
    allowed = working_seconds(cal, start, f.due_at)
    used = working_seconds(cal, start, f.resolved_at)
    for a, b in f.supplement_periods:
        if a is None:
            continue
        lo = max(start, datetime.fromisoformat(a))
        hi = min(f.resolved_at, datetime.fromisoformat(b) if b else f.resolved_at)
        if hi > lo:
            used -= working_seconds(cal, lo, hi)
    if allowed <= 0:
        return None
    return max(used, 0), allowed


@dataclass
class _Office:
    resolved: int = 0
    on_time: int = 0
    ratios: list[float] = field(default_factory=list)
    supplements: int = 0
    received: int = 0
    online: int = 0

    def indices(self) -> dict[str, Any]:
        n = self.resolved
        return {
            "dossiers_resolved": n,
            "on_time_share": _share(self.on_time, n),
            "time_ratio": (round(sum(self.ratios) / len(self.ratios), 4)
                           if self.ratios else None),
            "supplements_per_dossier": _share(self.supplements, n),
            "contacts_per_dossier": _share(n + self.supplements, n),
            "dossiers_received": self.received,
            "online_share": _share(self.online, self.received),
        }


def _holder(held: Held, day_seconds: float) -> dict[str, Any]:
    n = held.handled
    return {
        "steps_handled": n,
        "step_on_time_share": _share(held.on_time, n),
        "avg_days_per_step": round(held.seconds / day_seconds / n, 2) if n else None,
        "days_held": round(held.seconds / day_seconds, 2),
        "overdue_days_caused": round(held.overdue_days, 2),
        "overdue_days_per_step": (round(held.overdue_days / max(n, 1), 4)
                                  if n or held.overdue_days else None),
    }


def _share(part: float, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def office_indices(facts: Iterable[DossierFact], window: Window, calendar_of: CalendarOf
                   ) -> dict[str, dict[str, Any]]:
    """The dossier indices per office (the agency that received the dossier)."""
    offices: dict[str, _Office] = defaultdict(_Office)
    for f in facts:
        if f.legal_received_at is None:
            continue
        if window.holds(f.legal_received_at):
            acc = offices[f.agency_code]
            acc.received += 1
            acc.online += f.channel == "online"
        if window.holds(f.resolved_at) and not (f.withdrawn_at and f.resolved_at
                                                and f.withdrawn_at < f.resolved_at):
            acc = offices[f.agency_code]
            acc.resolved += 1
            acc.on_time += f.timeliness in ("early", "on_time")
            acc.supplements += f.supplement_count
            run = legal_run(calendar_of(f.agency_code, f.catalog_version), f)
            if run is not None:
                acc.ratios.append(run[0] / run[1])
    return {code: acc.indices() for code, acc in offices.items()}


def holder_indices(totals: list[StepTotals], late: list[dict[str, Any]],
                   day_seconds: float) -> dict[str, dict[Any, dict[str, Any]]]:
    """The step indices per office, department (agency, department) and officer (agency,
    department, assignee); `totals`: the steps completed in the period; `late`: the delay
    attribution's rows, cut to the period."""
    return {level: {key: _holder(held, day_seconds) for key, held in rows.items()}
            for level, rows in per_holder(totals, late).items()}


def satisfaction(ratings: dict[tuple[str, str], tuple[int, float]]
                 ) -> dict[str, dict[str, Any]]:
    """Per office, from (agency, origin) -> (count, average): the citizens' average scored
    as `satisfaction`, the counter surveys' shown apart."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for (agency, origin), (count, avg) in ratings.items():
        if origin == "citizen":
            out[agency].update({"ratings_citizen": count, "satisfaction": round(avg, 2)})
        else:
            out[agency].update({"ratings_counter_survey": count,
                                "satisfaction_counter_survey": round(avg, 2)})
    return out


def evaluate(facts: Iterable[DossierFact], totals: list[StepTotals],
             late: list[dict[str, Any]], ratings: dict[tuple[str, str], tuple[int, float]],
             calendar_of: CalendarOf, day_seconds: float, window: Window,
             rubric: RubricVersion, names: Callable[[str], str],
             keep: Callable[[str], bool] = lambda code: True) -> dict[str, Any]:
    """Every office, department and officer (of the agencies `keep` takes: not another
    agency a late dossier waited on) with its indices and their score, best first."""
    dossiers = office_indices(facts, window, calendar_of)
    holders = holder_indices(totals, late, day_seconds)
    rated = satisfaction(ratings)
    empty = {"ratings_citizen": 0, "satisfaction": None, "ratings_counter_survey": 0,
             "satisfaction_counter_survey": None}
    blank_office = _Office().indices()
    blank_holder = _holder(Held(), day_seconds)
    offices = []
    for code in sorted(c for c in set(dossiers) | set(holders["office"]) | set(rated)
                       if keep(c)):
        indices = {**blank_office, **dossiers.get(code, {}), **empty, **rated.get(code, {}),
                   **blank_holder, **holders["office"].get(code, {})}
        offices.append({"agency_code": code, "name": names(code), "indices": indices,
                        **rubric.score("office", indices)})
    departments = [{"agency_code": a, "department": d, "indices": indices,
                    **rubric.score("department", indices)}
                   for (a, d), indices in holders["department"].items() if keep(a)]
    officers = [{"agency_code": a, "department": d, "assignee": o, "indices": indices,
                 **rubric.score("officer", indices)}
                for (a, d, o), indices in holders["officer"].items() if keep(a)]
    return {"period": window.json(), "rubric": rubric.json(),
            "offices": sorted(offices, key=_rank), "departments": sorted(departments, key=_rank),
            "officers": sorted(officers, key=_rank)}


def _rank(row: dict[str, Any]) -> tuple[float, str]:
    score = row["score"] if row["score"] is not None else -1.0
    return -score, str(row.get("assignee") or row.get("department") or row["agency_code"])
