"""On Apache Kafka every provincial system is its own SASL/SCRAM principal that may write only
the ingest topic and read only its feedback (deploy/kafka/provinces.sh, docker-compose.yml).

No broker here: the script runs with stand-ins for kafka-configs.sh and kafka-acls.sh that
record their arguments, and what it would do is checked against province_systems.yaml and
the topic registry, so a province added to one and not the other fails here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from contracts import topics
from services.intake.ingest import load_systems
from services.intake.settings import IntakeSettings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "kafka" / "provinces.sh"
JAAS = ROOT / "deploy" / "kafka" / "server-jaas.conf"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))["services"]
SYSTEMS = sorted(load_systems(IntakeSettings().province_systems_file))
STUB = """#!/bin/sh
{ printf '%s' "$(basename "$0")"; for a; do printf '\\037%s' "$a"; done; printf '\\n'; } \\
    >> "$STUB_LOG"
"""

pytestmark = pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")


def _run(tmp: Path, passwords: dict[str, str]) -> tuple[subprocess.CompletedProcess[str],
                                                        list[list[str]]]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("kafka-configs.sh", "kafka-acls.sh"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    log = tmp / "calls"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KAFKA_BIN": str(bin_dir),
           "STUB_LOG": str(log), "KAFKA_BOOTSTRAP": "kafka:9092",
           "ONESTOP_PROVINCE_PASSWORDS": " ".join(f"{k}={v}" for k, v in passwords.items())}
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=30, check=False)
    calls = [line.split("\x1f") for line in log.read_text().splitlines()] if log.exists() \
        else []
    return done, calls


def _option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_every_province_system_is_a_principal_with_exactly_its_acls(tmp_path: Path) -> None:
    passwords = {s: f"pw{i}x" for i, s in enumerate(SYSTEMS)}
    done, calls = _run(tmp_path, passwords)
    assert done.returncode == 0, done.stderr
    credentials: dict[str, str] = {}
    acls: dict[str, set[tuple[str, str, str, str]]] = {}
    for tool, *args in calls:
        assert _option(args, "--bootstrap-server") == "kafka:9092"
        if tool == "kafka-configs.sh":
            assert "--alter" in args and _option(args, "--entity-type") == "users"
            name, config = _option(args, "--entity-name"), _option(args, "--add-config")
            assert name and config
            credentials[name] = config
            continue
        assert tool == "kafka-acls.sh"
        # Allow rules only, added one by one: no deny, no wildcard principal or resource.
        assert "--add" in args and "--deny-principal" not in args
        principal = _option(args, "--allow-principal") or ""
        assert principal.startswith("User:") and principal != "User:*"
        kinds = [k for k in ("topic", "group", "cluster", "transactional-id",
                             "delegation-token") if f"--{k}" in args]
        assert len(kinds) == 1, args
        resource = _option(args, f"--{kinds[0]}") or ""
        assert resource != "*"
        acls.setdefault(principal.removeprefix("User:"), set()).add((
            _option(args, "--operation") or "", kinds[0], resource,
            _option(args, "--resource-pattern-type") or "literal"))
    assert sorted(credentials) == SYSTEMS
    for system, config in credentials.items():
        assert config.startswith("SCRAM-SHA-512=[") and f"password={passwords[system]}]" in config
    assert sorted(acls) == SYSTEMS
    for system in SYSTEMS:
        assert acls[system] == {
            ("Write", "topic", topics.INGEST.name, "literal"),
            ("Read", "topic", topics.INGEST_REJECTED.name, "literal"),
            # consumer groups of its own name only, to read its feedback
            ("Read", "group", system, "prefixed"),
        }, system


def test_a_province_without_a_password_stops_the_script(tmp_path: Path) -> None:
    done, _ = _run(tmp_path, {s: "pw" for s in SYSTEMS[1:]})
    assert done.returncode != 0
    assert f"no password for {SYSTEMS[0]}" in done.stderr


def _env(service: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in (COMPOSE[service].get("environment") or {}).items()}


def test_the_broker_authenticates_provinces_and_allows_only_what_acls_allow() -> None:
    env = _env("kafka")
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols["PROVINCES"] in ("SASL_PLAINTEXT", "SASL_SSL")
    assert "PROVINCES://:9094" in env["KAFKA_LISTENERS"].split(",")
    assert any(a.startswith("PROVINCES://") for a in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert "9094:9094" in COMPOSE["kafka"]["ports"]
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert not {f"User:{s}" for s in SYSTEMS} & set(env["KAFKA_SUPER_USERS"].split(";"))
    # The super user is the plaintext listeners' ANONYMOUS: the host may reach them only
    # from the machine itself.
    plain_ports = [p for p in COMPOSE["kafka"]["ports"] if not p.endswith(":9094")]
    assert all(p.startswith("127.0.0.1:") for p in plain_ports), plain_ports
    assert "ScramLoginModule required" in JAAS.read_text()
    jaas_mount = f"./{JAAS.relative_to(ROOT)}:/opt/onestop/server-jaas.conf:ro"
    assert jaas_mount in COMPOSE["kafka"]["volumes"]
    assert env["KAFKA_OPTS"].endswith("=/opt/onestop/server-jaas.conf")


def test_the_principals_are_applied_once_the_broker_is_up_and_intake_checks_signatures(
        ) -> None:
    service = COMPOSE["kafka-principals"]
    assert service["image"] == COMPOSE["kafka"]["image"]
    assert f"./{SCRIPT.relative_to(ROOT)}:/opt/onestop/provinces.sh:ro" in service["volumes"]
    assert service["entrypoint"] == ["sh", "/opt/onestop/provinces.sh"]
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert ":?" in _env("kafka-principals")["ONESTOP_PROVINCE_PASSWORDS"]
    intake = _env("intake")
    assert ":?" in intake["INTAKE_PROVINCE_KEYS"]  # production refuses development keys
    assert intake["INTAKE_INGEST_AUTHENTICATION"] == "hmac"
