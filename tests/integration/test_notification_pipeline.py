"""Notification over the real broker, with a real SMTP server, SMS gateway and provincial
system on localhost: each event reaches each recipient once on each channel; redelivered
events send nothing twice; a dead SMTP server (nothing listening, or a socket that accepts
and never answers) delays e-mail without stalling the consumer, and the e-mail goes out when
it returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from sqlalchemy import func, select

from contracts import topics
from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    LegalTime,
    ReturnChannel,
)
from contracts.envelope import Envelope
from contracts.events import (
    ContactsRecorded,
    DeadlineApproaching,
    DossierReceived,
    Event,
    ResultIssued,
    StepAssigned,
)
from services.common.messaging.consumer import Context
from services.common.messaging.outbox import encode
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.notification import tables
from services.notification.app import build
from services.notification.settings import NotificationSettings
from services.product.roles import Role
from tests.auth import AUTH, bearer
from tests.integration.support import (
    eventually,
    group_of,
    handled,
    read_topic,
    settings_for,
    started,
)
from tests.integration.test_notification_channels import HttpSink, SilentSmtp, SmtpSink

pytestmark = pytest.mark.integration
AGENCY = "000.01.01.H26"
LEGAL = LegalTime(value=5, unit="working_days")
OFFICER, DEPARTMENT = "badinh.cd.cb01", "Phòng Chế độ BHXH"


def settings(bootstrap: str, database_url: str, tmp: Path, smtp_port: int, sms: HttpSink,
             hook: HttpSink, **extra: Any) -> NotificationSettings:
    s = settings_for(NotificationSettings, bootstrap, database_url, tmp)
    directory = tmp / "directory.yaml"
    directory.write_text(s.directory_file.read_text(encoding="utf-8").replace(
        "http://127.0.0.1:8090", hook.url), encoding="utf-8")
    now = datetime.now(TZ)
    values = dict(smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_timeout_seconds=2,
                  sms_gateway_url=f"{sms.url}/sms", directory_file=directory,
                  sender_seconds=0.2, retry_base_seconds=0.3, retry_max_seconds=1.0,
                  # Retries for a minute: on a loaded machine the applicant's contacts (their
                  # own topic) may arrive well after the receipt they are needed for.
                  max_attempts=80,
                  watch_seconds=3600,
                  # No quiet hours during this test, whatever the hour it runs at.
                  quiet_start=now.time().replace(microsecond=0), quiet_end=now.time()
                  .replace(microsecond=0))
    values.update(extra)
    for k, v in values.items():
        setattr(s, k, v)
    return s


def lifecycle(code: str) -> list[tuple[topics.Topic, Event]]:
    received = datetime.now(UTC) - timedelta(hours=1)
    due = received + timedelta(days=7)
    applicant = ApplicantRef(kind="individual", ref=f"p1_{code}")
    return [
        (topics.INTAKE, DossierReceived(
            dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
            catalog_version="2025.07", channel=Channel.counter,
            return_channel=ReturnChannel.counter, received_at=received, due_at=due,
            legal_time=LEGAL, applicant=applicant,
            components=[ComponentRef(code="GKS", form="paper")])),
        (topics.CONTACTS, ContactsRecorded(
            dossier_code=code, applicant_ref=applicant.ref, phone="0912345678",
            email=f"{code.lower()}@example.vn")),
        (topics.PROCESSING, StepAssigned(
            dossier_code=code, step_no=1, step_code="CDBHXH", department=DEPARTMENT,
            assignee=OFFICER, assigned_at=received)),
        (topics.PROCESSING, DeadlineApproaching(
            dossier_code=code, due_at=due, warned_at=received + timedelta(minutes=30))),
        (topics.PROCESSING, ResultIssued(
            dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
            applicant=applicant, issued_at=received + timedelta(minutes=40),
            result_code="QD-01", result_type="Quyết định hưởng trợ cấp")),
    ]


def envelopes(runtime: Runtime, events: list[tuple[topics.Topic, Event]]
              ) -> list[tuple[topics.Topic, Envelope]]:
    return [(topic, runtime.outbox.envelope(event, AGENCY)) for topic, event in events]


async def publish(bootstrap: str, items: list[tuple[topics.Topic, Envelope]]
                  ) -> list[RecordMetadata]:
    """Where each record landed, to wait until the consumer has handled it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return [await producer.send_and_wait(topic.name, encode(envelope),
                                             key=(envelope.subject or "").encode())
                for topic, envelope in items]
    finally:
        await producer.stop()


async def statuses(runtime: Runtime, code: str) -> dict[tuple[str, str, str], str]:
    m = tables.messages
    async with runtime.sessions() as s:
        rows = (await s.execute(select(m.c.audience, m.c.channel, m.c.recipient, m.c.status)
                                .where(m.c.dossier_code == code))).all()
    return {(a, c, r): st for a, c, r, st in rows}


