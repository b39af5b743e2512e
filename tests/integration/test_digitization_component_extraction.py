"""The revision that keeps each component's OCR summary fills it for scans made before, from
the ComponentDigitized rows the outbox still holds (the latest of each component wins), so
a dossier still waiting for another component when it ran hears its form's mismatch on the
DossierDigitized its last component brings. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from contracts import topics
from contracts.events import ComponentDigitized, DossierDigitized
from services.common.clock import SystemClock
from services.common.messaging.outbox import OutboxWriter
from services.common.persistence.bulk import flush_inserts
from services.common.persistence.migrations import alembic_config, upgrade_async
from services.digitization import tables
from services.digitization.handlers import Digitizer

pytestmark = pytest.mark.integration
BEFORE = "0010"  # the revision before components kept their extraction
AGENCY = "000.01.02.H26"
SUMMARY = {"form_code": "14-HSB", "fields": [{"name": "id_number", "read": True,
                                              "confidence": 0.93}],
           "compared": True, "mismatches": [{"field": "id_number", "kind": "differs",
                                             "confidence": 0.93}]}


def outbox_row(code: str, component: str, extraction: dict | None, at: datetime) -> dict:
    data = {"dossier_code": code, "component_code": component, "form": "paper",
            "digitized_at": at.isoformat(), "source": "scanned", "extraction": extraction}
    event_id = str(uuid.uuid4())
    payload = {"specversion": "1.0", "id": event_id, "type": ComponentDigitized.event_type,
               "source": "onestop/digitization", "subject": code, "time": at.isoformat(),
               "agencycode": AGENCY, "datacontenttype": "application/json", "data": data}
    return {"event_id": event_id, "topic": topics.DIGITIZATION.name, "key": code,
            "event_type": ComponentDigitized.event_type,
            "payload": json.dumps(payload).encode(), "created_at": at, "published_at": at}


async def test_scans_made_before_keep_their_summary_for_the_dossiers_event(
        database_url: str) -> None:
    cfg = alembic_config("digitization", database_url, tables.metadata)
    await asyncio.to_thread(command.upgrade, cfg, BEFORE)
    engine = create_async_engine(database_url)
    now, code = datetime.now(UTC), f"{AGENCY}-260401-X{uuid.uuid4().hex[:6]}"
    earlier = now - timedelta(hours=1)
    try:
        async with engine.begin() as c:  # only the columns the older revision has
            await c.execute(tables.dossiers.insert().values(
                code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
                component_count=3, received_at=earlier, applicant_ref="p1_old"))
            await c.execute(tables.components.insert(), [
                {"dossier_code": code, "code": component, "form": "paper",
                 "digitized_at": at, "source": "scanned" if at else None}
                for component, at in (("14-HSB", now), ("TK1-TS", now), ("GKS", None))])
            await c.execute(tables.runtime.outbox.insert(), [
                # The form scanned twice: the second scan's summary is the one that stands.
                outbox_row(code, "14-HSB", None, earlier),
                outbox_row(code, "14-HSB", SUMMARY, now),
                # Read once, then scanned again without extraction: nothing stands.
                outbox_row(code, "TK1-TS", {**SUMMARY, "form_code": "TK1-TS"}, earlier),
                outbox_row(code, "TK1-TS", None, now)])
        await engine.dispose()
        await upgrade_async("digitization", database_url, tables.metadata)

        c_ = tables.components.c
        async with engine.connect() as c:
            kept = {r.code: r.extraction for r in await c.execute(
                select(c_.code, c_.extraction).where(c_.dossier_code == code))}
        assert kept == {"14-HSB": SUMMARY, "TK1-TS": None, "GKS": None}

        # The last component given by reference: the dossier's event names the form's read.
        digitizer = Digitizer(OutboxWriter("digitization", tables.runtime, SystemClock()))
        async with engine.connect() as c:
            s = AsyncSession(bind=c)
            async with s.begin():
                done = await digitizer.mark_paper_digitized(s, code, "GKS", "doc-elsewhere")
                await flush_inserts(s)
            assert done["dossier_digitized"] is True
            o = tables.runtime.outbox.c
            payload = await s.scalar(select(o.payload).where(
                o.key == code, o.event_type == DossierDigitized.event_type))
            await s.close()
        event = DossierDigitized.model_validate(json.loads(payload)["data"])
        assert [e.model_dump(mode="json") for e in event.extractions or []] == [SUMMARY]
    finally:
        await engine.dispose()
