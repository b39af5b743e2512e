"""The whole system as separate processes: a dossier's path, crashes, poison, broker loss."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts import topics
from contracts.registry import short_name
from deploy.local.broker import LocalBroker
from deploy.local.stack import Stack
from services.common.sealing import Sealer
from services.common.settings import DEV_DLQ_KEY
from services.intake.settings import dev_signed
from tests.auth import AUTH
from tests.e2e.conftest import agency_stats, dossier, make_stack, wait_for

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
PER_DOSSIER = ("dossier.received.v1", "component.digitized.v1", "dossier.digitized.v1",
               "step.assigned.v1", "notification.sent.v1")
# A province processes its own dossiers: the centre watches their clock, and their steps come
# from the province's own reports (none here), so processing assigns none.
PER_PROVINCE_DOSSIER = tuple(t for t in PER_DOSSIER if t != "step.assigned.v1")


def _post(stack: Stack, body: dict) -> dict:
    r = httpx.post(f"{stack.services['intake'].url}/api/v1/dossiers", auth=AUTH, json=body,
                   timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _exactly(stack: Stack, agency: str, n: int,
             per: tuple[str, ...] = PER_DOSSIER) -> dict | None:
    stats = agency_stats(stack, agency)
    done = all(stats["dossiers"].get(t) == n for t in per)
    return stats if done and stats["events"] == n * len(per) else None


def test_a_dossier_is_traced_through_every_service(stack: Stack) -> None:
    answer = _post(stack, dossier("000.01.02.H26", 1, paper=True))
    code = answer["dossier_code"]
    assert answer["status"] == "received" and answer["due_at"] > answer["received_at"]
    # The paper component is scanned by an officer; then processing takes the dossier.
    digitization = stack.services["digitization"].url
    wait_for(lambda: httpx.get(f"{digitization}/api/v1/dossiers/{code}",
                               auth=AUTH).status_code == 200,
             60, "digitization to know the dossier")
    r = httpx.post(f"{digitization}/api/v1/dossiers/{code}/components/GKS/digitized", auth=AUTH)
    assert r.status_code == 200 and r.json()["dossier_digitized"] is True
    again = httpx.post(f"{digitization}/api/v1/dossiers/{code}/components/GKS/digitized", auth=AUTH)
    assert again.status_code == 409
    trace_url = f"{stack.services['reporting'].url}/api/v1/dossiers/{code}/trace"
    events = wait_for(
        lambda: (r := httpx.get(trace_url, auth=AUTH)).status_code == 200
        and len(r.json()["events"]) >= 5 and r.json()["events"], 60, "the full trace")
    services = {e["service"] for e in events}
    assert {"intake", "digitization", "processing", "notification"} <= services
    types = [e["type"].rsplit(".", 2)[-2] for e in events]
    assert types[0] == "received"
    assert types.index("digitized") < types.index("assigned")
    times = [e["time"] for e in events]
    assert times == sorted(times)


def test_processing_killed_mid_run_loses_and_duplicates_nothing(stack: Stack) -> None:
    agency = "000.79.01.H29"
    codes = []
    for i in range(300):
        if i == 100:
            stack.services["processing"].kill()  # SIGKILL, mid-stream
        if i == 200:
            stack.restart("processing")
        codes.append(_post(stack, dossier(agency, i))["dossier_code"])
    assert len(set(codes)) == 300
    stats = wait_for(lambda: _exactly(stack, agency, 300), 240, "300 dossiers, each once")
    assert stats["dossiers"]["step.assigned.v1"] == 300
    trace = httpx.get(f"{stack.services['reporting'].url}/api/v1/dossiers/{codes[150]}/trace",
                      auth=AUTH)
    assert sorted(short_name(e["type"]) for e in trace.json()["events"]) == sorted(PER_DOSSIER)


def test_garbage_on_the_ingest_topic_is_dead_lettered_and_valid_events_flow(
        stack: Stack) -> None:
    agency = "000.12.01.H62"
    example = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))

    def province_event(n: int) -> bytes:
        event = dict(example, id=str(uuid.uuid4()), agencycode=agency,
                     subject=f"{agency}-260302-{n:04d}", source="province/laichau-mcdt")
        event["data"] = dict(example["data"], agency_code=agency, dossier_code=event["subject"],
                             system_id="laichau-mcdt",
                             occurred_at=datetime.now(UTC).isoformat(),
                             received_at=datetime.now(UTC).isoformat(),
                             components=[{"code": "GKS", "form": "electronic"}])
        return json.dumps(event).encode()

    async def publish_and_read_dlq() -> list:
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
        await producer.start()
        marker = uuid.uuid4().hex.encode()
        try:
            # Signed garbage: a registered province's bytes that are no event.
            garbage = b"\xff\x00not json " + marker
            await producer.send_and_wait(topics.INGEST.name, garbage, key=b"garbage",
                                         headers=dev_signed(garbage, "laichau-mcdt"))
            for n in range(1, 6):
                value = province_event(n)
                await producer.send_and_wait(topics.INGEST.name, value,
                                             key=f"{agency}-{n}".encode(),
                                             headers=dev_signed(value, "laichau-mcdt"))
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topics.dead_letter_topic("intake").name,
                                    bootstrap_servers=stack.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for r in records:
                        # The ingest topic carries personal data: its dead letters are sealed,
                        # and open with the key (here the development one).
                        if dict(r.headers).get("dlq-sealed") and marker in sealer.unseal(r.value):
                            assert marker not in r.value
                            return r.headers
        finally:
            await consumer.stop()
        return []

    sealer = Sealer.from_secret(DEV_DLQ_KEY)
    headers = dict(asyncio.run(publish_and_read_dlq()))
    assert headers["dlq-reason"] == b"unparseable"
    assert headers["dlq-original-topic"] == topics.INGEST.name.encode()
    stats = wait_for(lambda: _exactly(stack, agency, 5, PER_PROVINCE_DOSSIER), 90,
                     "5 province dossiers")
    assert stats["dossiers"]["dossier.received.v1"] == 5
    # Processing watches them: their clock runs, no officer of the centre acts on them.
    case = httpx.get(f"{stack.services['processing'].url}/api/v1/cases/{agency}-260302-0001",
                     auth=AUTH)
    assert case.status_code == 200, case.text
    assert case.json()["processed_by_province"] == "laichau-mcdt"
    assert case.json()["allowed_actions"] == [] and case.json()["clock_running"] is True


@pytest.mark.xfail(strict=False, reason=(
    "Was a known defect (11 of 60 dossiers lost in one loaded run): after the broker restarted "
    "empty, clients' metadata requests auto-created topics with the wrong partition count, on "
    "which the local broker repeated offsets. Fixed in services/common/messaging/kafka.py and "
    "relay.py "
    "(tests/integration/test_broker_restart.py); kept non-strict until CI shows it passing "
    "under the full suite's load"))
def test_the_broker_restarted_empty_mid_run_still_counts_each_dossier_once(
        own_broker: LocalBroker, tmp_path) -> None:
    agency = "000.01.01.H26"
    stack = make_stack(own_broker.bootstrap, tmp_path / "stack")
    try:
        for i in range(60):
            _post(stack, dossier(agency, i))
        wait_for(lambda: agency_stats(stack, agency)["dossiers"].get("dossier.received.v1"),
                 60, "the first dossiers in reporting")
        own_broker.kill()  # the in-memory log, the topics and the committed offsets are gone
        own_broker.start()  # empty: only the services' relays recreate the topics
        # (tests/integration/test_broker_restart.py shows how and why)
        for i in range(60, 120):
            _post(stack, dossier(agency, i))
        # Generous: every relay republishes its retained outbox to the empty broker.
        stats = wait_for(lambda: _exactly(stack, agency, 120), 420,
                         "120 dossiers, each once, after the broker lost its log")
        assert stats["dossiers"]["notification.sent.v1"] == 120
    finally:
        stack.stop()


def test_a_service_stops_cleanly_on_sigterm_and_resumes(stack: Stack) -> None:
    svc = stack.services["notification"]
    assert svc.process is not None
    svc.process.terminate()
    assert svc.process.wait(30) == 0
    stack.restart("notification")
    assert httpx.get(f"{svc.url}/health").json()["checks"] == {"database": "ok", "broker": "ok",
                                                               "relay": "ok"}


def test_data_already_held_is_reused_not_asked_again(stack: Stack) -> None:
    intake, digitization = stack.services["intake"].url, stack.services["digitization"].url
    body = dossier("000.01.02.H26", 9001)
    # First dossier: the birth certificate is scanned with a reference into the warehouse.
    first = _post(stack, {**body, "components": [
        {"code": "GKS", "form": "electronic", "document_ref": "kho/GKS/9001"}]})
    ref = first["applicant_ref"]
    wait_for(lambda: httpx.get(f"{digitization}/api/v1/warehouse/documents", auth=AUTH, params={
        "applicant_ref": ref, "document_ref": "kho/GKS/9001"}).status_code == 200,
        60, "the warehouse to hold the scanned document")
    # Second dossier of the same person reuses it: accepted, recorded as reused and verified.
    again = httpx.post(f"{intake}/api/v1/dossiers", auth=AUTH, json={
        **body, "submission_id": "e2e-reuse-2", "components": [
            {"code": "GKS", "form": "electronic", "document_ref": "kho/GKS/9001",
             "reused": True}]})
    assert again.status_code == 201, again.text
    component = again.json()["components"][0]
    assert component["reused"] is True and component["reuse_verified"] is True
    # A reference the warehouse does not hold for this person is refused, by field.
    unknown = httpx.post(f"{intake}/api/v1/dossiers", auth=AUTH, json={
        **body, "submission_id": "e2e-reuse-3", "components": [
            {"code": "GKS", "form": "electronic", "document_ref": "kho/GKS/none",
             "reused": True}]})
    assert unknown.status_code == 422
    assert unknown.json()["problems"][0]["code"] == "reused_document_unknown"
    assert unknown.json()["problems"][0]["field"] == "components.0.document_ref"
