"""The legal report form, the sub-deadline overruns and the Art. 30 evaluation over the real
broker and database (SQLite and PostgreSQL): the hand-made Q2 2026 history of
tests/unit/test_reporting_form.py published in a shuffled order across topics, with
citizens' ratings and a counter survey on reporting's own topic; the quarterly report per
procedure (JSON, the spreadsheet read back, the PDF's text), the other agencies' overruns
(also as the log stood before an answer), each verification on the dossier's path, the
evaluation and the emulation of the quarter counted by hand, and each read in the audit
trail. The province is renamed for the run (the broker may be shared)."""

from __future__ import annotations

import io
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from contracts.envelope import Envelope
from contracts.events import DossierRated
from contracts.topics import REPORTS
from services.common.clock import FixedClock
from services.common.messaging.outbox import encode
from services.law.workdays import TZ
from services.reporting import tables
from services.reporting.app import build
from services.reporting.repository import ReportingRepository
from services.reporting.settings import ReportingSettings
from tests.auth import AUTH
from tests.integration.support import eventually, settings_for, started
from tests.integration.test_reporting_projection import Renamed, catalog_dir, pdf_text, publish
from tests.unit.test_reporting_form import (
    A_ALL,
    A_NH,
    A_ST,
    B_ALL,
    COURT,
    NH,
    PROVINCE,
    PROVINCE_ALL,
    ST,
    SUB_DEADLINES_Q2,
    THU,
    A,
    B,
    at,
    history,
    procedures,
    row_of,
)
from tests.unit.test_reporting_quarterly import nodes

pytestmark = pytest.mark.integration
NOW = datetime(2026, 6, 16, 10, tzinfo=TZ)


def rating(code: str, agency: str, score: int, when: datetime, origin: str) -> bytes:
    event = DossierRated(dossier_code=code, score=score, rated_at=when,
                         origin=origin)  # type: ignore[arg-type]
    return encode(Envelope(type=event.event_type, source="onestop/reporting", subject=code,
                           time=when, agencycode=agency, data=event.model_dump(mode="json")))


async def test_report_form_overruns_and_evaluation(kafka_bootstrap: str, database_url: str,
                                                   tmp_path: Path, unique: str) -> None:
    renamed = Renamed(unique)
    a, b, province = renamed(A), renamed(B), renamed(PROVINCE)
    settings = settings_for(ReportingSettings, kafka_bootstrap, database_url, tmp_path)
    settings = settings.model_copy(update={"catalog_dir": catalog_dir(tmp_path, renamed)})
    h = history(unique)
    items = [(topic.name, env.subject.encode(), renamed(encode(env).decode()).encode())
             for topic, env in h.items]
    # Citizens rated f01 (5) and f02 (3) in Q2, a counter survey gave f01 2; f08's citizen
    # rating came in Q3.
    items += [(REPORTS.name, h.code(name).encode(),
               rating(h.code(name), agency, score, when, origin))
              for name, agency, score, when, origin in (
                  ("f01", a, 5, at(5, 8), "citizen"), ("f02", a, 3, at(5, 20), "citizen"),
                  ("f01", a, 2, at(5, 8, 10), "counter_survey"),
                  ("f08", b, 1, at(6, 20), "citizen"))]
    random.Random(unique).shuffle(items)
    runtime = await started(build(settings, FixedClock(NOW)))
    repo = ReportingRepository()
    events = len(h.items)
    try:
        await publish(kafka_bootstrap, items)

        async def all_in() -> bool:
            e, r = tables.events, tables.ratings
            async with runtime.sessions() as s:
                stored = await s.scalar(select(func.count()).select_from(e).where(
                    e.c.dossier_code.like(f"{unique}-%"), e.c.topic != REPORTS.name))
                rated = await s.scalar(select(func.count()).select_from(r).where(
                    r.c.dossier_code.like(f"{unique}-%")))
                facts = await repo.facts_of(s, [h.code("f05")])
            return stored == events and rated == 4 and bool(facts)
        await eventually(all_in, "the history and its ratings in the projection")
        async with httpx.AsyncClient(auth=AUTH, base_url="http://reporting",
                                     transport=httpx.ASGITransport(app=runtime.app)) as client:
            await check_report(client, province, a, b, tmp_path)
            await check_path(client, h.code("f03"), h.code("f04"))
            await check_evaluation(client, province, a, b)
            await check_emulation(client, a)
        await check_audit(runtime)
    finally:
        await runtime.stop()


