"""Whole lifecycles of processing over the real broker, on a clock the test moves (the HTTP
API, the consumer's openings and the deadline monitor all read it; events carry their own
times). Each scenario checks GET /api/v1/cases/{code} and the events on the processing
topic against due times and working time computed here, independently, with the agency's
calendar from the catalogue (2027: Tết is Thu 4 - Wed 10 February; office hours
7:30-17:00, 9.5 hours a day; five working days for BHXH.NH.03 of an individual).

The monitor's own timer is set far off (`monitor_seconds`): the scenarios run it by hand
(runtime.app.state.monitor) so that every alert comes at a moment the test chose. "Nothing
fired" is checked by an event the test causes afterwards (a sentinel): events of a dossier
share its partition in outbox order, so the dossier's events up to the sentinel are all of
them, and the exact list of their types says no alert slipped in. An event is counted once
by its id (`first_sight`), as consumers count it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contracts import topics
from contracts.common import ComponentRef, Timeliness
from contracts.events import SupplementReceived
from services.common.clock import FixedClock
from services.common.runtime import Runtime
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, WorkCalendar, agency_calendar, timeliness
from services.processing import domain, legal_clock
from services.processing.app import build
from services.processing.repository import record_of
from services.processing.settings import ProcessingSettings
from tests.integration.support import eventually, read_topic, settings_for, started
from tests.integration.test_processing_lifecycle import (
    AGENCY,
    LEADER,
    LEGAL,
    A,
    C,
    act,
    arrive,
    case_when,
    client_for,
    publish,
)

pytestmark = pytest.mark.integration

_CATALOGS = load_catalogs()
# The calendar processing counts by for this agency: the national one (the `holidays`
# package) plus the catalogue's announced days and the agency's office hours.
CAL: WorkCalendar = agency_calendar(_CATALOGS.calendar_rules(),
                                    _CATALOGS.latest.agency(AGENCY))
DAY = 9.5  # office hours a working day
STEP1, STEP2 = "Phòng Chế độ BHXH", "Phòng Kế hoạch - Tài chính"
OTHER = "H26.SLDTBXH"  # Sở Lao động - Thương binh và Xã hội, asked for a verification
NOT_SOON = 3600.0  # seconds: the monitor's own timer never fires during a test


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def days(hours: float) -> dict[str, Any]:
    """An amount of working time as the API shows it (rounded to 4 places)."""
    return {"value": round(hours / DAY, 4), "unit": "working_days"}


def spent(hours: float) -> legal_clock.Amount:
    """Working time attributed to a holder (legal_clock.attributed_time), in working days."""
    return legal_clock.Amount(pytest.approx(hours / DAY), "working_days")  # type: ignore[arg-type]


def short(body: dict[str, Any]) -> str:
    return str(body["type"]).removeprefix("vn.gov.bhxh.onestop.").removesuffix(".v1")


def scenario_settings(bootstrap: str, database_url: str, tmp_path: Path,
                      **update: Any) -> ProcessingSettings:
    settings: ProcessingSettings = settings_for(ProcessingSettings, bootstrap, database_url,
                                                tmp_path)
    return settings.model_copy(update={"monitor_seconds": NOT_SOON, **update})


@contextlib.asynccontextmanager
async def running(settings: ProcessingSettings, now: FixedClock) -> AsyncIterator[Runtime]:
    runtime = await started(build(settings, now))
    try:
        yield runtime
    finally:
        await runtime.stop()


async def tick(runtime: Runtime, now: FixedClock, moment: datetime) -> None:
    """The deadline monitor's job at `moment` (what its timer would run)."""
    now.set(moment)
    await runtime.app.state.monitor()


