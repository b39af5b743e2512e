"""Intake as a real runtime, on SQLite and on PostgreSQL, against a real broker: HTTP and the
ingest topic lead to DossierReceived, with trace context, through the outbox."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts import topics
from contracts.events import ApplicantRecorded, DossierReceived
from contracts.ingest import IngestRejected
from services.common.observability.tracing import span_context_of
from services.intake.app import build
from services.intake.settings import IntakeSettings, dev_signed
from tests.auth import AUTH
from tests.integration.support import read_topic, settings_for, started

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"


# Tests share one broker but not one intake database, so two of them would issue the same
# dossier codes: this agency is used by no other test.
AGENCY = "000.00.79.H29"


def submission(n: str) -> dict:
    return {"agency_code": AGENCY, "procedure_code": "BHXH.DH.02", "channel": "online",
            "applicant": {"kind": "individual", "full_name": "Phạm Thị Lan",
                          "id_number": "079190000123"},
            "components": [{"code": "SO-BHXH", "form": "paper"},
                           {"code": "14-HSB", "form": "electronic"}],
            "submission_id": f"it-{n}", "portal_account": "079190000123"}


async def test_http_submission_is_published_with_trace_context(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    runtime = await started(build(settings_for(IntakeSettings, kafka_bootstrap, database_url,
                                               tmp_path)))
    try:
        trace_id = uuid.uuid4().hex
        traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as client:
            r = await client.post("/api/v1/dossiers", json=submission(unique),
                                  headers={"traceparent": traceparent})
            assert r.status_code == 201, r.text
            code = r.json()["dossier_code"]
            again = await client.post("/api/v1/dossiers", json=submission(unique))
            assert again.status_code == 200 and again.json()["dossier_code"] == code
            bad = await client.post("/api/v1/dossiers", json={
                **submission(unique + "x"), "procedure_code": "NOPE", "channel": "fax"})
            assert bad.status_code == 422
            fields = {p["field"] for p in bad.json()["problems"]}
            assert "channel" in fields
            assert all(p["message_vi"] and p["message_en"] for p in bad.json()["problems"])
            got = await client.get(f"/api/v1/dossiers/{code}")
            assert got.json()["due_at"] == r.json()["due_at"]
            assert got.json()["channel_reference"] == "079190000123"  # intake's own view

        # Other runs on this broker may have issued the same code from their own database:
        # this run's record is the one that carries this request's trace.
        def ours(body: dict, record: object) -> bool:
            headers = dict(getattr(record, "headers", ()) or ())
            sent = span_context_of(headers.get("traceparent"))
            return body.get("subject") == code and sent is not None and \
                f"{sent.trace_id:032x}" == trace_id

        received = await read_topic(kafka_bootstrap, topics.INTAKE.name, ours)
        assert received, "no DossierReceived carried the HTTP request's trace context"
        body, record = received[0]
        assert body["type"] == DossierReceived.event_type
        assert body["source"] == "onestop/intake" and body["agencycode"] == AGENCY
        assert record.key == code.encode()
        assert "079190000123" not in record.value.decode()  # broad topic: pseudonym only
        private = await read_topic(kafka_bootstrap, topics.INTAKE_PRIVATE.name, ours)
        assert private[0][0]["type"] == ApplicantRecorded.event_type
        assert private[0][0]["data"]["applicant"]["id_number"] == "079190000123"
    finally:
        await runtime.stop()


async def test_province_events_are_received_or_answered_with_every_problem(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
    runtime = await started(build(settings_for(IntakeSettings, kafka_bootstrap, url, tmp_path)))
    example = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
    good_code = f"000.01.01.H26-260302-{unique}"
    good = {**example, "id": str(uuid.uuid4()), "subject": good_code,
            "data": {**example["data"], "dossier_code": good_code,
                     "occurred_at": datetime.now(UTC).isoformat(),
                     "received_at": datetime.now(UTC).isoformat()}}
    bad_code = f"000.01.01.H26-260302-{unique}x"
    bad = {**good, "id": str(uuid.uuid4()), "subject": bad_code,
           "data": {**good["data"], "dossier_code": bad_code, "procedure_code": "NOPE",
                    "agency_code": "999.99.99.X99"}}
    other_code = f"000.79.01.H29-260302-{unique}"
    other = {**good, "id": str(uuid.uuid4()), "subject": other_code,
             "data": {**good["data"], "dossier_code": other_code,
                      "agency_code": "000.79.01.H29"}}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for event in (good, good, bad, other):  # the same event twice: applied once
            value = json.dumps(event).encode()
            await producer.send_and_wait(topics.INGEST.name, value, key=event["subject"].encode(),
                                         headers=dev_signed(value, event["data"]["system_id"]))
    finally:
        await producer.stop()
    try:
        received = await read_topic(kafka_bootstrap, topics.INTAKE.name,
                                    lambda b, _: b.get("subject") == good_code)
        assert received[0][0]["data"]["origin_system"] == "hanoi-mcdt"
        rejected = await read_topic(kafka_bootstrap, topics.INGEST_REJECTED.name,
                                    lambda b, _: b.get("subject") == bad_code)
        data = rejected[0][0]["data"]
        stranger = await read_topic(kafka_bootstrap, topics.INGEST_REJECTED.name,
                                    lambda b, _: b.get("subject") == other_code)
        assert rejected[0][0]["type"] == IngestRejected.event_type
        assert data["rejected_event_id"] == bad["id"]
        assert {p["code"] for p in data["problems"]} >= {"unknown_agency", "unknown_procedure"}
        # A registered system reporting for another province's agency is refused too.
        assert {p["code"] for p in stranger[0][0]["data"]["problems"]} == {"agency_not_allowed"}
        again = await read_topic(kafka_bootstrap, topics.INTAKE.name,
                                 lambda b, _: b.get("subject") == good_code and
                                 b["type"] == DossierReceived.event_type, count=2, wait_seconds=5)
        assert len(again) == 1
    finally:
        await runtime.stop()
