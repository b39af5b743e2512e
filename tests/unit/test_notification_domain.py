"""Notification's decisions without I/O: quiet hours, retries, escalation time, what events
tell of a dossier, and who each rule's audience is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from contracts.events import DossierOverdue, DossierResolved, StepAssigned
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, WorkCalendar
from services.notification.directory import load_directory
from services.notification.domain import (
    Planner,
    QuietHours,
    backoff,
    dedup_key,
    escalation_time,
    fold,
    held_until,
    waits_for_morning,
)
from services.notification.dossier import WatchedDossier
from services.notification.rules import load_rules
from services.notification.settings import NotificationSettings
from services.notification.templates import Templates

S = NotificationSettings()
CATALOGS = load_catalogs()
CODE, AGENCY = "000.01.01.H26-261130-0001", "000.01.01.H26"


def vn(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def planner(channels: tuple[str, ...] = ("inbox", "email", "sms", "webhook")) -> Planner:
    templates = Templates(S.templates_dir)
    return Planner(load_rules(S.rules_file, templates), templates,
                   load_directory(S.directory_file, CATALOGS.latest.ancestors), CATALOGS,
                   channels, QuietHours())


def test_quiet_hours_hold_sms_until_seven_in_the_morning_vietnam_time() -> None:
    quiet = QuietHours(time(21), time(7))
    assert quiet.release(vn(2026, 12, 1, 20, 59)) == vn(2026, 12, 1, 20, 59)
    assert quiet.release(vn(2026, 12, 1, 21, 0)) == vn(2026, 12, 2, 7, 0)
    assert quiet.release(vn(2026, 12, 2, 3, 30)) == vn(2026, 12, 2, 7, 0)
    assert quiet.release(vn(2026, 12, 2, 7, 0)) == vn(2026, 12, 2, 7, 0)
    # 14:30 UTC is 21:30 in Hà Nội
    assert quiet.release(datetime(2026, 12, 1, 14, 30, tzinfo=UTC)) == vn(2026, 12, 2, 7)
    assert QuietHours(time(12), time(13)).release(vn(2026, 12, 1, 12, 5)) == \
        vn(2026, 12, 1, 13)
    assert waits_for_morning("applicant", "sms")
    assert not waits_for_morning("applicant", "email")
    assert not waits_for_morning("officer", "sms")


def test_a_message_due_before_the_night_is_held_when_taken_in_it() -> None:
    quiet = QuietHours(time(21), time(7))
    assert held_until("applicant", "sms", quiet, vn(2026, 12, 1, 21, 5)) == vn(2026, 12, 2, 7)
    assert held_until("applicant", "sms", quiet, vn(2026, 12, 1, 20, 59)) is None
    assert held_until("applicant", "sms", quiet, vn(2026, 12, 2, 7)) is None
    assert held_until("applicant", "email", quiet, vn(2026, 12, 1, 21, 5)) is None
    assert held_until("officer", "sms", quiet, vn(2026, 12, 1, 21, 5)) is None


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    assert [backoff(n, 30, 3600).total_seconds() for n in (1, 2, 3, 8, 20)] == \
        [30, 60, 120, 3600, 3600]


def test_escalation_is_n_working_days_after_the_due_time() -> None:
    # Due Friday 04/12/2026 17:00; two working days later is Tuesday 08/12 17:00.
    assert escalation_time(vn(2026, 12, 4, 17), WorkCalendar(), 2) == vn(2026, 12, 8, 17)


def test_the_same_event_recipient_and_channel_make_one_key() -> None:
    assert dedup_key("e1", "r1", "sms") == dedup_key("e1", "r1", "sms")
    assert len({dedup_key("e1", "r1", "sms"), dedup_key("e1", "r1", "email"),
                dedup_key("e1", "r2", "sms"), dedup_key("e2", "r1", "sms")}) == 4


def test_facts_follow_events_and_a_resolved_dossier_is_not_escalated() -> None:
    row = WatchedDossier(CODE, agency_code=AGENCY)
    due = vn(2026, 12, 4, 17)
    fold(row, StepAssigned(dossier_code=CODE, step_no=1, step_code="CDBHXH",
                           department="Phòng Chế độ BHXH", assignee="badinh.cd.cb01",
                           assigned_at=due - timedelta(days=3)), lambda r: due)
    fold(row, DossierOverdue(dossier_code=CODE, due_at=due, detected_at=due,
                             responsible_department=None),
         lambda r: escalation_time(r.due_at, WorkCalendar(), 2))
    assert row.department == "Phòng Chế độ BHXH" and row.overdue_at == due
    assert row.escalate_at == vn(2026, 12, 8, 17)
    fold(row, DossierResolved(
        dossier_code=CODE, agency_code=AGENCY, procedure_code="BHXH.CD.01",
        applicant={"kind": "individual", "ref": "p1_applicant_x"}, resolved_at=due,
        decision="approved", due_at=due, timeliness="late"), lambda r: due)
    assert row.closed_at == due and row.escalate_at is None


def test_audiences_are_found_in_the_directory() -> None:
    p = planner()
    row = WatchedDossier(CODE, agency_code=AGENCY, department="Phòng Chế độ BHXH",
                         assignee="badinh.cd.cb01", applicant_ref="p1_applicant_x")
    [officer] = p.recipients("officer", row)
    assert officer.email == "anh.vd@badinh.baohiemxahoi.gov.vn"
    # Nobody named: the head of the department holding the dossier.
    [head] = p.recipients("officer", replace(row, assignee=None))
    assert head.id == "badinh.cd.truong-phong"
    # An officer the directory does not list still has an inbox.
    [stranger] = p.recipients("officer", replace(row, assignee="cb.moi"))
    assert (stranger.id, stranger.email) == ("cb.moi", None)
    # A local office's provincial system is its province's.
    [system] = p.recipients("provincial_system", row)
    assert system.url == "http://127.0.0.1:8090/hanoi/mot-cua/thong-bao"
    assert p.recipients("office_leader", row)[0].id == "badinh.giam-doc"
    assert p.recipients("national_unit", row)[0].id == "bhxhvn.giam-sat"
    assert p.recipients("applicant", row)[0].id == "p1_applicant_x"


def test_an_overdue_dossier_tells_officer_and_head_on_configured_channels_only() -> None:
    now = vn(2026, 12, 4, 22)  # night: no SMS involved, so nothing waits
    row = WatchedDossier(CODE, agency_code=AGENCY, department="Phòng Chế độ BHXH",
                         assignee="badinh.cd.cb01", procedure_code="BHXH.CD.01",
                         catalog_version="2025.07")
    event = DossierOverdue(dossier_code=CODE, due_at=vn(2026, 12, 4, 17), detected_at=now)
    messages = planner(("inbox",)).plan("dossier.overdue", "ev-1", event, row, now)
    assert [(m.audience, m.channel, m.recipient) for m in messages] == [
        ("officer", "inbox", "badinh.cd.cb01"),
        ("department_head", "inbox", "badinh.cd.truong-phong")]
    assert all(m.not_before == now and m.status == "pending" for m in messages)
    assert "Đồng chí Vũ Đức Anh" in messages[0].body


def test_an_applicants_sms_at_night_waits_and_has_no_address_yet() -> None:
    now = vn(2026, 12, 4, 22)
    row = WatchedDossier(CODE, agency_code=AGENCY, applicant_ref="p1_applicant_x",
                         procedure_code="BHXH.CD.01", catalog_version="2025.07")
    event = DossierResolved(
        dossier_code=CODE, agency_code=AGENCY, procedure_code="BHXH.CD.01",
        applicant={"kind": "individual", "ref": "p1_applicant_x"}, resolved_at=now,
        decision="approved", due_at=now, timeliness="on_time")
    messages = {m.channel: m for m in planner().plan("result.issued", "ev-2", _result(),
                                                      row, now)}
    assert messages["sms"].not_before == vn(2026, 12, 5, 7)
    assert messages["email"].not_before == now
    assert messages["sms"].address is None  # looked up in contacts when sending
    address = messages["webhook"].address
    assert address is not None and address.startswith("http://127.0.0.1:8090/")
    assert planner().plan("dossier.resolved", "ev-3", event, WatchedDossier(CODE), now) == []


def _result() -> object:
    from contracts.events import ResultIssued
    return ResultIssued(dossier_code=CODE, agency_code=AGENCY, procedure_code="BHXH.CD.01",
                        applicant={"kind": "individual", "ref": "p1_applicant_x"},
                        issued_at=vn(2026, 12, 4, 16), result_code="QD-1",
                        result_type="Quyết định hưởng chế độ")


def test_digests_list_each_offices_dossiers_and_rank_offices_for_the_nation() -> None:
    now = vn(2026, 12, 7, 7, 30)
    rows = [WatchedDossier(f"{AGENCY}-26120{i}-000{i}", agency_code=AGENCY,
                           due_at=vn(2026, 12, 4, 17),
                           overdue_at=vn(2026, 12, 4, 17) if i < 3 else None,
                           near_at=vn(2026, 12, 3, 17)) for i in range(1, 5)] + [
        WatchedDossier("000.01.02.H26-261201-0001", agency_code="000.01.02.H26",
                       due_at=vn(2026, 12, 4, 17), overdue_at=vn(2026, 12, 4, 17))]
    messages = planner(("inbox",)).digests(date(2026, 12, 7), rows, now)
    by = {m.recipient: m for m in messages}
    assert set(by) == {"badinh.giam-doc", "caugiay.giam-doc", "bhxhvn.giam-sat"}
    assert (by["badinh.giam-doc"].subject or "").endswith("2 quá hạn, 2 sắp đến hạn")
    national = by["bhxhvn.giam-sat"].body
    assert national.index("Ba Đình") < national.index("Cầu Giấy")
    assert "1. Bảo hiểm xã hội cơ sở Ba Đình (000.01.01.H26): 2 hồ sơ quá hạn" in national
    assert by["bhxhvn.giam-sat"].agency_code == "000.00.00.H99"


def _example(cls: type) -> object:
    import json
    from pathlib import Path

    from contracts.registry import short_name

    path = Path(__file__).resolve().parents[2] / "contracts" / "examples" / \
        f"{short_name(cls.event_type)}.json"
    return cls.model_validate(json.loads(path.read_text("utf-8"))["data"])


def test_only_the_events_folded_or_told_of_are_read() -> None:
    from contracts.events import OverdueExplained, StepCompleted, SupplementRequested
    from services.notification.domain import FOLDED, read_events
    from services.notification.rules import EVENTS, Rule, Rules, RulesFile, Tell

    # FOLDED is what fold reads: every other event leaves a dossier's facts as they were.
    for cls in EVENTS.values():
        row = WatchedDossier(CODE)
        fold(row, _example(cls), lambda _row: vn(2026, 12, 1, 9))  # type: ignore[arg-type]
        assert (row != WatchedDossier(CODE)) == (cls in FOLDED), cls.__name__
    read = read_events(load_rules(S.rules_file, Templates(S.templates_dir)))
    assert set(FOLDED) <= set(read) and SupplementRequested in read  # a rule tells of it
    # An explanation nobody is told of, and steps completed, are passed over unread.
    assert OverdueExplained not in read and StepCompleted not in read
    told = Rules(RulesFile(rules=[Rule(event="overdue.explained", tell=[
        Tell(audience="department_head", channels=["inbox"])])]))
    assert OverdueExplained in read_events(told) and SupplementRequested not in \
        read_events(told)
