"""The rules file, the templates and the directory are checked at start-up: the default
ones load; a mistake names its file and line, every one at once."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.law.workdays import TZ
from services.notification.directory import DirectoryError, load_directory
from services.notification.rules import RulesError, load_rules, sample_context
from services.notification.settings import NotificationSettings
from services.notification.templates import Templates, gio_ngay, ngay

DEFAULTS = NotificationSettings()


def _templates(folder: Path = DEFAULTS.templates_dir) -> Templates:
    return Templates(folder)


def test_the_default_rules_load_with_every_template() -> None:
    rules = load_rules(DEFAULTS.rules_file, _templates())
    # The other agency hears only of its own sub-deadline (the alert names it).
    assert [a for a, _ in rules.who("dossier.overdue")] == ["officer", "department_head",
                                                            "other_agency"]
    assert [a for a, _ in rules.who("overdue.escalated")] == ["office_leader", "national_unit"]
    assert rules.who("deadline.approaching") == [("officer", ["inbox", "email"]),
                                                 ("other_agency", ["inbox", "email"])]
    assert [a for a, _ in rules.digests] == ["office_leader", "national_unit"]


def test_rule_mistakes_are_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - event: dossier.received\n"
        "    tell:\n"
        "      - {audience: applicant, channels: [inbox, pigeon]}\n"
        "  - event: dossier.exploded\n"
        "    tell:\n"
        "      - {audience: applicant, channels: [inbox]}\n", encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path, _templates())
    text = str(caught.value)
    assert f"{path}:4: rules.0.tell.0.channels.1: Input should be" in text
    assert f"{path}:5: rules.1: Value error, unknown event 'dossier.exploded'" in text


def test_a_missing_template_is_named_with_the_rule_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - event: dossier.withdrawn\n    tell:\n"
                    "      - {audience: applicant, channels: [inbox, sms]}\n", encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path, _templates())
    assert (f"{path}:4: rules.0.tell.0.channels.0: no template "
            "dossier.withdrawn/applicant.inbox.j2") in str(caught.value)


def test_webhooks_are_for_provincial_systems_only(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - event: result.issued\n    tell:\n"
                    "      - {audience: applicant, channels: [webhook]}\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"rules.yaml:4: rules.0.tell.0: Value error, "
                                         r"provincial_system is told by webhook only"):
        load_rules(path, _templates())


def test_template_errors_name_the_template_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(DEFAULTS.templates_dir, folder)
    (folder / "dossier.received" / "applicant.email.j2").write_text(
        "Tiêu đề\n\nDòng một\n{% if %}\n", encoding="utf-8")
    (folder / "dossier.received" / "applicant.sms.j2").write_text(
        "Hồ sơ {{ dossier_kode }}", encoding="utf-8")
    (folder / "result.issued" / "applicant.sms.j2").write_text(
        "Kết quả {{ dossier_code }} " + "rất dài " * 80, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(DEFAULTS.rules_file, _templates(folder))
    text = str(caught.value)
    assert f"{folder}/dossier.received/applicant.email.j2:4: Expected an expression" in text
    assert f"{folder}/dossier.received/applicant.sms.j2: 'dossier_kode' is undefined" in text
    assert f"{folder}/result.issued/applicant.sms.j2: the sample SMS takes 5 segments" in text


def test_emails_render_in_vietnamese_with_vietnam_time_and_sms_without_diacritics() -> None:
    templates = _templates()
    mail = templates.render("dossier.received", "applicant", "email",
                            sample_context("dossier.received"))
    assert mail.subject == "Hồ sơ 000.01.01.H26-260302-0007 đã được tiếp nhận"
    # The example's due time is 2026-03-09T08:15+07:00, shown in Vietnam time.
    assert "Ngày hẹn trả kết quả: 08:15 ngày 09/03/2026." in mail.body
    text = templates.render("dossier.received", "applicant", "sms",
                            sample_context("dossier.received"))
    assert text.subject is None and text.body.startswith("BHXH: Ho so 000.01.01.H26")


def test_the_default_directory_loads_and_a_bad_one_is_named_by_line(tmp_path: Path) -> None:
    directory = load_directory(DEFAULTS.directory_file)
    assert directory.leader("000.01.01.H26") is not None
    bad = tmp_path / "directory.yaml"
    bad.write_text("national_unit: {id: x, name: X}\noffices:\n"
                   "  - agency: A\n    leader: {id: a, name: A, email: not-an-address}\n"
                   "  - agency: A\n    leader: {id: b, name: B}\n", encoding="utf-8")
    with pytest.raises(DirectoryError) as caught:
        load_directory(bad)
    assert f"{bad}:4: offices.0.leader.email: String should match pattern" in str(caught.value)
    bad.write_text(bad.read_text().replace("not-an-address", "a@b.vn"), encoding="utf-8")
    with pytest.raises(DirectoryError, match="offices listed twice: A"):
        load_directory(bad)


def test_a_lease_shorter_than_a_send_pass_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match=r"must exceed the longest send pass: .* = 100 s"):
        NotificationSettings(sender_lease_seconds=60, sender_batch=200, sender_concurrency=20,
                             smtp_timeout_seconds=10)
    with pytest.raises(ValueError, match="NOTIFICATION_WEBHOOK_SECRET must be set"):
        NotificationSettings(env="production", pseudonym_key="k" * 32,
                             dlq_key="rQZVojkbC2BQCmYBnNUKHM6ICe7VK2N2C4MQOiawwpz=",
                             data_key="ZgJfXIn_EbX6OA7MrdcahiznbthyCjlk7lW6FN-69Gz=",
                             auth_jwt_secret="real", auth_api_keys="", service_api_key="real",
                             audit_key="a" * 32)


def test_the_date_filters_write_vietnam_time_as_strftime_would() -> None:
    # Around Vietnam's midnight (17:00 UTC) and across a year's turn, on both sides.
    start = datetime(2026, 12, 31, 16, 58, tzinfo=UTC)
    for moment in (start + timedelta(minutes=m) for m in range(0, 240, 7)):
        local = moment.astimezone(TZ)
        assert ngay(moment) == local.strftime("%d/%m/%Y")
        assert gio_ngay(moment) == local.strftime("%H:%M ngày %d/%m/%Y")
    assert gio_ngay(datetime(2027, 1, 1, 0, 5, tzinfo=TZ)) == "00:05 ngày 01/01/2027"
    assert ngay(None) == gio_ngay(None) == ""
