from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from contracts.common import IndividualApplicant, OrganizationApplicant
from contracts.envelope import Envelope
from services.intake.settings import IntakeSettings
from services.law.pseudonym import applicant_pseudonym
from services.reporting.settings import ReportingSettings


def test_pseudonym_is_stable_keyed_and_hides_the_number() -> None:
    person = IndividualApplicant(full_name="Lê Văn An", id_number="001190012345")
    a = applicant_pseudonym("key-1", person)
    assert a == applicant_pseudonym("key-1", person)
    assert a != applicant_pseudonym("key-2", person)
    assert "001190012345" not in a
    org = OrganizationApplicant(name="Công ty A", unit_code="001190012345")
    assert applicant_pseudonym("key-1", org) != a  # same digits, other kind


def test_envelope_puts_time_in_utc_and_requires_a_versioned_type() -> None:
    env = Envelope(type="vn.gov.bhxh.onestop.dossier.received.v1", source="onestop/intake",
                   subject="X-1", agencycode="A",
                   time=datetime(2026, 1, 1, 7, tzinfo=timezone(timedelta(hours=7))), data={})
    assert env.time == datetime(2026, 1, 1, 0, tzinfo=UTC)
    with pytest.raises(ValidationError):
        Envelope(type="dossier.received", source="s", subject="x", agencycode="a",
                 time=env.time, data={})
    with pytest.raises(ValidationError):
        Envelope(type="vn.gov.bhxh.onestop.dossier.received.v1", source="s", subject="x",
                 agencycode="a", time=datetime(2026, 1, 1), data={})


def test_settings_use_the_service_prefix_and_shared_names(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("INTAKE_HTTP_PORT", "9101")
    monkeypatch.setenv("REPORTING_DATABASE_URL", "postgresql+asyncpg://db/reporting")
    monkeypatch.setenv("ONESTOP_VAR_DIR", str(tmp_path))
    intake, reporting = IntakeSettings(), ReportingSettings()
    assert intake.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert intake.http_port == 9101 and reporting.http_port == 8005
    assert reporting.db_url("reporting") == "postgresql+asyncpg://db/reporting"
    assert intake.db_url("intake").endswith(f"{tmp_path}/db/intake.db")


def test_production_refuses_the_development_secret(monkeypatch) -> None:
    monkeypatch.setenv("ONESTOP_ENV", "production")
    monkeypatch.delenv("ONESTOP_PSEUDONYM_KEY", raising=False)
    with pytest.raises(ValidationError, match="ONESTOP_PSEUDONYM_KEY"):
        IntakeSettings()
