"""What the kind of event id costs the indexes it keys: every service's inbox (primary key
consumer + event id) and outbox (unique event id) grow by a few rows per record, for as
long as the service runs. A random UUIDv4 sends each insert to a random leaf of the index;
a time-ordered UUIDv7 (`contracts.envelope.ordered_uuid`) to the rightmost one.

For each kind, on a fresh database (PostgreSQL, SQLite or both): `--rows` inbox and outbox
rows of that kind are loaded first (the history a running service has piled up; the UUIDv7
ones made at past times, oldest first), then, after a CHECKPOINT on PostgreSQL (as every few
minutes in a running server), `--batches` transactions each write `--batch` inbox rows and
as many outbox rows the runtime's way (`bulk.write_rows`, then commit). Printed per kind:
milliseconds per batch (median and p99) and, on PostgreSQL, WAL bytes per row and index
blocks read per batch (pg_statio_user_indexes). Nothing is asserted.

    python -m bench.index_locality [--rows 1000000] [--batches 300] [--batch 500]
                                   [--backend postgres|sqlite|both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import asyncpg
from sqlalchemy import MetaData

from bench.databases import create_databases, drop_databases
from bench.inserts import PAYLOAD
from bench.pipeline import write
from contracts.envelope import ordered_uuid
from services.common.persistence.bulk import write_rows
from services.common.persistence.db import make_engine, runtime_tables, session_factory

Kind = Callable[[int], uuid.UUID]  # unix ms -> id
KINDS: dict[str, Kind] = {"uuid4": lambda _ms: uuid.uuid4(), "uuid7": ordered_uuid}
LOAD_CHUNK = 50_000


def rows(kind: Kind, n: int, start_ms: int, step_ms: float, first: int
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """n inbox rows and n outbox rows whose ids were made from start_ms on, step_ms apart."""
    now = datetime.now(UTC)
    inbox, outbox = [], []
    for i in range(n):
        event_id = str(kind(start_ms + int(i * step_ms)))
        inbox.append({"consumer": "onestop-processing", "event_id": event_id,
                      "payload_hash": "a" * 64, "topic": "onestop.intake.v1", "applied_at": now})
        outbox.append({"event_id": str(kind(start_ms + int(i * step_ms))),
                       "topic": "onestop.processing.v1",
                       "key": f"000.01.01.H26-261205-{first + i:06d}",
                       "event_type": "vn.gov.bhxh.onestop.dossier.accepted.v1",
                       "payload": PAYLOAD, "traceparent": None, "created_at": now,
                       "published_at": now})
    return inbox, outbox


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_counters(url: str) -> tuple[int, int]:
    """(WAL position in bytes, index blocks read from outside shared buffers so far)."""
    conn = await asyncpg.connect(_plain(url))
    try:
        lsn = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")
        read = await conn.fetchval("SELECT coalesce(sum(idx_blks_read), 0)::bigint "
                                   "FROM pg_statio_user_indexes")
        return int(lsn), int(read)
    finally:
        await conn.close()


async def measure(url: str, kind: Kind, preload: int, batches: int, batch: int
                  ) -> dict[str, float]:
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    sessions = session_factory(engine)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        # The history: a day of ids, oldest first, loaded in large transactions.
        now_ms = time.time_ns() // 1_000_000
        start = now_ms - 86_400_000
        step = 86_400_000 / max(preload, 1)
        for first in range(0, preload, LOAD_CHUNK):
            n = min(LOAD_CHUNK, preload - first)
            inbox, outbox = rows(kind, n, start + int(first * step), step, first)
            async with sessions() as s, s.begin():
                await write_rows(s, tables.inbox, inbox)
                await write_rows(s, tables.outbox, outbox)
        if postgres:
            conn = await asyncpg.connect(_plain(url))
            try:
                await conn.execute("ANALYZE")
                await conn.execute("CHECKPOINT")
            finally:
                await conn.close()
        before = await _pg_counters(url) if postgres else (0, 0)
        times = []
        for i in range(batches):
            inbox, outbox = rows(kind, batch, time.time_ns() // 1_000_000, 0.01,
                                 preload + i * batch)
            started = time.perf_counter()
            async with sessions() as s, s.begin():
                await write_rows(s, tables.inbox, inbox)
                await write_rows(s, tables.outbox, outbox)
            times.append((time.perf_counter() - started) * 1000)
        after = await _pg_counters(url) if postgres else (0, 0)
        times.sort()
        written = batches * batch
        return {"ms_per_batch_median": statistics.median(times),
                "ms_per_batch_p99": times[min(len(times) - 1, int(len(times) * 0.99))],
                "ms_per_batch_mean": statistics.fmean(times),
                **({"wal_bytes_per_row": (after[0] - before[0]) / written / 2,
                    "index_blocks_read_per_batch": (after[1] - before[1]) / batches}
                   if postgres else {})}
    finally:
        await engine.dispose()


async def run(backends: list[str], preload: int, batches: int, batch: int
              ) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for backend in backends:
        out[backend] = {}
        for name, kind in KINDS.items():
            if backend == "postgres":
                urls = await create_databases((name,))
                url = urls[name]
            else:
                urls = {}
                url = f"sqlite+aiosqlite:///{Path(mkdtemp(prefix='onestop-locality-')) / 'x.db'}"
            try:
                figures = await measure(url, kind, preload, batches, batch)
            finally:
                if urls:
                    await drop_databases(urls)
            out[backend][name] = figures
            print(f"  {backend:8} {name}: " + ", ".join(f"{k} {v:,.2f}"
                                                       for k, v in figures.items()), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="inbox and outbox rows already there (each)")
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--batch", type=int, default=500, help="rows per table per batch")
    parser.add_argument("--backend", choices=("postgres", "sqlite", "both"), default="both")
    args = parser.parse_args()
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    print(f"index locality: {args.rows:,} rows loaded per table, then {args.batches} batches "
          f"of {args.batch} inbox + {args.batch} outbox rows (pid {os.getpid()})")
    result = asyncio.run(run(backends, args.rows, args.batches, args.batch))
    write({"bench": "index_locality", "rows": args.rows, "batches": args.batches,
           "batch": args.batch, "results": result}, "-index-locality")


if __name__ == "__main__":
    main()
