"""Intake's warehouse check against the real digitization service over real HTTP: the
reference travels as data, so dot segments and encoded slashes cannot walk the lookup to
another resource (`../../../../../health` once answered 200 and counted as held), and only
an answer about the very document asked for counts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from contracts.common import IndividualApplicant
from deploy.local.broker import free_port
from services.common.runtime import Runtime
from services.digitization.app import build as build_digitization
from services.digitization.settings import DigitizationSettings
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings
from services.intake.warehouse import LOOKUP_PATH, HttpWarehouse, WarehouseUnavailable
from services.law.pseudonym import applicant_pseudonym
from tests.auth import AUTH
from tests.integration.support import listening, settings_for, started

pytestmark = pytest.mark.integration

ALICE = "p1_alice_applicant_ref_0001"
BOB = "p1_bob_applicant_ref_00002"
HELD = "doc-7f3a9c2e5b1d4e60"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # type: ignore[override]
        # The test runner owns the signals; this server only stops when told.
        yield


@contextlib.asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[str]:
    """The service's app on a real loopback HTTP server, in this event loop."""
    port = free_port()
    server = _Server(uvicorn.Config(runtime.app, host="127.0.0.1", port=port,
                                    log_level="warning", access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await listening(server, task)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def digitization(kafka_bootstrap: str, database_url: str,
                       tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = build_digitization(settings_for(DigitizationSettings, kafka_bootstrap,
                                              database_url, tmp_path))
    # Only the HTTP side is under test: the consumer would read every other test's
    # DossierReceived from the shared broker (it starts at the earliest offset).
    runtime.subscriptions = []
    await started(runtime)
    try:
        async with runtime.transaction() as s:
            await runtime.app.state.digitizer.hold(s, ALICE, HELD, "national-database")
            await runtime.app.state.digitizer.hold(s, BOB, "doc-bob-only", "digitized")
        yield runtime
    finally:
        await runtime.stop()


async def test_the_lookup_sends_the_reference_as_data_and_trusts_only_its_answer(
        kafka_bootstrap: str, database_url: str, tmp_path: Path) -> None:
    async with digitization(kafka_bootstrap, database_url, tmp_path) as runtime, \
            serving(runtime) as url:
        warehouse = HttpWarehouse(url)
        try:
            assert await warehouse.holds(ALICE, HELD) is True
            # The walk-arounds: each is just an unknown reference now.
            assert await warehouse.holds(ALICE, "../../../../../health") is False
            assert await warehouse.holds(ALICE, "..%2F..%2Fhealth") is False
            assert await warehouse.holds(ALICE, "../../../../../../metrics") is False
            assert await warehouse.holds(f"{ALICE}/documents/{HELD}/..", HELD) is False
            # Held, but for someone else.
            assert await warehouse.holds(ALICE, "doc-bob-only") is False
            assert await warehouse.holds(BOB, HELD) is False
        finally:
            await warehouse.client.aclose()

        # The service's own answer names both references; a miss is a 404 problem.
        async with httpx.AsyncClient(auth=AUTH, base_url=url) as client:
            hit = await client.get(LOOKUP_PATH, params={"applicant_ref": ALICE,
                                                        "document_ref": HELD})
            assert hit.status_code == 200
            assert (hit.json()["applicant_ref"], hit.json()["document_ref"]) == (ALICE, HELD)
            miss = await client.get(LOOKUP_PATH, params={"applicant_ref": ALICE,
                                                         "document_ref": "../../health"})
            assert miss.status_code == 404
            assert miss.json()["problems"][0]["code"] == "not_found"
            assert miss.json()["problems"][0]["field"] == "document_ref"
            empty = await client.get(LOOKUP_PATH, params={"applicant_ref": ALICE})
            assert empty.status_code == 422


async def test_intake_refuses_a_reuse_walked_to_another_resource(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """The whole path of the defect: intake with INTAKE_WAREHOUSE_URL at a live warehouse."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    async with digitization(kafka_bootstrap, db, tmp_path) as dig, serving(dig) as url:
        settings = settings_for(IntakeSettings, kafka_bootstrap,
                                f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)
        settings.warehouse_url = url
        intake = build_intake(settings)
        # Migrated, not started: nothing it accepts may reach the shared broker's topics.
        await intake.migrate()
        try:
            applicant = {"kind": "individual", "full_name": "Nguyễn Thị Hoa",
                         "id_number": "001190054321"}
            ref = applicant_pseudonym(intake.app.state.intake.key,
                                      IndividualApplicant.model_validate(applicant))
            async with dig.transaction() as s:
                await dig.app.state.digitizer.hold(s, ref, HELD, "national-database")

            def submission(n: str, document_ref: str) -> dict[str, object]:
                return {"agency_code": "000.01.02.H26", "procedure_code": "BHXH.NH.03",
                        "channel": "counter", "applicant": applicant,
                        "submission_id": f"wh-{n}-{tmp_path.name}",
                        "components": [{"code": "GKS", "form": "paper"},
                                       {"code": "GCN-NV", "form": "electronic",
                                        "document_ref": document_ref, "reused": True}]}

            async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=intake.app),
                                         base_url="http://intake") as client:
                walked = await client.post("/api/v1/dossiers",
                                           json=submission("a", "../../../../../health"))
                assert walked.status_code == 422, walked.text
                assert walked.json()["problems"][0]["code"] == "reused_document_unknown"
                held = await client.post("/api/v1/dossiers", json=submission("b", HELD))
                assert held.status_code == 201, held.text
                assert held.json()["components"][1]["reuse_verified"] is True
                # The rules come before the lookup: a reference holding a control character
                # (which the warehouse refuses to look up) in a submission of an unknown
                # procedure is answered with the submission's own problems, not a 503.
                bad = {**submission("c", "doc-\x7f\x19"), "procedure_code": "KHONG.CO"}
                refused = await client.post("/api/v1/dossiers", json=bad)
                assert refused.status_code == 422, refused.text
                codes = {p["code"] for p in refused.json()["problems"]}
                assert {"unknown_procedure", "control_characters"} <= codes, codes
        finally:
            await intake.stop()


async def test_a_200_about_something_else_is_not_held() -> None:
    """A proxy or a health page answering 200 is not the warehouse: never 'held'."""
    seen: list[httpx.Request] = []

    def answer(body: object) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json=body)
        return httpx.MockTransport(handle)

    warehouse = HttpWarehouse("http://warehouse")
    for body in ({"status": "ok"}, {"applicant_ref": BOB, "document_ref": HELD}, [ALICE, HELD]):
        warehouse.client = httpx.AsyncClient(transport=answer(body), base_url="http://warehouse")
        with pytest.raises(WarehouseUnavailable):
            await warehouse.holds(ALICE, HELD)
    # The reference is query data on one fixed path, whatever it contains.
    warehouse.client = httpx.AsyncClient(
        transport=answer({"applicant_ref": ALICE, "document_ref": "../../x/y"}),
        base_url="http://warehouse")
    assert await warehouse.holds(ALICE, "../../x/y") is True
    assert seen[-1].url.path == LOOKUP_PATH
    assert seen[-1].url.params["document_ref"] == "../../x/y"