async def check_report(client: httpx.AsyncClient, province: str, a: str, b: str,
                       tmp: Path) -> None:
    params: dict[str, Any] = {"year": 2026, "quarter": 2, "agency": province}
    r = await client.get("/api/v1/reports/quarterly", params=params)
    assert r.status_code == 200, r.text
    report = r.json()
    found = nodes(report)
    assert found[province]["indicators"] == PROVINCE_ALL
    assert found[a]["indicators"] == A_ALL and found[b]["indicators"] == B_ALL
    assert procedures(found[a])[ST]["indicators"] == A_ST
    assert procedures(found[a])[NH]["indicators"] == A_NH
    assert report["sub_deadlines"] == SUB_DEADLINES_Q2
    # As the log stood on 09/06, before the court's late answer to X1.
    before = (await client.get("/api/v1/reports/quarterly", params={
        **params, "as_of": "2026-06-09T09:00:00+07:00"})).json()
    court = next(x for x in before["sub_deadlines"] if x["agency"] == COURT)
    assert (court["answered_late"], court["pending_overdue"]) == (0, 1)
    # f04 (Fri 12/06) not recorded yet: f01, f02, f03, f05, f10 and f11 carried over.
    assert nodes(before)[a]["indicators"]["received"]["total"] == 6

    xlsx = await client.get("/api/v1/reports/quarterly.xlsx", params=params)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    row = next(x for x in rows if x[17] == a)
    assert row[0] == "1.1" and list(row[2:17]) == row_of(A_ALL)
    after = rows[rows.index(row) + 1:]
    assert str(after[0][1]).strip() == "Lĩnh vực Chế độ ngắn hạn"
    assert after[1][17] == NH and list(after[1][2:17]) == row_of(A_NH)
    texts = {str(c) for x in rows for c in x if c}
    assert "Hà Nội, ngày 16 tháng 6 năm 2026" in texts  # the place and the day it was made
    assert "Số hồ sơ yêu cầu bổ sung, hoàn thiện" in texts
    assert list(book["Lien thong"].iter_rows(values_only=True))[4][0] == COURT

    pdf = await client.get("/api/v1/reports/quarterly.pdf", params=params)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    (tmp / "form.pdf").write_bytes(pdf.content)
    text = pdf_text(tmp / "form.pdf")
    line = next(x for x in text.splitlines() if "Bảo hiểm xã hội cơ sở Ba Đình" in x)
    assert [int(v) for v in line.split()[-15:]] == row_of(A_ALL)
    assert "Kỳ báo cáo: Quý 2 năm 2026" in text and "THỦ TRƯỞNG ĐƠN VỊ" in text


async def check_path(client: httpx.AsyncClient, f03: str, f04: str) -> None:
    [x1] = (await client.get(f"/api/v1/dossiers/{f03}/path")).json()["verifications"]
    assert (x1["request_id"], x1["to_agency"], x1["status"], x1["overrun"]) == (
        "X1", COURT, "answered_late", True)
    assert x1["sub_due_at"] == "2026-06-08T17:00:00+07:00"
    [x2] = (await client.get(f"/api/v1/dossiers/{f04}/path")).json()["verifications"]
    # Now is Tue 16/06 10:00: its sub-deadline (Wed 17/06 17:00) has not passed.
    assert (x2["status"], x2["overrun"], x2["answered_at"]) == (
        "pending_within_time", False, None)


