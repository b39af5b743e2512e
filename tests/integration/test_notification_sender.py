"""The send queue and the watcher on a real database (SQLite and PostgreSQL) with a clock
the test moves and a real local SMS gateway: retries back off and end in NotificationFailed
with the reason; two replicas' senders send each message once; SMS to citizens wait out the
night, even one due before it began but picked up in it; an overdue dossier still open goes
up to the leader and the national unit once; the morning digest goes once a day whatever
the number of replicas."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.events import DossierOverdue, DossierReceived, DossierResolved, Event
from services.common.clock import FixedClock
from services.common.messaging.consumer import Context
from services.common.observability.sqlstats import SqlStats, sql_phase
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.notification import tables
from services.notification.app import build
from services.notification.channels import InboxChannel, SmsChannel
from services.notification.handlers import Sender, Watcher
from services.notification.settings import NotificationSettings
from tests.integration.support import settings_for
from tests.integration.test_notification_channels import HttpSink
from tests.integration.test_notification_pipeline import lifecycle

pytestmark = pytest.mark.integration
AGENCY = "000.01.01.H26"


def vn(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


async def runtime_at(database_url: str, tmp: Path, clock: FixedClock, sms: HttpSink,
                     client: httpx.AsyncClient, **extra: Any) -> Runtime:
    settings = settings_for(NotificationSettings, "127.0.0.1:1", database_url, tmp)
    for k, v in {"retry_base_seconds": 60, "retry_max_seconds": 600, "max_attempts": 3,
                 **extra}.items():
        setattr(settings, k, v)
    runtime = build(settings, clock=clock, channels={
        "inbox": InboxChannel(), "sms": SmsChannel(f"{sms.url}/sms", client)})
    await runtime.migrate()
    return runtime


async def deliver(runtime: Runtime, *events: tuple[topics.Topic, Event]) -> None:
    """As the consumer would, one batch in one transaction."""
    async with runtime.transaction() as s:
        await runtime.app.state.notifier.apply_batch(s, [
            (Context(session=s, envelope=runtime.outbox.envelope(e, AGENCY), topic=t.name), e)
            for t, e in events])


async def messages(runtime: Runtime, **where: Any) -> list[dict[str, Any]]:
    m = tables.messages
    query = select(m).where(*[m.c[k] == v for k, v in where.items()]).order_by(m.c.recipient)
    async with runtime.sessions() as s:
        return [dict(r) for r in (await s.execute(query)).mappings()]


async def outbox_types(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.sessions() as s:
        rows = (await s.execute(select(runtime.tables.outbox.c.payload))).scalars().all()
    return [json.loads(p) for p in rows]


async def test_retries_back_off_then_fail_with_the_reason(database_url: str,
                                                          tmp_path: Path) -> None:
    clock = FixedClock(vn(2026, 12, 1, 10))
    sms = HttpSink(answers=[503] * 10)
    async with sms.running(), httpx.AsyncClient() as client:
        runtime = await runtime_at(database_url, tmp_path, clock, sms, client)
        sender: Sender = runtime.app.state.sender
        code = f"{AGENCY}-261201-R0001"
        try:
            await deliver(runtime, *lifecycle(code)[:2])
            await sender.run()
            [row] = await messages(runtime, dossier_code=code, channel="sms")
            assert (row["status"], row["attempts"]) == ("pending", 1)
            assert row["not_before"] == clock.now() + timedelta(seconds=60)
            assert "HTTP 503" in row["last_error"]
            await sender.run()  # not due yet: nothing is tried
            assert len(sms.calls) == 1
            clock.advance(timedelta(seconds=60))
            await sender.run()
            [row] = await messages(runtime, dossier_code=code, channel="sms")
            assert row["not_before"] == clock.now() + timedelta(seconds=120)  # doubled
            clock.advance(timedelta(seconds=120))
            await sender.run()
            [row] = await messages(runtime, dossier_code=code, channel="sms")
            assert (row["status"], row["attempts"]) == ("failed", 3) and len(sms.calls) == 3
            published = {e["type"].split(".")[-2]: e["data"] for e in await outbox_types(runtime)}
            assert published["failed"]["channel"] == "sms"
            assert published["failed"]["attempts"] == 3
            assert "HTTP 503" in published["failed"]["error"]
            assert published["sent"]["channel"] == "inbox"
        finally:
            await runtime.engine.dispose()


async def test_two_replicas_send_each_message_once(database_url: str, tmp_path: Path) -> None:
    clock = FixedClock(vn(2026, 12, 1, 10))
    sms = HttpSink()
    async with sms.running(), httpx.AsyncClient() as client:
        runtime = await runtime_at(database_url, tmp_path, clock, sms, client)
        try:
            codes = [f"{AGENCY}-261201-T{i:04d}" for i in range(30)]
            for code in codes:
                await deliver(runtime, *lifecycle(code)[:2])
            first: Sender = runtime.app.state.sender
            second = Sender(runtime.transaction, runtime.outbox, first.channels, first.quiet,
                            batch=7)
            await asyncio.gather(first.run(), second.run(), first.run(), second.run())
            assert sorted(json.loads(c["body"])["text"].split()[3] for c in sms.calls) == codes
            assert {r["status"] for r in await messages(runtime)} == {"sent"}
        finally:
            await runtime.engine.dispose()


async def test_sms_to_citizens_wait_for_the_morning(database_url: str, tmp_path: Path) -> None:
    clock = FixedClock(vn(2026, 12, 1, 22, 30))
    sms = HttpSink()
    async with sms.running(), httpx.AsyncClient() as client:
        runtime = await runtime_at(database_url, tmp_path, clock, sms, client,
                                   quiet_start=time(21), quiet_end=time(7))
        sender: Sender = runtime.app.state.sender
        code = f"{AGENCY}-261201-Q0001"
        try:
            await deliver(runtime, *lifecycle(code)[:2])
            await sender.run()
            [row] = await messages(runtime, dossier_code=code, channel="sms")
            assert row["not_before"] == vn(2026, 12, 2, 7) and row["status"] == "pending"
            [inbox] = await messages(runtime, dossier_code=code, channel="inbox")
            assert inbox["status"] == "sent"  # the portal inbox does not ring
            clock.set(vn(2026, 12, 2, 6, 59))
            await sender.run()
            assert sms.calls == []
            clock.set(vn(2026, 12, 2, 7, 0))
            await sender.run()
            assert len(sms.calls) == 1
        finally:
            await runtime.engine.dispose()


async def test_an_sms_planned_before_the_night_but_picked_up_in_it_waits_for_the_morning(
        database_url: str, tmp_path: Path) -> None:
    clock = FixedClock(vn(2026, 12, 1, 20, 59))
    sms = HttpSink()
    async with sms.running(), httpx.AsyncClient() as client:
        runtime = await runtime_at(database_url, tmp_path, clock, sms, client,
                                   quiet_start=time(21), quiet_end=time(7))
        sender: Sender = runtime.app.state.sender
        code = f"{AGENCY}-261201-Q0002"
        try:
            await deliver(runtime, *lifecycle(code)[:2])
            [row] = await messages(runtime, dossier_code=code, channel="sms")
            assert row["not_before"] == vn(2026, 12, 1, 20, 59)  # planned outside the night
            clock.set(vn(2026, 12, 1, 21, 5))  # the sender was down or behind until now
            await sender.run()
            assert sms.calls == []
            [row] = await messages(runtime, dossier_code=code, channel="sms")
            assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, None)
            assert row["not_before"] == vn(2026, 12, 2, 7)
            [inbox] = await messages(runtime, dossier_code=code, channel="inbox")
            assert inbox["status"] == "sent"  # the portal inbox does not ring
            clock.set(vn(2026, 12, 2, 6, 59))
            await sender.run()
            assert sms.calls == []
            clock.set(vn(2026, 12, 2, 7, 0))
            await sender.run()
            await sender.run()
            assert len(sms.calls) == 1
            [row] = await messages(runtime, dossier_code=code, channel="sms")
            assert (row["status"], row["attempts"]) == ("sent", 1)
            sent = [e for e in await outbox_types(runtime)
                    if e["type"].endswith("notification.sent.v1")
                    and e["data"]["channel"] == "sms"]
            assert len(sent) == 1
        finally:
            await runtime.engine.dispose()


async def test_an_overdue_dossier_still_open_goes_up_once(database_url: str,
                                                          tmp_path: Path) -> None:
    due = vn(2026, 12, 4, 17)  # a Friday
    clock = FixedClock(due + timedelta(minutes=5))
    sms = HttpSink()
    async with sms.running(), httpx.AsyncClient() as client:
        runtime = await runtime_at(database_url, tmp_path, clock, sms, client,
                                   escalate_after_working_days=2)
        watcher: Watcher = runtime.app.state.watcher
        late, resolved = f"{AGENCY}-261201-L0001", f"{AGENCY}-261201-L0002"
        by_province = f"{AGENCY}-261201-L0003"
        try:
            for code in (late, resolved, by_province):
                received: DossierReceived = lifecycle(code)[0][1]  # type: ignore[assignment]
                await deliver(runtime, (topics.INTAKE, received), (
                    topics.PROCESSING, DossierOverdue(dossier_code=code, due_at=due,
                                                      detected_at=clock.now(),
                                                      responsible_department="Phòng Chế độ BHXH")))
            heads = await messages(runtime, about_event="dossier.overdue", channel="inbox")
            assert {(r["dossier_code"], r["recipient"]) for r in heads} == {
                (code, "badinh.cd.truong-phong") for code in (late, resolved, by_province)}
            for topic, code in ((topics.PROCESSING, resolved), (topics.PROVINCIAL, by_province)):
                await deliver(runtime, (topic, DossierResolved(
                    dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
                    applicant={"kind": "individual", "ref": f"p1_{code}"},
                    resolved_at=clock.now(), decision="approved", due_at=due,
                    timeliness="late")))
            # A province's own decision closes the dossier here but is told by the province.
            assert await messages(runtime, dossier_code=by_province,
                                  about_event="dossier.resolved") == []
            assert len(await messages(runtime, dossier_code=resolved,
                                      about_event="dossier.resolved")) == 1  # inbox (only)
            clock.set(vn(2026, 12, 8, 16, 59))  # Tuesday, a minute before two working days
            assert await watcher.escalate() == 0
            clock.set(vn(2026, 12, 8, 17, 0))
            assert await watcher.escalate() == 1
            assert await watcher.escalate() == 0
            up = await messages(runtime, about_event="overdue.escalated")
            assert {(r["dossier_code"], r["recipient"]) for r in up} == {
                (late, "badinh.giam-doc"), (late, "bhxhvn.giam-sat")}
            assert "quá hạn 2 ngày làm việc" in up[0]["subject"]
        finally:
            await runtime.engine.dispose()


async def test_the_morning_digest_goes_once_a_day_whatever_the_replicas(
        database_url: str, tmp_path: Path) -> None:
    clock = FixedClock(vn(2026, 12, 5, 8))  # a Saturday: no digest
    sms = HttpSink()
    async with sms.running(), httpx.AsyncClient() as client:
        runtime = await runtime_at(database_url, tmp_path, clock, sms, client)
        code = f"{AGENCY}-261201-G0001"
        try:
            received: DossierReceived = lifecycle(code)[0][1]  # type: ignore[assignment]
            await deliver(runtime, (topics.INTAKE, received), (
                topics.PROCESSING, DossierOverdue(dossier_code=code, due_at=received.due_at,
                                                  detected_at=clock.now())))
            first: Watcher = runtime.app.state.watcher
            second = Watcher(first.planner, runtime.transaction, runtime.outbox, first.calendar,
                             escalate_after=2, digest_at=time(7, 30))
            assert await first.digest() == 0
            clock.set(vn(2026, 12, 7, 7, 29))  # Monday, before the digest hour
            assert await first.digest() == 0
            clock.set(vn(2026, 12, 7, 7, 30))
            await asyncio.gather(first.digest(), second.digest())
            await first.digest()
            second.digested = None  # a restarted replica tries again: the key holds
            await second.digest()
            digests = await messages(runtime, about_event="digest")
            assert sorted((r["recipient"], r["channel"]) for r in digests) == [
                ("badinh.giam-doc", "inbox"), ("bhxhvn.giam-sat", "inbox")]
            assert code in next(r["body"] for r in digests if r["recipient"] ==
                                "badinh.giam-doc")
            clock.set(vn(2026, 12, 8, 7, 30))  # the next working day: a new one
            await first.digest()
            assert len(await messages(runtime, about_event="digest")) == 4
        finally:
            await runtime.engine.dispose()


async def test_claims_of_any_size_are_one_statement_text(database_url: str,
                                                         tmp_path: Path) -> None:
    """The sender's claim marks what it took with one statement whatever the count: an IN
    list of each length was another statement, prepared anew on each pooled connection (on
    PostgreSQL a slow climb of the service's memory and of the server's)."""
    clock = FixedClock(vn(2026, 12, 1, 10))
    sms = HttpSink()
    async with sms.running(), httpx.AsyncClient() as client:
        runtime = await runtime_at(database_url, tmp_path, clock, sms, client)
        try:
            for i in range(12):
                await deliver(runtime, *lifecycle(f"{AGENCY}-261201-C{i:04d}")[:2])
            pending = len(await messages(runtime, status="pending"))
            assert pending >= 9
            repo = runtime.app.state.sender.repo
            lease = clock.now() + timedelta(minutes=5)
            taken: list[str] = []
            async with runtime.engine.connect() as conn:  # one connection: its statements
                s = AsyncSession(bind=conn)
                for limit in (2, 3, 4):
                    taken += [m.id for m in await repo.claim(s, clock.now(), limit, lease)]
                    await s.commit()
                prepared = ((await s.execute(text(
                    "SELECT count(*) FROM pg_prepared_statements "
                    "WHERE statement LIKE 'UPDATE messages SET attempts%'"))).scalar()
                    if conn.dialect.name == "postgresql" else None)
                await s.close()
            assert len(set(taken)) == 9
            leased = {r["id"]: r for r in await messages(runtime, status="pending")}
            assert all(leased[i]["attempts"] == 1 and leased[i]["not_before"] == lease
                       for i in taken)
            assert prepared in (None, 1)
        finally:
            await runtime.engine.dispose()


async def test_a_settle_is_one_statement_and_leaves_what_changed_meanwhile(
        database_url: str, tmp_path: Path) -> None:
    """A pass's outcomes are written by one statement whatever their count; a message
    another pass claimed meanwhile (its attempts moved on) or that is no longer pending
    keeps what it holds: only this pass's claims are settled."""
    clock = FixedClock(vn(2026, 12, 1, 10))
    sms = HttpSink()
    async with sms.running(), httpx.AsyncClient() as client:
        runtime = await runtime_at(database_url, tmp_path, clock, sms, client)
        try:
            for i in range(4):
                await deliver(runtime, *lifecycle(f"{AGENCY}-261201-S{i:04d}")[:2])
            repo = runtime.app.state.sender.repo
            lease = clock.now() + timedelta(minutes=5)
            async with runtime.transaction() as s:
                taken = await repo.claim(s, clock.now(), 4, lease)
            assert len(taken) == 4
            moved, stopped, *mine = taken
            async with runtime.transaction() as s:  # meanwhile: re-claimed; failed
                await s.execute(text("UPDATE messages SET attempts = attempts + 1 "
                                     "WHERE id = :id"), {"id": moved.id})
                await s.execute(text("UPDATE messages SET status = 'failed' WHERE id = :id"),
                                {"id": stopped.id})
            sent_at = clock.now()
            stats = SqlStats.watch(runtime.engine)
            with sql_phase("periodic"):
                async with runtime.transaction() as s:
                    await repo.settle(s, [
                        replace(m, status="sent", sent_at=sent_at, last_error=None)
                        for m in taken])
            assert stats.statements[("periodic", "update", "messages")][0] == 1
            rows = {r["id"]: r for r in await messages(runtime)}
            assert all(rows[m.id]["status"] == "sent" and rows[m.id]["sent_at"] == sent_at
                       for m in mine)
            assert rows[moved.id]["status"] == "pending"
            assert rows[moved.id]["attempts"] == moved.attempts + 1
            assert rows[stopped.id]["status"] == "failed" and rows[stopped.id]["sent_at"] is None
        finally:
            await runtime.engine.dispose()
