"""Reporting's figures from what it holds, without I/O. Counts are of distinct dossiers per
event type, so they come out the same whatever order the topics interleave in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.registry import short_name
from services.law.catalog import CatalogSet


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


class Scope:
    """What an instance shows: the whole tree, or one agency's subtree (until the security
    issue wires this to roles)."""

    def __init__(self, catalogs: CatalogSet, agency: str | None) -> None:
        self.catalogs = catalogs
        self.agency = agency

    def known(self, code: str) -> bool:
        return any(i.agency(code) for i in self.catalogs.indexes)

    def allows(self, code: str) -> bool:
        return self.agency is None or code == self.agency or any(
            self.agency in i.ancestors(code) for i in self.catalogs.indexes)

    def agencies(self) -> set[str] | None:
        """Every agency code in scope, in any version of the catalogue (None: all), for
        queries that must filter before they limit."""
        if self.agency is None:
            return None
        return {a for i in self.catalogs.indexes for a in i.agencies if self.allows(a)}

    def root(self, requested: str | None) -> str:
        if requested:
            return requested
        if self.agency:
            return self.agency
        return next(a.code for a in self.catalogs.latest.agencies.values() if not a.parent)


@dataclass(frozen=True)
class Rating:
    """One DossierRated event as the `ratings` table holds it."""

    dossier_code: str
    agency_code: str
    score: int
    comment: str
    rated_at: datetime
    event_id: str

    def key(self) -> tuple[datetime, str]:
        return self.rated_at, self.event_id


def latest_ratings(ratings: Iterable[Rating]) -> list[Rating]:
    """The rating that stands per dossier: the latest (rated_at, event id), so any order of
    the same events gives the same one (the repository applies the same rule in SQL)."""
    best: dict[str, Rating] = {}
    for r in ratings:
        found = best.get(r.dossier_code)
        if found is None or r.key() > found.key():
            best[r.dossier_code] = r
    return [best[code] for code in sorted(best)]
