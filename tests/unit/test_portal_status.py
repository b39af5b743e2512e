"""The national portal's view of a dossier, without I/O: each event and each central state in
the portal's codes (1-10, channel 1-3), which dossiers are synced, which status changes go
out (numbered per dossier, in order, each once), and what the portal's answers mean."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    IndividualApplicant,
    Reason,
    ReturnChannel,
)
from contracts.events import (
    DeadlineApproaching,
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    ResultIssued,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from contracts.ingest import PortalChannel, PortalStatus
from contracts.portal import PortalStatusUpdate, idempotency_key
from services.intake.domain import Submission
from services.intake.receipt import refusal_events
from services.processing import portal_status as ps
from services.processing.case_record import CaseRecord
from services.processing.workflow import State

CODE = "000.01.01.H26-260302-0007"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
REF = ApplicantRef(kind="individual", ref="p1_ow27yjtv75xldy66h33nu3upheab7zf6")
REASON = Reason(code="x", message_vi="Lý do", message_en="reason")
ONLINE = ps.Facts("000.01.01.H26", "BHXH.NH.03", "online")
PROVINCE = ps.Facts("000.01.01.H26", "BHXH.NH.03", "online", "hcm-dvc")
EVERY_CHANNEL = ps.Scope()


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _received(channel: Channel = Channel.online, origin: str | None = None) -> DossierReceived:
    return DossierReceived(
        dossier_code=CODE, agency_code="000.01.01.H26", procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=channel, return_channel=ReturnChannel.online,
        received_at=T0, due_at=_at(120), legal_time={"value": 5, "unit": "working_days"},
        applicant=REF, components=[ComponentRef(code="GKS", form="paper")],
        origin_system=origin)


@pytest.mark.parametrize(("event", "status", "at"), [
    (_received(), PortalStatus.received, T0),
    (DossierRejected(dossier_code=CODE, agency_code="000.01.01.H26",
                     procedure_code="BHXH.NH.03", applicant=REF, rejected_at=_at(1),
                     reasons=[REASON], channel=Channel.online), PortalStatus.not_received,
     _at(1)),
    (StepAssigned(dossier_code=CODE, step_no=1, step_code="XU-LY", department="P",
                  assigned_at=_at(2)), PortalStatus.processing, _at(2)),
    (StepCompleted(dossier_code=CODE, step_no=1, step_code="XU-LY", department="P",
                   completed_at=_at(3), outcome="early"), PortalStatus.processing, _at(3)),
    (SupplementRequested(dossier_code=CODE, requested_at=_at(4), stage="intake",
                         requested_by="cb.an", items=[{"problem_vi": "Thiếu giấy"}]),
     PortalStatus.supplement_requested, _at(4)),
    (SupplementReceived(dossier_code=CODE, received_at=_at(5), components=[], complete=True),
     PortalStatus.processing, _at(5)),
    (DossierWithdrawn(dossier_code=CODE, withdrawn_at=_at(6)), PortalStatus.withdrawn, _at(6)),
    (DossierResolved(dossier_code=CODE, agency_code="000.01.01.H26",
                     procedure_code="BHXH.NH.03", applicant=REF, resolved_at=_at(7),
                     decision="denied", due_at=_at(120), timeliness="early",
                     reasons=[REASON]), PortalStatus.resolved, _at(7)),
    (ResultReturned(dossier_code=CODE, returned_at=_at(8), return_channel="counter"),
     PortalStatus.returned, _at(8)),
])
def test_an_event_heard_tells_its_status_and_since_when(event: object, status: PortalStatus,
                                                        at: datetime) -> None:
    assert ps.heard_status(event) == (status, at)


def test_events_that_change_nothing_the_portal_sees_tell_nothing() -> None:
    incomplete = SupplementReceived(dossier_code=CODE, received_at=_at(5), components=[],
                                    complete=False)
    alert = DeadlineApproaching(dossier_code=CODE, due_at=_at(120), warned_at=_at(100))
    issued = ResultIssued(dossier_code=CODE, agency_code="000.01.01.H26",
                          procedure_code="BHXH.NH.03", applicant=REF, issued_at=_at(9),
                          result_code="QD-1", result_type="Quyết định")
    assert [ps.heard_status(e) for e in (incomplete, alert, issued)] == [None, None, None]


def test_each_central_state_in_the_portals_codes() -> None:
    assert {s: ps.STATE_STATUS.get(s) for s in State} == {
        State.waiting: None,  # its receipt (2) is told from DossierReceived
        State.in_step: PortalStatus.processing,
        State.waiting_supplement: PortalStatus.supplement_requested,
        State.waiting_agency: PortalStatus.processing,
        State.deciding: PortalStatus.processing,
        State.approved: PortalStatus.resolved,
        State.denied: PortalStatus.resolved,
        State.stopped: PortalStatus.stopped,  # dừng xử lý is 8, not a denial's 9
        State.result_issued: PortalStatus.resolved,
        State.returned: PortalStatus.returned,
        State.withdrawn: PortalStatus.withdrawn,
    }


def test_the_scope_is_the_national_channels_less_the_provinces_that_tell_the_portal() -> None:
    online_only = ps.Scope(frozenset({"online"}), frozenset({"hanoi-mcdt"}))
    assert online_only.covers(ONLINE)
    assert not online_only.covers(ps.Facts("a", "p", "counter"))
    assert not online_only.covers(ps.Facts("a", "p", "online", "hanoi-mcdt"))
    assert online_only.covers(ps.Facts("a", "p", "online", "hcm-dvc"))
    # A province's record without a channel code: the portal has no code for it.
    assert not EVERY_CHANNEL.covers(ps.Facts("a", "p", "provincial", "hcm-dvc"))
    assert not EVERY_CHANNEL.covers(ps.Facts("a", "p", None))
    assert {c for c in ("counter", "online", "postal")
            if EVERY_CHANNEL.covers(ps.Facts("a", "p", c))} == {"counter", "online", "postal"}


def test_facts_come_from_the_receipt_or_refusal_else_from_a_received_case() -> None:
    assert ps.Facts.of_event(_received(Channel.postal, "hcm-dvc")) == ps.Facts(
        "000.01.01.H26", "BHXH.NH.03", "postal", "hcm-dvc")
    refused = DossierRejected(dossier_code=CODE, agency_code="A", procedure_code="P",
                              applicant=REF, rejected_at=T0, reasons=[REASON])
    assert ps.Facts.of_event(refused) == ps.Facts("A", "P", None)  # written before channels
    assert ps.Facts.of_case(CaseRecord(code=CODE, state="waiting")) is None
    assert ps.Facts.of_case(CaseRecord(code=CODE, state="waiting", received_at=T0,
                                       agency_code="A", procedure_code="P",
                                       channel="online")) == ps.Facts("A", "P", "online")


def _bodies(plan: ps.Plan) -> list[dict[str, object]]:
    return [json.loads(o.body) for o in plan.outgoing]


def test_a_dossiers_statuses_go_out_numbered_in_order_each_change_once() -> None:
    notes = [ps.Note(CODE, s, _at(i), ONLINE) for i, s in enumerate([
        PortalStatus.received, PortalStatus.processing, PortalStatus.processing,  # a claim
        PortalStatus.supplement_requested, PortalStatus.processing, PortalStatus.resolved,
        PortalStatus.resolved, PortalStatus.returned])]
    plan = ps.plan({}, notes, EVERY_CHANNEL, T0)
    assert [(o.status, o.idempotency_key) for o in plan.outgoing] == [
        (2, f"{CODE}:2:1"), (4, f"{CODE}:4:1"), (5, f"{CODE}:5:1"),
        (4, f"{CODE}:4:2"),  # back at 4 after the supplement: another change, its own key
        (9, f"{CODE}:9:1"), (10, f"{CODE}:10:1")]
    bodies = _bodies(plan)
    assert [b["sequence"] for b in bodies] == [1, 2, 3, 4, 5, 6]
    assert bodies[0] == {"dossier_code": CODE, "sequence": 1, "status": 2, "channel": 2,
                         "at": "2026-03-02T02:00:00Z", "agency_code": "000.01.01.H26",
                         "procedure_code": "BHXH.NH.03"}
    assert all(PortalStatusUpdate.model_validate(b) for b in bodies)
    track = plan.tracks[CODE]
    assert (track.last, track.last_at, track.sequence, track.occurrences, track.held) == (
        10, _at(7), 6, {"2": 1, "4": 2, "5": 1, "9": 1, "10": 1}, [])


def test_a_later_transaction_goes_on_from_the_track_and_a_receipt_is_told_once() -> None:
    tracks = {CODE: ps.Track(last=4, sequence=2, occurrences={"2": 1, "4": 1})}
    plan = ps.plan(tracks, [ps.Note(CODE, PortalStatus.processing, _at(3), ONLINE),
                            ps.Note(CODE, PortalStatus.received, _at(4), ONLINE),  # again
                            ps.Note(CODE, PortalStatus.stopped, _at(5), ONLINE)],
                   EVERY_CHANNEL, T0)
    assert [(o.idempotency_key, json.loads(o.body)["sequence"]) for o in plan.outgoing] == [
        (f"{CODE}:8:1", 3)]


def test_a_provinces_statuses_wait_then_go_in_the_order_of_their_times() -> None:
    # As two topics may bring them: the steps, decision and return (provincial topic)
    # before the supplement request (intake's topic) that came between them.
    arrived = [(PortalStatus.received, 0), (PortalStatus.processing, 1),
               (PortalStatus.processing, 3), (PortalStatus.resolved, 4),
               (PortalStatus.returned, 5)]
    first = ps.plan({}, [ps.Note(CODE, s, _at(h), PROVINCE) for s, h in arrived],
                    EVERY_CHANNEL, _at(6))
    assert first.outgoing == []
    held = ps.Track.of_row(first.tracks[CODE].as_row(CODE))  # through the table's row
    assert (held.held_since, held.facts) == (_at(6), PROVINCE)
    second = ps.plan({CODE: held}, [ps.Note(CODE, PortalStatus.supplement_requested,
                                            _at(2), PROVINCE)], EVERY_CHANNEL, _at(7))
    assert second.tracks[CODE].held_since == _at(6)  # the wait runs from the first
    released = ps.release(second.tracks, EVERY_CHANNEL)
    assert [(b["sequence"], b["status"], b["at"]) for b in _bodies(released)] == [
        (1, 2, "2026-03-02T02:00:00Z"), (2, 4, "2026-03-02T03:00:00Z"),
        (3, 5, "2026-03-02T04:00:00Z"), (4, 4, "2026-03-02T05:00:00Z"),
        (5, 9, "2026-03-02T06:00:00Z"), (6, 10, "2026-03-02T07:00:00Z")]
    assert released.late == 0
    track = released.tracks[CODE]
    assert (track.held, track.held_since, track.sequence) == ([], None, 6)


def test_a_provinces_status_later_than_the_window_is_still_told_and_counted_late() -> None:
    told = ps.Track(last=10, last_at=_at(5), sequence=4, facts=PROVINCE,
                    occurrences={"2": 1, "4": 1, "9": 1, "10": 1},
                    held=[{"status": 5, "at": _at(2).isoformat()}], held_since=_at(6))
    released = ps.release({CODE: told}, EVERY_CHANNEL)
    assert [(b["sequence"], b["status"]) for b in _bodies(released)] == [(5, 5)]
    assert released.late == 1


def test_what_came_before_the_receipt_waits_for_it() -> None:
    early = [ps.Note(CODE, PortalStatus.processing, _at(2), None),
             ps.Note(CODE, PortalStatus.resolved, _at(3), None)]
    kept = ps.plan({}, early, EVERY_CHANNEL, _at(4))
    # The wait is over but the receipt is not known: still held, the wait off until it is.
    waiting = ps.release(kept.tracks, EVERY_CHANNEL)
    assert waiting.outgoing == [] and waiting.tracks[CODE].held_since is None
    assert [h["status"] for h in waiting.tracks[CODE].held] == [4, 9]
    receipt = ps.plan(waiting.tracks, [ps.Note(CODE, PortalStatus.received, T0, PROVINCE)],
                      EVERY_CHANNEL, _at(5))
    assert receipt.tracks[CODE].held_since == _at(5)
    released = ps.release(receipt.tracks, EVERY_CHANNEL)
    assert [(b["status"], b["sequence"]) for b in _bodies(released)] == [(2, 1), (4, 2),
                                                                         (9, 3)]


def test_a_dossier_outside_the_scope_is_told_nothing_and_what_was_held_is_forgotten() -> None:
    counter = ps.Facts("000.01.01.H26", "BHXH.NH.03", "counter", "hcm-dvc")
    online_only = ps.Scope(frozenset({"online"}))
    kept = {CODE: ps.Track(held=[{"status": 4, "at": _at(2).isoformat()}],
                           held_since=_at(2))}
    plan = ps.plan(kept, [ps.Note(CODE, PortalStatus.received, T0, counter),
                          ps.Note(CODE, PortalStatus.processing, _at(3), counter)],
                   online_only, _at(4))
    assert (plan.outgoing, plan.tracks, plan.forget) == ([], {}, {CODE})
    central = ps.plan({}, [ps.Note(CODE, PortalStatus.received, T0,
                                   ps.Facts("A", "P", "counter"))], online_only, _at(4))
    assert (central.outgoing, central.tracks, central.forget) == ([], {}, set())


def test_a_refusal_is_status_3_in_its_channels_code() -> None:
    postal = ps.Facts("000.01.01.H26", "BHXH.NH.03", "postal")
    plan = ps.plan({}, [ps.Note(CODE, PortalStatus.not_received, T0, postal)], EVERY_CHANNEL,
                   T0)
    assert [(b["status"], b["channel"]) for b in _bodies(plan)] == [
        (PortalStatus.not_received, PortalChannel.postal)]


@pytest.mark.parametrize(("http", "verdict", "label"), [
    (200, ps.DELIVERED, ""), (201, ps.DELIVERED, ""), (202, ps.DELIVERED, ""),
    (409, ps.DELIVERED, ""),  # that key was taken before
    (400, ps.PARK, "refused"), (422, ps.PARK, "refused"), (413, ps.PARK, "refused"),
    (401, ps.RETRY, "unauthorised"), (403, ps.RETRY, "unauthorised"),
    (404, ps.RETRY, "misdirected"), (301, ps.RETRY, "misdirected"),
    (429, ps.RETRY, "unavailable"), (500, ps.RETRY, "unavailable"),
    (503, ps.RETRY, "unavailable"), (408, ps.RETRY, "unavailable"),
])
def test_the_portals_answer_decides_the_rows_fate(http: int, verdict: str, label: str) -> None:
    assert ps.judge(http) == (verdict, label)


def test_waits_double_up_to_the_cap() -> None:
    assert [ps.backoff(n, 1.0, 300.0).total_seconds() for n in (1, 2, 3, 9, 10, 50)] == [
        1, 2, 4, 256, 300, 300]


def test_the_contract_example_validates_and_keys_name_dossier_status_and_time() -> None:
    example = Path(__file__).resolve().parents[2] / "contracts/examples/portal/" \
        "status-update.v1.json"
    update = PortalStatusUpdate.model_validate_json(example.read_bytes())
    assert (update.status, update.channel) == (PortalStatus.supplement_requested,
                                               PortalChannel.online)
    assert idempotency_key(CODE, PortalStatus.processing, 2) == f"{CODE}:4:2"


def test_a_refusal_says_how_the_dossier_came_and_who_reported_it() -> None:
    sub = Submission(agency_code="000.01.01.H26", procedure_code="BHXH.NH.03",
                     channel=Channel.postal, return_channel=ReturnChannel.postal,
                     applicant=IndividualApplicant(full_name="Lê Thị Hoa",
                                                   id_number="001190012345"),
                     components=[], received_at=T0, origin_system="hcm-dvc")
    refused = refusal_events(sub, CODE, REF.ref, [REASON], T0)
    event = refused[0].event
    assert isinstance(event, DossierRejected)
    assert ps.Facts.of_event(event) == ps.Facts("000.01.01.H26", "BHXH.NH.03", "postal",
                                                "hcm-dvc")
