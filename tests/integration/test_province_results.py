"""Another government system subscribing to `onestop.results.v1` with confluent-kafka
(librdkafka: an independent client, as docs/other-systems.md shows it) hears of a dossier a
province resolved and returned in its own software, like a central one: DossierResolved then
ResultReturned, the same pseudonymous applicant as the receipt, the province's system named,
each exactly once although the province sent its statuses again (under new ids, and byte for
byte). Digitization, which files every result document from that topic into the applicant's
warehouse, reads through them, and through a province's result that has no document. Over
the real broker, with intake, processing and digitization running; the province publishes
with confluent-kafka too."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from sqlalchemy import func, select

from contracts import topics
from contracts.common import ApplicantRef
from contracts.events import DossierReceived, DossierResolved, ResultIssued, ResultReturned
from services.common.runtime import Runtime
from services.digitization import tables as digitization_tables
from services.digitization.app import build as build_digitization
from services.digitization.settings import DigitizationSettings
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings, dev_signed
from services.processing.app import build as build_processing
from services.processing.settings import ProcessingSettings
from tests.integration.support import eventually, settings_for, started
from tests.integration.test_processing_lifecycle import publish

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
SYSTEM = "hanoi-mcdt"


def status(code: str, number: int, at: datetime, **data: Any) -> dict[str, Any]:
    """A province's record of one status (the example's receipt, then as told)."""
    event = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
    event["id"] = str(uuid.uuid4())
    event["subject"] = code
    body = event["data"] if number == 2 else {
        k: event["data"][k] for k in ("system_id", "agency_code", "procedure_code")}
    event["data"] = body | {"dossier_code": code, "status": number,
                            "occurred_at": at.isoformat(), **data}
    if number == 2:
        event["data"]["received_at"] = at.isoformat()
    return event


def send(bootstrap: str, records: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for event in records:
        value = json.dumps(event).encode()
        producer.produce(topics.INGEST.name, key=event["subject"], value=value,
                         headers=dev_signed(value, SYSTEM))
    assert producer.flush(30) == 0


async def outbox_ids(runtime: Runtime, topic: topics.Topic, code: str) -> list[str]:
    t = runtime.tables.outbox
    async with runtime.sessions() as s:
        return list((await s.execute(select(t.c.event_id).where(
            t.c.topic == topic.name, t.c.key == code).order_by(t.c.seq))).scalars())


def subscriber(bootstrap: str, group: str) -> Consumer:
    """A group consumer as another system runs it; against the local broker it joins only
    after max.poll.interval.ms, so a few seconds here (the default is five minutes)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "max.poll.interval.ms": 6000})
    consumer.subscribe([topics.RESULTS.name])
    return consumer


async def test_a_province_result_reaches_a_results_subscriber_exactly_once(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    intake = await started(build_intake(settings_for(
        IntakeSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)))
    processing = await started(build_processing(settings_for(
        ProcessingSettings, kafka_bootstrap, database_url, tmp_path)))
    digitization = await started(build_digitization(settings_for(
        DigitizationSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
        tmp_path)))
    consumer = subscriber(kafka_bootstrap, f"other-system-{unique}")
    code = f"000.01.01.H26-260302-r{unique}"
    received = datetime.now(UTC) - timedelta(hours=3)
    resolved = status(code, 9, received + timedelta(hours=1), decision="approved")
    try:
        returned = status(code, 10, received + timedelta(hours=2), return_channel="postal")
        send(kafka_bootstrap, [
            status(code, 2, received), resolved,
            # The province, unsure it was heard, says it again: as a new record and as the
            # same bytes; then the return, and the return again as a new record.
            status(code, 9, received + timedelta(hours=1), decision="approved"), resolved,
            returned, status(code, 10, received + timedelta(hours=2), return_channel="postal")])

        # What the subscriber reads of the dossier, up to its return: the return is
        # published after the decision and every resend of it (one partition per dossier,
        # in the order processing wrote them), so nothing of the dossier is missing before.
        seen: list[dict[str, Any]] = []

        async def until_returned() -> bool:
            message = await asyncio.to_thread(consumer.poll, 0.5)
            if message is not None and message.error() is None and \
                    message.key() == code.encode():
                seen.append(json.loads(message.value()))
            return any(b["type"] == ResultReturned.event_type for b in seen)
        await eventually(until_returned, "the dossier's return on the results topic")
        assert [b["type"] for b in seen] == [DossierResolved.event_type,
                                             ResultReturned.event_type]
        decision, back = seen[0]["data"], seen[1]["data"]
        assert (decision["decision"], decision["origin_system"]) == ("approved", SYSTEM)
        assert (back["return_channel"], back["origin_system"]) == ("postal", SYSTEM)
        assert seen[0]["source"] == seen[1]["source"] == "onestop/processing"
        assert {b["subject"] for b in seen} == {code}
        # The applicant as every other topic names it: the receipt's pseudonym.
        [receipt] = [json.loads(v) for v in await intake_payloads(intake, code)
                     if json.loads(v)["type"] == DossierReceived.event_type]
        assert decision["applicant"] == receipt["data"]["applicant"]
        assert "id_number" not in json.dumps(seen)

        # Exactly once: processing has taken in every resend intake passed on (the
        # provincial topic's records of the dossier are in its inbox), and of all it will
        # ever publish (its outbox) the results of the dossier are those two.
        news = await outbox_ids(intake, topics.PROVINCIAL, code)
        assert len(news) == 4  # two decisions, two returns: the same bytes were taken once

        async def all_heard() -> bool:
            inbox = processing.tables.inbox
            async with processing.sessions() as s:
                heard = await s.scalar(select(func.count()).select_from(inbox).where(
                    inbox.c.event_id.in_(news)))
            return heard == len(news)
        await eventually(all_heard, "processing to take in every resend")
        assert await outbox_ids(processing, topics.RESULTS, code) == [
            str(b["id"]) for b in seen]

        # Digitization reads through them: a province's result issued without a document
        # files nothing, and one with a document behind it (the same partition) is filed.
        applicant = ApplicantRef.model_validate(decision["applicant"])
        issued = {"dossier_code": code, "agency_code": decision["agency_code"],
                  "procedure_code": decision["procedure_code"], "applicant": applicant,
                  "issued_at": datetime.now(UTC), "result_type": "Quyết định",
                  "origin_system": SYSTEM}
        await publish(processing, kafka_bootstrap,
                      (topics.RESULTS, ResultIssued(result_code="KQ-0", **issued)),
                      (topics.RESULTS, ResultIssued(result_code="KQ-1",
                                                    document_ref=f"doc-{unique}", **issued)))
        documents = digitization_tables.documents

        async def filed() -> list[str]:
            async with digitization.sessions() as s:
                return list((await s.execute(select(documents.c.document_ref).where(
                    documents.c.applicant_ref == applicant.ref))).scalars())
        assert await eventually(filed, "the result document in the warehouse") == [
            f"doc-{unique}"]
    finally:
        await asyncio.to_thread(consumer.close)
        await digitization.stop()
        await processing.stop()
        await intake.stop()


async def intake_payloads(intake: Runtime, code: str) -> list[bytes]:
    t = intake.tables.outbox
    async with intake.sessions() as s:
        return list((await s.execute(select(t.c.payload).where(
            t.c.topic == topics.INTAKE.name, t.c.key == code))).scalars())
