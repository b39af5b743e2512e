"""Personal data after an end-to-end run: the ID numbers, social insurance
codes, phones and e-mails submitted appear in no log file of any service, and on no topic
but those the registry marks `personal_data` (where they are found: the search works)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from contracts import topics
from contracts.topics import SERVICES
from deploy.local.broker import free_port
from deploy.local.stack import Stack
from services.common.http.auth import issue_token
from services.product.roles import Role
from tests.auth import AUTH
from tests.e2e.conftest import dossier, wait_for

pytestmark = pytest.mark.e2e

# Headers of every request this test sends to a service's API (the one place to change when
# the development token helper settles): a counter officer submits, a national monitor
# reads the trace.
HEADERS: dict[str, str] = {"Authorization": f"Bearer {issue_token(Role.counter_officer)}"}
REPORT_HEADERS: dict[str, str] = {
    "Authorization": f"Bearer {issue_token(Role.national_monitor)}"}
AGENCY = "000.01.02.H26"
DOSSIERS = 3


@pytest.fixture(scope="module")
def stack(session_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # INFO, as in production: what a log file would really hold (the shared stack logs at
    # WARNING only).
    running = Stack(session_broker, tmp_path_factory.mktemp("stack"),
                    ports={name: free_port() for name in SERVICES},
                    extra_env={"ONESTOP_LOG_LEVEL": "INFO"})
    running.migrate()
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _applicants() -> list[dict[str, str]]:
    """Numbers drawn for this run, so none can come from another test on the broker."""
    rng = random.Random()
    return [{"id_number": f"0{rng.randrange(10**10, 10**11)}",
             "social_insurance_code": f"{rng.randrange(10**9, 10**10)}",
             "phone": f"09{rng.randrange(10**7, 10**8)}",
             "email": f"nd{rng.randrange(10**8, 10**9)}@example.vn"} for _ in range(DOSSIERS)]


def _submit(stack: Stack, n: int, person: dict[str, str]) -> str:
    body = dossier(AGENCY, 900_000 + n)
    body["applicant"] |= person
    body["submission_id"] = f"e2e-personal-{person['id_number']}"
    r = httpx.post(f"{stack.services['intake'].url}/api/v1/dossiers", auth=AUTH, json=body,
                   headers=HEADERS, timeout=30)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["dossier_code"])


def _told(stack: Stack, code: str) -> bool:
    """The dossier went through every service, down to notification's message."""
    r = httpx.get(f"{stack.services['reporting'].url}/api/v1/dossiers/{code}/trace", auth=AUTH,
                  headers=REPORT_HEADERS, timeout=10)
    assert r.status_code in (200, 404), r.text  # 404: not there yet; anything else: a bug
    return r.status_code == 200 and any(e["service"] == "notification"
                                        for e in r.json()["events"])


async def _every_record(bootstrap: str, names: list[str], idle_seconds: float = 5.0,
                        most_seconds: float = 120.0) -> dict[str, list[bytes]]:
    """Each topic's records from the beginning (key, headers and value as bytes), read until
    nothing new comes for `idle_seconds` (the local broker's end offsets are unreliable);
    the relays' heartbeats never stop, so they do not count as new."""
    consumer = AIOKafkaConsumer(*names, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    found: dict[str, list[bytes]] = {n: [] for n in names}
    await consumer.start()
    try:
        started = quiet_since = time.monotonic()
        while (time.monotonic() - quiet_since < idle_seconds
               and time.monotonic() - started < most_seconds):
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                if tp.topic != topics.HEARTBEAT.name:
                    quiet_since = time.monotonic()
                for rec in records:
                    found[tp.topic].append(b"\0".join([
                        rec.key or b"", rec.value or b"",
                        *(k.encode() + b"=" + (v or b"") for k, v in rec.headers)]))
    finally:
        await consumer.stop()
    return found


def _log_files(var: Path) -> list[Path]:
    """Every file a service wrote beside its database: logs and traces (the databases and
    the document store are checked elsewhere: sealed columns, content-addressed PDFs)."""
    return [p for p in var.rglob("*") if p.is_file() and p.suffix in (".log", ".jsonl")]


def _hits(blobs: list[bytes], values: list[str]) -> set[str]:
    return {v for v in values if any(v.encode() in b for b in blobs)}


def test_no_clear_personal_value_in_logs_or_outside_personal_topics(stack: Stack) -> None:
    people = _applicants()
    codes = [_submit(stack, n, p) for n, p in enumerate(people)]
    for code in codes:
        wait_for(lambda code=code: _told(stack, code), 120, f"{code} to reach notification")
    values = [v for p in people for v in p.values()]

    logs = _log_files(stack.var_dir)
    # Something was checked: the services' log files, written to (the search itself is
    # proven on the personal topics below, where it finds every value).
    assert {p.stem for p in logs if p.parent.name == "log" and p.stat().st_size} >= set(
        SERVICES), [str(p) for p in logs]
    for path in logs:
        leaked = _hits([path.read_bytes()], values)
        assert not leaked, f"{path.relative_to(stack.var_dir)} holds {sorted(leaked)}"

    names = [t.name for t in topics.TOPICS]
    records = asyncio.run(_every_record(stack.bootstrap, names))
    personal = {t.name for t in topics.TOPICS if t.personal_data}
    for name in names:
        if name not in personal:
            leaked = _hits(records[name], values)
            assert not leaked, f"{name} (not marked personal) carries {sorted(leaked)}"
    # The topic search is real: the values are where the registry says they travel.
    private = _hits(records[topics.INTAKE_PRIVATE.name], values)
    assert {p["id_number"] for p in people} <= private
    assert {p["social_insurance_code"] for p in people} <= private
    contacts = _hits(records[topics.CONTACTS.name], values)
    assert {p["phone"] for p in people} | {p["email"] for p in people} <= contacts
    assert not {p["id_number"] for p in people} & contacts  # the narrow topic is narrow
