"""Intake's lifecycle through its handlers, with an in-memory repository and outbox: no
database, no broker. The same lifecycle is driven through HTTP, SQL and Kafka by
tests/integration/test_intake_lifecycle.py and test_province_lifecycle.py."""

from __future__ import annotations

import ast
import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contracts import topics
from contracts.common import Channel, ComponentRef, IndividualApplicant, Reason, ReturnChannel
from contracts.envelope import Envelope
from contracts.events import SupplementItem
from contracts.ingest import ProvinceDossierStatus
from services.common.clock import FixedClock
from services.common.http.idempotency import IdempotencyKeys, KeyReused
from services.common.messaging.consumer import Refusal
from services.intake.domain import NotFound, Rejected, Submission, WrongState
from services.intake.handlers import Intake
from services.intake.ingest import IngestHandler
from services.intake.repository import IntakeStore
from services.law.catalog import load_catalogs
from services.law.workdays import WorkCalendar
from tests.unit.fake_intake import SESSION, FakeOutbox, FakeRepository

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "contracts/examples/ingest.dossier-status.v1.json")
                     .read_text("utf-8"))
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hanoi
AGENCY = "000.00.01.H26"
@dataclass
class World:
    intake: Intake
    repo: FakeRepository
    outbox: FakeOutbox
    clock: FixedClock
    ingest: IngestHandler


@pytest.fixture
def world() -> World:
    catalogs = load_catalogs()
    clock = FixedClock(NOW)
    repo, outbox = FakeRepository(), FakeOutbox(clock)
    store: IntakeStore = repo  # the fake is a port as the handlers see it
    intake = Intake(catalogs, WorkCalendar(catalogs.calendar_rules()), outbox, "k",
                    repository=store)
    return World(intake, repo, outbox, clock,
                 IngestHandler(intake, {"hanoi-mcdt": [AGENCY]}))


def pension(components: tuple[str, ...] = ("SO-BHXH", "QD-NV"), **more: Any) -> Submission:
    fields: dict[str, Any] = {
        "agency_code": AGENCY, "procedure_code": "BHXH.DH.01", "channel": Channel.counter,
        "return_channel": ReturnChannel.counter,
        "applicant": IndividualApplicant(kind="individual", full_name="Đỗ Văn Hùng",
                                         id_number="001060001234"),
        "components": [ComponentRef(code=c, form="paper") for c in components],
        "received_at": NOW - timedelta(days=1)}
    return Submission(**{**fields, **more})


async def test_receive_supplement_and_withdraw(world: World) -> None:
    intake, repo, outbox = world.intake, world.repo, world.outbox
    row = await intake.receive(SESSION, pension(submission_id="s-1"), NOW)
    code = row.code
    assert code == f"{AGENCY}-260301-0001"  # the day of receipt in Hanoi, first of the day
    assert outbox.take() == [(topics.INTAKE.name, "dossier.received.v1"),
                             (topics.INTAKE_PRIVATE.name, "applicant.recorded.v1")]
    kept = repo.dossiers[code]
    assert (kept.status, kept.clock_started_at) == ("received", row.received_at)
    assert kept.applicant_ref != "001060001234"  # a pseudonym, never the number
    first_due = kept.due_at

    asked = await intake.request_supplement(SESSION, code, [
        SupplementItem(component_code="QD-NV", problem_vi="Thiếu quyết định nghỉ việc"),
        SupplementItem(component_code="14-HSB", problem_vi="Thiếu đơn đề nghị")],
        "Lê Thị Mai", "intake", NOW)
    assert asked.dossier.status == repo.dossiers[code].status == "awaiting_supplement"
    assert outbox.take() == [(topics.INTAKE.name, "supplement.requested.v1")]
    with pytest.raises(WrongState) as wrong:  # one request lists everything: not two rounds
        await intake.request_supplement(SESSION, code, [SupplementItem(problem_vi="y")],
                                        "x", "intake", NOW)
    assert (wrong.value.current_status, wrong.value.status) == ("awaiting_supplement", 409)

    world.clock.advance(timedelta(days=3))
    later = world.clock.now()
    part = await intake.receive_supplement(
        SESSION, code, [ComponentRef(code="QD-NV", form="paper")], later)
    assert part.missing is not None
    assert [m["component_code"] for m in part.missing] == ["14-HSB"]
    assert repo.dossiers[code].status == "awaiting_supplement"
    assert (repo.dossiers[code].supplement_request or {})["items"] == part.missing
    assert outbox.take() == [(topics.INTAKE.name, "supplement.received.v1")]

    done = await intake.receive_supplement(
        SESSION, code, [ComponentRef(code="14-HSB", form="electronic")], later)
    assert done.missing == [] and done.dossier.status == "received"
    kept = repo.dossiers[code]
    # Counted afresh from the day the dossier became complete.
    assert kept.clock_started_at == later and kept.due_at > first_due
    assert kept.supplement_request is None
    assert [c["code"] for c in kept.components] == ["SO-BHXH", "QD-NV", "14-HSB"]
    assert outbox.last("supplement.received.v1")["complete"] is True
    outbox.take()

    gone = await intake.withdraw(SESSION, code, "Người nộp xin rút", later, later)
    assert gone.dossier.status == repo.dossiers[code].status == "withdrawn"
    assert outbox.take() == [(topics.INTAKE.name, "dossier.withdrawn.v1")]
    with pytest.raises(WrongState):
        await intake.withdraw(SESSION, code, None, later, later)
    with pytest.raises(NotFound):
        await intake.withdraw(SESSION, "NOPE-1", None, later, later)
    assert outbox.take() == []
    earlier = await intake.existing(SESSION, submission_id="s-1")
    assert earlier is not None and earlier.code == code


