"""A database that does not answer in time: /health says so within its bound, naming the
check; reads answer beside a held SQLite write lock; a request that needs the lock answers
503 with Retry-After in the problems shape, never a 500 or a hang; after release everything
answers again and nothing accepted before is lost. On PostgreSQL: /health is bounded when
no pooled connection comes."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.persistence.db import make_engine, session_factory, waiting_at_most
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.auth import AUTH
from tests.conftest import postgres_database
from tests.integration.support import eventually, settings_for, started
from tests.integration.test_intake_runtime import submission

pytestmark = pytest.mark.integration

# Far under the 60 s a request waited for the lock before; far over the 2-3 s it may take.
NO_HANG = 15.0


async def answer(client: httpx.AsyncClient, method: str, url: str,
                 **kwargs: Any) -> httpx.Response:
    """The response, or the test fails if none comes before NO_HANG."""
    return await asyncio.wait_for(client.request(method, url, **kwargs), NO_HANG)


@contextlib.asynccontextmanager
async def held_write_lock(path: str) -> AsyncIterator[None]:
    """Another connection holds the file's write lock (what a stuck process or a long
    maintenance transaction does). Taken in a thread: a service transaction in flight must
    reach its COMMIT on the event loop, which a blocking BEGIN here would stop."""
    locker = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
        yield
        locker.execute("ROLLBACK")
    finally:
        locker.close()


async def healthy(client: httpx.AsyncClient) -> httpx.Response:
    health = await answer(client, "GET", "/health")
    assert health.status_code == 200, health.text  # not yet; shown if it lasts
    return health


async def test_a_locked_sqlite_file_is_answered_not_waited_for(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
    runtime = await started(build(settings_for(IntakeSettings, kafka_bootstrap, url, tmp_path)))
    try:
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as client:
            await eventually(lambda: healthy(client), "/health to answer 200")
            created = await answer(client, "POST", "/api/v1/dossiers",
                                   json=submission(unique))
            assert created.status_code == 201, created.text
            code = created.json()["dossier_code"]

            async with held_write_lock(str(make_url(url).database)):
                health = await answer(client, "GET", "/health")
                assert health.status_code == 503, health.text
                assert "locked" in health.json()["checks"]["database"]
                assert health.json()["checks"]["database"].startswith("error")

                # A read needs no lock under WAL.
                read = await answer(client, "GET", f"/api/v1/dossiers/{code}")
                assert read.status_code == 200, read.text
                assert read.json()["dossier_code"] == code

                # A write does: 503, soon, with Retry-After and both languages.
                post = await answer(client, "POST", "/api/v1/dossiers",
                                    json=submission(unique + "b"))
                assert post.status_code == 503, post.text
                assert int(post.headers["Retry-After"]) > 0
                problem = post.json()["problems"][0]
                assert problem["code"] == "database_busy"
                assert problem["message_vi"] and problem["message_en"]

                # So does a read that is recorded in the audit trail first.
                slip = await answer(client, "GET", f"/api/v1/dossiers/{code}/receipt.pdf")
                assert slip.status_code == 503, slip.text
                assert "Retry-After" in slip.headers

            await eventually(lambda: healthy(client), "/health to answer 200")
            assert (await answer(client, "GET", f"/api/v1/dossiers/{code}")).status_code == 200
            again = await answer(client, "POST", "/api/v1/dossiers",
                                 json=submission(unique + "b"))
            assert again.status_code == 201, again.text
            slip = await answer(client, "GET", f"/api/v1/dossiers/{code}/receipt.pdf")
            assert slip.status_code == 200
    finally:
        await runtime.stop()


async def test_health_is_bounded_when_postgres_gives_no_connection(
        tmp_path: Path) -> None:
    async with postgres_database() as url:
        # Not started: no relay or consumer takes connections from the pool meanwhile.
        runtime = build(settings_for(IntakeSettings, "127.0.0.1:1", url, tmp_path))
        await runtime.migrate()
        held: list[AsyncConnection] = []
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                         base_url="http://intake") as client:
                health = await answer(client, "GET", "/health")
                assert health.json()["checks"]["database"] == "ok"

                # Every connection of the pool taken: one more is not given within 1 s.
                with contextlib.suppress(TimeoutError):
                    while True:
                        held.append(await asyncio.wait_for(runtime.engine.connect(), 1))
                assert held
                health = await answer(client, "GET", "/health")
                assert health.status_code == 503
                assert health.json()["checks"]["database"].startswith("error: timed out")

                for conn in held:
                    await conn.close()
                held.clear()
                health = await answer(client, "GET", "/health")
                assert health.json()["checks"]["database"] == "ok"
        finally:
            for conn in held:
                await conn.close()
            await runtime.engine.dispose()


async def test_sessions_take_the_write_lock_only_to_write(tmp_path: Path) -> None:
    """db.py: a session used without begin() reads beside a held write lock; one begun with
    begin() asks for the lock at BEGIN and, in a request's context, gives up soon."""
    path = tmp_path / "locks.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    sessions = session_factory(engine)
    try:
        async with sessions() as s, s.begin():
            await s.execute(text("CREATE TABLE t (x INTEGER)"))
            await s.execute(text("INSERT INTO t VALUES (1)"))
        async with held_write_lock(str(path)):
            async with sessions() as s:
                assert await s.scalar(text("SELECT count(*) FROM t")) == 1
            with waiting_at_most(0.2), pytest.raises(OperationalError, match="locked"):
                async with sessions() as s, s.begin():
                    await s.execute(text("INSERT INTO t VALUES (2)"))
            with waiting_at_most(0.2), pytest.raises(OperationalError, match="locked"):
                async with engine.begin() as conn:  # a connection without a session writes
                    await conn.execute(text("SELECT 1"))
        async with sessions() as s:  # background work waits as long as it did
            assert await s.scalar(text("PRAGMA busy_timeout")) == 60000
    finally:
        await engine.dispose()
