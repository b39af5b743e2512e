"""The deadline monitor over the real broker: a dossier recorded with a receipt 40 days
past is overdue at once, its DossierOverdue is on the processing topic and the case is
listed by `deadline=overdue` within seconds; ticks after that fire nothing again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from contracts import topics
from services.processing.app import build
from services.processing.settings import ProcessingSettings
from tests.integration.support import eventually, read_topic, settings_for, started
from tests.integration.test_processing_lifecycle import AGENCY, _type, arrive, client_for

pytestmark = pytest.mark.integration


async def test_a_dossier_received_40_days_ago_is_overdue_within_seconds(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    settings = settings_for(ProcessingSettings, kafka_bootstrap, database_url, tmp_path)
    runtime = await started(build(settings.model_copy(update={"monitor_seconds": 0.2})))
    code = f"{AGENCY}-251020-O{unique}"
    overdue_type = _type("dossier.overdue")
    try:
        async with client_for(runtime) as client:
            await arrive(runtime, kafka_bootstrap, code, datetime.now(UTC) - timedelta(days=40))

            async def overdue() -> list[dict[str, Any]]:
                r = await client.get("/api/v1/cases", params={"deadline": "overdue",
                                                              "agency": AGENCY,
                                                              "page_size": 500})
                assert r.status_code == 200, r.text
                return [i for i in r.json()["items"] if i["code"] == code]
            listed = await eventually(overdue, "the case listed as overdue")
            assert listed[0]["deadline"] == "overdue" and listed[0]["state"] == "in_step"
            near = (await client.get("/api/v1/cases", params={"deadline": "near",
                                                              "agency": AGENCY})).json()
            assert code not in [i["code"] for i in near["items"]]
            assert (await client.get("/api/v1/cases",
                                     params={"deadline": "late"})).status_code == 422

        found = await read_topic(kafka_bootstrap, topics.PROCESSING.name,
                                 lambda b, _: b.get("subject") == code
                                 and b.get("type") == overdue_type)
        assert len(found) == 1
        body = found[0][0]["data"]
        assert body["dossier_code"] == code
        # At the due time the receiving unit still held it (it opened in processing now).
        assert body["responsible_department"] is None
        assert datetime.fromisoformat(body["due_at"]) < datetime.fromisoformat(
            body["detected_at"])

        # The job run twice more (as a second replica or a restart would): nothing again.
        await runtime.app.state.monitor()
        await runtime.app.state.monitor()
        outbox = runtime.tables.outbox
        async with runtime.sessions() as s:
            counts = dict((await s.execute(
                select(outbox.c.event_type, func.count()).where(outbox.c.key == code)
                .group_by(outbox.c.event_type))).all())
            row = (await s.execute(select(
                runtime.metadata.tables["cases"].c.next_alert_at,
                runtime.metadata.tables["cases"].c.alerts_fired).where(
                runtime.metadata.tables["cases"].c.code == code))).one()
        assert counts.get(overdue_type) == 1
        # Passed together with the due time, the "approaching" thresholds are stale.
        assert _type("deadline.approaching") not in counts
        assert row.next_alert_at is None and row.alerts_fired == ["overdue"]
    finally:
        await runtime.stop()
