"""Intake applies a batch of province events with a few statements, and the result is the
one the events give one by one: in ONE batch, a dossier's return and step arrive before its
receipt (parked, then replayed when the receipt comes), an older status after a newer one
changes nothing, and a second dossier's receipt sits beside them. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from contracts import topics
from contracts.envelope import Envelope
from contracts.ingest import ProvinceDossierStatus
from services.common.messaging.consumer import Context
from services.intake import tables
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.integration.support import settings_for
from tests.integration.test_province_lifecycle import EXAMPLES, status_event

pytestmark = pytest.mark.integration
AGENCY = "000.01.02.H26"


async def test_one_batch_out_of_order_gives_what_the_events_give(
        database_url: str, tmp_path: Path, unique: str) -> None:
    runtime = build(settings_for(IntakeSettings, "127.0.0.1:1", database_url, tmp_path))
    await runtime.migrate()
    example = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
    code, other = f"{AGENCY}-260302-q{unique}", f"{AGENCY}-260302-r{unique}"
    t0 = datetime.now(UTC) - timedelta(days=2)
    step = {"step_no": 1, "step_code": "CDBHXH", "department": "Phòng Chế độ BHXH",
            "at": (t0 + timedelta(hours=2)).isoformat()}
    bodies = [
        status_event(example, code, 10, t0 + timedelta(days=1, hours=3),
                     return_channel="postal"),
        status_event(example, code, 4, t0 + timedelta(hours=2), step=step),
        status_event(example, code, 2, t0, received_at=t0.isoformat()),
        status_event(example, code, 9, t0 + timedelta(days=1), decision="approved"),
        status_event(example, other, 2, t0, received_at=t0.isoformat()),
    ]
    handler = runtime.app.state.ingest
    try:
        async with runtime.transaction() as s:
            items = []
            for body in bodies:
                envelope = Envelope.model_validate(body)
                ctx = Context(s, envelope, topics.INGEST.name)
                items.append((ctx, ProvinceDossierStatus.model_validate(envelope.data)))
            await handler.batch(s, items)
        async with runtime.sessions() as s:
            rows = {r["code"]: r for r in (await s.execute(select(tables.dossiers).where(
                tables.dossiers.c.code.in_([code, other])))).mappings()}
            parked = await s.scalar(select(func.count()).select_from(tables.parked).where(
                tables.parked.c.dossier_code == code))
            types = [r[0] for r in (await s.execute(
                select(runtime.tables.outbox.c.event_type).where(
                    runtime.tables.outbox.c.key == code).order_by(
                    runtime.tables.outbox.c.seq))).all()]
        # The return is the latest news: the decision, applied after it, did not undo it.
        assert rows[code]["status"] == "returned"
        assert rows[other]["status"] == "received"
        assert parked == 0
        short = [t.removeprefix("vn.gov.bhxh.onestop.") for t in types]
        assert short == ["dossier.received.v1", "applicant.recorded.v1",
                         "contacts.recorded.v1", "step.assigned.v1", "result.returned.v1",
                         "dossier.resolved.v1"]
    finally:
        await runtime.engine.dispose()
