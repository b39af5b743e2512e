"""Processing applies an ApplicantRecorded it already holds (republished under another event
id after a broker reset) without an IntegrityError that would dead-letter it; cases older
than the deadline monitor are scheduled at start-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, null, select, update

from contracts import topics
from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    IndividualApplicant,
    LegalTime,
    ReturnChannel,
)
from contracts.events import ApplicantRecorded, DossierDigitized, DossierReceived
from services.common.messaging.consumer import Context
from services.law.workdays import WorkCalendar
from services.processing import tables
from services.processing.app import build
from services.processing.case_events import CaseEvents
from services.processing.case_records import CaseLaw, CaseRecorder
from services.processing.settings import ProcessingSettings
from tests.integration.support import settings_for

pytestmark = pytest.mark.integration
LEGAL = LegalTime(value=5, unit="working_days")


async def test_an_applicant_recorded_twice_is_kept_once(database_url: str,
                                                        tmp_path: Path) -> None:
    runtime = build(settings_for(ProcessingSettings, "127.0.0.1:1", database_url, tmp_path))
    await runtime.migrate()
    cases = CaseEvents(CaseRecorder(CaseLaw(None), runtime.outbox))  # type: ignore[arg-type]
    event = ApplicantRecorded(dossier_code="000.01.02.H26-260302-r0001",
                              applicant_ref="p1_processing_test_ref",
                              applicant=IndividualApplicant(full_name="Lê Văn An",
                                                            id_number="001190099999"))
    try:
        for _ in range(2):  # two deliveries, two envelope ids
            envelope = runtime.outbox.envelope(event, "000.01.02.H26")
            async with runtime.transaction() as s:
                # Twice in one batch too: the batch keeps it once before the database does.
                ctx = Context(session=s, envelope=envelope, topic=topics.INTAKE_PRIVATE.name)
                await cases.apply_batch(s, [(ctx, event), (ctx, event)])
        async with runtime.sessions() as s:
            count = await s.scalar(select(func.count()).select_from(tables.applicants))
        assert count == 1
    finally:
        await runtime.engine.dispose()


async def test_cases_opened_before_the_monitor_get_their_alerts(
        database_url: str, tmp_path: Path) -> None:
    """Cases opened before migration 0005 have no next alert time; the first tick after
    start-up schedules them, so an old late case is overdue, once."""
    runtime = build(settings_for(ProcessingSettings, "127.0.0.1:1", database_url, tmp_path))
    await runtime.migrate()
    cases: CaseEvents = runtime.app.state.cases
    code = "000.01.01.H26-260101-B0001"
    received = datetime.now(UTC) - timedelta(days=40)
    events = [
        DossierReceived(dossier_code=code, agency_code="000.01.01.H26",
                        procedure_code="BHXH.NH.03", catalog_version="2025.07",
                        channel=Channel.counter, return_channel=ReturnChannel.counter,
                        received_at=received, due_at=WorkCalendar().due_at(received, LEGAL),
                        legal_time=LEGAL, applicant=ApplicantRef(kind="individual",
                                                                 ref="p1_backfill"),
                        components=[ComponentRef(code="GKS", form="paper")]),
        DossierDigitized(dossier_code=code, agency_code="000.01.01.H26",
                         procedure_code="BHXH.NH.03", digitized_at=received,
                         component_count=1)]
    try:
        async with runtime.transaction() as s:
            envelope = runtime.outbox.envelope(events[0], "000.01.01.H26")
            ctx = Context(session=s, envelope=envelope, topic=topics.INTAKE.name)
            await cases.apply_batch(s, [(ctx, e) for e in events])
        async with runtime.transaction() as s:  # as migration 0005 left older cases
            await s.execute(update(tables.cases).where(tables.cases.c.code == code).values(
                next_alert_at=None, alerts_fired=null(), deadline=None))
        for _ in range(2):
            await runtime.app.state.monitor()
        async with runtime.sessions() as s:
            row = (await s.execute(select(tables.cases).where(
                tables.cases.c.code == code))).mappings().one()
            overdue = await s.scalar(select(func.count()).select_from(runtime.tables.outbox)
                                     .where(runtime.tables.outbox.c.key == code,
                                            runtime.tables.outbox.c.event_type.like(
                                                "%dossier.overdue%")))
        assert row["deadline"] == "overdue" and overdue == 1
    finally:
        await runtime.engine.dispose()
