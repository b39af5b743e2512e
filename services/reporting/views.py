"""Reporting's figures and traces as the HTTP API renders them (JSON)."""

from __future__ import annotations

from typing import Any

from services.reporting.domain import Stats, TraceEntry


def stats_json(s: Stats) -> dict[str, Any]:
    return {"dossiers": s.dossiers,
            "by_agency": {agency: {"dossiers": a.dossiers, "events": a.events}
                          for agency, a in s.by_agency.items()},
            "events": s.events}


def trace_json(e: TraceEntry) -> dict[str, Any]:
    return {"event_id": e.event_id, "type": e.type, "source": e.source, "service": e.service,
            "time": e.time.isoformat(), "topic": e.topic, "data": e.data}
