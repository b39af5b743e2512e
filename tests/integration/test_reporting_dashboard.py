"""The dashboard's API over the real broker: a hand-made history of three dossiers in one
province (renamed for the run, the instance scoped to it) gives the snapshot, drill-down,
path, delay attribution and emulation figures counted by hand; ratings are refused for an
unknown dossier (404), a dossier not returned (409) and a bad score (422), and replace an
earlier rating of the same dossier. The live stream pushes a snapshot as server-sent
events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from contracts.common import ApplicantRef, Channel, ComponentRef, LegalTime, ReturnChannel
from contracts.envelope import Envelope
from contracts.events import (
    DossierOverdue,
    DossierReceived,
    DossierResolved,
    Event,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    VerificationAnswered,
    VerificationRequested,
)
from contracts.topics import topics_consumed_by
from deploy.local.broker import free_port
from services.common.clock import FixedClock
from services.common.http.auth import issue_token
from services.common.messaging.outbox import encode
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.product.roles import Role
from services.reporting.app import build
from services.reporting.settings import ReportingSettings
from tests.auth import AUTH
from tests.integration.support import eventually, listening, settings_for, started
from tests.integration.test_reporting_projection import Renamed, catalog_dir, publish

pytestmark = pytest.mark.integration
NOW = datetime(2026, 10, 12, 10, 0, tzinfo=TZ)  # a Monday
LEGAL = LegalTime(value=3, unit="working_days")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=TZ)


def topic_of(event: Event) -> str:
    return next(t.name for t in topics_consumed_by("reporting") if event.event_type in t.events)


class History:
    def __init__(self, office: str) -> None:
        self.office = office
        self.items: list[tuple[str, bytes, bytes]] = []

    def put(self, event: Event, when: datetime) -> None:
        env = Envelope(id=uuid.uuid4(), type=event.event_type, source="onestop/test",
                       subject=event.dossier_code, time=when, agencycode=self.office,
                       data=event.model_dump(mode="json"))
        self.items.append((topic_of(event), env.subject.encode(), encode(env)))

    def receive(self, code: str, when: datetime, due: datetime) -> None:
        self.put(DossierReceived(
            dossier_code=code, agency_code=self.office, procedure_code="BHXH.NH.03",
            catalog_version="2025.07", channel=Channel.counter,
            return_channel=ReturnChannel.counter, received_at=when, due_at=due,
            legal_time=LEGAL, applicant=ApplicantRef(kind="individual", ref="p1_00000001"),
            components=[ComponentRef(code="GKS", form="paper")]), when)

    def step(self, code: str, no: int, department: str, who: str, start: datetime,
             end: datetime | None, outcome: str = "late") -> None:
        self.put(StepAssigned(dossier_code=code, step_no=no, step_code="CDBHXH",
                              department=department, assignee=who, assigned_at=start), start)
        if end is not None:
            self.put(StepCompleted(dossier_code=code, step_no=no, step_code="CDBHXH",
                                   department=department, completed_at=end,
                                   outcome=outcome), end)  # type: ignore[arg-type]


def history(office: str, tag: str) -> tuple[History, dict[str, str]]:
    """D1: due Mon 5/10 17:00, resolved Thu 8/10 12:00 (cb.a held 4.5 late hours, cb.b
    9.5, a verification by Sở Tư pháp all Wednesday), returned. D2: received today, due at
    13:00 (near-due). D3: due Fri 9/10 17:00, still with cb.d (open, overdue)."""
    h = History(office)
    codes = {k: f"{office}-261001-{tag}{k}" for k in ("D1", "D2", "D3")}
    d1, d2, d3 = codes["D1"], codes["D2"], codes["D3"]
    h.receive(d1, at(1, 8), at(5, 17))
    h.step(d1, 1, "Phòng A", "cb.a", at(1, 9), at(6, 12))
    h.step(d1, 2, "Phòng B", "cb.b", at(6, 12), at(8, 12))
    h.put(VerificationRequested(dossier_code=d1, request_id="X1", to_agency="Sở Tư pháp",
                                requested_at=at(7, 7, 30), question="Xác minh hộ tịch"),
          at(7, 7, 30))
    h.put(VerificationAnswered(dossier_code=d1, request_id="X1", from_agency="Sở Tư pháp",
                               answered_at=at(7, 17), answer_summary="Đúng"), at(7, 17))
    h.put(DossierOverdue(dossier_code=d1, due_at=at(5, 17), detected_at=at(5, 17)), at(5, 17))
    h.put(DossierResolved(dossier_code=d1, agency_code=office, procedure_code="BHXH.NH.03",
                          applicant=ApplicantRef(kind="individual", ref="p1_00000001"),
                          resolved_at=at(8, 12), decision="approved", due_at=at(5, 17),
                          timeliness="late"), at(8, 12))  # type: ignore[arg-type]
    h.put(ResultReturned(dossier_code=d1, returned_at=at(8, 14),
                         return_channel=ReturnChannel.counter), at(8, 14))
    h.receive(d2, at(12, 8), at(12, 13))
    h.step(d2, 1, "Phòng A", "cb.c", at(12, 8, 30), None)
    h.receive(d3, at(2, 8), at(9, 17))
    h.step(d3, 1, "Phòng A", "cb.d", at(2, 9), None)
    return h, codes


async def test_dashboard_api_on_a_hand_made_history(kafka_bootstrap: str, database_url: str,
                                                    tmp_path: Path, unique: str) -> None:
    renamed = Renamed(unique)
    province, office = renamed("000.00.01.H26"), renamed("000.01.01.H26")
    settings = settings_for(ReportingSettings, kafka_bootstrap, database_url, tmp_path)
    settings = settings.model_copy(update={"catalog_dir": catalog_dir(tmp_path, renamed),
                                           "scope_agency": province,
                                           "dashboard_poll_seconds": 0.2,
                                           "dashboard_stream_seconds": 1.5})
    h, codes = history(office, unique[:6])
    runtime = await started(build(settings, FixedClock(NOW)))
    try:
        await publish(kafka_bootstrap, h.items)
        async with client_for(runtime) as client:
            async def all_in() -> bool:
                # Every event folded, whatever topic it came on (the session's shared broker
                # holds every earlier test's events, read first).
                found = (await client.get(f"/api/v1/dashboard/agencies/{office}/dossiers")
                         ).json()
                if sorted(d["status"] for d in found) != ["in_progress", "in_progress",
                                                          "returned"]:
                    return False
                path = (await client.get(f"/api/v1/dossiers/{codes['D1']}/path")).json()
                return [e["kind"] for e in path["events"]].count("verification") == 2
            await eventually(all_in, "the three dossiers in the projection")
            await check_snapshot(client, province, office, codes)
            await check_drill_down(client, office, codes)
            await check_delays_and_emulation(client, office, codes)
            await check_ratings(client, office, codes)
            page = await client.get("/")
            assert page.status_code == 200 and "Giám sát giải quyết" in page.text
            chart = await client.get("/static/vendor/chart.umd.min.js")
            assert chart.status_code == 200 and "Chart.js v4" in chart.text[:200]
        await check_stream(runtime, province)
    finally:
        await runtime.stop()


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                             base_url="http://reporting")


async def check_snapshot(client: httpx.AsyncClient, province: str, office: str,
                         codes: dict[str, str]) -> None:
    snap = (await client.get("/api/v1/dashboard")).json()
    assert snap["today"] == "2026-10-12"
    [p] = snap["provinces"]
    assert p["code"] == province and p["rank"] == 1
    assert (p["received_today"], p["in_progress"], p["near_due"], p["overdue"],
            p["resolved"], p["on_time_rate"]) == (1, 2, 1, 1, 1, 0.0)
    assert [o["code"] for o in p["offices"]] == [office]
    assert snap["totals"]["in_progress"] == 2
    assert {d["dossier_code"] for d in snap["recent"]} == set(codes.values())
    overdue = [d for d in snap["overdue"]]
    assert [(d["dossier_code"], d["explained"]) for d in overdue] == [(codes["D1"], False)]


async def check_drill_down(client: httpx.AsyncClient, office: str,
                           codes: dict[str, str]) -> None:
    [proc] = (await client.get(f"/api/v1/dashboard/agencies/{office}/procedures")).json()
    assert proc["procedure_code"] == "BHXH.NH.03" and proc["total"] == 3
    assert proc["by_status"] == {"returned": 1, "in_progress": 2}
    listed = (await client.get(f"/api/v1/dashboard/agencies/{office}/dossiers",
                               params={"procedure": "BHXH.NH.03"})).json()
    assert {d["dossier_code"]: d["overdue"] for d in listed} == {
        codes["D1"]: True, codes["D2"]: False, codes["D3"]: True}
    path = (await client.get(f"/api/v1/dossiers/{codes['D1']}/path")).json()
    assert [(s["assignee"], s["working_days"]) for s in path["steps"]] == [
        ("cb.a", round(31.5 / 9.5, 2)), ("cb.b", 2.0)]  # Thu 9:00 → Tue 12:00; Tue → Thu 12
    kinds = [e["kind"] for e in path["events"]]
    assert kinds.count("verification") == 2 and kinds.count("alert") == 1
    assert path["delay"]["late_days"] == round(23.5 / 9.5, 2)
    missing = await client.get("/api/v1/dossiers/NO-SUCH/path")
    assert missing.status_code == 404
    assert (await client.get("/api/v1/dashboard/agencies/000.00.79.H29/procedures")
            ).status_code == 403  # outside this instance's scope
    assert (await client.get("/api/v1/dashboard/agencies/999.99.99.ZZZ/procedures")
            ).status_code == 404


async def check_delays_and_emulation(client: httpx.AsyncClient, office: str,
                                     codes: dict[str, str]) -> None:
    delays = (await client.get("/api/v1/delays", params={"agency": office})).json()
    by_code = {d["dossier_code"]: d for d in delays["dossiers"]}
    assert set(by_code) == {codes["D1"], codes["D3"]}
    assert {(h["assignee"], h["days"]) for h in by_code[codes["D1"]]["held"]} == {
        ("cb.a", 0.47), ("cb.b", 1.0), (None, 1.0)}
    # D3: due Fri 9/10 17:00, now Mon 12/10 10:00 → 2.5 working hours with cb.d.
    assert [(h["assignee"], h["days"]) for h in by_code[codes["D3"]]["held"]] == [
        ("cb.d", round(2.5 / 9.5, 2))]
    offices = {o["agency_code"]: o for o in delays["offices"]}
    assert offices[office]["overdue_days"] == round(0.47 + 1.0 + 0.26, 2)
    assert offices[office]["dossiers"] == 2 and offices["Sở Tư pháp"]["overdue_days"] == 1.0
    # D2 is due at 13:00 today and in its first step; the office's steps have taken days
    # (D1's), and the procedure's second step (KHTC) follows: at risk. D3 is late already.
    forecast = (await client.get("/api/v1/forecast")).json()
    assert forecast["open"] == 1
    [risk] = forecast["at_risk"]
    assert risk["dossier_code"] == codes["D2"] and risk["queue_ahead"] == 0
    assert risk["available_days"] == round(3 / 9.5, 2)
    # Its own step from this office's history; the later step from the procedure's, which
    # on the session's shared broker also holds other tests' offices: at least the
    # office's own part, and more than the time left (tests/unit has the exact figures).
    assert risk["remaining_days"] >= round((31.5 + 19) / 2 / 9.5 - 1.5 / 9.5, 2)
    assert risk["remaining_days"] > risk["available_days"]
    emu = (await client.get("/api/v1/emulation")).json()
    officers = {o["assignee"]: o for o in emu["officers"]}
    assert officers["cb.a"]["handled"] == 1 and officers["cb.a"]["on_time_rate"] == 0.0
    assert officers["cb.b"]["overdue_days_caused"] == 1.0
    assert officers["cb.d"]["handled"] == 0 and officers["cb.d"]["overdue_days_caused"] == 0.26
    [o] = [o for o in emu["offices"] if o["agency_code"] == office]
    assert o["handled"] == 2 and o["overdue_days_caused"] == 1.73


async def check_ratings(client: httpx.AsyncClient, office: str, codes: dict[str, str]) -> None:
    url = f"/api/v1/dossiers/{codes['D1']}/rating"
    first = await client.post(url, json={"score": 2, "comment": "Chậm"})
    assert first.status_code == 200 and first.json()["replaced"] is False
    again = await client.post(url, json={"score": 4, "comment": "Cán bộ nhiệt tình"})
    assert again.status_code == 200 and again.json()["replaced"] is True
    assert (await client.post(f"/api/v1/dossiers/{codes['D2']}/rating", json={"score": 5})
            ).json()["problems"][0]["code"] == "not_returned"
    assert (await client.post(f"/api/v1/dossiers/{codes['D2']}/rating", json={"score": 5})
            ).status_code == 409
    assert (await client.post("/api/v1/dossiers/NO-SUCH/rating", json={"score": 5})
            ).status_code == 404
    for bad in ({"score": 0}, {"score": 6}, {"score": "năm"}, {"comment": "x"},
                {"score": 3, "comment": "x" * 2001}):
        assert (await client.post(url, json=bad)).status_code == 422, bad
    emu = (await client.get("/api/v1/emulation")).json()
    [o] = [o for o in emu["offices"] if o["agency_code"] == office]
    assert (o["ratings"], o["rating_avg"]) == (1, 4.0)


@contextlib.asynccontextmanager
async def over_http(app: Any) -> AsyncIterator[str]:
    """`app` served by uvicorn on a free port of 127.0.0.1 until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await listening(server, task)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, 10)


async def check_stream(runtime: Runtime, province: str) -> None:
    """Over real HTTP (an in-process transport would wait for the whole body): a snapshot
    at once, and the stream ends by itself after its lifetime (the page reconnects)."""
    events: list[dict[str, Any]] = []
    async with over_http(runtime.app) as url, httpx.AsyncClient(timeout=10) as client, \
            client.stream("GET", f"{url}/api/v1/dashboard/stream", headers={
                "Accept": "text/event-stream"}, params={  # as the page's EventSource sends it
                "access_token": issue_token(Role.national_monitor)}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines()]
    assert "retry: 200" in lines and "event: snapshot" in lines
    events = [json.loads(x.removeprefix("data: ")) for x in lines if x.startswith("data: ")]
    assert events and events[0]["provinces"][0]["code"] == province


def test_history_dates_are_working_days() -> None:
    from services.law.workdays import WorkCalendar
    cal = WorkCalendar()
    assert all(cal.is_working_day((NOW - timedelta(days=d)).date()) for d in (0, 3, 4, 5, 6, 7))
