"""A dossier a province processes in its own software, over the real broker: processing
watches it from its DossierReceived (no digitization to wait for) and its steps on the
provincial topic; officers here cannot act on it; it goes overdue when the province runs
late, and its decision ends the watch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, ReturnChannel, Timeliness
from contracts.events import DossierReceived, DossierResolved, StepAssigned
from services.common.clock import FixedClock
from services.law.workdays import WorkCalendar
from services.processing.app import build
from services.processing.settings import ProcessingSettings
from tests.integration.support import read_topic, settings_for, started
from tests.integration.test_processing_lifecycle import (
    AGENCY,
    LEGAL,
    _type,
    act,
    case_when,
    client_for,
    publish,
)

pytestmark = pytest.mark.integration


async def test_a_province_processed_dossier_is_watched_and_goes_overdue(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    # Monday 2 March 2026, 09:00 in Hà Nội: five working days end on Monday 9 March.
    received_at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    due = WorkCalendar().due_at(received_at, LEGAL)
    clock = FixedClock(received_at + timedelta(hours=1))
    runtime = await started(build(settings_for(ProcessingSettings, kafka_bootstrap,
                                               database_url, tmp_path), clock))
    code = f"{AGENCY}-260302-P{unique}"
    applicant = ApplicantRef(kind="individual", ref=f"p1_{code}")
    try:
        async with client_for(runtime) as client:
            await publish(runtime, kafka_bootstrap, (topics.INTAKE, DossierReceived(
                dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
                catalog_version="2025.07", channel=Channel.provincial,
                return_channel=ReturnChannel.counter, received_at=received_at, due_at=due,
                legal_time=LEGAL, applicant=applicant,
                components=[ComponentRef(code="GKS", form="paper")],
                origin_system="hcm-dvc")))
            case = await case_when(client, code, lambda c: c["state"] == "in_step",
                                   "the watch to start")
            assert case["allowed_actions"] == []
            assert datetime.fromisoformat(case["due_at"]) == due
            assert case["clock_running"] is True
            refused = await act(client, code, "claim", "cb.an", status=409)
            assert refused["allowed_actions"] == []

            await publish(runtime, kafka_bootstrap, (topics.PROVINCIAL, StepAssigned(
                dossier_code=code, step_no=1, step_code="XU-LY",
                department="Phòng Chế độ (tỉnh)", assigned_at=received_at + timedelta(hours=2),
                step_due_at=due)))
            case = await case_when(client, code, lambda c: c["department"] ==
                                   "Phòng Chế độ (tỉnh)", "the province's step")
            assert [s["step_code"] for s in case["steps"]] == ["XU-LY"]

            # The province runs late: past the due time the monitor calls it overdue once.
            clock.set(due + timedelta(hours=1))
            await runtime.app.state.monitor()
            await runtime.app.state.monitor()
            listed = (await client.get("/api/v1/cases", params={
                "deadline": "overdue", "agency": AGENCY, "page_size": 500})).json()
            assert code in [i["code"] for i in listed["items"]]
            found = await read_topic(kafka_bootstrap, topics.PROCESSING.name,
                                     lambda b, _: b.get("subject") == code
                                     and b.get("type") == _type("dossier.overdue"), count=2,
                                     wait_seconds=8)
            assert len(found) == 1
            assert found[0][0]["data"]["responsible_department"] == "Phòng Chế độ (tỉnh)"

            # Its decision ends the watch: no longer listed, the clock stopped.
            resolved_at = due + timedelta(hours=3)
            await publish(runtime, kafka_bootstrap, (topics.PROVINCIAL, DossierResolved(
                dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
                applicant=applicant, resolved_at=resolved_at, decision="approved",
                due_at=due, timeliness=Timeliness.late)))
            case = await case_when(client, code, lambda c: c["state"] == "approved",
                                   "the province's decision")
            clock.set(resolved_at + timedelta(hours=1))
            case = (await client.get(f"/api/v1/cases/{code}")).json()
            assert case["clock_running"] is False
            listed = (await client.get("/api/v1/cases", params={
                "deadline": "overdue", "agency": AGENCY, "page_size": 500})).json()
            assert code not in [i["code"] for i in listed["items"]]
    finally:
        await runtime.stop()