async def test_a_rejected_submission_records_and_emits_nothing(world: World) -> None:
    with pytest.raises(Rejected) as rejected:
        await world.intake.receive(SESSION, pension(components=("SO-BHXH",)), NOW)
    assert [p.code for p in rejected.value.problems] == ["missing_component"]
    assert world.repo.dossiers == {} and world.repo.sequences == {}
    assert world.outbox.take() == []


async def test_a_supplement_repeating_a_component_changes_nothing(world: World) -> None:
    code = (await world.intake.receive(SESSION, pension(), NOW)).code
    await world.intake.request_supplement(
        SESSION, code, [SupplementItem(component_code="QD-NV", problem_vi="Thiếu")], "x",
        "intake", NOW)
    before, _ = replace(world.repo.dossiers[code]), world.outbox.take()
    twice = [ComponentRef(code="QD-NV", form="paper")] * 2
    with pytest.raises(Rejected) as rejected:
        await world.intake.receive_supplement(SESSION, code, twice, NOW)
    assert [p.code for p in rejected.value.problems] == ["duplicate_component"]
    assert world.repo.dossiers[code] == before and world.outbox.take() == []


async def test_a_refusal(world: World) -> None:
    reasons = [Reason(code="not_eligible", message_vi="Chưa đủ tuổi nghỉ hưu",
                      message_en="below retirement age")]
    row = await world.intake.refuse(SESSION, pension(components=("SO-BHXH",)), reasons, NOW)
    kept = world.repo.dossiers[row.code]
    assert kept.status == "refused" and kept.clock_started_at is None
    assert kept.reasons is not None and kept.reasons[0]["code"] == "not_eligible"
    assert world.outbox.take() == [(topics.INTAKE.name, "dossier.rejected.v1")]
    with pytest.raises(WrongState):  # a refused dossier has no supplement
        await world.intake.request_supplement(
            SESSION, row.code, [SupplementItem(problem_vi="y")], "x", "intake", NOW)
    # A refusal that cannot stand (no such agency) records nothing.
    with pytest.raises(Rejected) as rejected:
        await world.intake.refuse(SESSION, pension(agency_code="999.99.99.H99"), reasons, NOW)
    assert [p.code for p in rejected.value.problems] == ["unknown_agency"]
    assert len(world.repo.dossiers) == 1 and world.outbox.take() == []


def province(code: str, status: int, at: datetime, system: str = "hanoi-mcdt",
             **data: Any) -> tuple[Envelope, ProvinceDossierStatus]:
    body = {**EXAMPLE["data"], "dossier_code": code, "agency_code": AGENCY,
            "system_id": system, "status": status, "occurred_at": at.isoformat(),
            "received_at": None, **data}
    if status not in (2, 3):
        body["applicant"] = None
    envelope = Envelope.model_validate({**EXAMPLE, "id": str(uuid.uuid4()), "subject": code,
                                        "source": f"province/{system}", "agencycode": AGENCY,
                                        "data": body})
    return envelope, ProvinceDossierStatus.model_validate(envelope.data)


