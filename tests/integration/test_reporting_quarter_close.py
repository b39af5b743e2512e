"""A closed quarter is published for the national reporting system exactly once, even when
two replicas close it at the same moment, with the figures of the log as it stood at the
cut-off plus the grace; the report's access scope refuses agencies outside it."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bench.rebuild import lifecycle
from contracts.events import QuarterlyReportClosed
from contracts.topics import REPORTS
from services.common.clock import FixedClock
from services.common.messaging.consumer import Context
from services.law.workdays import TZ
from services.reporting import tables
from services.reporting.app import build
from services.reporting.settings import ReportingSettings
from tests.auth import AUTH
from tests.integration.support import read_topic, settings_for, started
from tests.unit.test_reporting_quarterly import AS_OF_Q3_2026, EXPECTED, history

pytestmark = pytest.mark.integration
NATION, A, B = "000.00.00.H99", "000.01.01.H26", "000.01.02.H26"


async def test_a_closed_quarter_is_published_once(kafka_bootstrap: str, database_url: str,
                                                  tmp_path: Path, unique: str) -> None:
    clock = FixedClock(datetime(2026, 9, 16, 1, 0, tzinfo=TZ))
    settings = settings_for(ReportingSettings, kafka_bootstrap, database_url, tmp_path)
    one = build(settings, clock)
    one.subscriptions = []  # the history is applied below, not read from the shared broker
    await started(one)
    two = build(settings, clock)  # a second replica on the same database
    try:
        projection = one.app.state.projection
        assert await one.app.state.closing.run() == []  # nothing read past the closing yet
        async with one.transaction() as s:
            await projection.apply(s, [(Context(s, env, topic.name), None)
                                       for topic, env in history(f"C{unique}")])
        first, second = await asyncio.gather(one.app.state.closing.run(),
                                             two.app.state.closing.run())
        code = f"BC-2026Q3-{NATION}"
        assert sorted(first + second) == [code]
        assert await one.app.state.closing.run() == []  # already closed
        async with one.sessions() as s:
            [row] = (await s.execute(select(tables.closed_quarters))).mappings().all()
            outbox = tables.runtime.outbox
            assert await s.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.event_type == QuarterlyReportClosed.event_type)) == 1
        assert (row["year"], row["quarter"], row["agency_code"]) == (2026, 3, NATION)

        [(body, _)] = await read_topic(kafka_bootstrap, REPORTS.name,
                                       lambda b, _: b["id"] == row["event_id"])
        event = QuarterlyReportClosed.model_validate(body["data"])
        assert event.as_of == datetime(2026, 9, 16, tzinfo=TZ)
        figures = {a.agency_code: a.indicators.model_dump() for a in event.agencies}
        assert figures[A] == EXPECTED[(2026, 3)][A]
        assert figures[B] == AS_OF_Q3_2026[B]  # d05 was recorded after cut-off + grace
        client = httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=one.app),
                                   base_url="http://reporting")
        r = await client.get("/api/v1/reports/quarterly", params={
            "year": 2026, "quarter": 3, "as_of": event.as_of.isoformat()})
        assert r.json()["indicators"] == json.loads(event.indicators.model_dump_json())
        await client.aclose()
    finally:
        await two.engine.dispose()
        await one.stop()


async def test_the_access_scope_limits_reports_and_traces(kafka_bootstrap: str, tmp_path: Path,
                                                          unique: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'scoped.db'}"
    settings = settings_for(ReportingSettings, kafka_bootstrap, url, tmp_path).model_copy(
        update={"scope_agency": "000.00.01.H26"})
    runtime = build(settings)
    runtime.subscriptions = []
    await runtime.migrate()
    try:
        records = history(f"S{unique}")
        elsewhere = lifecycle(0, datetime(2026, 7, 1, 9, tzinfo=TZ), "000.79.01.H29", unique)
        records += elsewhere
        async with runtime.transaction() as s:
            await runtime.app.state.projection.apply(
                s, [(Context(s, env, topic.name), None) for topic, env in records])
        client = httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                   base_url="http://reporting")
        mine = await client.get("/api/v1/reports/quarterly", params={"year": 2026,
                                                                     "quarter": 3})
        assert mine.status_code == 200 and mine.json()["agency"] == "000.00.01.H26"
        nation = await client.get("/api/v1/reports/quarterly", params={
            "year": 2026, "quarter": 3, "agency": NATION})
        assert nation.status_code == 403 and nation.json()["problems"][0]["field"] == "agency"
        other = await client.get("/api/v1/reports/quarterly", params={
            "year": 2026, "quarter": 3, "agency": "000.00.79.H29"})
        assert other.status_code == 403
        unknown = await client.get("/api/v1/reports/quarterly", params={
            "year": 2026, "quarter": 3, "agency": "999.99.99.X99"})
        assert unknown.status_code == 404
        trace = await client.get(f"/api/v1/dossiers/{records[0][1].subject}/trace")
        assert trace.status_code == 200 and trace.json()["events"]
        hidden = await client.get(f"/api/v1/dossiers/{elsewhere[0][1].subject}/trace")
        assert hidden.status_code == 404
        stats = (await client.get("/api/v1/stats")).json()
        assert set(stats["by_agency"]) == {A, B, "000.99.01.H26"}
        assert stats["events"] == len(records) - len(elsewhere)
        await client.aclose()
    finally:
        await runtime.engine.dispose()
