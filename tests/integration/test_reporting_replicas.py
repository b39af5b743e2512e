"""Two reporting replicas share one database, and a dossier's events come on several
topics whose partitions they may hold apart: both fold the same dossiers at the same time,
and the facts and daily figures still end equal to one fold of everything."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.rebuild import lifecycle
from contracts import topics
from services.common.messaging.consumer import Context
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.reporting import tables
from services.reporting.app import build
from services.reporting.facts import Recorded, contributions, fold
from services.reporting.repository import ReportingRepository
from services.reporting.settings import ReportingSettings
from tests.integration.support import settings_for

pytestmark = pytest.mark.integration


async def _apply(runtime: Runtime, records: list, size: int) -> None:
    projection = runtime.app.state.projection
    for start in range(0, len(records), size):
        async with runtime.transaction() as s:
            await projection.apply(s, [(Context(s, env, topic.name), Recorded.parsed(env).event)
                                       for topic, env in records[start:start + size]])
        await asyncio.sleep(0)


async def test_two_replicas_folding_the_same_dossiers(kafka_bootstrap: str, database_url: str,
                                                      tmp_path: Path, unique: str) -> None:
    settings = settings_for(ReportingSettings, kafka_bootstrap, database_url, tmp_path)
    one, two = build(settings), build(settings)
    await one.migrate()
    try:
        records = [r for i in range(40)
                   for r in lifecycle(i, datetime(2026, 6, 1, 8, tzinfo=TZ), tag=unique)]
        receipts = {topics.INTAKE.name, topics.DIGITIZATION.name}
        mine = [r for r in records if r[0].name in receipts]
        theirs = [r for r in records if r[0].name not in receipts]
        await asyncio.gather(_apply(one, mine, 7), _apply(two, theirs, 5))

        calendars = one.app.state.projection.calendars
        by_code: dict[str, list[Recorded]] = {}
        for _, env in records:
            by_code.setdefault(env.subject, []).append(Recorded.parsed(env))
        expected = {code: fold(code, evs, calendars)[0] for code, evs in by_code.items()}
        async with one.sessions() as s:
            assert await ReportingRepository().facts_of(s, list(expected)) == expected
            rows = (await s.execute(select(tables.daily_figures))).mappings().all()
        daily = Counter({(r["day"], r["agency_code"], r["procedure_code"], r["channel"], m):
                         r[m] for r in rows for m in r.keys() if isinstance(r[m], int)
                         and m not in ("day",)})
        want: Counter = Counter()
        for fact in expected.values():
            for key, counts in contributions(fact).items():
                for m, n in counts.items():
                    want[(*key, m)] += n
        assert +daily == +want
    finally:
        await two.engine.dispose()
        await one.engine.dispose()
