"""Processing over the real broker: a case opens when its receipt and digitization are both
known, officers move it over HTTP through every step to its return by post (a 409 naming
what is allowed, an idempotent replay, the tracking number required), a supplement asked
during processing stops the clock and its arrival restarts it (one asked too late is
refused), and a withdrawal closes the case."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from contracts import topics
from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    IndividualApplicant,
    LegalTime,
    ReturnChannel,
)
from contracts.events import (
    ApplicantRecorded,
    DossierDigitized,
    DossierReceived,
    DossierWithdrawn,
    Event,
    SupplementReceived,
)
from services.common.messaging.outbox import encode
from services.common.runtime import Runtime
from services.law.workdays import WorkCalendar
from services.processing.app import build
from services.processing.settings import ProcessingSettings
from tests.auth import AUTH
from tests.integration.support import (
    eventually,
    group_of,
    handled,
    read_topic,
    settings_for,
    started,
)

pytestmark = pytest.mark.integration
AGENCY, PARENT, SIBLING = "000.01.01.H26", "000.00.01.H26", "000.01.02.H26"
LEGAL = LegalTime(value=5, unit="working_days")
A, B, C, LEADER = "cb.an", "cb.binh", "cb.chi", "ld.le"


def _type(name: str) -> str:
    return f"vn.gov.bhxh.onestop.{name}.v1"


async def publish(runtime: Runtime, bootstrap: str, *events: tuple[topics.Topic, Event]
                  ) -> list[RecordMetadata]:
    """As intake and digitization would: an envelope per event, keyed by the dossier. Where
    each record landed, to wait until a consumer has handled it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return [await producer.send_and_wait(topic.name, encode(runtime.outbox.envelope(
            event, AGENCY)), key=event.dossier_code.encode()) for topic, event in events]
    finally:
        await producer.stop()


async def arrive(runtime: Runtime, bootstrap: str, code: str,
                 received_at: datetime | None = None, channel: Channel = Channel.counter
                 ) -> None:
    received_at = received_at or datetime.now(UTC) - timedelta(hours=1)
    await publish(
        runtime, bootstrap,
        (topics.INTAKE, DossierReceived(
            dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
            catalog_version="2025.07", channel=channel,
            return_channel=ReturnChannel.counter, received_at=received_at,
            due_at=WorkCalendar().due_at(received_at, LEGAL), legal_time=LEGAL,
            applicant=ApplicantRef(kind="individual", ref=f"p1_{code}"),
            components=[ComponentRef(code="GKS", form="paper")])),
        (topics.INTAKE_PRIVATE, ApplicantRecorded(
            dossier_code=code, applicant_ref=f"p1_{code}",
            applicant=IndividualApplicant(full_name="Lê Thị Hoa", id_number="001190012345"))),
        (topics.DIGITIZATION, DossierDigitized(
            dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
            digitized_at=received_at + timedelta(minutes=30), component_count=1)))


async def case_when(client: httpx.AsyncClient, code: str, ok: Callable[[dict[str, Any]], bool],
                    what: str, seconds: float = 90) -> dict[str, Any]:
    """The case as processing's API shows it, once `ok` holds for it."""
    async def case() -> dict[str, Any]:
        r = await client.get(f"/api/v1/cases/{code}")
        if r.status_code == 200 and ok(r.json()):
            return r.json()  # type: ignore[no-any-return]
        raise AssertionError(f"{r.status_code} {r.text}")  # not yet; shown if it lasts
    return await eventually(case, what, seconds=seconds)  # type: ignore[no-any-return]


async def act(client: httpx.AsyncClient, code: str, action: str, officer: str | None = None,
              status: int = 200, headers: dict[str, str] | None = None,
              **payload: Any) -> dict[str, Any]:
    r = await client.post(f"/api/v1/cases/{code}/actions", headers=headers,
                          json={"action": action, "officer": officer, **payload})
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                             base_url="http://processing")


