"""Notification reads only what its rules tell someone of and what a dossier's facts are
folded from, over the real broker: an explanation of a late dossier (no rule names it) and a
province's step completed are passed over, never applied nor kept in its inbox, while the
receipt and the overdue alert around them are. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, LegalTime, ReturnChannel
from contracts.envelope import Envelope
from contracts.events import (
    DossierOverdue,
    DossierReceived,
    Event,
    OverdueExplained,
    StepCompleted,
)
from services.common.messaging.outbox import encode
from services.notification import tables
from services.notification.app import build
from services.notification.settings import NotificationSettings
from tests.integration.support import eventually, settings_for, started

pytestmark = pytest.mark.integration
AGENCY = "000.01.01.H26"


async def test_events_nobody_is_told_of_and_no_fact_needs_are_passed_over(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    code = f"{AGENCY}-260302-N{unique}"
    received = datetime.now(UTC) - timedelta(days=9)
    due = received + timedelta(days=7)
    events: list[tuple[topics.Topic, Event]] = [
        (topics.INTAKE, DossierReceived(
            dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
            catalog_version="2025.07", channel=Channel.counter,
            return_channel=ReturnChannel.counter, received_at=received, due_at=due,
            legal_time=LegalTime(value=5, unit="working_days"),
            applicant=ApplicantRef(kind="individual", ref=f"p1_{unique}"),
            components=[ComponentRef(code="GKS", form="electronic")])),
        (topics.PROVINCIAL, StepCompleted(
            dossier_code=code, step_no=1, step_code="CDBHXH", department="Phòng Chế độ BHXH",
            completed_at=received + timedelta(days=1), outcome="on_time")),
        (topics.PROCESSING, OverdueExplained(
            dossier_code=code, explained_at=due + timedelta(hours=1), explained_by=AGENCY,
            cause="Thiếu hồ sơ liên thông")),
        (topics.PROCESSING, DossierOverdue(
            dossier_code=code, due_at=due, detected_at=due + timedelta(hours=2),
            responsible_department="Phòng Chế độ BHXH")),
    ]
    runtime = await started(build(settings_for(NotificationSettings, kafka_bootstrap,
                                               database_url, tmp_path)))
    try:
        envelopes = [(topic, runtime.outbox.envelope(event, AGENCY)) for topic, event in events]
        await _publish(kafka_bootstrap, envelopes)
        ids = [str(envelope.id) for _, envelope in envelopes]

        async def alert_applied() -> set[str]:
            async with runtime.sessions() as s:
                overdue = await s.scalar(select(tables.dossiers.c.overdue_at).where(
                    tables.dossiers.c.code == code))
                inbox = runtime.tables.inbox
                kept = set((await s.scalars(select(inbox.c.event_id).where(
                    inbox.c.event_id.in_(ids)))).all())
            assert overdue is not None and ids[3] in kept, (overdue, kept)
            return kept
        # The alert after them was applied: they were read past, not waiting.
        kept = await eventually(alert_applied, "the overdue alert applied")
        assert kept == {ids[0], ids[3]}
    finally:
        await runtime.stop()


async def _publish(bootstrap: str, items: list[tuple[topics.Topic, Envelope]]) -> None:
    """As a relay publishes: the type in the `ce_type` header, the dossier as the key."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, envelope in items:
            await producer.send_and_wait(
                topic.name, encode(envelope), key=(envelope.subject or "").encode(),
                headers=[("ce_type", envelope.type.encode()),
                         ("ce_id", str(envelope.id).encode())])
    finally:
        await producer.stop()
