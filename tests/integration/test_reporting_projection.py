"""Reporting over the real broker: a hand-made history and synthetic lifecycles, published
in a shuffled order across topics with redeliveries, give exactly the facts the pure fold
gives; the quarterly report (JSON, xlsx, pdf, as_of) has the figures counted by hand; a
rebuild from the beginning of every topic gives the same tables as the live projection,
ratings given live (reporting's own topic) and their emulation averages included.

The hand-made history runs in a copy of the catalogue whose province H26 is renamed for
the run, so the dossiers other tests publish to the shared broker never count in its figures."""

from __future__ import annotations

import asyncio
import io
import random
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook
from sqlalchemy import func, inspect, select

from bench.rebuild import lifecycle
from contracts.common import ReturnChannel
from contracts.envelope import Envelope
from contracts.events import DossierRated, ResultReturned
from contracts.topics import PROCESSING
from services.common.messaging.outbox import encode
from services.common.runtime import Runtime
from services.law.catalog import load_catalogs
from services.law.catalog.loader import DEFAULT_FILE
from services.law.workdays import TZ
from services.reporting import tables
from services.reporting.app import build
from services.reporting.calendars import Calendars
from services.reporting.facts import Recorded, fold
from services.reporting.rebuild import DEFERRED, NotEmpty, rebuild
from services.reporting.repository import ReportingRepository
from services.reporting.settings import ReportingSettings
from tests.auth import AUTH
from tests.integration.support import eventually, fresh_database, settings_for, started
from tests.unit.test_reporting_quarterly import AS_OF_Q3_2026, EXPECTED, history, nodes

pytestmark = pytest.mark.integration
PROJECTIONS = ("dossier_facts", "step_facts", "daily_figures", "ratings")
# Resolved dossiers of the history whose results are returned, so they can be rated.
RETURNED = {"d02": "000.01.01.H26", "d09": "000.01.01.H26", "d06": "000.01.02.H26"}


class Renamed:
    """The province H26 under a code of this test run's own (the broker is shared by the
    session's tests, and a live projection reads every topic from the beginning)."""

    def __init__(self, unique: str) -> None:
        self.suffix = f".Q{unique[:2].upper()}"

    def __call__(self, code: str) -> str:
        return code.replace(".H26", self.suffix)


def catalog_dir(tmp: Path, renamed: Renamed) -> Path:
    folder = tmp / "catalog"
    folder.mkdir()
    (folder / DEFAULT_FILE.name).write_text(renamed(DEFAULT_FILE.read_text("utf-8")), "utf-8")
    return folder


def records(unique: str, renamed: Renamed) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value): the history, 25 lifecycles, 10 redeliveries, shuffled."""
    out = [(topic.name, env.subject.encode(), renamed(encode(env).decode()).encode())
           for topic, env in history(f"{unique}")]
    for name, agency in RETURNED.items():
        returned = ResultReturned(dossier_code=f"{unique}-{name}",
                                  returned_at=datetime(2026, 9, 21, 9, tzinfo=TZ),
                                  return_channel=ReturnChannel.counter)
        env = Envelope(type=returned.event_type, source="onestop/test",
                       subject=returned.dossier_code, time=returned.returned_at,
                       agencycode=renamed(agency), data=returned.model_dump(mode="json"))
        out.append((PROCESSING.name, env.subject.encode(), encode(env)))
    start = datetime(2026, 6, 1, 8, tzinfo=TZ)
    for i in range(25):
        out += [(topic.name, env.subject.encode(), encode(env))
                for topic, env in lifecycle(i, start, tag=unique)]
    rnd = random.Random(unique)
    out += rnd.sample(out, 10)
    rnd.shuffle(out)
    return out


async def publish(bootstrap: str, items: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(t, v, key=k) for t, k, v in items])
    finally:
        await producer.stop()


def expected_facts(items: list[tuple[str, bytes, bytes]], folder: Path) -> dict[str, Any]:
    by_code: dict[str, list[Recorded]] = {}
    for _, _, value in items:
        env = Envelope.model_validate_json(value)
        by_code.setdefault(env.subject, []).append(Recorded.parsed(env))
    cals = Calendars(load_catalogs(folder))
    return {code: fold(code, evs, cals)[0] for code, evs in by_code.items()}


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


async def table(runtime: Runtime, name: str) -> list[dict[str, Any]]:
    async with runtime.sessions() as s:
        return await ReportingRepository().table_rows(s, name)


async def indexes(runtime: Runtime) -> dict[str, set[str]]:
    """The secondary indexes the database holds, of each table a rebuild fills."""
    async with runtime.engine.connect() as conn:
        return await conn.run_sync(lambda c: {t.name: {i["name"] for i in inspect(
            c).get_indexes(t.name)} for t in DEFERRED})


async def give_ratings(client: httpx.AsyncClient, unique: str) -> None:
    """Ratings given live: d02 rated twice (the second replaces the first), d09 and d06
    once; a dossier whose result is not returned cannot be rated."""
    for name, score, replaced in (("d02", 2, False), ("d09", 4, False), ("d06", 3, False),
                                  ("d02", 5, True)):
        r = await client.post(f"/api/v1/dossiers/{unique}-{name}/rating",
                              json={"score": score, "comment": f"Đánh giá {score}"})
        assert r.status_code == 200 and r.json()["replaced"] is replaced, r.text
    r = await client.post(f"/api/v1/dossiers/{unique}-d04/rating", json={"score": 5})
    assert r.status_code == 409


async def office_ratings(runtime: Runtime, offices: list[str]) -> dict[str, tuple[int, float]]:
    """(ratings, average) of the emulation figures' offices."""
    async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                 base_url="http://reporting") as client:
        r = await client.get("/api/v1/emulation")
    assert r.status_code == 200, r.text
    rows = {o["agency_code"]: o for o in r.json()["offices"]}
    return {o: (rows[o]["ratings"], rows[o]["rating_avg"]) for o in offices if o in rows}


