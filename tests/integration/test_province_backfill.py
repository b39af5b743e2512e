"""A province backfills its 2025 first half through the ingest topic: a dossier received on
Friday 14/02/2025 at a district office that no longer exists is received, judged by the
rules of that day (catalogue 2019.12: the Law on Social Insurance 2014's 3 working days for
a maternity claim from the employee, Mon 17, Tue 18, Wed 19/02), resolved early and
returned; the province hears that all three were applied. A dossier of 2019, before the
first catalogue, is still refused `no_catalogue`. Reporting, fed the events as they were
published, counts it in Q1 2025 under that district office in the tree of 01/03/2025
(khu vực I). Real broker; intake on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts import topics
from contracts.envelope import Envelope
from contracts.registry import EVENT_TYPES, short_name
from services.common.messaging.consumer import Context
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings, dev_signed
from services.law.workdays import TZ
from services.reporting.app import build as build_reporting
from services.reporting.settings import ReportingSettings
from tests.auth import AUTH
from tests.integration.support import read_topic, settings_for, started
from tests.unit.test_reporting_quarterly import ind

pytestmark = pytest.mark.integration
EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "contracts" / "examples"
                      / "ingest.dossier-status.v1.json").read_text("utf-8"))
BA_DINH_OLD = "000.99.02.H26"  # BHXH quận Ba Đình: until 30/06/2025
REGION_I = "000.00.01.H26"  # khu vực I from 01/03/2025


def status(code: str, status: int, at: datetime, **data: Any) -> dict[str, Any]:
    body = {**EXAMPLE["data"], "dossier_code": code, "agency_code": BA_DINH_OLD,
            "status": status, "occurred_at": at.isoformat(), "received_at": None,
            "components": [{"code": "GKS", "form": "paper"}], **data}
    if status != 2:
        body["applicant"] = None
    return {**EXAMPLE, "id": str(uuid.uuid4()), "subject": code, "agencycode": BA_DINH_OLD,
            "time": at.isoformat(), "data": body}


async def test_a_dossier_of_14_february_2025_is_backfilled_and_judged_by_its_day(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    code = f"{BA_DINH_OLD}-250214-{unique}"
    old = f"{BA_DINH_OLD}-190603-{unique}"
    received = datetime(2025, 2, 14, 10, 0, tzinfo=TZ)
    life = [status(code, 2, received, received_at=received.isoformat()),
            status(code, 9, datetime(2025, 2, 18, 15, 0, tzinfo=TZ), decision="approved"),
            status(code, 10, datetime(2025, 2, 19, 9, 0, tzinfo=TZ))]
    before = datetime(2019, 6, 3, 9, 0, tzinfo=TZ)
    too_old = status(old, 2, before, received_at=before.isoformat())
    intake = await started(build_intake(settings_for(
        IntakeSettings, kafka_bootstrap, database_url, tmp_path)))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for event in [*life, too_old]:
            value = json.dumps(event).encode()
            await producer.send_and_wait(topics.INGEST.name, value,
                                         key=event["subject"].encode(),
                                         headers=dev_signed(value, "hanoi-mcdt"))
    finally:
        await producer.stop()
    try:
        [(receipt, _)] = await read_topic(kafka_bootstrap, topics.INTAKE.name,
                                          lambda b, _: b.get("subject") == code)
        assert short_name(receipt["type"]) == "dossier.received.v1"
        assert receipt["data"]["catalog_version"] == "2019.12"
        assert receipt["data"]["legal_time"] == {"value": 3, "unit": "working_days"}
        due = datetime.fromisoformat(receipt["data"]["due_at"])
        assert due == datetime(2025, 2, 19, 17, 0, tzinfo=TZ)

        provincial = await read_topic(kafka_bootstrap, topics.PROVINCIAL.name,
                                      lambda b, _: b.get("subject") == code, count=2)
        resolved = next(b["data"] for b, _ in provincial if "resolved" in b["type"])
        assert resolved["timeliness"] == "early"

        wanted = {e["id"] for e in life}
        for count in (2, 3, 4):  # the acknowledgements may come in one batch's or several
            answers = await read_topic(
                kafka_bootstrap, topics.INGEST_REJECTED.name,
                lambda b, _: b["data"].get("rejected_event_id") == too_old["id"]
                or bool(wanted & set(b["data"].get("applied", []))), count=count)
            applied = {i for b, _ in answers for i in b["data"].get("applied", [])}
            if wanted <= applied:
                break
        assert wanted <= applied
        [refused] = [b["data"] for b, _ in answers if "rejected_event_id" in b["data"]]
        assert [p["code"] for p in refused["problems"]] == ["no_catalogue"]

        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(
                app=intake.app), base_url="http://intake") as client:
            record = (await client.get(f"/api/v1/dossiers/{code}")).json()
        assert record["status"] == "returned" and record["catalog_version"] == "2019.12"
    finally:
        await intake.stop()

    # Reporting, given exactly the events the broker holds for this dossier.
    reporting = build_reporting(settings_for(
        ReportingSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'r.db'}",
        tmp_path))
    reporting.subscriptions = []  # fed below, not from the shared broker
    await reporting.migrate()
    try:
        records = [(topics.INTAKE, Envelope.model_validate(receipt))] + [
            (topics.PROVINCIAL, Envelope.model_validate(b)) for b, _ in provincial]
        async with reporting.transaction() as s:
            await reporting.app.state.projection.apply(s, [
                (Context(s, env, topic.name), EVENT_TYPES[env.type].model_validate(env.data))
                for topic, env in records])
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(
                app=reporting.app), base_url="http://reporting") as client:
            r = await client.get("/api/v1/reports/quarterly", params={
                "year": 2025, "quarter": 1, "agency": REGION_I})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["name"] == "Bảo hiểm xã hội khu vực I"
        [district] = [c for c in report["children"] if c["agency"] == BA_DINH_OLD]
        assert district["indicators"] == ind(direct=1, early=1)
        assert report["indicators"] == ind(direct=1, early=1)
    finally:
        await reporting.engine.dispose()