async def check_evaluation(client: httpx.AsyncClient, province: str, a: str, b: str) -> None:
    r = await client.get("/api/v1/evaluation", params={"year": 2026, "quarter": 2,
                                                       "agency": province})
    assert r.status_code == 200, r.text
    found = r.json()
    offices = {o["agency_code"]: o for o in found["offices"]}
    assert set(offices) == {a, b}  # the hospital and the court are not evaluated here
    x = offices[a]["indices"]
    # Counted by hand in tests/unit/test_reporting_evaluation.py.
    assert (x["on_time_share"], x["supplements_per_dossier"], x["time_ratio"],
            x["online_share"]) == (0.5, 0.25, 0.7863, 0.1667)
    # The citizens' (5 + 3) / 2 scored; the counter survey shown apart.
    assert (x["ratings_citizen"], x["satisfaction"]) == (2, 4.0)
    assert (x["ratings_counter_survey"], x["satisfaction_counter_survey"]) == (1, 2.0)
    assert offices[a]["score"] == 38.0 and offices[a]["grade"] == "Chưa hoàn thành"
    # Cầu Giấy's citizen rated in Q3: no satisfaction in Q2, scored without it.
    assert offices[b]["indices"]["satisfaction"] is None and offices[b]["score"] == 78.0
    officers = {o["assignee"]: o for o in found["officers"]}
    assert officers["cb.thu"]["indices"]["steps_handled"] == 2
    assert officers["cb.thu"]["indices"]["step_on_time_share"] == 0.5
    assert officers["cb.thu"]["score"] == 40.0
    # cb.chedo's step of f07 was completed in Q3: only f05's counts.
    assert officers["cb.chedo"]["indices"]["steps_handled"] == 1
    departments = {d["department"]: d for d in found["departments"]}
    assert departments[THU]["indices"]["avg_days_per_step"] == round(80.5 / 9.5 / 2, 2)
    days = await client.get("/api/v1/evaluation", params={"from": "2026-05-01",
                                                          "to": "2026-05-31"})
    assert days.status_code == 200 and days.json()["period"]["to"] == "2026-05-31"
    may = {o["agency_code"]: o["indices"] for o in days.json()["offices"]}
    assert may[a]["dossiers_resolved"] == 2 and may[a]["on_time_share"] == 0.5  # f01, f02
    for params, code in (({}, "period_required"), ({"year": 2026}, "period_incomplete"),
                         ({"year": 2026, "quarter": 2, "from": "2026-04-01",
                           "to": "2026-04-02"}, "period_ambiguous"),
                         ({"from": "2026-05-02", "to": "2026-05-01"}, "period_reversed"),
                         ({"year": 2019, "quarter": 1}, "no_rubric")):
        bad = await client.get("/api/v1/evaluation", params=params)
        assert bad.status_code == 422 and bad.json()["problems"][0]["code"] == code, bad.text
    assert (await client.get("/api/v1/evaluation", params={
        "year": 2026, "quarter": 2, "agency": "999.99.99.ZZZ"})).status_code == 404


async def check_emulation(client: httpx.AsyncClient, a: str) -> None:
    all_time = {o["assignee"]: o for o in (await client.get("/api/v1/emulation")).json()[
        "officers"] if o["agency_code"] == a}
    q2 = (await client.get("/api/v1/emulation", params={"year": 2026, "quarter": 2})).json()
    assert q2["period"]["from"] == "2026-03-15"
    in_q2 = {o["assignee"]: o for o in q2["officers"] if o["agency_code"] == a}
    assert all_time["cb.chedo"]["handled"] == 2 and in_q2["cb.chedo"]["handled"] == 1
    assert in_q2["cb.thu"]["handled"] == 2 and in_q2["cb.thu"]["on_time_rate"] == 0.5
    [office] = [o for o in q2["offices"] if o["agency_code"] == a]
    assert (office["ratings"], office["rating_avg"]) == (3, round((5 + 3 + 2) / 3, 2))
    bad = await client.get("/api/v1/emulation", params={"quarter": 2})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "year"


async def check_audit(runtime: Any) -> None:
    t = runtime.tables.audit
    async with runtime.sessions() as s:
        rows = [dict(r) for r in (await s.execute(select(t.c.action, t.c.target)
                                                  .order_by(t.c.seq))).mappings()]
    evaluated = [r["target"] for r in rows if r["action"] == "report.evaluation"]
    assert evaluated[0].startswith("2026-03-15..2026-06-14")
    assert "report.emulation" in {r["action"] for r in rows}
