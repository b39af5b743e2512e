"""The ingest signature: the documented bytes, and every way intake refuses a record."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from contracts.ingest import SIGNATURE_HEADER, sign
from services.common.clock import FixedClock
from services.common.messaging.dead_letters import DeadLetter
from services.intake.ingest import SignatureCheck
from services.intake.settings import IntakeSettings, dev_province_key, dev_signed

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
VALUE = b'{"id":"e1","data":{"system_id":"hanoi-mcdt"}}'


def test_the_signature_is_the_documented_hmac_of_the_documented_bytes() -> None:
    # What a province writes in any language, from contracts/ingest.py's docstring alone.
    message = b"onestop-ingest-v1\nhanoi-mcdt\n" + str(NOW_MS).encode() + b"\n" + VALUE
    expected = "v1=" + hmac.new(b"s3cret", message, hashlib.sha256).hexdigest()
    assert sign(VALUE, "hanoi-mcdt", "s3cret", NOW_MS) == [
        ("onestop-system", b"hanoi-mcdt"), ("onestop-timestamp", str(NOW_MS).encode()),
        ("onestop-signature", expected.encode())]


def _check() -> tuple[SignatureCheck, CollectorRegistry]:
    registry = CollectorRegistry()
    keys = {s: dev_province_key(s).encode() for s in ("hanoi-mcdt", "hcm-mcdt")}
    return SignatureCheck(keys, FixedClock(NOW), registry, 86400, 300), registry


def _record(value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
    return SimpleNamespace(value=value, headers=headers)


def test_a_record_signed_with_its_systems_key_names_that_system() -> None:
    check, _ = _check()
    assert check(_record(VALUE, dev_signed(VALUE, "hanoi-mcdt", NOW_MS))) == "hanoi-mcdt"


@pytest.mark.parametrize(("headers", "reason"), [
    ([], "signature_missing"),
    (dev_signed(VALUE, "hanoi-mcdt", NOW_MS)[:2], "signature_missing"),
    ([("onestop-system", b"hanoi-mcdt"), ("onestop-timestamp", b"soon"),
      (SIGNATURE_HEADER, b"v1=00")], "signature_malformed"),
    (dev_signed(VALUE, "nowhere-mcdt", NOW_MS), "signature_unknown_system"),
    (dev_signed(VALUE + b" ", "hanoi-mcdt", NOW_MS), "signature_invalid"),  # value altered
    # Hanoi's name, HCM's key: a system cannot sign for another.
    (sign(VALUE, "hanoi-mcdt", dev_province_key("hcm-mcdt"), NOW_MS), "signature_invalid"),
    (dev_signed(VALUE, "hanoi-mcdt", NOW_MS - 86_401_000), "signature_stale"),
    (dev_signed(VALUE, "hanoi-mcdt", NOW_MS + 301_000), "signature_stale"),
])
def test_an_unproven_record_is_refused_and_counted(headers: list[tuple[str, bytes]],
                                                   reason: str) -> None:
    check, registry = _check()
    with pytest.raises(DeadLetter) as refused:
        check(_record(VALUE, headers))
    assert refused.value.reason == reason
    system = "hanoi-mcdt" if headers and headers[0][1] == b"hanoi-mcdt" else "unregistered"
    assert registry.get_sample_value("onestop_ingest_signature_refused_total",
                                     {"reason": reason, "system": system}) == 1


def test_a_day_old_backlog_is_still_accepted() -> None:
    check, _ = _check()
    at = NOW_MS - int(timedelta(hours=23).total_seconds() * 1000)
    assert check(_record(VALUE, dev_signed(VALUE, "hanoi-mcdt", at))) == "hanoi-mcdt"


def test_production_refuses_development_or_missing_province_keys() -> None:
    secrets: dict[str, Any] = {"env": "production", "pseudonym_key": "real",
                               "dlq_key": "real", "data_key": "real", "auth_jwt_secret": "real",
                               "auth_api_keys": "", "service_api_key": "real",
                               "audit_key": "a" * 32}
    with pytest.raises(ValueError, match="development keys"):
        IntakeSettings(**secrets, province_keys={"hanoi-mcdt": dev_province_key("hanoi-mcdt")})
    settings = IntakeSettings(**secrets, province_keys={"hanoi-mcdt": "real-key"})
    with pytest.raises(ValueError, match="no key for"):
        settings.province_key_map(["hanoi-mcdt", "hcm-mcdt"])
    assert IntakeSettings().province_key_map(["hcm-mcdt"]) == {
        "hcm-mcdt": dev_province_key("hcm-mcdt").encode()}


def test_verification_can_be_turned_off_only_outside_the_development_broker() -> None:
    with pytest.raises(ValueError, match="SASL broker"):
        IntakeSettings(ingest_authentication="sasl")
    IntakeSettings(env="production", pseudonym_key="real", dlq_key="real", data_key="real",
                   auth_jwt_secret="real", auth_api_keys="", service_api_key="real",
                   audit_key="a" * 32, ingest_authentication="sasl")
