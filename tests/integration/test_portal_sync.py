"""Status sync to the national portal, over the real broker and database, against a real
HTTP server standing in for the portal: while it answers 503, then refuses connections,
processing goes on and the status changes wait (the backlog gauge rises); once it is back
every status of every dossier in scope arrives exactly once, in order per dossier, and the
backlog falls to zero. Central dossiers (an officer's supplement, stop, decision and
return), a refusal at receipt, a withdrawal, a province's dossier (one of its steps
overtaking its receipt), and a counter dossier outside the configured channels."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts import topics
from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    Reason,
    ReturnChannel,
)
from contracts.events import (
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    ResultReturned,
    StepAssigned,
    SupplementReceived,
    SupplementRequested,
)
from contracts.portal import PortalStatusUpdate
from deploy.local.broker import free_port
from services.common.runtime import Runtime
from services.law.workdays import WorkCalendar
from services.processing.app import build
from services.processing.portal_repository import portal_dossiers
from services.processing.settings import ProcessingSettings
from tests.integration.support import eventually, started
from tests.integration.test_processing_lifecycle import (
    AGENCY,
    LEADER,
    LEGAL,
    A,
    C,
    act,
    arrive,
    case_when,
    client_for,
    publish,
)

pytestmark = pytest.mark.integration
TOKEN = "portal-test-token"
REASON = Reason(code="khong_du_dieu_kien", message_vi="Không đủ điều kiện",
                message_en="not eligible")


class Portal:
    """The stand-in: a real HTTP server on a free port that answers as told (200, 503) and
    keeps every status change it took; `down()` closes it (connections refused)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1/dossier-status"
        self.unavailable = False
        self.taken: list[dict[str, Any]] = []  # bodies, in the order they were taken
        self.keys: Counter[str] = Counter()    # every key answered 200, and how often
        self.refused = 0                       # 503s answered
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    async def status(self, request: Request) -> JSONResponse:
        if self.unavailable:
            self.refused += 1
            return JSONResponse({"error": "bảo trì"}, status_code=503)
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["content-type"] == "application/json"
        key = request.headers["idempotency-key"]
        body = PortalStatusUpdate.model_validate_json(await request.body())
        if key not in self.keys:
            self.taken.append(body.model_dump(mode="json") | {"key": key})
        self.keys[key] += 1
        return JSONResponse({"ok": True})

    async def up(self) -> None:
        app = Starlette(routes=[Route("/api/v1/dossier-status", self.status,
                                      methods=["POST"])])
        # A bounded stop: by default uvicorn waits without end for open connections (the
        # sender's keep-alive) to close; a full run once hung in this test, cause unproven.
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off",
                                                    timeout_graceful_shutdown=5))
        self.task = asyncio.create_task(self.server.serve())
        server = self.server
        await eventually(lambda: server.started, "the stand-in portal to start")

    async def down(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
            self.server = self.task = None

    def statuses(self, code: str) -> list[tuple[int, int]]:
        return [(b["sequence"], b["status"]) for b in self.taken if b["dossier_code"] == code]


@contextlib.asynccontextmanager
async def portal() -> AsyncIterator[Portal]:
    stand_in = Portal()
    await stand_in.up()
    try:
        yield stand_in
    finally:
        await stand_in.down()


def _settings(bootstrap: str, database_url: str, tmp: Path, url: str) -> ProcessingSettings:
    return ProcessingSettings(
        kafka_bootstrap_servers=bootstrap, database_url=database_url, var_dir=tmp,
        consumer_group=f"test-{uuid.uuid4().hex[:8]}", reset_check_seconds=1.0,
        portal_url=url, portal_token=TOKEN, portal_channels="online,postal",
        portal_poll_seconds=0.2, portal_settle_seconds=2.0, portal_retry_seconds=0.2,
        portal_retry_max_seconds=1.0,
        metrics_refresh_seconds=0.5)


def _province_received(code: str, at: datetime) -> DossierReceived:
    return DossierReceived(
        dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=Channel.online,
        return_channel=ReturnChannel.online, received_at=at,
        due_at=WorkCalendar().due_at(at, LEGAL), legal_time=LEGAL,
        applicant=ApplicantRef(kind="individual", ref=f"p1_{code}"),
        components=[ComponentRef(code="GKS", form="electronic")], origin_system="hcm-dvc")


def _step(code: str, at: datetime) -> StepAssigned:
    return StepAssigned(dossier_code=code, step_no=1, step_code="XU-LY",
                        department="Phòng Chế độ (tỉnh)", assigned_at=at)


async def _metrics(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]],
                                                      float]:
    text = (await client.get("/metrics")).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def _gauge(client: httpx.AsyncClient, name: str) -> float:
    return (await _metrics(client)).get((name, ()), -1.0)