async def case_of(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/cases/{code}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def listed(client: httpx.AsyncClient, deadline: str) -> set[str]:
    """The agency's cases the list shows under `deadline=near|overdue`, every page."""
    codes: set[str] = set()
    params: dict[str, Any] = {"agency": AGENCY, "deadline": deadline, "page_size": 500}
    while True:
        r = await client.get("/api/v1/cases", params=params)
        assert r.status_code == 200, r.text
        codes |= {i["code"] for i in r.json()["items"]}
        if r.json()["next_after"] is None:
            return codes
        params["after"] = r.json()["next_after"]


def first_sight(match: Callable[[dict[str, Any]], bool]
                ) -> Callable[[dict[str, Any], Any], bool]:
    """A topic filter that takes each event once: the relay publishes at least once (a stop
    between the broker's ack and the row's mark publishes it again under the same id), and
    consumers de-duplicate by the envelope's id, so an event is its id."""
    ids: set[str] = set()

    def fresh(body: dict[str, Any], _: Any) -> bool:
        if not match(body) or body.get("id") in ids:
            return False
        ids.add(str(body.get("id")))
        return True

    return fresh


async def events_of(bootstrap: str, code: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The first `count` events of a dossier on the processing topic: (type, data)."""
    found = await read_topic(bootstrap, topics.PROCESSING.name,
                             first_sight(lambda b: b.get("subject") == code), count=count)
    return [(short(b), b["data"]) for b, _ in found]


async def stored_clock(runtime: Runtime, code: str) -> legal_clock.ClockState:
    """The case's clock as processing keeps it (the API shows no attribution)."""
    cases = runtime.metadata.tables["cases"]
    async with runtime.sessions() as s:
        row = (await s.execute(select(cases).where(cases.c.code == code))).mappings().one()
    state = domain.clock_state(record_of(row), CAL)
    assert state is not None
    return state


def history(case: dict[str, Any]) -> list[tuple[str, datetime | None]]:
    return [(h["action"], when(h["at"])) for h in case["history"]]


def code_for(unique: str, tag: str) -> str:
    return f"{AGENCY}-270301-{tag}{unique}"


# --- 1. on time ----------------------------------------------------------------------------


async def test_on_time_from_receipt_to_return(kafka_bootstrap: str, database_url: str,
                                              tmp_path: Path, unique: str) -> None:
    received = at(2027, 3, 1, 9)  # Monday
    due = CAL.due_at(received, LEGAL)
    assert due == at(2027, 3, 8, 17)  # Tue 2 (1) ... Mon 8 (5), at closing
    # Step 1 has 0.7 of the 47.5 legal hours (33.25 h from Tue 2 at 7:30): Fri 5 at 12:15.
    step1_due = at(2027, 3, 5, 12, 15)
    now = FixedClock(at(2027, 3, 1, 10))
    code = code_for(unique, "T")
    settings = scenario_settings(kafka_bootstrap, database_url, tmp_path)
    async with running(settings, now) as runtime, client_for(runtime) as client:
        await arrive(runtime, kafka_bootstrap, code, received)
        case = await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
        assert (case["current_step"], case["holder"], case["department"]) == (1, None, STEP1)
        assert when(case["received_at"]) == when(case["clock_start"]) == received
        assert when(case["due_at"]) == due and when(case["step_due_at"]) == step1_due
        assert case["clock_running"] is True
        # The day of receipt is not counted: nothing used yet, the whole legal time left.
        assert case["working_time_used"] == days(0)
        assert case["working_time_left"] == days(5 * DAY)
        assert case["allowed_actions"] == ["claim"]
        assert history(case) == [("open", at(2027, 3, 1, 10))]

        now.set(at(2027, 3, 1, 10, 15))
        await act(client, code, "claim", A)
        now.set(at(2027, 3, 3, 12))
        moved = await act(client, code, "complete_step", A, decision="approve",
                          comment="Đủ điều kiện hưởng")
        assert (moved["state"], moved["current_step"], moved["department"]) == (
            "in_step", 2, STEP2)
        case = await case_of(client, code)
        assert case["working_time_used"] == days(DAY + 4.5)  # Tue 2, Wed 3 until noon
        assert case["working_time_left"] == days(5 * DAY - DAY - 4.5)
        assert when(case["step_due_at"]) == due  # the last step ends at the appointment
        assert case["allowed_actions"] == ["claim"]

        now.set(at(2027, 3, 3, 14))
        await act(client, code, "claim", C)
        now.set(at(2027, 3, 4, 15))
        assert (await act(client, code, "complete_step", C, decision="approve"))[
            "state"] == "deciding"
        case = await case_of(client, code)
        assert case["department"] == domain.LEADERSHIP
        assert case["allowed_actions"] == ["return_to_step", "stop", "approve", "deny"]

        # Monday 8, the due day: 80% used and one day left both passed on Fri 5 at 17:00.
        await tick(runtime, now, at(2027, 3, 8, 9))
        assert code in await listed(client, "near")
        now.set(at(2027, 3, 8, 16))
        approved = await act(client, code, "approve", LEADER)
        assert approved["state"] == "approved" and approved["events"] == ["DossierResolved"]
        now.set(at(2027, 3, 8, 16, 30))
        await act(client, code, "issue_result", LEADER, result_code="QD-TS-0001")
        now.set(at(2027, 3, 8, 16, 45))
        returned = await act(client, code, "record_return", A)
        assert returned["state"] == "returned"

        case = await case_of(client, code)
        assert history(case) == [
            ("open", at(2027, 3, 1, 10)), ("claim", at(2027, 3, 1, 10, 15)),
            ("complete_step", at(2027, 3, 3, 12)), ("claim", at(2027, 3, 3, 14)),
            ("complete_step", at(2027, 3, 4, 15)), ("approve", at(2027, 3, 8, 16)),
            ("issue_result", at(2027, 3, 8, 16, 30)),
            ("record_return", at(2027, 3, 8, 16, 45))]
        assert [(h["from_state"], h["to_state"]) for h in case["history"]][-3:] == [
            ("deciding", "approved"), ("approved", "result_issued"),
            ("result_issued", "returned")]
        assert case["allowed_actions"] == [] and case["clock_running"] is False
        # The clock ended at the decision (Mon 8 at 16:00): 46.5 of 47.5 hours used.
        finished = {"used": days(4 * DAY + 8.5), "left": days(1)}
        assert {"used": case["working_time_used"],
                "left": case["working_time_left"]} == finished
        assert [(s["step_no"], s["assignee"], s["outcome"]) for s in case["steps"]] == [
            (1, None, None), (1, A, "early"), (2, None, None), (2, C, "early")]

        # Past the due time the resolved dossier is never overdue, and its clock stays put.
        await tick(runtime, now, at(2027, 3, 10, 9))
        case = await case_of(client, code)
        assert {"used": case["working_time_used"],
                "left": case["working_time_left"]} == finished
        assert code not in await listed(client, "overdue")
        assert code not in await listed(client, "near")

        events = await events_of(kafka_bootstrap, code, 11)
        assert [t for t, _ in events] == [
            "step.assigned", "step.assigned", "step.completed", "step.assigned", "step.assigned",
            "step.completed", "deadline.approaching", "deadline.approaching", "dossier.resolved",
            "result.issued", "result.returned"]
        data = dict(events)
        completed = [d for t, d in events if t == "step.completed"]
        assert [(d["step_no"], d["outcome"], d["handed_to"]) for d in completed] == [
            (1, "early", STEP2), (2, "early", None)]
        assert when(events[0][1]["step_due_at"]) == step1_due
        warned = [d for t, d in events if t == "deadline.approaching"]
        assert {(when(d["due_at"]), when(d["warned_at"])) for d in warned} == {
            (due, at(2027, 3, 8, 9))}
        resolved = data["dossier.resolved"]
        assert resolved["decision"] == "approved" and resolved["timeliness"] == "on_time"
        assert when(resolved["due_at"]) == due
        assert when(resolved["resolved_at"]) == at(2027, 3, 8, 16)
        assert when(data["result.returned"]["returned_at"]) == at(2027, 3, 8, 16, 45)


# --- 2. a supplement across Tết ------------------------------------------------------------


async def test_a_supplement_across_tet_restarts_the_legal_time(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    tet = [at(2027, 2, d).date() for d in range(4, 11)]
    assert not any(CAL.is_working_day(d) for d in tet)  # Thu 4 - Wed 10 February 2027
    assert CAL.is_working_day(at(2027, 2, 3).date()) and CAL.is_working_day(
        at(2027, 2, 11).date())
    received = at(2027, 2, 1, 8)  # Monday
    original_due = CAL.due_at(received, LEGAL)
    assert original_due == at(2027, 2, 15, 17)  # Tue 2, Wed 3, Tết, Thu 11, Fri 12, Mon 15
    asked = at(2027, 2, 3, 16)  # the last working hour before Tết
    completed = at(2027, 2, 11, 9)  # the first morning after Tết
    # "Kể từ ngày nhận đủ hồ sơ": counted afresh from the complete dossier's receipt.
    new_due = CAL.due_at(completed, LEGAL)
    assert new_due == at(2027, 2, 18, 17)  # Fri 12, Mon 15, Tue 16, Wed 17, Thu 18
    # Step 1: 33.25 legal hours from Fri 12 at 7:30 (Fri 12, Mon 15, Tue 16, then 4.75 h).
    step1_due = at(2027, 2, 17, 12, 15)
    now = FixedClock(at(2027, 2, 1, 8, 30))
    code = code_for(unique, "S")
    settings = scenario_settings(kafka_bootstrap, database_url, tmp_path)
    async with running(settings, now) as runtime, client_for(runtime) as client:
        await arrive(runtime, kafka_bootstrap, code, received)
        case = await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
        assert when(case["due_at"]) == original_due
        now.set(at(2027, 2, 1, 9))
        await act(client, code, "claim", A)
        now.set(asked)
        answer = await act(client, code, "request_supplement", A, items=[
            {"component_code": "GCN-NV", "problem_vi": "Thiếu giấy chứng nhận nghỉ việc"}])
        assert answer["state"] == "waiting_supplement"

        # During Tết the applicant has the dossier: the clock stands where it stopped.
        await tick(runtime, now, at(2027, 2, 8, 12))
        case = await case_of(client, code)
        assert case["state"] == "waiting_supplement" and case["clock_running"] is False
        assert case["working_time_used"] == days(DAY + 8.5)  # Tue 2, Wed 3 until 16:00
        assert case["working_time_left"] == days(5 * DAY - DAY - 8.5)
        assert when(case["due_at"]) == original_due
        assert case["allowed_actions"] == ["stop"]

        now.set(completed + timedelta(minutes=5))
        await publish(runtime, kafka_bootstrap, (topics.INTAKE, SupplementReceived(
            dossier_code=code, received_at=completed,
            components=[ComponentRef(code="GCN-NV", form="paper")], complete=True,
            due_at=new_due)))
        case = await case_when(client, code, lambda c: c["state"] == "in_step"
                               and len(c["history"]) == 4, "the complete supplement")
        assert when(case["due_at"]) == new_due != original_due
        assert when(case["clock_start"]) == completed
        assert when(case["received_at"]) == received  # the first receipt is kept
        assert when(case["step_due_at"]) == step1_due
        assert case["clock_running"] is True
        assert case["working_time_used"] == days(0)  # Thu 11, the day of receipt
        assert case["working_time_left"] == days(5 * DAY)
        assert (case["holder"], case["department"]) == (A, STEP1)
        # One supplement per dossier: it is no longer offered.
        assert case["allowed_actions"] == ["complete_step", "ask_agency", "stop"]
        assert history(case) == [("open", at(2027, 2, 1, 8, 30)), ("claim", at(2027, 2, 1, 9)),
                                 ("request_supplement", asked),
                                 ("supplement_received", completed)]
        assert (case["history"][-1]["from_state"], case["history"][-1]["to_state"]) == (
            "waiting_supplement", "in_step")

        # Past the first run's due time: the current run is not late, nothing fires.
        await tick(runtime, now, at(2027, 2, 16, 10))
        case = await case_of(client, code)
        assert case["working_time_used"] == days(DAY + DAY + 2.5)  # Fri 12, Mon 15, Tue 16
        assert case["working_time_left"] == days(5 * DAY - 2 * DAY - 2.5)
        assert code not in await listed(client, "overdue")
        await act(client, code, "complete_step", A, decision="approve")
        now.set(at(2027, 2, 16, 11))
        await act(client, code, "claim", C)
        now.set(at(2027, 2, 17, 10))
        await act(client, code, "complete_step", C, decision="approve")
        decided = at(2027, 2, 17, 11)
        now.set(decided)
        await act(client, code, "approve", LEADER)

        events = await events_of(kafka_bootstrap, code, 9)
        assert [t for t, _ in events] == [
            "step.assigned", "step.assigned", "supplement.requested", "step.assigned",
            "step.completed", "step.assigned", "step.assigned", "step.completed",
            "dossier.resolved"]
        requested = events[2][1]
        assert requested["stage"] == "processing" and when(requested["requested_at"]) == asked
        restarted = events[3][1]
        assert (restarted["step_no"], restarted["assignee"]) == (1, A)
        assert when(restarted["assigned_at"]) == completed
        assert when(restarted["step_due_at"]) == step1_due
        assert events[4][1]["outcome"] == "early"
        resolved = events[-1][1]
        # Judged by the new appointment: early. By the first one it would have been late.
        assert when(resolved["due_at"]) == new_due and resolved["timeliness"] == "early"
        assert timeliness(decided, original_due) is Timeliness.late

        # Processing's own clock agrees, and keeps both runs for the report.
        state = await stored_clock(runtime, code)
        assert legal_clock.due_at(state) == new_due
        assert legal_clock.runs(state) == [(received, asked), (completed, decided)]
        # The applicant's wait across Tết: Wed 3 16:00-17:00 and Thu 11 7:30-9:00.
        assert legal_clock.attributed_time(state, decided)[
            legal_clock.Holder(legal_clock.SUPPLEMENT, None, None)] == spent(1 + 1.5)


# --- 3. another agency answers late --------------------------------------------------------


async def test_another_agency_answering_late_takes_the_delay_not_the_due_time(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    received = at(2027, 3, 1, 9)
    due = CAL.due_at(received, LEGAL)
    assert due == at(2027, 3, 8, 17)
    asked, sub_due, answered = at(2027, 3, 2, 9), at(2027, 3, 3, 17), at(2027, 3, 5, 11)
    now = FixedClock(at(2027, 3, 1, 10))
    code = code_for(unique, "V")
    settings = scenario_settings(kafka_bootstrap, database_url, tmp_path)
    async with running(settings, now) as runtime, client_for(runtime) as client:
        await arrive(runtime, kafka_bootstrap, code, received)
        await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
        now.set(at(2027, 3, 1, 10, 15))
        await act(client, code, "claim", A)
        now.set(asked)
        answer = await act(client, code, "ask_agency", A, agency=OTHER,
                           sub_due_at=sub_due.isoformat(),
                           question="Xác minh thời gian đóng BHXH tại đơn vị cũ")
        assert answer["state"] == "waiting_agency"
        assert answer["events"] == ["VerificationRequested"]

        # Past the sub-deadline, still unanswered: the legal clock runs on, due unmoved.
        await tick(runtime, now, at(2027, 3, 4, 12))
        case = await case_of(client, code)
        assert case["state"] == "waiting_agency" and case["clock_running"] is True
        assert when(case["due_at"]) == due
        assert case["working_time_used"] == days(DAY + DAY + 4.5)
        assert case["allowed_actions"] == ["record_agency_answer", "stop"]

        now.set(answered)
        back = await act(client, code, "record_agency_answer", A,
                         answer_summary="Đã xác minh: đóng đủ 12 tháng")
        assert back["state"] == "in_step" and when(back["due_at"]) == due
        case = await case_of(client, code)
        assert when(case["due_at"]) == due  # the applicant's appointment does not move
        assert (case["holder"], case["department"]) == (A, STEP1)
        assert case["working_time_used"] == days(3 * DAY + 3.5)  # Tue 2 - Fri 5 11:00
        assert [h["action"] for h in case["history"]] == [
            "open", "claim", "ask_agency", "record_agency_answer"]
        assert case["history"][2]["note"].startswith(OTHER)

        # The delay is the other agency's: its whole hold, and the overrun past its
        # sub-deadline, are attributed to it and to no BHXH department.
        state = await stored_clock(runtime, code)
        assert legal_clock.due_at(state) == due
        other = legal_clock.Holder(legal_clock.OTHER_AGENCY + OTHER, None, None)
        held = legal_clock.working_time_between(CAL, asked, answered)
        assert held == timedelta(hours=8 + DAY + DAY + 3.5)  # Tue 2 9:00 - Fri 5 11:00
        assert legal_clock.attributed_time(state, answered) == {
            legal_clock.Holder(legal_clock.AGENCY, None, None): spent(1),  # the counter, 9:00-10:00
            legal_clock.Holder(legal_clock.AGENCY, STEP1, None): spent(0.25),  # unclaimed step 1
            legal_clock.Holder(legal_clock.AGENCY, STEP1, A): spent(6.75 + 1.5),  # until Tue 2 9:00
            other: spent(held / timedelta(hours=1)),
        }
        # Its overrun past the sub-deadline fell in its own hold.
        assert legal_clock.working_time_between(CAL, sub_due, answered) == timedelta(
            hours=DAY + 3.5)  # Thu 4, Fri 5 until 11:00
        for moment in (asked, sub_due, sub_due + timedelta(hours=1), answered
                       - timedelta(minutes=1)):
            holder = legal_clock.responsible(state, moment)
            assert holder is not None and holder.kind == other.kind
        # The tick of Thu 4 found the sub-deadline passed: its overdue alert (its
        # approaching one, of Tue 2 17:00, stale by then), naming the other agency; the
        # dossier's own thresholds (Fri 5 and after) had not come.
        events = await events_of(kafka_bootstrap, code, 5)
        assert [t for t, _ in events] == ["step.assigned", "step.assigned",
                                          "verification.requested", "dossier.overdue",
                                          "verification.answered"]
        requested, late, answered_event = events[2][1], events[3][1], events[4][1]
        assert requested["to_agency"] == OTHER and when(requested["sub_due_at"]) == sub_due
        assert (late["other_agency"], late["request_id"], late["responsible_department"]) \
            == (OTHER, requested["request_id"], OTHER)
        assert when(late["due_at"]) == sub_due and when(late["detected_at"]) == \
            at(2027, 3, 4, 12)
        assert answered_event["from_agency"] == OTHER
        assert answered_event["request_id"] == requested["request_id"]
        assert when(answered_event["answered_at"]) == answered > sub_due
        assert case["agency_requests"][0]["overrun"] is True
        assert code not in await listed(client, "overdue")  # the dossier itself is not late


async def test_another_agency_holding_the_dossier_at_its_due_time_is_named_overdue(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    received = at(2027, 3, 1, 9)
    due = CAL.due_at(received, LEGAL)
    asked, sub_due = at(2027, 3, 2, 9), at(2027, 3, 3, 17)
    detected, answered = at(2027, 3, 9, 8), at(2027, 3, 9, 10)
    now = FixedClock(at(2027, 3, 1, 10))
    code = code_for(unique, "G")
    settings = scenario_settings(kafka_bootstrap, database_url, tmp_path)
    async with running(settings, now) as runtime, client_for(runtime) as client:
        await arrive(runtime, kafka_bootstrap, code, received)
        await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
        now.set(at(2027, 3, 1, 10, 15))
        await act(client, code, "claim", A)
        now.set(asked)
        await act(client, code, "ask_agency", A, agency=OTHER, sub_due_at=sub_due.isoformat(),
                  question="Xác minh thời gian đóng BHXH tại đơn vị cũ")
        # Still unanswered the morning after the dossier's due time: overdue, by the
        # appointment the applicant was given, with the delay on the agency that holds it.
        await tick(runtime, now, detected)
        case = await case_of(client, code)
        assert case["state"] == "waiting_agency" and when(case["due_at"]) == due
        assert case["working_time_left"] == days(0)
        assert code in await listed(client, "overdue")
        now.set(answered)
        await act(client, code, "record_agency_answer", A,  # the sentinel
                  answer_summary="Đã xác minh: đóng đủ 12 tháng")
        case = await case_of(client, code)
        assert case["state"] == "in_step" and when(case["due_at"]) == due
        assert case["working_time_used"] == days(5 * DAY + 2.5)  # past it: Tue 9 to 10:00

        state = await stored_clock(runtime, code)
        holder = legal_clock.responsible(state, due)
        assert holder is not None and holder.kind == legal_clock.OTHER_AGENCY + OTHER
        # Over its sub-deadline by Thu 4, Fri 5, Mon 8 and Tue 9 until 10:00.
        assert legal_clock.working_time_between(CAL, sub_due, answered) == timedelta(
            hours=3 * DAY + 2.5)

        # One tick found both passed: the sub-deadline's (Wed 3) and the dossier's (Mon 8),
        # in that order, each overdue only.
        events = await events_of(kafka_bootstrap, code, 6)
        assert [t for t, _ in events] == ["step.assigned", "step.assigned",
                                          "verification.requested", "dossier.overdue",
                                          "dossier.overdue", "verification.answered"]
        sub, overdue = events[3][1], events[4][1]
        assert (sub["other_agency"], when(sub["due_at"])) == (OTHER, sub_due)
        assert overdue.get("other_agency") is None
        assert when(overdue["due_at"]) == due and when(overdue["detected_at"]) == detected
        assert overdue["responsible_department"] == OTHER


# --- 4. stopped ----------------------------------------------------------------------------


async def test_a_stopped_dossier_raises_no_alert_after_its_due_time(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    received = at(2027, 3, 1, 9)
    due = CAL.due_at(received, LEGAL)
    stopped_at = at(2027, 3, 3, 10)
    notice = "Thông báo 15/TB-BHXH ngày 03/03/2027"
    reason = {"code": "not_eligible", "message_vi": "Chưa đủ thời gian đóng BHXH",
              "message_en": "not enough contribution time"}
    now = FixedClock(at(2027, 3, 1, 10))
    code = code_for(unique, "P")
    settings = scenario_settings(kafka_bootstrap, database_url, tmp_path)
    async with running(settings, now) as runtime, client_for(runtime) as client:
        await arrive(runtime, kafka_bootstrap, code, received)
        await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
        now.set(at(2027, 3, 1, 10, 15))
        await act(client, code, "claim", A)
        now.set(stopped_at)
        answer = await act(client, code, "stop", A, reasons=[reason], notice=notice)
        assert answer["state"] == "stopped" and answer["events"] == ["DossierResolved"]
        case = await case_of(client, code)
        assert case["state"] == "stopped" and case["clock_running"] is False
        assert (case["holder"], case["department"]) == (None, None)
        assert case["allowed_actions"] == ["record_return"]  # the notice goes back
        assert case["history"][-1]["note"] == f"{notice}: {reason['message_vi']}"
        assert case["working_time_used"] == days(DAY + 2.5)  # Tue 2, Wed 3 until 10:00

        # The near thresholds, the due time, long after: the monitor finds nothing.
        for moment in (at(2027, 3, 5, 17, 30), at(2027, 3, 9, 8), at(2027, 4, 1, 9)):
            await tick(runtime, now, moment)
            assert code not in await listed(client, "near")
            assert code not in await listed(client, "overdue")
        case = await case_of(client, code)
        assert case["working_time_used"] == days(DAY + 2.5)
        assert case["working_time_left"] == days(5 * DAY - DAY - 2.5)
        # The sentinel: the return of the stop notice, after every tick.
        returned = await act(client, code, "record_return", A)
        assert returned["state"] == "returned" and returned["events"] == ["ResultReturned"]

        events = await events_of(kafka_bootstrap, code, 4)
        assert [t for t, _ in events] == ["step.assigned", "step.assigned", "dossier.resolved",
                                          "result.returned"]
        resolved = events[2][1]
        assert resolved["decision"] == "denied" and resolved["timeliness"] == "early"
        assert when(resolved["resolved_at"]) == stopped_at and when(resolved["due_at"]) == due
        assert [r["code"] for r in resolved["reasons"]] == ["not_eligible"]


# --- 5. two replicas -----------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_replicas_fire_each_overdue_exactly_once(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    received = at(2027, 3, 1, 9)
    due = CAL.due_at(received, LEGAL)
    codes = [f"{AGENCY}-270301-M{unique}{i:02d}" for i in range(60)]
    now = FixedClock(at(2027, 3, 1, 10))
    # A small batch: each replica's job takes many batches, so they interleave on the rows.
    settings = scenario_settings(kafka_bootstrap, database_url, tmp_path, monitor_batch=7)
    async with running(settings, now) as first, running(settings, now) as second, \
            client_for(first) as one, client_for(second) as two:
        for code in codes:
            await arrive(first, kafka_bootstrap, code, received)
        for code in codes:
            await case_when(one, code, lambda c: c["state"] == "in_step", "the opening")

        # A week past the due time: the approaching thresholds are stale, only overdue.
        now.set(at(2027, 3, 15, 10))
        for _ in range(4):
            await asyncio.gather(first.app.state.monitor(), second.app.state.monitor())
        assert set(codes) <= await listed(two, "overdue")
        # The sentinel: an officer claims each case, after every tick, on either replica.
        for i, code in enumerate(codes):
            await act(one if i % 2 else two, code, "claim", A)

        mine = set(codes)
        overdue, approaching, claimed = "dossier.overdue", "deadline.approaching", \
            "step.assigned"
        found = await read_topic(
            kafka_bootstrap, topics.PROCESSING.name,
            first_sight(lambda b: b.get("subject") in mine and (
                short(b) in (overdue, approaching) or (short(b) == claimed
                                                        and b["data"]["assignee"] == A))),
            count=2 * len(codes))
        seen: dict[str, Counter[str]] = {overdue: Counter(), approaching: Counter(),
                                         claimed: Counter()}
        for body, _ in found:
            seen[short(body)][body["subject"]] += 1
        assert seen[overdue] == Counter(codes)  # each dossier's overdue exactly once
        # Every sentinel was read, so every alert before it in its partition was too.
        assert seen[claimed] == Counter(codes)
        assert seen[approaching] == Counter()  # stale once the due time has passed
        for body, _ in found:
            if short(body) == overdue:
                assert when(body["data"]["due_at"]) == due
                assert when(body["data"]["detected_at"]) == at(2027, 3, 15, 10)
                assert body["data"]["responsible_department"] == STEP1


# --- 6. a restart between alerts -----------------------------------------------------------


async def test_a_restart_between_the_near_and_the_overdue_alert(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    received = at(2027, 3, 1, 9)
    due = CAL.due_at(received, LEGAL)
    near_at = at(2027, 3, 5, 17)  # 80% used and one day left, together
    now = FixedClock(at(2027, 3, 1, 10))
    code = code_for(unique, "R")
    settings = scenario_settings(kafka_bootstrap, database_url, tmp_path)
    async with running(settings, now) as runtime, client_for(runtime) as client:
        await arrive(runtime, kafka_bootstrap, code, received)
        await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
        await tick(runtime, now, near_at - timedelta(minutes=1))
        assert code not in await listed(client, "near")
        await tick(runtime, now, at(2027, 3, 5, 17, 30))
        async def near_after_a_tick() -> bool:
            # A case the consumer holds locked is skipped: the next tick takes it (the same
            # moment again fires nothing twice).
            if code in await listed(client, "near"):
                return True
            await tick(runtime, now, at(2027, 3, 5, 17, 30))
            return False
        await eventually(near_after_a_tick, "the case listed near its deadline", seconds=30,
                         interval=0.5)
        near = await events_of(kafka_bootstrap, code, 3)  # on the topic before the stop
        assert [t for t, _ in near] == ["step.assigned", "deadline.approaching",
                                        "deadline.approaching"]
    # The same process starts the next runtime: the stopped relay must have let go of
    # its leader lock (relay.run releases it even when cancelled).

    # Another process on the same database, after the due time.
    async with running(settings, now) as runtime, client_for(runtime) as client:
        case = await case_of(client, code)
        assert case["state"] == "in_step" and when(case["due_at"]) == due
        await tick(runtime, now, at(2027, 3, 9, 8))
        await tick(runtime, now, at(2027, 3, 9, 8, 1))  # and again: nothing more
        assert code in await listed(client, "overdue")
        assert code not in await listed(client, "near")
        case = await case_of(client, code)
        # Nothing left; "used" runs on past the legal time (Tue 9 from 7:30 to 8:01).
        assert case["working_time_left"] == days(0)
        assert case["working_time_used"] == days(5 * DAY + 31 / 60)
        await act(client, code, "claim", A)  # the sentinel

        events = await events_of(kafka_bootstrap, code, 5)
        assert [t for t, _ in events] == ["step.assigned", "deadline.approaching",
                                          "deadline.approaching", "dossier.overdue",
                                          "step.assigned"]
        assert {when(d["warned_at"]) for _, d in events[1:3]} == {at(2027, 3, 5, 17, 30)}
        overdue = events[3][1]
        assert when(overdue["due_at"]) == due
        assert when(overdue["detected_at"]) == at(2027, 3, 9, 8)
        assert overdue["responsible_department"] == STEP1
        assert events[4][1]["assignee"] == A
