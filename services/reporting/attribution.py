"""Delay attribution: who held each late working day of a dossier. Pure: no I/O.

A dossier's late window runs from its legal due time to its resolution (or now, while
open). Every moment of it is held by exactly one party, by priority:
  1. the applicant, while a supplement request is open (the clock is the citizen's);
  2. the agency asked to verify, while a verification request is unanswered;
  3. the officer (agency, department, assignee) holding the step assigned latest;
  4. the dossier's agency itself ("unassigned"), between steps.
Each holder's share is counted in working time of the dossier's calendar (office hours of
working days) and expressed in working days of that calendar."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from contracts.events import VerificationAnswered, VerificationRequested
from services.law.workdays import WorkCalendar
from services.reporting.facts import Recorded, working_seconds

APPLICANT = "applicant"
Holder = tuple[str, str, str | None]  # (agency or APPLICANT, department, assignee)


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime | None  # None: still open
    holder: Holder
    priority: int  # lower wins
    since: datetime  # the later assigned wins among equals


def day_seconds(cal: WorkCalendar) -> float:
    r = cal.rules
    return float((r.closes.hour * 3600 + r.closes.minute * 60)
                 - (r.opens.hour * 3600 + r.opens.minute * 60))


def intervals(agency: str, steps: Iterable[Any], supplements: list[list[str | None]],
              verifications: list[tuple[str, str, datetime, datetime | None]]
              ) -> list[Interval]:
    """The holdings of a dossier: its steps (rows with from_at, to_at, department,
    assignee), its supplement periods ([from, to|None] ISO strings) and its verifications
    (request id, agency asked, from, to|None)."""
    out = []
    for st in steps:
        if st.from_at is not None:
            out.append(Interval(st.from_at, st.to_at, (st.agency_code or agency, st.department,
                                                         st.assignee), 3, st.from_at))
    for start, end in supplements:
        if start:
            a = datetime.fromisoformat(start)
            out.append(Interval(a, datetime.fromisoformat(end) if end else None,
                                (APPLICANT, "", None), 1, a))
    for _, asked, start_at, end_at in verifications:
        out.append(Interval(start_at, end_at, (asked, "", None), 2, start_at))
    return out


def late_seconds(cal: WorkCalendar, agency: str, due_at: datetime, end: datetime,
                 held: list[Interval]) -> dict[Holder, int]:
    """Working seconds of [due_at, end) per holder."""
    if end <= due_at:
        return {}
    points = {due_at, end}
    for i in held:
        for p in (i.start, i.end):
            if p is not None and due_at < p < end:
                points.add(p)
    cuts = sorted(points)
    out: dict[Holder, int] = defaultdict(int)
    for a, b in pairwise(cuts):
        covering = [i for i in held if i.start <= a and (i.end is None or i.end >= b)]
        holder = (min(covering, key=lambda i: (i.priority, -i.since.timestamp())).holder
                  if covering else (agency, "", None))
        seconds = working_seconds(cal, a, b)
        if seconds:
            out[holder] += seconds
    return dict(out)


def verifications_of(events: Iterable[Recorded]
                     ) -> list[tuple[str, str, datetime, datetime | None]]:
    """(request id, agency asked, asked at, answered at) from a dossier's verification
    events, in the order they were stored (a repeated request or answer: the last counts);
    other events are ignored."""
    asked: dict[str, tuple[str, datetime]] = {}
    answered: dict[str, datetime] = {}
    for r in events:
        e = r.event
        if isinstance(e, VerificationRequested):
            asked[e.request_id] = (e.to_agency, e.requested_at)
        elif isinstance(e, VerificationAnswered):
            answered[e.request_id] = e.answered_at
    return [(rid, who, at, answered.get(rid)) for rid, (who, at) in sorted(asked.items())]


def summarise(per_dossier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per office: the late working days it held across every late dossier (not only
    the dossiers it holds now), and in how many dossiers; most days first."""
    days: dict[str, float] = defaultdict(float)
    dossiers: dict[str, set[str]] = defaultdict(set)
    for d in per_dossier:
        for h in d["held"]:
            days[h["agency_code"]] += h["days"]
            dossiers[h["agency_code"]].add(d["dossier_code"])
    return sorted(({"agency_code": a, "overdue_days": round(n, 2), "dossiers": len(dossiers[a])}
                   for a, n in days.items()), key=lambda x: (-x["overdue_days"], x["agency_code"]))


def attribute(cal: WorkCalendar, fact: Any, steps: list[Any],
              verifications: list[tuple[str, str, datetime, datetime | None]],
              now: datetime, window: tuple[datetime, datetime] | None = None
              ) -> dict[str, Any] | None:
    """One late dossier's late days per holder (only those within `window`, a period's
    [start, end), when given); None when it is not late (then)."""
    if fact.due_at is None:
        return None
    start, end = fact.due_at, fact.resolved_at or fact.withdrawn_at or now
    if window is not None:
        start, end = max(start, window[0]), min(end, window[1])
    if end <= start:
        return None
    held = intervals(fact.agency_code, steps, fact.supplement_periods or [], verifications)
    per = late_seconds(cal, fact.agency_code, start, end, held)
    day = day_seconds(cal)
    rows = sorted(({"agency_code": h[0], "department": h[1], "assignee": h[2],
                    "days": round(s / day, 2)} for h, s in per.items()),
                  key=lambda r: (-r["days"], r["agency_code"], r["department"]))
    return {"dossier_code": fact.dossier_code, "agency_code": fact.agency_code,
            "due_at": fact.due_at.isoformat(), "until": end.isoformat(),
            "open": fact.resolved_at is None, "explained": bool(fact.explained),
            "late_days": round(sum(per.values()) / day, 2), "held": rows}