async def test_a_case_goes_from_receipt_to_return(kafka_bootstrap: str, database_url: str,
                                                  tmp_path: Path, unique: str) -> None:
    runtime = await started(build(settings_for(ProcessingSettings, kafka_bootstrap,
                                               database_url, tmp_path)))
    code = f"{AGENCY}-260302-L{unique}"
    try:
        async with client_for(runtime) as client:
            await arrive(runtime, kafka_bootstrap, code)
            case = await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
            assert case["current_step"] == 1 and case["holder"] is None
            assert case["step"]["department"] == "Phòng Chế độ BHXH"
            assert case["allowed_actions"] == ["claim"]
            assert case["clock_running"] is True
            assert case["working_time_used"]["unit"] == "working_days"
            assert 0 < case["working_time_left"]["value"] <= 5
            assert case["step_due_at"] < case["due_at"]
            assert [h["action"] for h in case["history"]] == ["open"]

            # The list: the parent agency includes its sub-agency's cases; a sibling does not.
            listed = (await client.get("/api/v1/cases", params={
                "agency": PARENT, "state": "in_step", "page_size": 500})).json()
            assert code in [i["code"] for i in listed["items"]]
            sibling = (await client.get("/api/v1/cases", params={
                "agency": SIBLING, "page_size": 500})).json()
            assert code not in [i["code"] for i in sibling["items"]]

            wrong = await act(client, code, "approve", LEADER, status=409)
            assert wrong["current_state"] == "in_step"
            assert wrong["allowed_actions"] == ["claim"]
            await act(client, code, "claim", A)
            mine = (await client.get("/api/v1/cases", params={"officer": A,
                                                              "agency": AGENCY})).json()
            assert [i["code"] for i in mine["items"]] == [code]
            not_mine = await act(client, code, "complete_step", B, status=422,
                                 decision="approve")
            assert not_mine["problems"][0]["code"] == "not_the_holder"
            bad = await act(client, code, "complete_step", A, status=422, decision="maybe")
            assert bad["problems"][0]["field"] == "decision"

            key = {"Idempotency-Key": f"step1-{unique}"}
            first = await act(client, code, "complete_step", A, headers=key,
                              decision="approve", comment="Đủ điều kiện")
            assert first["state"] == "in_step" and first["current_step"] == 2
            assert first["department"] == "Phòng Kế hoạch - Tài chính"
            again = await client.post(f"/api/v1/cases/{code}/actions", headers=key, json={
                "action": "complete_step", "officer": A, "decision": "approve",
                "comment": "Đủ điều kiện"})
            assert again.status_code == 200 and again.json() == first
            assert again.headers["Idempotent-Replay"] == "true"

            await act(client, code, "claim", C)
            await act(client, code, "complete_step", C, decision="approve")
            deciding = await case_when(client, code, lambda c: c["state"] == "deciding", "deciding")
            assert deciding["allowed_actions"] == ["return_to_step", "stop", "approve", "deny"]
            assert (await act(client, code, "approve", LEADER))["state"] == "approved"
            await act(client, code, "issue_result", LEADER, result_code="QD-001")
            # Sent by post: the tracking number is required, then shown and published.
            untracked = await act(client, code, "record_return", A, status=422,
                                  return_channel="postal")
            assert [(p["code"], p["field"]) for p in untracked["problems"]] == [
                ("tracking_number_required", "postal_tracking_number")]
            done = await act(client, code, "record_return", A, return_channel="postal",
                             postal_tracking_number="EB123456785VN")
            assert done["state"] == "returned" and done["events"] == ["ResultReturned"]
            assert done["history"]["note"] == "postal: EB123456785VN"

            final = (await client.get(f"/api/v1/cases/{code}")).json()
            assert [h["action"] for h in final["history"]] == [
                "open", "claim", "complete_step", "claim", "complete_step", "approve",
                "issue_result", "record_return"]
            assert final["allowed_actions"] == [] and final["clock_running"] is False
            assert final["return_channel"] == "postal"
            assert (final["returned"]["return_channel"], final["returned"]["reference"]) == (
                "postal", "EB123456785VN")
            assert [(s["step_no"], s["assignee"]) for s in final["steps"]] == [
                (1, None), (1, A), (2, None), (2, C)]
            assert final["steps"][1]["outcome"] == "early"
            late = await act(client, code, "claim", A, status=409)
            assert late["current_state"] == "returned" and late["allowed_actions"] == []
            assert (await act(client, "NO-SUCH-CASE", "claim", A, status=404))

        events = await read_topic(kafka_bootstrap, topics.PROCESSING.name,
                                  lambda b, _: b.get("subject") == code, count=9)
        assert [b["type"] for b, _ in events] == [
            _type("step.assigned"), _type("step.assigned"), _type("step.completed"),
            _type("step.assigned"), _type("step.assigned"), _type("step.completed"),
            _type("dossier.resolved"), _type("result.issued"), _type("result.returned")]
        public = await read_topic(kafka_bootstrap, topics.RESULTS.name,
                                  lambda b, _: b.get("subject") == code, count=3)
        assert [b["type"] for b, _ in public] == [
            _type("dossier.resolved"), _type("result.issued"), _type("result.returned")]
        assert public[0][1].value.find(b"001190012345") == -1  # no personal number
        assert public[2][0]["data"]["channel_reference"] == "EB123456785VN"
    finally:
        await runtime.stop()


