"""Another agency's sub-deadline in processing, pure
(docs/law.md#other-agencies-and-delay-attribution): the request kept on the case, its
thresholds on office hours of working days (hand-counted on the 2026 calendar, office hours
7:30-17:00, 30/4 and 1/5 public holidays), each fired once to the asking office and never
the dossier's own deadline status; the case view, the control slip (JSON and PDF) and
notification's recipients show it."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pypdf import PdfReader

from contracts.common import LegalTime, TimeUnit
from contracts.events import (
    DeadlineApproaching,
    DossierOverdue,
    VerificationAnswered,
    VerificationRequested,
)
from services.common.pdf import Letterhead
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, WorkCalendar
from services.notification.directory import load_directory
from services.notification.domain import Planner, QuietHours, fold
from services.notification.dossier import WatchedDossier
from services.notification.rules import load_rules
from services.notification.settings import NotificationSettings
from services.notification.templates import Templates
from services.processing import agency_requests, case_views, domain, legal_clock
from services.processing.case_record import CaseRecord
from services.processing.documents.control_slip import build_control_slip
from services.processing.documents.slip_pdf import control_slip_pdf

CAL = WorkCalendar()
POLICY = domain.AlertPolicy()
CODE, AGENCY = "000.01.01.H26-260428-0001", "000.01.01.H26"
OTHER = "H26.SLDTBXH"
DEPT = "Phòng Chế độ BHXH"
TICK = timedelta(microseconds=1)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]


def asked(requested: datetime, due: datetime | None, request_id: str = "V1"
          ) -> VerificationRequested:
    return VerificationRequested(dossier_code=CODE, request_id=request_id, to_agency=OTHER,
                                 requested_at=requested, sub_due_at=due,
                                 question="Xác minh thời gian đóng BHXH")


def answer(when: datetime, request_id: str = "V1") -> VerificationAnswered:
    return VerificationAnswered(dossier_code=CODE, request_id=request_id, from_agency=OTHER,
                                answered_at=when, answer_summary="Đã xác minh")


# Asked Wed 29/04/2026 14:00, due back Tue 05/05 12:00. Office hours between: Wed 14:00-17:00
# (3 h), Thu 30/4 and Fri 1/5 holidays, the weekend, Mon 4/5 (9.5 h), Tue 7:30-12:00 (4.5 h):
# 17 h. 80% used (13.6 h) is Tue 8:36; one working day left (7.5 h used) is Mon 12:00: the
# earlier warns.
ASKED, SUB_DUE = at(2026, 4, 29, 14), at(2026, 5, 5, 12)
WARN = at(2026, 5, 4, 12)


def test_the_sub_deadline_warns_once_at_the_earlier_threshold_and_is_overdue_after() -> None:
    alerts = legal_clock.sub_deadline_thresholds(CAL, "V1", ASKED, SUB_DUE)
    assert alerts == [legal_clock.Alert("sub-deadline:V1:approaching", WARN),
                      legal_clock.Alert("sub-deadline:V1:overdue", SUB_DUE + TICK)]
    assert [a.event for a in alerts] == [legal_clock.APPROACHING, legal_clock.OVERDUE]
    assert legal_clock.working_time_between(CAL, ASKED, SUB_DUE) == timedelta(hours=17)
    # Each fires once: before it nothing, at its moment only it, a second look nothing.
    assert agency_requests.due_alerts(alerts, set(), WARN - TICK) == []
    assert agency_requests.due_alerts(alerts, set(), WARN) == [alerts[0]]
    fired = {alerts[0].kind}
    assert agency_requests.due_alerts(alerts, fired, SUB_DUE) == []
    assert agency_requests.due_alerts(alerts, fired, SUB_DUE + TICK) == [alerts[1]]
    assert agency_requests.due_alerts(alerts, fired | {alerts[1].kind}, at(2026, 6, 1)) == []
    # Found long after: only overdue, never first "approaching".
    assert agency_requests.due_alerts(alerts, set(), at(2026, 5, 6, 9)) == [alerts[1]]


def test_a_near_sub_deadline_warns_by_its_share_and_none_outside_hours() -> None:
    # Mon 2/3 9:00 to 14:00: 5 h, less than a working day: 80% used is 13:00.
    first = legal_clock.sub_deadline_thresholds(CAL, "V2", at(2026, 3, 2, 9),
                                                at(2026, 3, 2, 14))[0]
    assert first == legal_clock.Alert("sub-deadline:V2:approaching", at(2026, 3, 2, 13))
    # Asked after closing, due the same evening: no office hours between, only overdue.
    assert legal_clock.sub_deadline_thresholds(CAL, "V3", at(2026, 3, 2, 17, 30),
                                         at(2026, 3, 2, 20)) == [
        legal_clock.Alert("sub-deadline:V3:overdue", at(2026, 3, 2, 20) + TICK)]
    # The policy off: only overdue.
    assert [a.kind for a in legal_clock.sub_deadline_thresholds(CAL, "V1", ASKED, SUB_DUE, None,
                                                          None)] == ["sub-deadline:V1:overdue"]


def case_record() -> CaseRecord:
    # Received Tue 28/04/2026 9:00, five working days: due Thu 07/05 17:00 (30/4 and 1/5 off).
    legal = LegalTime(value=5, unit=TimeUnit.working_days)
    received = at(2026, 4, 28, 9)
    opened = legal_clock.open_clock(received, legal, CAL)
    state = legal_clock.pause_for_agency(legal_clock.hand_over(opened, received, DEPT), ASKED,
                                         OTHER)
    return replace(domain.new_record(CODE), agency_code=AGENCY, state="waiting_agency",
                   received_at=received, legal_time=legal, clock=domain.stored_clock(state),
                   agency_requests=agency_requests.recorded(None, asked(ASKED, SUB_DUE)))


def test_the_open_request_sets_the_monitor_and_never_the_dossier_status() -> None:
    row = case_record()
    state = domain.clock_state(row, CAL)
    assert state is not None and legal_clock.due_at(state) == at(2026, 5, 7, 17)
    subs = domain.sub_alerts(row, CAL, POLICY)
    values = domain.alert_values(state, set(), row.state, ASKED, POLICY, subs)
    # Mon 4/5 12:00 comes before the dossier's own first threshold.
    assert values == domain.AlertColumns(next_alert_at=WARN, alerts_fired=(), deadline=None)
    fired = {"sub-deadline:V1:approaching", "sub-deadline:V1:overdue"}
    after = domain.alert_values(state, fired, row.state, SUB_DUE + TICK, POLICY, subs)
    assert after.deadline is None  # the dossier is neither near nor overdue by it
    assert after.next_alert_at == legal_clock.next_alert(state, fired, SUB_DUE + TICK).at
    # Resolved: nothing pending.
    assert domain.alert_values(state, set(), "approved", ASKED, POLICY, subs
                               ).next_alert_at is None
    overdue = agency_requests.alert_event(CODE, row.agency_requests, subs[1], SUB_DUE + TICK)
    assert isinstance(overdue, DossierOverdue)
    assert (overdue.due_at, overdue.other_agency, overdue.request_id,
            overdue.responsible_department) == (SUB_DUE, OTHER, "V1", OTHER)
    near = agency_requests.alert_event(CODE, row.agency_requests, subs[0], WARN)
    assert isinstance(near, DeadlineApproaching)
    assert (near.due_at, near.warned_at, near.other_agency) == (SUB_DUE, WARN, OTHER)
    # Answered: no request open, no sub-deadline alert.
    answered = replace(row, agency_requests=agency_requests.recorded(
        row.agency_requests, answer(at(2026, 5, 5, 15))))
    assert domain.sub_alerts(answered, CAL, POLICY) == []


def test_each_request_is_kept_with_its_status_and_overrun() -> None:
    kept = agency_requests.recorded(None, asked(ASKED, SUB_DUE))
    assert agency_requests.open_request(kept)["request_id"] == "V1"  # type: ignore[index]
    [before] = agency_requests.shown(kept, SUB_DUE)
    assert (before["status"], before["overrun"], before["sub_due_at"]) == (
        "pending_within_time", False, SUB_DUE)
    [past] = agency_requests.shown(kept, SUB_DUE + TICK)
    assert (past["status"], past["overrun"]) == ("pending_overdue", True)
    kept = agency_requests.recorded(kept, answer(at(2026, 5, 5, 15)))
    kept = agency_requests.recorded(kept, asked(at(2026, 5, 6, 8), at(2026, 5, 6, 16), "V2"))
    kept = agency_requests.recorded(kept, answer(at(2026, 5, 6, 10), "V2"))
    assert agency_requests.open_request(kept) is None
    shown = agency_requests.shown(kept, at(2026, 5, 7, 9))
    assert [(r["request_id"], r["status"], r["overrun"], r["answered_by"]) for r in shown] == [
        ("V1", "answered_late", True, OTHER), ("V2", "answered_on_time", False, OTHER)]
    # No sub-deadline given: never overrun.
    none = replace(domain.new_record(CODE),
                   agency_requests=agency_requests.recorded(None, asked(ASKED, None)))
    assert agency_requests.shown(none.agency_requests, at(2027, 1, 1))[0]["overrun"] is False
    assert domain.sub_alerts(none, CAL, POLICY) == []


def test_the_control_slip_shows_the_sub_deadline_and_its_overrun(tmp_path: Any) -> None:
    row = case_views.as_mapping(case_record()) | {
        "due_at": at(2026, 5, 7, 17), "procedure_code": "BHXH.NH.03", "channel": "online"}
    steps = [{"dossier_code": CODE, "seq": 1, "step_no": 1, "step_code": "TN",
              "department": DEPT, "assignee": None, "assigned_at": at(2026, 4, 28, 9),
              "due_at": at(2026, 5, 6, 17), "completed_at": None, "outcome": None}]
    slip = build_control_slip(row, steps, CAL, now=SUB_DUE + timedelta(hours=1))
    [other] = slip.to_json()["other_agencies"]
    assert other == {"request_id": "V1", "agency": OTHER,
                     "requested_at": "2026-04-29T14:00:00+07:00",
                     "sub_due_at": "2026-05-05T12:00:00+07:00", "answered_at": None,
                     "outcome": None, "overrun": True}
    # Without a moment, an unanswered request is not judged; an answer always is.
    assert build_control_slip(row, steps, CAL).other_agencies[0].overrun is False
    answered = row | {"agency_requests": agency_requests.recorded(
        row["agency_requests"], answer(at(2026, 5, 5, 15)))}
    late = build_control_slip(answered, steps, CAL).to_json()["other_agencies"][0]
    assert (late["outcome"], late["overrun"]) == ("late", True)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(control_slip_pdf(
        slip, Letterhead("Bảo hiểm xã hội cơ sở Ba Đình", "Bảo hiểm xã hội Hà Nội")))).pages)
    assert "Phối hợp với cơ quan, đơn vị khác (liên thông)" in text
    assert OTHER in text and "Quá thời hạn trả lời" in text and "05/05/2026" in text


S = NotificationSettings()
CATALOGS = load_catalogs()


def planner() -> Planner:
    templates = Templates(S.templates_dir)
    return Planner(load_rules(S.rules_file, templates), templates,
                   load_directory(S.directory_file, CATALOGS.latest.ancestors), CATALOGS,
                   ("inbox", "email"), QuietHours())


def test_notification_tells_the_asking_office_and_the_other_agency_only_of_its_own() -> None:
    row = WatchedDossier(code=CODE, agency_code=AGENCY, procedure_code="BHXH.NH.03",
                         catalog_version="2025.07", department=DEPT,
                         assignee="badinh.cd.cb01", due_at=at(2026, 5, 7, 17))
    late = DossierOverdue(dossier_code=CODE, due_at=SUB_DUE, detected_at=SUB_DUE + TICK,
                          responsible_department=OTHER, other_agency=OTHER, request_id="V1")
    folded = replace(row)
    fold(folded, late, lambda r: at(2030, 1, 1))
    # The dossier is not overdue by it: no overdue fact, no escalation planned.
    assert folded == row
    messages = planner().plan("dossier.overdue", "e1", late, row, SUB_DUE + TICK)
    by = {(m.audience, m.channel): m for m in messages}
    assert sorted(by) == [("department_head", "email"), ("department_head", "inbox"),
                          ("officer", "email"), ("officer", "inbox"),
                          ("other_agency", "email"), ("other_agency", "inbox")]
    other = by[("other_agency", "email")]
    assert (other.recipient, other.address) == (
        "hn.sldtbxh.van-thu", "vanthu@sldtbxh.hanoi.gov.vn")
    assert other.subject == f"Quá thời hạn trả lời: hồ sơ {CODE}"
    assert "Sở Lao động - Thương binh và Xã hội Hà Nội" in other.body
    assert "12:00 ngày 05/05/2026" in other.body and "V1" in other.body
    officer = by[("officer", "inbox")]
    assert officer.subject == ("Quá hạn trả lời của Sở Lao động - Thương binh và Xã hội "
                                  f"Hà Nội: hồ sơ {CODE}")
    near = DeadlineApproaching(dossier_code=CODE, due_at=SUB_DUE, warned_at=WARN,
                               other_agency=OTHER, request_id="V1")
    told = planner().plan("deadline.approaching", "e2", near, row, WARN)
    assert sorted((m.audience, m.recipient) for m in told if m.channel == "inbox") \
        == [("officer", "badinh.cd.cb01"), ("other_agency", "hn.sldtbxh.van-thu")]
    # The dossier's own alerts go to nobody outside BHXH.
    own = DossierOverdue(dossier_code=CODE, due_at=at(2026, 5, 7, 17),
                         detected_at=at(2026, 5, 8, 8), responsible_department=DEPT)
    assert {m.audience for m in planner().plan("dossier.overdue", "e3", own, row,
                                                  at(2026, 5, 8, 8))} == {
        "officer", "department_head"}


def test_another_bhxh_office_asked_is_told_through_its_leader() -> None:
    directory = load_directory(S.directory_file, CATALOGS.latest.ancestors)
    leader = directory.other_agency("000.00.79.H29")
    assert leader is not None and leader.id == "hcm.giam-doc"
    assert directory.other_agency("Bệnh viện không có trong danh bạ") is None
    assert directory.other_agency(None) is None
