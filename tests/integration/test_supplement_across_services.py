"""One supplement rule whoever asks, over the real broker with intake and processing both
running: an officer asks for a supplement during processing, the counter (intake) then
waits for exactly that, receives it as it receives its own request's, and processing's
clock restarts from the complete dossier with intake's new due time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import topics
from contracts.events import DossierDigitized
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings
from services.processing.app import build as build_processing
from services.processing.settings import ProcessingSettings
from tests.auth import AUTH
from tests.integration.support import eventually, settings_for, started
from tests.integration.test_processing_lifecycle import act, case_when, client_for, publish

pytestmark = pytest.mark.integration
AGENCY = "000.01.02.H26"  # this test's own agency: the broker is shared


async def test_a_supplement_asked_in_processing_is_received_at_the_counter(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    intake = await started(build_intake(settings_for(
        IntakeSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}",
        tmp_path)))
    processing = await started(build_processing(settings_for(
        ProcessingSettings, kafka_bootstrap, database_url, tmp_path)))
    try:
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=intake.app),
                                     base_url="http://intake") as counter, \
                client_for(processing) as office:
            r = await counter.post("/api/v1/dossiers", json={
                "agency_code": AGENCY, "procedure_code": "BHXH.NH.03", "channel": "counter",
                "applicant": {"kind": "individual", "full_name": "Trần Thị Thu",
                              "id_number": "001190054321"},
                "components": [{"code": "GKS", "form": "paper"}],
                "submission_id": f"across-{unique}", "officer": "Lê Thị Mai"})
            assert r.status_code == 201, r.text
            code, first_due = r.json()["dossier_code"], r.json()["due_at"]
            await publish(processing, kafka_bootstrap, (topics.DIGITIZATION, DossierDigitized(
                dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
                digitized_at=datetime.now(UTC), component_count=1)))
            await case_when(office, code, lambda c: c["state"] == "in_step", "the opening")
            await act(office, code, "claim", "cb.an")
            await act(office, code, "request_supplement", "cb.an", items=[
                {"component_code": "QD-NV", "problem_vi": "Thiếu quyết định nghỉ việc"}])

            # The counter learns of it from processing's request.
            async def status() -> dict[str, Any]:
                return (await counter.get(f"/api/v1/dossiers/{code}")).json()  # type: ignore[no-any-return]

            async def asked() -> dict[str, Any]:
                now = await status()
                assert now["status"] == "awaiting_supplement", now
                return now
            waiting = await eventually(asked, "the counter to learn of the request")
            assert waiting["supplement_request"]["stage"] == "processing"
            assert waiting["supplement_request"]["items"][0]["component_code"] == "QD-NV"

            given = await counter.post(f"/api/v1/dossiers/{code}/supplement", json={
                "components": [{"code": "QD-NV", "form": "paper"}]})
            assert given.status_code == 200, given.text
            assert given.json()["status"] == "received"
            new_due = given.json()["due_at"]
            assert new_due >= first_due

            back = await case_when(office, code, lambda c: c["state"] == "in_step"
                                   and c["history"][-1]["action"] == "supplement_received",
                                   "the clock to restart")
            assert back["clock_running"] is True
            assert datetime.fromisoformat(back["due_at"]) == datetime.fromisoformat(new_due)
    finally:
        await processing.stop()
        await intake.stop()