async def _failures(client: httpx.AsyncClient, reason: str) -> float:
    return (await _metrics(client)).get(
        ("onestop_portal_sync_failures_total", (("reason", reason),)), 0.0)


async def test_every_status_reaches_the_portal_once_in_order_through_its_outage(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    day = datetime.now(UTC).strftime("%y%m%d")
    central, refused, province, withdrawn, stopped, early, counter = (
        f"{AGENCY}-{day}-{k}{unique}" for k in "ARPWSEX")
    async with portal() as stand_in:
        stand_in.unavailable = True
        runtime = await started(build(_settings(kafka_bootstrap, database_url, tmp_path,
                                                stand_in.url)))
        try:
            async with client_for(runtime) as client:
                # --- the portal answers 503: processing goes on, the changes wait -------
                await arrive(runtime, kafka_bootstrap, central, channel=Channel.online)
                await arrive(runtime, kafka_bootstrap, counter)
                now = datetime.now(UTC)
                await publish(runtime, kafka_bootstrap, (topics.INTAKE, DossierRejected(
                    dossier_code=refused, agency_code=AGENCY, procedure_code="BHXH.NH.03",
                    applicant=ApplicantRef(kind="individual", ref=f"p1_{refused}"),
                    rejected_at=now, reasons=[REASON], channel=Channel.online)))
                await publish(runtime, kafka_bootstrap,
                              (topics.INTAKE, _province_received(province, now)),
                              (topics.PROVINCIAL, _step(province, now + timedelta(hours=1))))
                await case_when(client, central, lambda c: c["state"] == "in_step", "the opening")
                await case_when(client, counter, lambda c: c["state"] == "in_step", "the opening")
                await case_when(client, province, lambda c: c["department"] ==
                                "Phòng Chế độ (tỉnh)", "the province's step")
                # 2, 4 (central); 3 (refused); 2, 4 (province); none of the counter's.
                await eventually(lambda: _equals(
                    _gauge(client, "onestop_portal_sync_pending"), 5.0), "the backlog of 5")
                await eventually(lambda: _positive(_failures(client, "unavailable")),
                                 "503s counted")
                assert stand_in.taken == [] and stand_in.refused > 0

                # --- the portal is gone: connections refused ------------------------------
                await stand_in.down()
                await act(client, central, "claim", A)
                asked = await act(client, central, "request_supplement", A, items=[
                    {"component_code": "QD-NV", "problem_vi": "Thiếu quyết định nghỉ việc"}])
                assert asked["state"] == "waiting_supplement"
                done = datetime.now(UTC)
                await publish(runtime, kafka_bootstrap, (topics.INTAKE, SupplementReceived(
                    dossier_code=central, received_at=done, complete=True,
                    components=[ComponentRef(code="QD-NV", form="paper")],
                    due_at=WorkCalendar().due_at(done, LEGAL))))
                await case_when(client, central, lambda c: c["state"] == "in_step"
                                and c["clock_running"], "the complete supplement")
                later = now + timedelta(hours=2)
                await publish(
                    runtime, kafka_bootstrap,
                    (topics.INTAKE, SupplementRequested(
                        dossier_code=province, requested_at=later, stage="processing",
                        requested_by="hcm-dvc", items=[{"problem_vi": "Thiếu giấy"}])),
                    (topics.PROVINCIAL, _step(province, later + timedelta(hours=1))),
                    (topics.PROVINCIAL, DossierResolved(
                        dossier_code=province, agency_code=AGENCY,
                        procedure_code="BHXH.NH.03",
                        applicant=ApplicantRef(kind="individual", ref=f"p1_{province}"),
                        resolved_at=later + timedelta(hours=2), decision="approved",
                        due_at=later + timedelta(days=5), timeliness="early")),
                    (topics.PROVINCIAL, ResultReturned(
                        dossier_code=province, returned_at=later + timedelta(hours=3),
                        return_channel=ReturnChannel.online)))
                # A province's step that overtook its receipt: kept until the receipt.
                await publish(runtime, kafka_bootstrap,
                              (topics.PROVINCIAL, _step(early, now + timedelta(minutes=5))))
                await eventually(lambda: _early(runtime, early), "the early step kept")
                await publish(runtime, kafka_bootstrap,
                              (topics.INTAKE, _province_received(early, now)))
                await arrive(runtime, kafka_bootstrap, withdrawn, channel=Channel.online)
                await arrive(runtime, kafka_bootstrap, stopped, channel=Channel.postal)
                await case_when(client, withdrawn, lambda c: c["state"] == "in_step", "opening")
                await publish(runtime, kafka_bootstrap, (topics.INTAKE, DossierWithdrawn(
                    dossier_code=withdrawn, withdrawn_at=datetime.now(UTC),
                    reason="Người nộp xin rút")))
                await case_when(client, stopped, lambda c: c["state"] == "in_step", "opening")
                await act(client, stopped, "claim", A)
                await act(client, stopped, "stop", A, notice="TB-01/2026",
                          reasons=[REASON.model_dump()])
                await case_when(client, province, lambda c: c["state"] == "returned", "return")
                await case_when(client, withdrawn, lambda c: c["state"] == "withdrawn", "gone")
                # + 5, 4 (central); 5, 4, 9, 10 (province); 2, 4 (early); 2, 4, 7
                # (withdrawn); 2, 4, 8 (stopped, by post)
                await eventually(lambda: _equals(
                    _gauge(client, "onestop_portal_sync_pending"), 19.0), "the backlog of 19")
                await eventually(lambda: _positive(_failures(client, "unreachable")),
                                 "refused connections counted")
                assert await _gauge(client, "onestop_portal_sync_oldest_pending_seconds") > 0
                assert await _gauge(client, "onestop_portal_sync_backoff_seconds") > 0
                assert stand_in.taken == []

                # --- the portal is back: everything arrives, the backlog falls --------------
                stand_in.unavailable = False
                await stand_in.up()
                await act(client, central, "complete_step", A, decision="approve")
                await act(client, central, "claim", C)
                await act(client, central, "complete_step", C, decision="approve")
                await act(client, central, "approve", LEADER)
                await act(client, central, "issue_result", LEADER, result_code="QD-001")
                await act(client, central, "record_return", A, return_channel="counter")
                await act(client, stopped, "record_return", A)
                expected = {
                    central: [2, 4, 5, 4, 9, 10], refused: [3],
                    province: [2, 4, 5, 4, 9, 10], early: [2, 4], withdrawn: [2, 4, 7],
                    stopped: [2, 4, 8, 10]}
                total = sum(map(len, expected.values()))
                await eventually(lambda: len(stand_in.taken) >= total,
                                 "every status at the portal")
                await eventually(lambda: _equals(
                    _gauge(client, "onestop_portal_sync_pending"), 0.0), "the backlog emptied")
                for code, statuses in expected.items():
                    assert stand_in.statuses(code) == list(enumerate(statuses, 1)), code
                assert stand_in.statuses(counter) == []
                assert set(stand_in.keys.values()) == {1}, "a status sent twice"
                assert len(stand_in.taken) == total
                assert stand_in.keys[f"{central}:4:2"] == 1  # back at 4: its own key
                first = next(b for b in stand_in.taken if b["dossier_code"] == refused)
                assert (first["status"], first["channel"], first["agency_code"]) == (
                    3, 2, AGENCY)
                stops = [b for b in stand_in.taken if b["dossier_code"] == stopped]
                assert {b["channel"] for b in stops} == {3}  # qua bưu chính công ích
                await eventually(lambda: _equals(
                    _gauge(client, "onestop_portal_sync_backoff_seconds"), 0.0),
                    "the sender back at work")
                figures = await _metrics(client)
                assert sum(v for (name, _), v in figures.items()
                           if name == "onestop_portal_sync_delivered_total") == total
                assert figures[("onestop_portal_sync_parked", ())] == 0
        finally:
            await runtime.stop()


async def _equals(value: Any, expected: float) -> bool:
    return bool(await value == expected)


async def _positive(value: Any) -> bool:
    return bool(await value > 0)


async def _early(runtime: Runtime, code: str) -> bool:
    """The step is held on the dossier's track, its receipt not known yet."""
    async with runtime.sessions() as s:
        track = (await s.execute(select(portal_dossiers.c.held, portal_dossiers.c.facts).where(
            portal_dossiers.c.dossier_code == code))).one_or_none()
    return track is not None and bool(track.held) and track.facts is None
