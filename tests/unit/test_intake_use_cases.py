"""The counter's use cases (services/intake/counter.py) against the in-memory repository,
outbox, audit log and warehouse: what each records, emits, audits and answers. The same
use cases through HTTP, SQL and Kafka: tests/integration/test_intake_lifecycle.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from contracts import topics
from contracts.common import Channel, ComponentRef, IndividualApplicant, Reason, ReturnChannel
from contracts.events import SupplementItem
from services.common.clock import FixedClock
from services.common.http.auth import Caller
from services.common.http.idempotency import IdempotencyKeys
from services.common.runtime import Runtime
from services.intake.counter import Counter
from services.intake.domain import NotFound, Rejected, Submission, WrongState
from services.intake.handlers import Intake
from services.intake.repository import IntakeStore
from services.intake.warehouse import Warehouse
from services.law.catalog import load_catalogs
from services.law.pseudonym import applicant_pseudonym
from services.law.workdays import WorkCalendar
from tests.unit.fake_intake import (
    FakeOutbox,
    FakeRepository,
    FakeRuntime,
    FakeWarehouse,
)

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hanoi
AGENCY = "000.00.01.H26"
KEY = "k"
APPLICANT = IndividualApplicant(kind="individual", full_name="Đỗ Văn Hùng",
                                id_number="001060001234")


class Officer:
    """What the counter asks of a caller: which agencies it sees (None: all)."""

    def __init__(self, agencies: set[str] | None = None) -> None:
        self.agencies = agencies

    def sees(self, agency: str | None) -> bool:
        return self.agencies is None or agency in self.agencies


OFFICER = cast(Caller, Officer())
ELSEWHERE = cast(Caller, Officer({"000.00.99.H99"}))


def request(key: str | None = None) -> Any:
    """The parts of an HTTP request the counter reads (its Idempotency-Key)."""
    return SimpleNamespace(headers={"idempotency-key": key} if key else {}, method="POST",
                           url=SimpleNamespace(path="/api/v1/dossiers/x/supplement-request"))


@dataclass
class Desk:
    counter: Counter
    repo: FakeRepository
    outbox: FakeOutbox
    runtime: FakeRuntime
    warehouse: FakeWarehouse


@pytest.fixture
def desk() -> Desk:
    catalogs = load_catalogs()
    clock = FixedClock(NOW)
    repo, outbox, runtime, warehouse = (FakeRepository(), FakeOutbox(clock),
                                        FakeRuntime(clock), FakeWarehouse())
    store: IntakeStore = repo
    intake = Intake(catalogs, WorkCalendar(catalogs.calendar_rules()), outbox, KEY,
                    repository=store)
    counter = Counter(cast(Runtime, runtime), intake, cast(Warehouse, warehouse),
                      IdempotencyKeys(repo))
    return Desk(counter, repo, outbox, runtime, warehouse)


def pension(*codes: str, **more: Any) -> Submission:
    fields: dict[str, Any] = {
        "agency_code": AGENCY, "procedure_code": "BHXH.DH.01", "channel": Channel.counter,
        "return_channel": ReturnChannel.counter, "applicant": APPLICANT,
        "components": [ComponentRef(code=c, form="paper") for c in codes or
                       ("SO-BHXH", "QD-NV")],
        "received_at": NOW - timedelta(hours=1)}
    return Submission(**{**fields, **more})


async def test_a_receipt_is_recorded_emitted_and_audited_once(desk: Desk) -> None:
    done = await desk.counter.receive(request(), OFFICER, pension(submission_id="s-1"), NOW)
    code = done.dossier.code
    assert done.new and code == f"{AGENCY}-260302-0001"
    kept = desk.repo.dossiers[code]
    assert (kept.status, kept.clock_started_at, kept.submission_id) == \
        ("received", NOW - timedelta(hours=1), "s-1")
    assert kept.applicant_ref == applicant_pseudonym(KEY, APPLICANT)
    assert desk.outbox.take() == [(topics.INTAKE.name, "dossier.received.v1"),
                                  (topics.INTAKE_PRIVATE.name, "applicant.recorded.v1")]
    assert desk.runtime.audit.records == [("dossier.receive", code)]

    # The same submission again: its dossier, answered 200, nothing recorded twice.
    again = await desk.counter.receive(request(), OFFICER, pension(submission_id="s-1"), NOW)
    assert (again.new, again.dossier.code) == (False, code)
    assert len(desk.repo.dossiers) == 1 and desk.outbox.take() == []
    assert desk.runtime.audit.records == [("dossier.receive", code)]


async def test_a_rejected_submission_records_emits_and_audits_nothing(desk: Desk) -> None:
    with pytest.raises(Rejected) as rejected:
        await desk.counter.receive(request(), OFFICER, pension("SO-BHXH"), NOW)
    assert [p.code for p in rejected.value.problems] == ["missing_component"]
    assert desk.repo.dossiers == {} and desk.outbox.take() == []
    assert desk.runtime.audit.records == [] and desk.warehouse.asked == []


async def test_a_reused_component_the_warehouse_does_not_hold_is_rejected(desk: Desk) -> None:
    reused = ComponentRef(code="SO-BHXH", form="electronic", reused=True,
                          document_ref="KHO-1")
    sub = pension(components=[reused, ComponentRef(code="QD-NV", form="paper")])
    with pytest.raises(Rejected) as rejected:
        await desk.counter.receive(request(), OFFICER, sub, NOW)
    assert [p.code for p in rejected.value.problems] == ["reused_document_unknown"]
    ref = applicant_pseudonym(KEY, APPLICANT)
    assert desk.warehouse.asked == [(ref, "KHO-1")] and desk.repo.dossiers == {}

    desk.warehouse.held.add((ref, "KHO-1"))
    done = await desk.counter.receive(request(), OFFICER, sub, NOW)
    assert desk.repo.dossiers[done.dossier.code].components[0]["reused"] is True


async def test_a_refusal_is_recorded_with_its_reasons(desk: Desk) -> None:
    reasons = [Reason(code="not_eligible", message_vi="Chưa đủ tuổi nghỉ hưu",
                      message_en="below retirement age")]
    done = await desk.counter.refuse(request(), OFFICER, pension("SO-BHXH"), reasons, NOW)
    kept = desk.repo.dossiers[done.dossier.code]
    assert kept.status == "refused" and kept.reasons is not None
    assert kept.reasons[0]["code"] == "not_eligible"
    assert desk.outbox.take() == [(topics.INTAKE.name, "dossier.rejected.v1")]
    assert desk.runtime.audit.records == [("dossier.refuse", kept.code)]


async def test_counter_actions_answer_the_dossier_and_replay_a_retry(desk: Desk) -> None:
    code = (await desk.counter.receive(request(), OFFICER, pension(), NOW)).dossier.code
    desk.outbox.take()
    items = [SupplementItem(component_code="QD-NV", problem_vi="Thiếu quyết định"),
             SupplementItem(component_code="14-HSB", problem_vi="Thiếu đơn")]

    async def ask(key: str | None) -> Any:
        return await desk.counter.change(
            request(key), OFFICER, code, lambda intake, s, now: intake.request_supplement(
                s, code, items, "Lê Thị Mai", "intake", now),
            status=201, action="dossier.supplement_request")

    first = await ask("retry-1")
    body = json.loads(first.body)
    assert first.status_code == 201 and body["status"] == "awaiting_supplement"
    assert body["dossier_code"] == code and "missing" not in body
    assert desk.repo.dossiers[code].status == "awaiting_supplement"
    assert desk.outbox.take() == [(topics.INTAKE.name, "supplement.requested.v1")]
    # The same Idempotency-Key again: the first answer, nothing changed or emitted.
    replayed = await ask("retry-1")
    assert json.loads(replayed.body) == body and replayed.headers["idempotent-replay"] == "true"
    assert desk.outbox.take() == []
    with pytest.raises(WrongState):  # one request lists everything: not two rounds
        await ask(None)

    part = await desk.counter.change(
        request(), OFFICER, code, lambda intake, s, now: intake.receive_supplement(
            s, code, [ComponentRef(code="QD-NV", form="paper")], now),
        status=200, action="dossier.supplement")
    answered = json.loads(part.body)
    assert [m["component_code"] for m in answered["missing"]] == ["14-HSB"]
    # The answer is the dossier as recorded: the open request lists what is still missing.
    assert answered["supplement_request"]["items"] == answered["missing"]
    assert desk.outbox.take() == [(topics.INTAKE.name, "supplement.received.v1")]
    assert [a for a, _ in desk.runtime.audit.records] == [
        "dossier.receive", "dossier.supplement_request", "dossier.supplement"]


async def test_another_trees_dossier_is_not_found(desk: Desk) -> None:
    code = (await desk.counter.receive(request(), OFFICER, pension(), NOW)).dossier.code
    with pytest.raises(NotFound):
        await desk.counter.dossier(ELSEWHERE, code)
    assert (await desk.counter.dossier(OFFICER, code)).code == code
    with pytest.raises(NotFound):
        await desk.counter.public_match(code, "9999")
    assert (await desk.counter.public_match(code, "1234")).code == code
