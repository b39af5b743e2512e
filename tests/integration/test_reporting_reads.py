"""Reporting, read by a person: every read of figures (the quarterly report in each form, a
dossier's trace and path, delays, emulation, an agency's dossiers) leaves an audit row by
the token's user; the query token is taken only by the event stream; the dashboard page is
sent with its security headers. A real runtime fed through the real broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bench.rebuild import lifecycle
from services.common.http.auth import issue_token
from services.common.runtime import Runtime
from services.product.roles import Role
from services.reporting.app import build
from services.reporting.settings import ReportingSettings
from tests.auth import bearer
from tests.integration.support import eventually, settings_for, started
from tests.integration.test_reporting_projection import publish

pytestmark = pytest.mark.integration
OFFICE = "000.01.01.H26"
READER = "giam-sat-doc-bao-cao"


async def audit_rows(runtime: Runtime) -> list[dict[str, object]]:
    t = runtime.tables.audit
    async with runtime.sessions() as s:
        return [dict(r) for r in (await s.execute(select(t).order_by(t.c.seq))).mappings()]


async def projected(client: httpx.AsyncClient, code: str, headers: dict[str, str]) -> bool:
    r = await client.get(f"/api/v1/dossiers/{code}/path", headers=headers)
    assert r.status_code == 200, r.text  # not yet; shown if it lasts
    return True


async def test_reads_of_figures_are_audited_by_the_tokens_user(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    settings = settings_for(ReportingSettings, kafka_bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", tmp_path)
    runtime = await started(build(settings))
    start = datetime.now(UTC) - timedelta(days=20)
    items = [(topic.name, env.subject.encode(), env.model_dump_json().encode())
             for topic, env in lifecycle(8, start, agency=OFFICE, tag=f"au{unique[:5]}")]
    code = items[0][1].decode()
    me = bearer(Role.national_monitor, user=READER)
    now = datetime.now(UTC)
    period = {"year": now.year, "quarter": (now.month - 1) // 3 + 1}
    try:
        await publish(kafka_bootstrap, items)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://reporting") as c:
            await eventually(lambda: projected(c, code, me), f"dossier {code} projected")
            before = len(await audit_rows(runtime))
            for url, params in (("/api/v1/reports/quarterly", period),
                                ("/api/v1/reports/quarterly.xlsx", period),
                                ("/api/v1/reports/quarterly.pdf", period),
                                (f"/api/v1/dossiers/{code}/trace", {}),
                                (f"/api/v1/dossiers/{code}/path", {}),
                                ("/api/v1/delays", {}), ("/api/v1/emulation", {}),
                                (f"/api/v1/dashboard/agencies/{OFFICE}/dossiers", {})):
                r = await c.get(url, params=params, headers=me)
                assert r.status_code == 200, (url, r.text)
            rows = (await audit_rows(runtime))[before:]
    finally:
        await runtime.stop()
    assert {r["actor"] for r in rows} == {READER}
    assert [r["action"] for r in rows] == [
        "report.quarterly", "report.quarterly", "report.quarterly", "dossier.trace",
        "dossier.path", "report.delays", "report.emulation", "dashboard.dossiers"]
    assert [str(r["target"]).split()[-1] for r in rows[:3]] == ["json", "xlsx", "pdf"]
    assert rows[3]["dossier_code"] == rows[4]["dossier_code"] == code
    assert rows[7]["target"] == OFFICE


async def test_only_the_event_stream_takes_a_query_token_and_the_page_is_guarded(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = settings_for(ReportingSettings, kafka_bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", tmp_path)
    runtime = build(settings)
    await runtime.migrate()
    token = issue_token(Role.national_monitor)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                 base_url="http://reporting") as c:
        # Any other route: the query token is not a credential, whatever Accept says.
        for url in ("/api/v1/dashboard", "/api/v1/stats", "/api/v1/emulation"):
            r = await c.get(url, params={"access_token": token},
                            headers={"Accept": "text/event-stream"})
            assert r.status_code == 401, (url, r.text)
            assert r.json()["problems"][0]["code"] == "unauthenticated"
            assert r.headers["x-content-type-options"] == "nosniff"
        page = await c.get("/")
    await runtime.engine.dispose()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
