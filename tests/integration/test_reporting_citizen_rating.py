"""Ratings by origin (Art. 31) over the real broker, on SQLite and PostgreSQL: a citizen's
rating, relayed by intake (the internal service's `rating:citizen`), is taken once a
dossier is returned, may be changed for REPORTING_CITIZEN_RATING_CHANGE_DAYS after the
first, then is closed (409 rating_closed); an officer's counter survey stands beside it,
marked `counter_survey`, and never replaces it; both go out on onestop.reports.v1 with
their origin. The revision that adds the origin keeps every earlier rating as a counter
survey."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from contracts.topics import REPORTS
from services.common.clock import FixedClock
from services.common.http.auth import issue_token
from services.common.persistence.migrations import alembic_config, upgrade_async
from services.product.roles import Role
from services.reporting import tables
from services.reporting.app import build
from services.reporting.settings import ReportingSettings
from tests.integration.support import eventually, read_topic, settings_for, started
from tests.integration.test_reporting_dashboard import NOW, history
from tests.integration.test_reporting_projection import Renamed, catalog_dir, publish

pytestmark = pytest.mark.integration


def _as(role: Role, runtime_app: object, agency: str) -> httpx.AsyncClient:
    token = issue_token(role, user=f"t-{role}", agency=agency)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime_app),  # type: ignore[arg-type]
                             base_url="http://reporting",
                             headers={"Authorization": f"Bearer {token}"})


async def test_a_citizen_rates_once_changes_it_within_the_window_then_it_is_closed(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    renamed = Renamed(unique)
    province, office = renamed("000.00.01.H26"), renamed("000.01.01.H26")
    settings = settings_for(ReportingSettings, kafka_bootstrap, database_url, tmp_path)
    settings = settings.model_copy(update={"catalog_dir": catalog_dir(tmp_path, renamed),
                                           "scope_agency": province,
                                           "citizen_rating_change_days": 3.0})
    h, codes = history(office, unique[:6])
    returned, open_ = codes["D1"], codes["D2"]
    clock = FixedClock(NOW)
    runtime = await started(build(settings, clock))
    service = _as(Role.internal_service, runtime.app, "*")
    counter = _as(Role.counter_officer, runtime.app, office)
    try:
        await publish(kafka_bootstrap, h.items)

        async def folded() -> bool:
            r = await counter.post(f"/api/v1/dossiers/{open_}/rating", json={"score": 3})
            return r.status_code == 409  # known, not returned
        await eventually(folded, "the history in the projection")

        citizen = f"/api/v1/dossiers/{returned}/citizen-rating"
        # Nothing yet; a dossier not returned cannot be rated; a counter officer may not
        # speak for the citizen, nor the relay record a counter survey.
        assert (await service.get(citizen)).status_code == 404
        early = await service.put(f"/api/v1/dossiers/{open_}/citizen-rating", json={"score": 5})
        assert (early.status_code, early.json()["problems"][0]["code"]) == (409, "not_returned")
        refused = await counter.put(citizen, json={"score": 5})
        assert (refused.status_code, refused.json()["missing_permission"]) == (
            403, "rating:citizen")
        assert (await service.post(f"/api/v1/dossiers/{returned}/rating", json={"score": 1})
                ).json()["missing_permission"] == "rating:record"

        first = await service.put(citizen, json={"score": 2, "comment": "Chờ lâu, gọi 0912345678"})
        assert first.status_code == 200, first.text
        body = first.json()
        until = datetime.fromisoformat(body["changeable_until"])
        assert (body["origin"], body["score"], body["replaced"]) == ("citizen", 2, False)
        assert until == NOW + timedelta(days=3)
        assert "0912345678" not in body["comment"]  # masked: the topic carries no phone

        # The officer's counter survey stands beside it, marked as such.
        survey = await counter.post(f"/api/v1/dossiers/{returned}/rating", json={"score": 4})
        assert survey.json()["origin"] == "counter_survey" and survey.json()["replaced"] is False

        clock.advance(timedelta(days=2, hours=23))  # still within the three days
        changed = await service.put(citizen, json={"score": 5, "comment": "Đã được giải thích"})
        assert changed.status_code == 200 and changed.json()["replaced"] is True
        assert datetime.fromisoformat(changed.json()["changeable_until"]) == until  # unmoved
        standing = (await service.get(citizen)).json()
        assert (standing["score"], standing["comment"]) == (5, "Đã được giải thích")

        clock.advance(timedelta(hours=2))  # past it
        closed = await service.put(citizen, json={"score": 1})
        assert closed.status_code == 409
        problem = closed.json()["problems"][0]
        assert problem["code"] == "rating_closed" and "Đã hết thời hạn" in problem["message_vi"]
        assert datetime.fromisoformat(problem["changeable_until"]) == until
        assert (await service.get(citizen)).json()["score"] == 5  # the closed one changed nothing

        async with runtime.sessions() as s:
            rows = {r.origin: r.score for r in await s.execute(
                select(tables.ratings).where(tables.ratings.c.dossier_code == returned))}
        assert rows == {"citizen": 5, "counter_survey": 4}
        emu = (await counter.get("/api/v1/emulation", headers={
            "Authorization": f"Bearer {issue_token(Role.office_leader, agency=province)}"})
        ).json()
        [o] = [o for o in emu["offices"] if o["agency_code"] == office]
        assert o["ratings"] == 2 and o["rating_avg"] == 4.5

        events = await read_topic(kafka_bootstrap, REPORTS.name,
                                  lambda b, _: b.get("subject") == returned, count=3)
        origins = sorted((e["data"]["origin"], e["data"]["score"]) for e, _ in events)
        assert origins == [("citizen", 2), ("citizen", 5), ("counter_survey", 4)]
    finally:
        await service.aclose()
        await counter.aclose()
        await runtime.stop()


async def test_ratings_kept_before_the_revision_are_counter_surveys(database_url: str) -> None:
    cfg = alembic_config("reporting", database_url, tables.metadata)
    await asyncio.to_thread(command.upgrade, cfg, "0008")
    engine = create_async_engine(database_url)
    now, code = datetime.now(UTC), f"000.01.01.H26-261012-{uuid.uuid4().hex[:4]}"
    try:
        async with engine.begin() as c:  # the columns the older revision has
            await c.exec_driver_sql(
                "INSERT INTO ratings (dossier_code, agency_code, score, comment, rated_at, "
                "event_id) VALUES (?, ?, ?, ?, ?, ?)" if database_url.startswith("sqlite") else
                "INSERT INTO ratings (dossier_code, agency_code, score, comment, rated_at, "
                "event_id) VALUES ($1, $2, $3, $4, $5, $6)",
                (code, "000.01.01.H26", 4, "Tốt", now, "e1"))
        await engine.dispose()
        await upgrade_async("reporting", database_url, tables.metadata)
        r = tables.ratings.c
        async with engine.connect() as c:
            rows = (await c.execute(select(r.dossier_code, r.origin, r.score,
                                           r.changeable_until))).all()
        assert [tuple(x) for x in rows] == [(code, "counter_survey", 4, None)]
        # ...and the down revision keeps them.
        await asyncio.to_thread(command.downgrade, cfg, "0008")
        async with engine.connect() as c:
            kept = (await c.exec_driver_sql("SELECT dossier_code, score FROM ratings")).all()
        assert [tuple(x) for x in kept] == [(code, 4)]
    finally:
        await engine.dispose()