async def every_message_sent(runtime: Runtime, code: str) -> bool:
    m = tables.messages
    async with runtime.sessions() as s:
        rows = (await s.execute(select(m.c.status).where(m.c.dossier_code == code))).all()
    return bool(rows) and all(r[0] == "sent" for r in rows)


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                             base_url="http://notification")


async def test_each_event_reaches_each_recipient_once_and_redelivery_sends_nothing(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    smtp, sms, hook = SmtpSink().start(), HttpSink(), HttpSink()
    code = f"{AGENCY}-261130-N{unique[:4]}"
    async with sms.running(), hook.running():
        runtime = build(settings(kafka_bootstrap, database_url, tmp_path, smtp.port, sms, hook))
        try:
            await started(runtime)
            sent = envelopes(runtime, lifecycle(code))
            await publish(kafka_bootstrap, sent)
            expected = {
                ("applicant", "inbox", f"p1_{code}"), ("applicant", "sms", f"p1_{code}"),
                ("applicant", "email", f"p1_{code}"), ("officer", "inbox", OFFICER),
                ("officer", "email", OFFICER),
                ("provincial_system", "webhook", "system:000.00.01.H26")}

            seen: dict[Any, str] = {}

            async def all_sent() -> bool:
                # Every message, not one per (audience, channel, recipient): the applicant's
                # receipt e-mail may wait for their contacts, which come on another topic.
                seen.update(await statuses(runtime, code))
                # ...and the three e-mails delivered: a message keyed like one already sent
                # (the receipt's, waiting for the contacts) may not exist yet.
                delivered = sum(code in m["Subject"] for m in smtp.messages)
                return set(seen) == expected and await every_message_sent(runtime, code) \
                    and delivered >= 3
            try:
                await eventually(all_sent, "every message sent")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; so far {seen}") from None
            # Two applicant e-mails (received, result), one to the officer (near due).
            # The broker is shared by the session: earlier tests' dossiers are read too.
            def mine() -> tuple[list[Any], list[Any], list[Any]]:
                return ([m for m in smtp.messages if code in m["Subject"]],
                        [c for c in sms.calls if code.encode() in c["body"]],
                        [c for c in hook.calls if code.encode() in c["body"]])
            mails = {(m["To"], m["Subject"]) for m in mine()[0]}
            assert mails == {
                (f"{code.lower()}@example.vn", f"Hồ sơ {code} đã được tiếp nhận"),
                (f"{code.lower()}@example.vn", f"Kết quả hồ sơ {code} đã sẵn sàng"),
                ("anh.vd@badinh.baohiemxahoi.gov.vn", f"Sắp đến hạn: hồ sơ {code}")}
            assert [len(x) for x in mine()] == [3, 2, 1]
            assert any(b"Ho so " + code.encode() + b" da duoc tiep nhan" in c["body"]
                       for c in mine()[1])
            assert mine()[2][0]["path"] == "/hanoi/mot-cua/thong-bao"

            announced = await read_topic(
                kafka_bootstrap, topics.NOTIFICATION.name,
                lambda b, _: b["data"]["dossier_code"] == code, count=9)
            assert len(announced) == 9  # 2 inbox + 2 SMS + 2 e-mails applicant; officer 2; 1
            assert {b["type"].split(".")[-2] for b, _ in announced} == {"sent"}

            async with client_for(runtime) as client:
                # The officer's own inbox, by their token; nobody else may mark it read.
                me = bearer(Role.processing_officer, user=OFFICER)
                r = await client.get("/api/v1/inbox", headers=me)
                [item] = [i for i in r.json()["items"] if i["dossier_code"] == code]
                assert item["subject"] == f"Sắp đến hạn: hồ sơ {code}" and item["read_at"] is None
                other = bearer(Role.processing_officer, user="someone-else")
                r = await client.post(f"/api/v1/inbox/{item['id']}/read", headers=other)
                assert r.status_code == 404
                r = await client.get("/api/v1/inbox", params={"recipient": OFFICER},
                                     headers=other)
                assert r.status_code == 403 and r.json()["missing_permission"] == "inbox:any"
                r = await client.post(f"/api/v1/inbox/{item['id']}/read", headers=me)
                assert r.status_code == 200 and r.json()["read_at"]
                r = await client.get("/api/v1/inbox", params={"recipient": OFFICER,
                                                              "unread": True},
                                     headers=bearer(Role.ops))  # ops may read anyone's
                assert r.status_code == 200
                assert code not in {i["dossier_code"] for i in r.json()["items"]}
                r = await client.post("/api/v1/inbox/no-such-id/read", headers=me)
                assert r.status_code == 404 and r.json()["problems"][0]["code"] == "not_found"

            # The same events again (a rebalance, a replay), then a marker dossier.
            marker = f"{AGENCY}-261130-M{unique[:4]}"
            again = await publish(kafka_bootstrap,
                                  sent + envelopes(runtime, lifecycle(marker)[:1]))
            await eventually(lambda: statuses(runtime, marker), "the marker dossier queued")
            # Every record handled, then a sender pass after that: anything they queued
            # would be sent by now.
            await handled(kafka_bootstrap, group_of(runtime), again)
            await runtime.app.state.sender.run()
            assert [len(x) for x in mine()] == [3, 2, 1]
            assert len(await statuses(runtime, code)) == len(expected)

            # Below the broker's de-duplication: the batch handler itself, twice, same ids.
            notifier = runtime.app.state.notifier
            for _ in range(2):
                async with runtime.transaction() as s:
                    await notifier.apply_batch(s, [
                        (Context(session=s, envelope=env, topic=topic.name), event)
                        for (topic, env), (_, event) in zip(sent, lifecycle(code), strict=True)])
            async with runtime.sessions() as s:
                count = await s.scalar(select(func.count()).select_from(tables.messages)
                                       .where(tables.messages.c.dossier_code == code))
            assert count == len(expected) + 3  # received, near, result: 3 distinct inbox rows
        finally:
            await runtime.stop()
            smtp.stop()


@pytest.mark.parametrize("dead", ["closed", "hanging"])
async def test_a_dead_smtp_server_delays_mail_without_stalling_the_consumer(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str, dead: str
        ) -> None:
    first, second = f"{AGENCY}-261130-D{unique[:4]}", f"{AGENCY}-261130-E{unique[:4]}"
    # SMTP not started; the gateway refuses the first dossier's SMS.
    smtp, sms, hook = SmtpSink(), HttpSink(refuse_containing=first.encode()), HttpSink()
    # "hanging": the port accepts connections and never answers, until the real server.
    silent = await SilentSmtp(smtp.port).start() if dead == "hanging" else None
    async with sms.running(), hook.running():
        runtime = build(settings(kafka_bootstrap, database_url, tmp_path, smtp.port, sms, hook,
                                 max_attempts=1000, smtp_timeout_seconds=1))
        try:
            await started(runtime)
            await publish(kafka_bootstrap, envelopes(runtime, lifecycle(first)[:2]))

            async def inbox_sent(code: str) -> bool:
                return (await statuses(runtime, code)).get(
                    ("applicant", "inbox", f"p1_{code}")) == "sent"
            await eventually(lambda: inbox_sent(first), "the first dossier's inbox message")
            m = tables.messages

            async def email_row(code: str) -> Any:
                async with runtime.sessions() as s:
                    return (await s.execute(select(m).where(
                        m.c.dossier_code == code, m.c.channel == "email"))).mappings().first()
            await eventually(lambda: _retried(email_row(first)), "the e-mail retried")
            # The consumer goes on: a later dossier is queued and its inbox message sent.
            await publish(kafka_bootstrap, envelopes(runtime, lifecycle(second)[:2]))
            await eventually(lambda: inbox_sent(second), "the second dossier's inbox message")
            row = await email_row(first)
            assert row["status"] == "pending" and row["last_error"]
            if silent is not None:  # the hang was met, and given up as a transient failure
                assert silent.accepted >= 2
                assert "did not complete the send within 1 s" in row["last_error"]
            # The gateway refused the first SMS for good: NotificationFailed, with why.
            [(failed, _)] = await read_topic(
                kafka_bootstrap, topics.NOTIFICATION.name,
                lambda b, _: b["data"]["dossier_code"] == first
                and b["type"].endswith("notification.failed.v1"))
            assert failed["data"]["channel"] == "sms" and "HTTP 400" in failed["data"]["error"]

            if silent is not None:
                await silent.stop()
            smtp.start()  # the server returns
            def mails() -> list[str]:  # the session's broker holds earlier tests' dossiers
                return sorted(m["To"] for m in smtp.messages if first in m["Subject"]
                              or second in m["Subject"])
            await eventually(lambda: len(mails()) == 2, "both e-mails once the server is back")
            assert mails() == sorted([f"{first.lower()}@example.vn",
                                      f"{second.lower()}@example.vn"])
            await eventually(lambda: _status(email_row(first), "sent"),
                             "the first e-mail settled")
            await runtime.app.state.sender.run()  # a pass after it sends nothing again
            assert len(mails()) == 2  # and only once each
        finally:
            await runtime.stop()
            smtp.stop()
            if silent is not None:
                await silent.stop()


async def _retried(row: Any) -> bool:
    found = await row
    return bool(found and found["attempts"] >= 2 and found["status"] == "pending")


async def _status(row: Any, status: str) -> bool:
    found = await row
    return bool(found and found["status"] == status)