async def test_a_province_status_sequence_out_of_order(world: World) -> None:
    ingest, repo, outbox = world.ingest, world.repo, world.outbox
    code, t0 = f"{AGENCY}-260228-p001", NOW - timedelta(days=2)
    receipt = province(code, 2, t0, received_at=t0.isoformat())
    step = province(code, 4, t0 + timedelta(hours=2), step={
        "step_no": 1, "step_code": "CDBHXH", "department": "Phòng Chế độ BHXH",
        "at": (t0 + timedelta(hours=2)).isoformat()})
    decided = province(code, 9, t0 + timedelta(days=1), decision="approved")
    returned = province(code, 10, t0 + timedelta(days=1, hours=3), return_channel="postal")

    # Ahead of its receipt: parked, nothing said yet.
    for envelope, event in (returned, step):
        await ingest.apply(SESSION, envelope, event)
    assert len(repo.parked) == 2 and repo.dossiers == {} and outbox.take() == []

    await ingest.apply(SESSION, *receipt)  # received, then the parked events in their order
    assert outbox.take() == [
        (topics.INTAKE.name, "dossier.received.v1"),
        (topics.INTAKE_PRIVATE.name, "applicant.recorded.v1"),
        # The example's applicant gives a phone and an e-mail: notification's narrow topic.
        (topics.CONTACTS.name, "contacts.recorded.v1"),
        (topics.PROVINCIAL.name, "step.assigned.v1"),
        (topics.PROVINCIAL.name, "result.returned.v1")]
    assert repo.parked == {}
    kept = repo.dossiers[code]
    assert (kept.status, kept.status_at) == ("returned", returned[1].occurred_at)
    assert (kept.channel, kept.origin_system) == ("counter", "hanoi-mcdt")

    await ingest.apply(SESSION, *decided)  # older news: its event, but not the status
    assert outbox.take() == [(topics.PROVINCIAL.name, "dossier.resolved.v1")]
    assert repo.dossiers[code].status == "returned"

    await ingest.apply(SESSION, *receipt)  # the same receipt again is answered
    assert [p["code"] for p in outbox.last("ingest.rejected.v1")["problems"]] == \
        ["already_received"]
    outbox.take()
    # A system nobody registered changes nothing, and hears why.
    await ingest.apply(SESSION, *province(code, 8, NOW, system="hcm-mcdt"))
    assert [p["code"] for p in outbox.last("ingest.rejected.v1")["problems"]] == \
        ["unknown_system"]
    assert [k for _, k in outbox.take()] == ["ingest.rejected.v1"]
    assert repo.dossiers[code].status == "returned"


async def test_parked_events_expire_with_an_answer(world: World) -> None:
    code = f"{AGENCY}-260228-p002"
    await world.ingest.apply(SESSION, *province(code, 4, NOW - timedelta(hours=1)))
    assert await world.ingest.expire_parked(SESSION, timedelta(hours=24)) == 0
    world.clock.advance(timedelta(hours=25))
    assert await world.ingest.expire_parked(SESSION, timedelta(hours=24)) == 1
    answer = world.outbox.last("ingest.rejected.v1")
    assert answer["dossier_code"] == code and answer["system_id"] == "hanoi-mcdt"
    assert [p["code"] for p in answer["problems"]] == ["unknown_dossier"]
    assert world.repo.parked == {}


async def test_a_refused_record_is_answered(world: World) -> None:
    record = SimpleNamespace(topic=topics.INGEST.name, partition=3, offset=42, key=b"k-1",
                             value=json.dumps({"id": "e-1", "source": "province/laichau",
                                               "data": {"agency_code": AGENCY}}).encode())
    refusal = Refusal(record, "invalid-event", "bad")  # type: ignore[arg-type]
    await world.ingest.answer(SESSION, refusal)
    answer = world.outbox.last("ingest.rejected.v1")
    assert (answer["rejected_event_id"], answer["dossier_code"], answer["system_id"]) == \
        ("e-1", "k-1", "laichau")
    assert answer["problems"][0]["code"] == "invalid-event"
    assert f"{topics.INGEST.name}/3/42" in answer["problems"][0]["message_en"]


async def test_idempotency_keys(world: World) -> None:
    keys = IdempotencyKeys(world.repo)
    assert await keys.kept(SESSION, "k", "POST /a") is None
    await keys.keep(SESSION, "k", "POST /a", 201, {"ok": True}, NOW)
    assert await keys.kept(SESSION, "k", "POST /a") == (201, {"ok": True})
    with pytest.raises(KeyReused):
        await keys.kept(SESSION, "k", "POST /b")


async def test_paging_asks_one_row_more(world: World) -> None:
    for _ in range(3):
        await world.intake.receive(SESSION, pension(), NOW)
    page, more = await world.intake.page(SESSION, agency=AGENCY, status=None, channel=None,
                                         from_=None, to=None, after=None, limit=2)
    assert [r.code[-4:] for r in page] == ["0001", "0002"] and more
    last = page[-1]
    page, more = await world.intake.page(SESSION, agency=AGENCY, status=None, channel=None,
                                         from_=None, to=None,
                                         after=(last.received_at, last.code), limit=2)
    assert [r.code[-4:] for r in page] == ["0003"] and not more


def _imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text("utf-8"))
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
        {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


def test_the_domain_is_pure_and_the_handlers_hold_no_sql() -> None:
    banned = ("sqlalchemy", "fastapi", "aiokafka", "services.common")
    # The one error base is the only shared module the domain may raise from, and it is
    # as pure as the domain: it imports nothing banned either.
    assert [m for m in _imports("services.intake.domain") if m.startswith(banned)
            and m != "services.common.errors"] == []
    assert [m for m in _imports("services.common.errors") if m.startswith(banned)] == []
    assert [m for m in _imports("services.intake.handlers")
            if m.startswith(("sqlalchemy", "fastapi", "aiokafka"))] == []
    assert [m for m in _imports("services.intake.api") if m.startswith("sqlalchemy")] == []