async def rating_events(runtime: Runtime, unique: str) -> int:
    """DossierRated events of this test's dossiers the projection read back from the topic."""
    e = tables.events
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(e).where(
            e.c.type == DossierRated.event_type, e.c.dossier_code.like(f"{unique}-%"))) or 0)


async def test_live_facts_reports_and_rebuild(kafka_bootstrap: str, database_url: str,
                                              tmp_path: Path, unique: str) -> None:
    renamed = Renamed(unique)
    folder = catalog_dir(tmp_path, renamed)
    settings = settings_for(ReportingSettings, kafka_bootstrap, database_url, tmp_path)
    settings = settings.model_copy(update={"catalog_dir": folder})
    runtime = await started(build(settings))
    items = records(unique, renamed)
    expected = expected_facts(items, folder)
    repo = ReportingRepository()
    try:
        await publish(kafka_bootstrap, items)

        async def all_in() -> bool:
            async with runtime.sessions() as s:
                facts = await repo.facts_of(s, list(expected))
            return len(facts) == len(expected) and all(
                facts[c].event_count == expected[c].event_count for c in expected)
        await eventually(all_in, "every event of the test's dossiers in the facts")

        # Order-independence over the real broker: the live facts are the pure fold's.
        async with runtime.sessions() as s:
            live = await repo.facts_of(s, list(expected))
        assert live == expected

        client = httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                   base_url="http://reporting")
        province = renamed("000.00.01.H26")
        for (year, q), figures in EXPECTED.items():
            r = await client.get("/api/v1/reports/quarterly",
                                 params={"year": year, "quarter": q, "agency": province})
            assert r.status_code == 200, r.text
            found = nodes(r.json())
            for code, indicators in figures.items():
                if renamed(code) in found:
                    assert found[renamed(code)]["indicators"] == indicators, (year, q, code)
        r = await client.get("/api/v1/reports/quarterly", params={
            "year": 2026, "quarter": 3, "agency": province,
            "as_of": "2026-09-15T00:00:00+07:00"})
        b = renamed("000.01.02.H26")
        assert nodes(r.json())[b]["indicators"] == AS_OF_Q3_2026["000.01.02.H26"]

        # Exports: the same figures, read back.
        params = {"year": 2026, "quarter": 3, "agency": province}
        a = renamed("000.01.01.H26")
        figures = EXPECTED[(2026, 3)]["000.01.01.H26"]
        xlsx = await client.get("/api/v1/reports/quarterly.xlsx", params=params)
        assert xlsx.status_code == 200
        sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
        # The form's columns (services/reporting/exports.py), the code last.
        row = next(r for r in sheet.iter_rows(values_only=True) if r[17] == a)
        assert row[2:7] == (figures["received"]["total"], figures["received"]["online"],
                            figures["received"]["direct"], figures["received"]["postal"],
                            figures["received"]["carried_over"])
        assert row[7:11] == (2, 1, 0, 1) and row[11:14] == (2, 2, 0) and row[14:17] == (0, 1, 0)
        assert any("KẾT QUẢ GIẢI QUYẾT" in str(c) for r in sheet.iter_rows(values_only=True)
                   for c in r if c)
        pdf = await client.get("/api/v1/reports/quarterly.pdf", params=params)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        (tmp_path / "q.pdf").write_bytes(pdf.content)
        text = pdf_text(tmp_path / "q.pdf")
        line = next(x for x in text.splitlines() if "Bảo hiểm xã hội cơ sở Ba Đình" in x)
        assert line.split()[-15:] == ["5", "1", "2", "1", "1", "2", "1", "0", "1", "2", "2",
                                      "0", "0", "1", "0"]
        assert "Quý 3 năm 2026" in text and "Bảo hiểm xã hội cơ sở Ba Đình" in text
        bad = await client.get("/api/v1/reports/quarterly", params={"year": 2026,
                                                                    "quarter": 5})
        assert bad.status_code == 422 and bad.json()["problems"]
        naive = await client.get("/api/v1/reports/quarterly", params={
            "year": 2026, "quarter": 3, "as_of": "2026-09-15T00:00:00"})
        assert naive.status_code == 422 and naive.json()["problems"][0]["field"] == "as_of"

        # Ratings: shown at once, and on reporting's own topic for whoever rebuilds.
        await give_ratings(client, unique)
        await client.aclose()
        offices = [renamed("000.01.01.H26"), renamed("000.01.02.H26")]
        rated = {offices[0]: (2, 4.5), offices[1]: (1, 3.0)}  # (5 + 4) / 2; 3
        assert await office_ratings(runtime, offices) == rated

        async def read_back() -> bool:
            return await rating_events(runtime, unique) == 4
        await eventually(read_back, "the ratings read back from onestop.reports.v1")
        assert await office_ratings(runtime, offices) == rated  # the events changed nothing

        # Rebuild: every input topic from the beginning into a fresh database.
        async with fresh_database(database_url, tmp_path) as url:
            result = await rebuild(settings, url)
            assert result.applied > len(expected)
            rebuilt = build(settings.model_copy(update={"database_url": url}))

            async def caught_up() -> bool:
                async with runtime.sessions() as s, rebuilt.sessions() as r:
                    count = select(func.count()).select_from(tables.events)
                    return bool(await s.scalar(count) == await r.scalar(count))
            try:
                await eventually(caught_up, "the live projection to hold what was rebuilt")
                for name in PROJECTIONS:
                    assert await table(runtime, name) == await table(rebuilt, name), name
                assert await office_ratings(rebuilt, offices) == rated
                # Its indexes were dropped for the replay and built again at the end.
                schema = {t.name: {str(i.name) for i in t.indexes} for t in DEFERRED}
                found = await indexes(rebuilt)
                assert found == await indexes(runtime)
                assert all(schema[t] and schema[t] <= found[t] for t in schema)
                # A rebuild into a database that holds a rebuild is refused, before it
                # drops an index or writes a row.
                events = await table(rebuilt, "events")
                with pytest.raises(NotEmpty, match="events"):
                    await rebuild(settings, url)
                assert await indexes(rebuilt) == found
                assert await table(rebuilt, "events") == events
            finally:
                await rebuilt.engine.dispose()

        # Past the events a rebuild keeps in memory, each dossier is folded from its stored
        # events instead; and in batches of 7 (a batch boundary anywhere): the same tables.
        whole = result.applied
        async with fresh_database(database_url, tmp_path, "spilled") as url:
            result = await rebuild(settings.model_copy(update={"rebuild_memory_events": 10,
                                                               "rebuild_batch": 7}), url)
            assert result.applied == whole
            spilled = build(settings.model_copy(update={"database_url": url}))
            try:
                for name in PROJECTIONS:
                    assert await table(runtime, name) == await table(spilled, name), name
                assert await indexes(spilled) == await indexes(runtime)
            finally:
                await spilled.engine.dispose()
    finally:
        await runtime.stop()


def test_the_rebuild_command(kafka_bootstrap: str, tmp_path: Path) -> None:
    """`python -m services.reporting rebuild --database-url URL`, as an operator runs it."""
    import os
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "ONESTOP_VAR_DIR": str(tmp_path), "ONESTOP_LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "services.reporting", "rebuild",
                           "--database-url", url], capture_output=True, text=True, env=env,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert "reporting rebuilt:" in done.stdout and "events/s" in done.stdout
    missing = subprocess.run([sys.executable, "-m", "services.reporting", "rebuild"],
                             capture_output=True, text=True, env=env, timeout=60,
                             cwd=Path(__file__).resolve().parents[2])
    assert missing.returncode == 2 and "--database-url" in missing.stderr
