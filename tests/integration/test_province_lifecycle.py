"""A province running its own software reports a dossier's whole life in the national
portal's status codes, out of order, and the national record follows it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts import topics
from contracts.registry import short_name
from services.intake.app import build
from services.intake.settings import IntakeSettings, dev_signed
from tests.auth import AUTH
from tests.integration.support import read_topic, settings_for, started

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
AGENCY = "000.01.02.H26"


def status_event(example: dict, code: str, status: int, at: datetime, **data: object) -> dict:
    body = {**example["data"], "dossier_code": code, "agency_code": AGENCY, "status": status,
            "occurred_at": at.isoformat(), "received_at": None, **data}
    if status not in (2, 3):
        body["applicant"] = None
    return {**example, "id": str(uuid.uuid4()), "subject": code, "agencycode": AGENCY,
            "data": body}


async def test_a_full_provincial_lifecycle_arriving_out_of_order(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    runtime = await started(build(settings_for(
        IntakeSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)))
    example = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
    code = f"{AGENCY}-260302-p{unique}"
    t0 = datetime.now(UTC) - timedelta(days=2)
    life = [
        status_event(example, code, 2, t0, received_at=t0.isoformat()),
        status_event(example, code, 4, t0 + timedelta(hours=2), step={
            "step_no": 1, "step_code": "CDBHXH", "department": "Phòng Chế độ BHXH",
            "at": (t0 + timedelta(hours=2)).isoformat()}),
        status_event(example, code, 9, t0 + timedelta(days=1), decision="approved"),
        status_event(example, code, 10, t0 + timedelta(days=1, hours=3),
                     return_channel="postal"),
    ]
    # Out of order: the return and the decision reach the topic before the receipt.
    order = [life[3], life[1], life[0], life[2]]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for event in order:
            value = json.dumps(event).encode()
            await producer.send_and_wait(topics.INGEST.name, value, key=code.encode(),
                                         headers=dev_signed(value, "hanoi-mcdt"))
    finally:
        await producer.stop()
    try:
        provincial = await read_topic(kafka_bootstrap, topics.PROVINCIAL.name,
                                      lambda b, _: b.get("subject") == code, count=3)
        kinds = sorted(short_name(b["type"]) for b, _ in provincial)
        assert kinds == ["dossier.resolved.v1", "result.returned.v1", "step.assigned.v1"]
        resolved = next(b["data"] for b, _ in provincial if "resolved" in b["type"])
        assert resolved["decision"] == "approved" and resolved["timeliness"] == "early"
        received = await read_topic(kafka_bootstrap, topics.INTAKE.name,
                                    lambda b, _: b.get("subject") == code)
        assert short_name(received[0][0]["type"]) == "dossier.received.v1"
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as client:
            record = (await client.get(f"/api/v1/dossiers/{code}")).json()
        # The latest news wins, though the receipt (older) was applied after the return.
        assert record["status"] == "returned"
        assert record["channel"] == "counter"  # portal channel 1
    finally:
        await runtime.stop()
