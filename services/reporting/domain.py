"""Reporting's figures from what it holds, without I/O. Counts are of distinct dossiers per
event type, so they come out the same whatever order the topics interleave in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from contracts.registry import short_name


@dataclass(slots=True)
class AgencyStats:
    """One agency's events and distinct dossiers per event (short type name)."""

    dossiers: dict[str, int] = field(default_factory=dict)
    events: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    """Distinct dossiers per event (short type name), in all and per agency; events."""

    dossiers: dict[str, int]
    by_agency: dict[str, AgencyStats]
    events: int


def stats(dossiers: list[tuple[str, str, int]], events: list[tuple[str, int]],
          total_events: int) -> Stats:
    """dossiers: (agency, event type, distinct dossiers); events: (agency, events)."""
    by_agency: dict[str, AgencyStats] = defaultdict(AgencyStats)
    total: dict[str, int] = defaultdict(int)
    for agency, event_type, n in dossiers:
        name = short_name(event_type)
        by_agency[agency].dossiers[name] = n
        total[name] += n
    for agency, n in events:
        by_agency[agency].events = n
    return Stats(dict(total), dict(by_agency), total_events)


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One stored event of a dossier's trace, its data as the event's JSON."""

    event_id: str
    type: str
    source: str
    agency_code: str
    time: datetime
    topic: str
    data: dict[str, object]

    @property
    def service(self) -> str:
        return self.source.removeprefix("onestop/")


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
