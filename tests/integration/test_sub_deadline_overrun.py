"""Another agency overruns its sub-deadline (liên thông,
docs/law.md#other-agencies-and-delay-attribution), across processing, notification and
reporting over the real broker, on a hand-made history of March 2027 (office hours
7:30-17:00, 9.5 hours a day):

- received Mon 1 at 9:00 (five working days: due Mon 8 at 17:00), claimed at 10:15;
- the officer asks the Sở Lao động - Thương binh và Xã hội on Tue 2 at 9:00 to answer by
  Wed 3 at 17:00: 8 + 9.5 = 17.5 office hours. One working day left (8 hours used) is Tue 2
  at 17:00, earlier than 80% used (14 hours: Wed 3 at 13:30): the warning comes then; the
  overdue alert just after Wed 3 at 17:00;
- the agency answers on Thu 4 at 11:00 (late); the dossier is then decided on Thu 4, early.

Processing fires each alert once at its moment, to the asking office, naming the other
agency; the case view and the control slip say the request was overrun while the dossier
itself never was; notification queues the other agency's messages (and the asking
officer's and department head's); reporting's quarterly report (Q1 2027, cut-off 14/03)
counts one late answer for that agency, and the dossier's fact stays not overdue. The other
agency's code is made unique to the run (the broker may be shared)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from services.common.clock import FixedClock
from services.notification.app import build as build_notification
from services.notification.channels import InboxChannel
from services.notification.settings import NotificationSettings
from services.reporting.app import build as build_reporting
from services.reporting.settings import ReportingSettings
from tests.auth import AUTH
from tests.integration.support import eventually, settings_for, started
from tests.integration.test_processing_lifecycle import AGENCY, LEADER, A, C, act, arrive, case_when
from tests.integration.test_processing_scenarios import (
    STEP2,
    at,
    case_of,
    code_for,
    events_of,
    listed,
    running,
    scenario_settings,
    tick,
    when,
)

pytestmark = pytest.mark.integration
SHIPPED = "H26.SLDTBXH"  # the directory's entry whose contact is told
CONTACT, HEAD = "hn.sldtbxh.van-thu", "badinh.cd.truong-phong"
ASKED, SUB_DUE = at(2027, 3, 2, 9), at(2027, 3, 3, 17)
WARN = at(2027, 3, 2, 17)


def client(app: Any, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=app),
                             base_url=f"http://{name}")


async def test_an_overrun_sub_deadline_is_alerted_shown_told_and_counted(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    other = f"{SHIPPED}-{unique}"
    code = code_for(unique, "Q")
    now = FixedClock(at(2027, 3, 1, 10))

    told = settings_for(NotificationSettings, kafka_bootstrap,
                        f"sqlite+aiosqlite:///{tmp_path / 'n.db'}", tmp_path)
    directory = tmp_path / "directory.yaml"
    directory.write_text(told.directory_file.read_text(encoding="utf-8").replace(
        f"agency: {SHIPPED}\n", f"agency: {other}\n"), encoding="utf-8")
    told = told.model_copy(update={"directory_file": directory, "sender_seconds": 0.2,
                                   "watch_seconds": 3600})
    notification = await started(build_notification(told, channels={"inbox": InboxChannel()}))
    reporting = await started(build_reporting(
        settings_for(ReportingSettings, kafka_bootstrap,
                     f"sqlite+aiosqlite:///{tmp_path / 'r.db'}", tmp_path),
        FixedClock(at(2027, 3, 16, 10))))
    try:
        async with running(scenario_settings(kafka_bootstrap, database_url, tmp_path),
                           now) as runtime, client(runtime.app, "processing") as office:
            await arrive(runtime, kafka_bootstrap, code, at(2027, 3, 1, 9))
            await case_when(office, code, lambda c: c["state"] == "in_step", "the opening")
            now.set(at(2027, 3, 1, 10, 15))
            await act(office, code, "claim", A)
            now.set(ASKED)
            await act(office, code, "ask_agency", A, agency=other,
                      sub_due_at=SUB_DUE.isoformat(), question="Xác minh quá trình đóng BHXH")
            case = await case_of(office, code)
            assert [(r["agency"], when(r["sub_due_at"]), r["status"], r["overrun"])
                    for r in case["agency_requests"]] == [
                (other, SUB_DUE, "pending_within_time", False)]

            # The monitor a tick before each moment, at it, and again: each fires once.
            for moment in (WARN.replace(minute=59, hour=16), WARN, WARN, SUB_DUE, SUB_DUE,
                           at(2027, 3, 3, 17, 1), at(2027, 3, 4, 8)):
                await tick(runtime, now, moment)
            case = await case_of(office, code)
            assert case["state"] == "waiting_agency" and case["deadline"] is None
            [request] = case["agency_requests"]
            assert (request["status"], request["overrun"]) == ("pending_overdue", True)
            assert code not in await listed(office, "overdue") | await listed(office, "near")
            slip = (await office.get(f"/api/v1/cases/{code}/control-slip")).json()
            assert [(o["agency"], o["overrun"], o["answered_at"])
                    for o in slip["other_agencies"]] == [(other, True, None)]

            now.set(at(2027, 3, 4, 11))
            await act(office, code, "record_agency_answer", A,
                      answer_summary="Đã xác minh: đóng đủ 12 tháng")
            now.set(at(2027, 3, 4, 11, 30))
            await act(office, code, "complete_step", A, decision="approve")
            now.set(at(2027, 3, 4, 12))
            await act(office, code, "claim", C)
            await act(office, code, "complete_step", C, decision="approve")
            now.set(at(2027, 3, 4, 14))
            await act(office, code, "approve", LEADER)
            await tick(runtime, now, at(2027, 3, 9, 8))  # after the dossier's due time
            case = await case_of(office, code)
            [request] = case["agency_requests"]
            assert (request["status"], request["overrun"], when(request["answered_at"])) == (
                "answered_late", True, at(2027, 3, 4, 11))
            assert case["state"] == "approved" and case["deadline"] is None

            # Every event of the dossier, the decision last: the two alerts exactly once.
            events = await events_of(kafka_bootstrap, code, 11)
            assert [t for t, _ in events] == [
                "step.assigned", "step.assigned", "verification.requested",
                "deadline.approaching", "dossier.overdue", "verification.answered",
                "step.completed", "step.assigned", "step.assigned", "step.completed",
                "dossier.resolved"]
            near, late = events[3][1], events[4][1]
            assert (when(near["warned_at"]), when(near["due_at"]), near["other_agency"],
                    near["request_id"]) == (WARN, SUB_DUE, other, "V1")
            assert (when(late["detected_at"]), when(late["due_at"]), late["other_agency"],
                    late["responsible_department"]) == (at(2027, 3, 3, 17, 1), SUB_DUE,
                                                        other, other)
            assert events[7][1]["department"] == STEP2
            assert events[10][1]["timeliness"] == "early"

        async with client(notification.app, "notification") as n:
            async def queued() -> list[dict[str, Any]]:
                items = (await n.get(f"/api/v1/dossiers/{code}/notifications")).json()["items"]
                alerts = [i for i in items if i["about_event"] in (
                    "deadline.approaching", "dossier.overdue")]
                return alerts if len(alerts) == 5 else []
            alerts = await eventually(queued, "the alerts' messages")
            assert sorted((m["about_event"], m["audience"], m["recipient"]) for m in alerts) \
                == [("deadline.approaching", "officer", A),
                    ("deadline.approaching", "other_agency", CONTACT),
                    ("dossier.overdue", "department_head", HEAD),
                    ("dossier.overdue", "officer", A),
                    ("dossier.overdue", "other_agency", CONTACT)]
            to_other = {m["about_event"]: m for m in alerts if m["audience"] == "other_agency"}
            assert "17:00 ngày 03/03/2027" in to_other["deadline.approaching"]["subject"]
            assert "V1" in to_other["dossier.overdue"]["body"]

        async with client(reporting.app, "reporting") as r:
            async def counted() -> dict[str, Any] | None:
                report = (await r.get("/api/v1/reports/quarterly", params={
                    "year": 2027, "quarter": 1, "agency": AGENCY})).json()
                return next((x for x in report.get("sub_deadlines", [])
                             if x["agency"] == other and x["answered_late"]), None)
            assert await eventually(counted, "the overrun in the quarterly report") == {
                "agency": other, "requested": 1, "answered_on_time": 0, "answered_late": 1,
                "pending_within_time": 0, "pending_overdue": 0, "overruns": 1}

            async def path() -> dict[str, Any] | None:
                found = (await r.get(f"/api/v1/dossiers/{code}/path")).json()
                done = found.get("dossier", {}).get("status") not in (None, "in_progress")
                return found if done else None
            found = await eventually(path, "the dossier's path")
            assert [(v["to_agency"], v["status"], v["overrun"])
                    for v in found["verifications"]] == [(other, "answered_late", True)]
            # The other agency's lateness is not the dossier's.
            assert (found["dossier"]["overdue"], found["dossier"]["overdue_at"]) == (False, None)
    finally:
        await reporting.stop()
        await notification.stop()
