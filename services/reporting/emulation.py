"""Emulation figures (thi đua) per officer, department and office: steps handled, on-time
rate, average working days per step, overdue days caused, and (per office) the applicants'
satisfaction. Pure: no I/O.

A step counts as handled when it was completed; it is on time when it was completed by
its step due time (or its completion outcome says early/on time when it had none)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from services.reporting.attribution import APPLICANT


@dataclass
class StepTotals:
    """One aggregate row of step facts per holder (the repository's GROUP BY)."""

    agency_code: str
    department: str
    assignee: str | None
    handled: int
    on_time: int
    working_seconds: int


@dataclass
class Held:
    """What one holder (office, department or officer) did: steps completed, of them on
    time, their working seconds, and the overdue days it caused."""

    handled: int = 0
    on_time: int = 0
    seconds: int = 0
    overdue_days: float = 0.0

    def row(self, day_seconds: float) -> dict[str, Any]:
        return {"handled": self.handled,
                "on_time_rate": round(self.on_time / self.handled, 4) if self.handled else None,
                "avg_days_per_step": (round(self.seconds / day_seconds / self.handled, 2)
                                      if self.handled else None),
                "overdue_days_caused": round(self.overdue_days, 2)}


def per_holder(totals: list[StepTotals], late: list[dict[str, Any]]
               ) -> dict[str, dict[Any, Held]]:
    """Per level: office (agency), department (agency, department) and officer (agency,
    department, assignee), what each held. `late`: attribution rows per dossier
    (attribution.attribute)."""
    levels: dict[str, dict[Any, Held]] = {
        "office": defaultdict(Held), "department": defaultdict(Held),
        "officer": defaultdict(Held)}
    for t in totals:
        keys: list[tuple[str, Any]] = [("office", t.agency_code),
                                       ("department", (t.agency_code, t.department))]
        if t.assignee:
            keys.append(("officer", (t.agency_code, t.department, t.assignee)))
        for level, key in keys:
            acc = levels[level][key]
            acc.handled += t.handled
            acc.on_time += t.on_time
            acc.seconds += t.working_seconds
    for d in late:
        for h in d["held"]:
            if h["agency_code"] == APPLICANT:
                continue
            levels["office"][h["agency_code"]].overdue_days += h["days"]
            if h["department"]:
                levels["department"][(h["agency_code"], h["department"])].overdue_days \
                    += h["days"]
            if h["assignee"]:
                levels["officer"][(h["agency_code"], h["department"], h["assignee"])] \
                    .overdue_days += h["days"]
    return levels


def figures(totals: list[StepTotals], late: list[dict[str, Any]],
            ratings: dict[str, tuple[int, float]], day_seconds: float,
            names: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """`late`: attribution rows per dossier (attribution.attribute); `ratings`: per office
    (count, average score); `names`: agency names."""
    held = per_holder(totals, late)
    offices, departments, officers = held["office"], held["department"], held["officer"]
    office_rows = []
    for code, acc in offices.items():
        count, avg = ratings.get(code, (0, 0.0))
        office_rows.append({"agency_code": code, "name": names.get(code, code),
                            **acc.row(day_seconds), "ratings": count,
                            "rating_avg": round(avg, 2) if count else None})
    for code, (count, avg) in ratings.items():
        if code not in offices:
            office_rows.append({"agency_code": code, "name": names.get(code, code),
                                **Held().row(day_seconds), "ratings": count,
                                "rating_avg": round(avg, 2)})
    return {
        "officers": sorted(({"agency_code": a, "department": d, "assignee": o,
                             **acc.row(day_seconds)} for (a, d, o), acc in officers.items()),
                           key=_rank),
        "departments": sorted(({"agency_code": a, "department": d, **acc.row(day_seconds)}
                               for (a, d), acc in departments.items()), key=_rank),
        "offices": sorted(office_rows, key=_rank),
    }


def _rank(row: dict[str, Any]) -> tuple[float, float, str]:
    # Best first: on-time rate, then fewest overdue days caused.
    rate = row["on_time_rate"] if row["on_time_rate"] is not None else -1.0
    return -rate, row["overdue_days_caused"], str(row.get("assignee") or row.get("department")
                                                  or row["agency_code"])
