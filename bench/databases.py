"""The bench's view of the services' databases: fresh PostgreSQL databases for a run, and
plain read-only queries on a service's database from outside its process (how far reporting
is, and when it applied each event), so the bench asks no service to do extra work."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.monitor import PG_ADMIN

APPLICATION = "onestop-bench"


async def create_databases(services: tuple[str, ...]) -> dict[str, str]:
    """One fresh PostgreSQL database per service: service -> SQLAlchemy URL."""
    run = uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(PG_ADMIN)
    urls = {}
    try:
        for service in services:
            name = f"onestop_bench_{run}_{service}"
            await conn.execute(f'CREATE DATABASE "{name}"')
            urls[service] = PG_ADMIN.rsplit("/", 1)[0].replace(
                "postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    finally:
        await conn.close()
    return urls


async def drop_databases(urls: dict[str, str]) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        for url in urls.values():
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def utc(value: Any) -> datetime:
    """A stored time as an aware UTC datetime: asyncpg gives one, SQLite gives the naive UTC
    text UtcDateTime wrote."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ServiceDb:
    """Read-only SQL on one service's database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pg: asyncpg.Connection | None = None
        self._sqlite: sqlite3.Connection | None = None

    @classmethod
    def of(cls, var_dir: Path, service: str, urls: dict[str, str]) -> ServiceDb:
        """The database a Stack gives `service`: its URL, else the SQLite file in var."""
        default = f"sqlite+aiosqlite:///{(var_dir / 'db' / f'{service}.db').resolve()}"
        return cls(urls.get(service, default))

    async def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite"):
            if self._sqlite is None:
                path = self.url.split(":///", 1)[1]
                # WAL: this reader never blocks the service's writer.
                self._sqlite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30,
                                               check_same_thread=False)
            return await asyncio.to_thread(lambda: self._sqlite.execute(sql).fetchall())  # type: ignore[union-attr]
        if self._pg is None:
            # Named, so the server's CPU spent on the bench's own polling is left out. The
            # development server runs without autovacuum, so no table of a run is ever
            # analyzed: without statistics the planner read the whole events table for the
            # bench's "events after the mark" (163 ms a poll at 287,000 events, then 5
            # minutes for the latency read). Index paths are taken for this session only.
            self._pg = await asyncpg.connect(
                self.url.replace("+asyncpg", "", 1),
                server_settings={"application_name": APPLICATION, "enable_seqscan": "off",
                                 "max_parallel_workers_per_gather": "0"})
        return [tuple(r) for r in await self._pg.fetch(sql)]

    async def scalar(self, sql: str) -> Any:
        return (await self.rows(sql))[0][0]

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._sqlite is not None:
            self._sqlite.close()
