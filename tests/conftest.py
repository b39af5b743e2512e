"""Fixtures every test layer shares: the broker, PostgreSQL databases, scratch folders.

The broker, in this order: KAFKA_BOOTSTRAP_SERVERS if set; else testcontainers' Kafka when a
Docker engine answers (both shared by the session); else a Tansu broker on a free loopback
port, one per test (`kafka_bootstrap`) and one for the session's long-lived stacks
(`session_broker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from deploy.local.broker import fresh_broker

PG_ADMIN = os.environ.get("ONESTOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _docker_kafka() -> Iterator[str] | None:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
    except Exception:
        return None
    from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

    def run() -> Iterator[str]:
        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()

    return run()


def with_topics(bootstrap: str) -> str:
    """The registry's topics, as `make up` creates them: no client of ours asks a broker to
    auto-create one (services/common/messaging/kafka.py), so a test may publish before any
    relay ran."""
    from services.common.messaging.kafka import ensure_topics

    asyncio.run(ensure_topics(bootstrap))
    return bootstrap


@functools.cache
def _external() -> bool:
    return bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")) or _docker_kafka() is not None


@pytest.fixture(scope="session")
def session_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One broker for the session: for a stack or fixture that outlives one test."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield with_topics(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
        return
    container = _docker_kafka()
    if container is not None:
        for bootstrap in container:
            yield with_topics(bootstrap)
        return
    with fresh_broker(tmp_path_factory.mktemp("broker") / "broker.log") as bootstrap:
        yield bootstrap


@pytest.fixture
def kafka_bootstrap(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A broker of this test alone (a local one starts in a third of a second). On a shared
    one a fresh consumer group first reads every earlier test's records: they land in the
    test's figures, or delay its own records past its wait, late in a full run. An external
    broker (KAFKA_BOOTSTRAP_SERVERS, or Docker's) is the session's, shared."""
    if _external():
        yield request.getfixturevalue("session_broker")
        return
    with fresh_broker(tmp_path / "broker.log") as bootstrap:
        yield bootstrap


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"onestop_test_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
        return
    async with postgres_database() as url:
        yield url


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
