"""Reporting's view of the whole country. Counts are of distinct dossiers per event type,
so they come out the same whatever order the topics interleave in."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import Event
from contracts.registry import short_name
from services.common.bulk import defer_insert
from services.common.consumer import Context
from services.reporting import tables


async def record(ctx: Context, _event: Event) -> None:
    env = ctx.envelope
    defer_insert(ctx.session, tables.events, {
        "event_id": str(env.id), "dossier_code": env.subject, "type": env.type,
        "source": env.source, "agency_code": env.agencycode, "time": env.time,
        "topic": ctx.topic, "data": env.data})


async def stats(s: AsyncSession) -> dict[str, Any]:
    e = tables.events
    rows = (await s.execute(
        select(e.c.agency_code, e.c.type, func.count(distinct(e.c.dossier_code)))
        .group_by(e.c.agency_code, e.c.type))).all()
    by_agency: dict[str, dict[str, Any]] = defaultdict(lambda: {"dossiers": {}, "events": 0})
    total: dict[str, int] = defaultdict(int)
    for agency, event_type, n in rows:
        name = short_name(event_type)
        by_agency[agency]["dossiers"][name] = n
        total[name] += n
    for agency, n in (await s.execute(select(e.c.agency_code, func.count())
                                      .group_by(e.c.agency_code))).all():
        by_agency[agency]["events"] = n
    events = await s.scalar(select(func.count()).select_from(e))
    return {"dossiers": dict(total), "by_agency": dict(by_agency), "events": events or 0}


async def trace(s: AsyncSession, code: str) -> list[dict[str, Any]]:
    e = tables.events
    rows = (await s.execute(select(e).where(e.c.dossier_code == code)
                            .order_by(e.c.time, e.c.seq))).mappings().all()
    return [{"event_id": r["event_id"], "type": r["type"], "source": r["source"],
             "service": r["source"].removeprefix("onestop/"), "time": r["time"].isoformat(),
             "topic": r["topic"], "data": r["data"]} for r in rows]
