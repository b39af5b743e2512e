"""Reporting's figures from what it holds, without I/O. Counts are of distinct dossiers per
event type, so they come out the same whatever order the topics interleave in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.registry import short_name


def stats(dossiers: list[tuple[str, str, int]], events: list[tuple[str, int]],
          total_events: int) -> dict[str, Any]:
    """dossiers: (agency, event type, distinct dossiers); events: (agency, events)."""
    by_agency: dict[str, dict[str, Any]] = defaultdict(lambda: {"dossiers": {}, "events": 0})
    total: dict[str, int] = defaultdict(int)
    for agency, event_type, n in dossiers:
        name = short_name(event_type)
        by_agency[agency]["dossiers"][name] = n
        total[name] += n
    for agency, n in events:
        by_agency[agency]["events"] = n
    return {"dossiers": dict(total), "by_agency": dict(by_agency), "events": total_events}


def trace_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": row["event_id"], "type": row["type"], "source": row["source"],
            "service": row["source"].removeprefix("onestop/"), "time": row["time"].isoformat(),
            "topic": row["topic"], "data": row["data"]}


@dataclass(frozen=True)
class Rating:
    """One DossierRated event as the `ratings` table holds it."""

    dossier_code: str
    agency_code: str
    score: int
    comment: str
    rated_at: datetime
    event_id: str
    # A citizen's rating on the public page, or an officer's counter survey: each dossier
    # has at most one standing rating of each origin.
    origin: str = "counter_survey"
    changeable_until: datetime | None = None

    def key(self) -> tuple[datetime, str]:
        return self.rated_at, self.event_id


def latest_ratings(ratings: Iterable[Rating]) -> list[Rating]:
    """The rating that stands per dossier and origin: the latest (rated_at, event id), so
    any order of the same events gives the same one (the repository applies the same rule
    in SQL)."""
    best: dict[tuple[str, str], Rating] = {}
    for r in ratings:
        found = best.get((r.dossier_code, r.origin))
        if found is None or r.key() > found.key():
            best[r.dossier_code, r.origin] = r
    return [best[key] for key in sorted(best)]
