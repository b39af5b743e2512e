"""Processing applies an ApplicantRecorded it already holds (republished under another event
id after a broker reset) without an IntegrityError that would dead-letter it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from contracts import topics
from contracts.common import IndividualApplicant
from contracts.events import ApplicantRecorded
from services.common.consumer import Context
from services.processing import tables
from services.processing.app import build
from services.processing.handlers import Cases
from services.processing.settings import ProcessingSettings
from tests.integration.support import settings_for

pytestmark = pytest.mark.integration


async def test_an_applicant_recorded_twice_is_kept_once(database_url: str,
                                                        tmp_path: Path) -> None:
    runtime = build(settings_for(ProcessingSettings, "127.0.0.1:1", database_url, tmp_path))
    await runtime.migrate()
    cases = Cases(None, runtime.outbox)  # type: ignore[arg-type]
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
