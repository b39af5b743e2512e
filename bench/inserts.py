"""How a batch's rows are best written: the same rows (a consumer batch's inbox rows, and
outbox rows of the real size) inserted in one transaction each way, on PostgreSQL and on
SQLite, timing the client's CPU, the wall clock and, on PostgreSQL, the server backend's
CPU (psutil over its process), per 1,000 rows:

- `sqlalchemy executemany`: `session.execute(insert(table), rows)` as the runtime's
  `flush_inserts` did (asyncpg's executemany: one prepared INSERT run once per row);
- `driver executemany`: the same statement handed to the driver with tuples made here;
- `multi-row VALUES`: one INSERT ... VALUES (...), (...), ... per 1,000 rows;
- `unnest arrays` (PostgreSQL): one INSERT ... SELECT * FROM unnest($1::text[], ...),
  a column per array: one statement whatever the count;
- `COPY` (PostgreSQL): asyncpg's copy_records_to_table.

Nothing is asserted; the figures are printed (and returned).

    python -m bench.inserts [--rows N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import psutil
from sqlalchemy import MetaData, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.databases import create_databases, drop_databases
from services.common.persistence.db import make_engine, runtime_tables

PAYLOAD = os.urandom(600)  # an outbox row's sealed event, about the real size


def inbox_rows(n: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [{"consumer": "bench", "event_id": str(uuid.uuid4()), "payload_hash": "a" * 64,
             "topic": "onestop.intake.v1", "applied_at": now} for _ in range(n)]


def outbox_rows(n: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [{"event_id": str(uuid.uuid4()), "topic": "onestop.intake.v1",
             "key": f"000.01.01.H26-260302-{i:06d}", "event_type":
             "vn.gov.bhxh.onestop.dossier.received.v1", "payload": PAYLOAD,
             "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00",
             "created_at": now, "published_at": None} for i in range(n)]


Way = Callable[[AsyncConnection, Any, list[dict[str, Any]]], Awaitable[None]]


async def sqlalchemy_executemany(conn: AsyncConnection, table: Any,
                                 rows: list[dict[str, Any]]) -> None:
    await conn.execute(insert(table), rows)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0])


def _names(cols: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in cols)


def _plain(value: Any, sqlite: bool) -> Any:
    # What UtcDateTime binds: UTC, and naive on SQLite.
    if isinstance(value, datetime) and sqlite:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return value


async def driver_executemany(conn: AsyncConnection, table: Any,
                             rows: list[dict[str, Any]]) -> None:
    raw = await conn.get_raw_connection()
    sqlite = conn.dialect.name == "sqlite"
    cols = _columns(rows)
    marks = ", ".join("?" if sqlite else f"${i + 1}" for i in range(len(cols)))
    sql = f"INSERT INTO {table.name} ({_names(cols)}) VALUES ({marks})"
    values = [tuple(_plain(r[c], sqlite) for c in cols) for r in rows]
    await raw.driver_connection.executemany(sql, values)


async def multirow_values(conn: AsyncConnection, table: Any,
                          rows: list[dict[str, Any]]) -> None:
    await conn.execute(insert(table).values(rows))


async def unnest_arrays(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    raw = (await conn.get_raw_connection()).driver_connection
    cols = _columns(rows)
    kinds = {c: ("bytea" if c == "payload" else "timestamptz" if c.endswith("_at") else "text")
             for c in cols}
    arrays = ", ".join(f"${i + 1}::{kinds[c]}[]" for i, c in enumerate(cols))
    sql = f"INSERT INTO {table.name} ({_names(cols)}) SELECT * FROM unnest({arrays})"
    await raw.execute(sql, *[[r[c] for r in rows] for c in cols])


async def copy_records(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    raw = (await conn.get_raw_connection()).driver_connection
    cols = _columns(rows)
    await raw.copy_records_to_table(table.name, records=[tuple(r[c] for c in cols)
                                                        for r in rows], columns=cols)


WAYS: dict[str, Way] = {"sqlalchemy executemany": sqlalchemy_executemany,
                        "driver executemany": driver_executemany,
                        "multi-row VALUES": multirow_values}
PG_ONLY: dict[str, Way] = {"unnest arrays": unnest_arrays, "COPY": copy_records}


async def measure_url(url: str, rows: int, rounds: int) -> dict[str, dict[str, float]]:
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    postgres = engine.dialect.name == "postgresql"
    ways = {**WAYS, **(PG_ONLY if postgres else {})}
    out: dict[str, dict[str, float]] = {}
    try:
        for name, way in ways.items():
            for table, make in ((tables.inbox, inbox_rows), (tables.outbox, outbox_rows)):
                if name == "multi-row VALUES" and not postgres and len(make(1)[0]) * rows > 32766:
                    continue
                client = server = wall = 0.0
                for _ in range(rounds):
                    batch = make(rows)
                    async with engine.connect() as conn:
                        backend = psutil.Process(await conn.scalar(
                            text("SELECT pg_backend_pid()"))) if postgres else None
                        await conn.commit()
                        s0 = _cpu(backend)
                        c0, w0 = time.process_time(), time.perf_counter()
                        async with conn.begin():
                            await way(conn, table, batch)
                        client += time.process_time() - c0
                        wall += time.perf_counter() - w0
                        server += _cpu(backend) - s0
                per = 1000 / (rows * rounds) * 1000  # seconds in total -> ms per 1,000 rows
                out[f"{name}: {table.name}"] = {"client_cpu_ms": client * per,
                                                "server_cpu_ms": server * per,
                                                "wall_ms": wall * per}
    finally:
        await engine.dispose()
    return out


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    t = process.cpu_times()
    return t.user + t.system


def measure(rows: int = 1000, rounds: int = 10) -> dict[str, dict[str, dict[str, float]]]:
    urls = asyncio.run(create_databases(("inserts",)))
    try:
        pg = asyncio.run(measure_url(urls["inserts"], rows, rounds))
    finally:
        asyncio.run(drop_databases(urls))
    sqlite_file = Path(mkdtemp(prefix="onestop-inserts-")) / "bench.db"
    sqlite = asyncio.run(measure_url(f"sqlite+aiosqlite:///{sqlite_file}", rows, rounds))
    return {"postgres": pg, "sqlite": sqlite}


def print_table(figures: dict[str, dict[str, dict[str, float]]]) -> None:
    for backend, ways in figures.items():
        print(f"{backend}: ms per 1,000 rows (client CPU / server CPU / wall)")
        for way, f in ways.items():
            print(f"  {way:40} {f['client_cpu_ms']:7.2f} {f['server_cpu_ms']:7.2f} "
                  f"{f['wall_ms']:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows per transaction")
    parser.add_argument("--rounds", type=int, default=10, help="transactions per way")
    args = parser.parse_args()
    print_table(measure(args.rows, args.rounds))


if __name__ == "__main__":
    main()
