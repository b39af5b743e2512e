"""Processing's use cases against the in-memory repository (tests/unit/fake_processing.py):
the consumer's batch opens a case once both its receipt and its digitization are known,
an officer claims it, intake's withdrawal closes it; each move writes the case, its
history and steps, the deadline monitor's columns and the events on their topics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, ReturnChannel
from contracts.events import DossierDigitized, DossierReceived, DossierWithdrawn
from services.common.clock import FixedClock
from services.common.messaging.consumer import Context
from services.law.catalog import load_catalogs
from services.processing.case_events import CaseEvents
from services.processing.case_records import CaseLaw, CaseRecorder
from services.processing.officer_actions import OfficerActions
from services.processing.workflow import Action
from tests.unit.fake_processing import FakeOutbox, FakeRepository, FakeSession, at

CATALOGS = load_catalogs()
CODE = "000.01.01.H26-260302-U001"
AGENCY = "000.01.01.H26"
RECEIVED = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 in Hanoi
HOUR = timedelta(hours=1)
PROCESSING = topics.PROCESSING.name


def received() -> DossierReceived:
    procedure = CATALOGS.version("2025.07").procedure("BHXH.NH.03")
    assert procedure is not None
    return DossierReceived(
        dossier_code=CODE, agency_code=AGENCY, procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=Channel.counter,
        return_channel=ReturnChannel.counter, received_at=RECEIVED,
        due_at=RECEIVED + timedelta(days=7), legal_time=procedure.legal_time,
        applicant=ApplicantRef(kind="individual", ref="p1_use_cases"),
        components=[ComponentRef(code="GKS", form="paper")])


def digitized() -> DossierDigitized:
    return DossierDigitized(dossier_code=CODE, agency_code=AGENCY,
                            procedure_code="BHXH.NH.03", digitized_at=RECEIVED + HOUR,
                            component_count=1)


def batch(*events: Any) -> list[tuple[Context, Any]]:
    return [(Context(session=FakeSession(), envelope=None, topic="t"),  # type: ignore[arg-type]
             e) for e in events]


async def test_a_batch_opens_an_officer_claims_a_withdrawal_closes() -> None:
    repo, clock = FakeRepository(), FixedClock(RECEIVED + 2 * HOUR)
    outbox = FakeOutbox(clock)
    recorder = CaseRecorder(CaseLaw(CATALOGS), outbox, repo)  # type: ignore[arg-type]
    handler, officers = CaseEvents(recorder), OfficerActions(recorder)
    s: Any = FakeSession()

    # Digitization's event first: the case waits for its receipt, then opens at step 1.
    await handler.apply_batch(s, batch(digitized()))
    assert repo.cases_by_code[CODE].state == "waiting" and outbox.take() == []
    await handler.apply_batch(s, batch(received()))
    case = repo.cases_by_code[CODE]
    assert (case.state, case.current_step, case.holder, case.assignments) == (
        "in_step", 1, None, 1)
    assert case.department and case.opened_at == RECEIVED + 2 * HOUR
    assert case.clock is not None and case.clock.periods[-1].department == case.department
    assert case.next_alert_at is not None and case.deadline is None
    assert len(case.step_dues) == len(CATALOGS.version("2025.07").procedure(  # type: ignore[union-attr]
        "BHXH.NH.03").steps)
    assert outbox.take() == [(PROCESSING, "StepAssigned")]
    assert repo.history(CODE) == ["open"]

    # A republished receipt changes nothing and emits nothing.
    await handler.apply_batch(s, batch(received()))
    assert repo.cases_by_code[CODE] == case and outbox.take() == []

    # An officer claims the step: assigned to them, a new step row.
    answer = await officers.act(s, CODE, Action.claim, {}, "cb.an",
                                at(clock, RECEIVED + 3 * HOUR).now())
    assert (answer["state"], answer["holder"], answer["events"]) == (
        "in_step", "cb.an", ["StepAssigned"])
    assert outbox.take() == [(PROCESSING, "StepAssigned")]
    assert repo.cases_by_code[CODE].holder == "cb.an"
    assert [(r["seq"], r["assignee"]) for r in repo.step_rows] == [(1, None), (2, "cb.an")]

    # Intake's withdrawal closes it: the clock stops, nothing is pending.
    await handler.apply_batch(s, batch(DossierWithdrawn(
        dossier_code=CODE, withdrawn_at=RECEIVED + 4 * HOUR, reason="rút hồ sơ")))
    closed = repo.cases_by_code[CODE]
    assert (closed.state, closed.holder, closed.department) == ("withdrawn", None, None)
    assert closed.clock is not None and closed.clock.periods[-1].end == RECEIVED + 4 * HOUR
    assert closed.next_alert_at is None and closed.deadline is None
    assert repo.history(CODE) == ["open", "claim", "withdraw"]
    assert outbox.take() == []  # DossierWithdrawn is intake's event
