"""The outbox's payloads of events bound for personal topics are sealed at rest, over a real
intake, broker and database (SQLite and PostgreSQL): the applicant's identity and contacts
wait in the outbox sealed (no clear ID number, phone or e-mail in any raw row), reach Kafka
in clear as before (consumers unchanged), and are published again, opened, after the broker
lost its log. A row written in clear before is published as it is; a row no configured key
opens is parked with its reason, never published, and holds nothing back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, text

from contracts import topics
from contracts.envelope import Envelope
from contracts.events import ApplicantRecorded, ContactsRecorded
from deploy.local.broker import LocalBroker, free_port
from services.common.messaging.outbox import encode
from services.common.persistence.sealed_columns import is_sealed_payload
from services.common.runtime import Runtime
from services.common.sealing import ColumnSealer
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.auth import AUTH
from tests.integration.support import eventually, read_topic, settings_for
from tests.integration.test_intake_runtime import submission

pytestmark = pytest.mark.integration
ID_NUMBER, PHONE, EMAIL = "079190055501", "0912555501", "lan.pham55501@example.vn"
OLD_ID = "079190055502"  # the identity in a row the code before wrote in clear
PERSONAL = (topics.INTAKE_PRIVATE.name, topics.CONTACTS.name)


async def outbox(runtime: Runtime) -> list[dict[str, Any]]:
    """The raw rows, by plain SQL: what anyone who can read the table sees."""
    async with runtime.engine.connect() as conn:
        result = await conn.execute(text(
            "SELECT event_id, topic, key, payload, parked_at, park_reason, "
            "seq IN (SELECT seq FROM outbox_pending) AS queued FROM outbox ORDER BY seq"))
        return [{**r, "payload": bytes(r["payload"])} for r in result.mappings()]


async def add_row(runtime: Runtime, envelope: Envelope, payload: bytes) -> None:
    async with runtime.engine.begin() as conn:
        await conn.execute(insert(runtime.tables.outbox).values(
            event_id=str(envelope.id), topic=topics.INTAKE_PRIVATE.name,
            key=envelope.subject, event_type=envelope.type, payload=payload,
            created_at=datetime.now(UTC)))


def identity(runtime: Runtime, code: str, id_number: str) -> Envelope:
    return runtime.outbox.envelope(ApplicantRecorded(
        dossier_code=code, applicant_ref=f"ref-{code}",
        applicant={"kind": "individual", "full_name": "Phạm Thị Lan", "id_number": id_number}),
        "000.00.01.H26")


async def test_personal_payloads_are_sealed_in_the_outbox_and_published_in_clear(
        tmp_path: Path, database_url: str, unique: str) -> None:
    broker = LocalBroker(free_port(), tmp_path / "broker.log").start()
    runtime = build(settings_for(IntakeSettings, broker.bootstrap, database_url, tmp_path))
    await runtime.migrate()
    # Before the relay runs: a row in clear as the code before wrote it, and one sealed
    # under a key this service does not hold.
    old = identity(runtime, f"OLD-{unique}", OLD_ID)
    await add_row(runtime, old, encode(old))
    foreign = identity(runtime, f"FOREIGN-{unique}", OLD_ID)
    await add_row(runtime, foreign, ColumnSealer.from_secret(
        Fernet.generate_key().decode()).seal(encode(foreign)))
    await runtime.start()
    try:
        body = submission(unique)
        body["applicant"] |= {"id_number": ID_NUMBER, "phone": PHONE, "email": EMAIL}
        body["portal_account"] = f"acct-{unique}"
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as client:
            made = await client.post("/api/v1/dossiers", json=body)
            assert made.status_code == 201, made.text
            code = made.json()["dossier_code"]

        async def settled() -> bool:
            rows = await outbox(runtime)
            return not any(r["queued"] for r in rows)
        await eventually(settled, "every row published or parked")

        rows = await outbox(runtime)
        mine = [r for r in rows if r["key"] == code]
        assert {r["topic"] for r in mine} >= {*PERSONAL, topics.INTAKE.name}
        for row in mine:
            # Sealed exactly when the topic carries personal data; the others as before.
            assert is_sealed_payload(row["payload"]) == (row["topic"] in PERSONAL), row
        raw = b" ".join(r["payload"] for r in mine)
        for value in (ID_NUMBER, PHONE, EMAIL):
            assert value.encode() not in raw
        parked = next(r for r in rows if r["event_id"] == str(foreign.id))
        assert parked["parked_at"] is not None and not parked["queued"]
        assert parked["park_reason"].startswith("SealError"), parked["park_reason"]

        async def on_kafka(bootstrap: str) -> None:
            private = await read_topic(bootstrap, topics.INTAKE_PRIVATE.name,
                                       lambda b, _: b.get("subject") in (code, old.subject),
                                       count=2, wait_seconds=30)
            by_subject = {b["subject"]: rec for b, rec in private}
            event = ApplicantRecorded.model_validate(
                Envelope.model_validate_json(by_subject[code].value).data)
            assert event.applicant.id_number == ID_NUMBER  # in clear, as consumers read it
            assert by_subject[old.subject].value == encode(old)  # the clear row, as it was
            contacts = await read_topic(bootstrap, topics.CONTACTS.name,
                                        lambda b, _: b.get("subject") == code, wait_seconds=30)
            assert len(contacts) == 1
            reached = ContactsRecorded.model_validate(
                Envelope.model_validate_json(contacts[0][1].value).data)
            assert (reached.phone, reached.email) == (PHONE, EMAIL)
            never = await read_topic(bootstrap, topics.INTAKE_PRIVATE.name,
                                     lambda b, _: b.get("subject") == foreign.subject,
                                     wait_seconds=2)
            assert never == []

        await on_kafka(broker.bootstrap)
        broker.kill()  # the log is gone; the relay sees it and publishes the outbox again
        broker.start()
        await on_kafka(broker.bootstrap)
        assert all(is_sealed_payload(r["payload"]) == (r["topic"] in PERSONAL)
                   for r in await outbox(runtime) if r["key"] == code)
    finally:
        await runtime.stop()
        broker.stop()
