"""A province publishing with confluent-kafka (librdkafka: an independent client) is heard."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

from contracts import topics
from contracts.events import DossierReceived
from services.intake.app import build
from services.intake.settings import IntakeSettings, dev_signed
from tests.integration.support import read_topic, settings_for, started

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"


async def test_a_province_event_published_with_confluent_kafka_is_received(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    runtime = await started(build(settings_for(
        IntakeSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)))
    try:
        # As the README shows a province doing it.
        event = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
        code = f"000.01.01.H26-260302-c{unique}"
        event["id"] = str(uuid.uuid4())
        event["subject"] = event["data"]["dossier_code"] = code
        event["data"]["occurred_at"] = event["data"]["received_at"] = \
            datetime.now(UTC).isoformat()
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        value = json.dumps(event).encode()
        producer.produce(topics.INGEST.name, key=code, value=value,
                         headers=dev_signed(value, "hanoi-mcdt"))
        assert producer.flush(30) == 0
        received = await read_topic(kafka_bootstrap, topics.INTAKE.name,
                                    lambda b, _: b.get("subject") == code)
        assert received[0][0]["type"] == DossierReceived.event_type
        assert received[0][0]["data"]["channel"] == "counter"  # portal channel 1: trực tiếp
    finally:
        await runtime.stop()
