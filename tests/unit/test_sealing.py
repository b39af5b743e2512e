"""Dead letters of personal-data topics are sealed, open with any configured key, and
refuse tampering; other topics' dead letters stay verbatim."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from contracts.topics import DIGITIZATION, INGEST, INTAKE, INTAKE_PRIVATE
from services.common.sealing import Sealer, SealError, dead_letter_value, key_id
from services.common.settings import DEV_DLQ_KEY, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
VALUE = b'{"data": {"applicant": {"id_number": "001190012345", "phone": "0912345678"}}}'


def test_round_trip_and_the_value_is_not_in_clear() -> None:
    sealer = Sealer([Fernet.generate_key().decode()])
    sealed = sealer.seal(VALUE)
    assert b"001190012345" not in sealed and sealed != VALUE
    assert sealer.unseal(sealed) == VALUE


def test_a_value_sealed_under_the_old_key_opens_after_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_before = Sealer.from_secret(old).seal(VALUE)
    rotated = Sealer.from_secret(f"{new}, {old}")
    assert rotated.key_id == key_id(new)  # the new key seals
    assert rotated.unseal(sealed_before) == VALUE
    resealed = rotated.rotate(sealed_before)
    assert Sealer.from_secret(new).unseal(resealed) == VALUE  # old key no longer needed
    with pytest.raises(SealError):
        Sealer.from_secret(new).unseal(sealed_before)  # without the old key: refused


def test_tampering_is_refused() -> None:
    sealer = Sealer([Fernet.generate_key().decode()])
    sealed = bytearray(sealer.seal(VALUE))
    sealed[40] = ord("A") if sealed[40] != ord("A") else ord("B")
    with pytest.raises(SealError):
        sealer.unseal(bytes(sealed))
    with pytest.raises(SealError):
        sealer.unseal(b"not a token")


@pytest.mark.parametrize("topic", [INGEST.name, INTAKE_PRIVATE.name, "onestop.unknown.v9"])
def test_personal_topics_are_sealed_with_headers(topic: str) -> None:
    sealer = Sealer.from_secret(DEV_DLQ_KEY)
    value, headers = dead_letter_value(topic, VALUE, sealer)
    assert value is not None and b"001190012345" not in value
    assert sealer.unseal(value) == VALUE
    assert dict(headers) == {"dlq-sealed": b"fernet", "dlq-key-id": key_id(DEV_DLQ_KEY).encode()}


@pytest.mark.parametrize("topic", [INTAKE.name, DIGITIZATION.name])
def test_other_topics_pass_through_unchanged(topic: str) -> None:
    value, headers = dead_letter_value(topic, VALUE, Sealer.from_secret(DEV_DLQ_KEY))
    assert value == VALUE and headers == []


def test_settings_read_the_shared_key_and_refuse_the_development_one_in_production(
        monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("ONESTOP_DLQ_KEY", f"{key},{DEV_DLQ_KEY}")
    assert Sealer.from_settings(ServiceSettings()).key_id == key_id(key)
    monkeypatch.setenv("ONESTOP_ENV", "production")
    monkeypatch.setenv("ONESTOP_PSEUDONYM_KEY", "a-real-secret")
    monkeypatch.setenv("ONESTOP_DATA_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("ONESTOP_AUDIT_KEY", "a-real-audit-key-of-32-characters")
    for name, value in (("ONESTOP_AUTH_JWT_SECRET", "real"), ("ONESTOP_AUTH_API_KEYS", ""),
                        ("ONESTOP_SERVICE_API_KEY", "real")):
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="ONESTOP_DLQ_KEY"):
        ServiceSettings()  # the development key, even as an old one
    monkeypatch.setenv("ONESTOP_DLQ_KEY", key)
    assert ServiceSettings().dlq_key.get_secret_value() == key


def test_a_key_that_is_not_a_fernet_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="Fernet") as info:
        Sealer.from_secret("secret-passphrase-123")
    assert "secret-passphrase-123" not in str(info.value)


def test_operator_cli_unseals_stdin() -> None:
    key = Fernet.generate_key().decode()
    env = {**os.environ, "ONESTOP_DLQ_KEY": key}
    sealed = Sealer.from_secret(key).seal(VALUE)
    run = subprocess.run([sys.executable, "-m", "services.common.sealing", "unseal"],
                         input=sealed + b"\n", capture_output=True, env=env, cwd=ROOT,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout == VALUE
    wrong = {**env, "ONESTOP_DLQ_KEY": Fernet.generate_key().decode()}
    run = subprocess.run([sys.executable, "-m", "services.common.sealing", "unseal"],
                         input=sealed, capture_output=True, env=wrong, cwd=ROOT, check=False)
    assert run.returncode == 1 and run.stdout == b""