async def test_a_supplement_stops_the_clock_and_a_withdrawal_closes(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    runtime = await started(build(settings_for(
        ProcessingSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
        tmp_path)))
    code, gone = f"{AGENCY}-260302-S{unique}", f"{AGENCY}-260302-W{unique}"
    old = f"{AGENCY}-260302-O{unique}"
    try:
        async with client_for(runtime) as client:
            await arrive(runtime, kafka_bootstrap, code)
            await arrive(runtime, kafka_bootstrap, gone)
            await arrive(runtime, kafka_bootstrap, old, datetime.now(UTC) - timedelta(days=40))
            first = await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
            await act(client, code, "claim", A)
            asked = await act(client, code, "request_supplement", A, items=[
                {"component_code": "QD-NV", "problem_vi": "Thiếu quyết định nghỉ việc"}])
            assert asked["state"] == "waiting_supplement"
            assert asked["events"] == ["SupplementRequested"]
            # Past the window (3 working days of receipt, PROCESSING_SUPPLEMENT_WITHIN_DAYS):
            # refused, not accepted silently.
            await case_when(client, old, lambda c: c["state"] == "in_step", "the old opening")
            await act(client, old, "claim", A)
            late = await act(client, old, "request_supplement", A, status=422, items=[
                {"component_code": "QD-NV", "problem_vi": "Thiếu quyết định nghỉ việc"}])
            assert [(p["code"], p["field"]) for p in late["problems"]] == [
                ("supplement_late", "action")]
            assert "ngày làm việc" in late["problems"][0]["message_vi"]
            assert (await client.get(f"/api/v1/cases/{old}")).json()["state"] == "in_step"
            paused = (await client.get(f"/api/v1/cases/{code}")).json()
            assert paused["clock_running"] is False
            assert paused["allowed_actions"] == ["stop"]

            # Part of it at the counter: still waiting, the clock still stopped.
            await publish(runtime, kafka_bootstrap, (topics.INTAKE, SupplementReceived(
                dossier_code=code, received_at=datetime.now(UTC),
                components=[ComponentRef(code="GKS", form="paper")], complete=False)))
            await case_when(client, code, lambda c: c["history"][-1]["note"] == "incomplete",
                            "the partial supplement")
            # The rest: the legal time runs afresh from the complete dossier.
            completed = datetime.now(UTC)
            new_due = WorkCalendar().due_at(completed, LEGAL)
            await publish(runtime, kafka_bootstrap, (topics.INTAKE, SupplementReceived(
                dossier_code=code, received_at=completed,
                components=[ComponentRef(code="QD-NV", form="paper")], complete=True,
                due_at=new_due)))
            back = await case_when(client, code, lambda c: c["state"] == "in_step"
                                   and len(c["history"]) == 5, "the complete supplement")
            assert back["holder"] == A and back["clock_running"] is True
            assert back["due_at"] >= first["due_at"]
            assert datetime.fromisoformat(back["clock_start"]) == completed
            assert back["working_time_left"]["value"] == 5  # a whole legal time again
            # One supplement only (docs/law.md#supplements-and-the-restarted-clock), and
            # step 1 has none before it.
            assert back["allowed_actions"] == ["complete_step", "ask_agency", "stop"]

            await case_when(client, gone, lambda c: c["state"] == "in_step", "the second opening")
            withdrawal = DossierWithdrawn(dossier_code=gone, withdrawn_at=datetime.now(UTC),
                                          reason="Người nộp xin rút")
            sent = await publish(runtime, kafka_bootstrap, (topics.INTAKE, withdrawal),
                                 (topics.INTAKE, withdrawal))  # twice: the second does not fit
            closed = await case_when(client, gone, lambda c: c["state"] == "withdrawn",
                                     "the withdrawal")
            assert closed["allowed_actions"] == [] and closed["clock_running"] is False
            await handled(kafka_bootstrap, group_of(runtime), sent)  # the repeated one too
            closed = (await client.get(f"/api/v1/cases/{gone}")).json()
            assert [h["action"] for h in closed["history"]] == ["open", "withdraw"]
            assert closed["history"][-1]["note"] == "Người nộp xin rút"

        requested = await read_topic(kafka_bootstrap, topics.PROCESSING.name,
                                     lambda b, _: b.get("subject") == code
                                     and b["type"] == _type("supplement.requested"))
        assert requested[0][0]["data"]["stage"] == "processing"
        assert requested[0][0]["data"]["requested_by"] == A
        assert runtime.consumer is not None
    finally:
        await runtime.stop()
