"""A batch upsert's cost both ways bulk.write_rows can send it on PostgreSQL: reporting's
dossier_facts (36 columns, seven indexes), as a batch of the pipeline writes it, through the
runtime's own compiled writer (`bulk._writer`):

- `arrays`: one parameter per column, an array of its values (`unnest`), each value through
  its type's bind processor; asyncpg checks each array element against collections.abc
  before encoding it;
- `json`: the rows as one JSON text written by pydantic-core, read by the server with
  `json_populate_recordset` (what write_rows sends when the columns allow it).

Batches alternate between the ways, each on its own connection: the client's CPU
(process time), the server backend's CPU (psutil over its process) and the wall clock, per
row. The first generation of codes is inserted, the next ones update them (the pipeline's
upserts are mostly updates). Nothing is asserted; the figures are printed (and returned).

    python -m bench.upserts [--rows N] [--batches N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import psutil
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from bench.databases import create_databases, drop_databases
from services.common.persistence.bulk import _writer
from services.reporting import tables

TABLE = tables.dossier_facts
WAYS = ("arrays", "json")


def fact_rows(n: int, at: datetime) -> list[dict[str, Any]]:
    """Facts of `n` dossiers of 60 offices part-way through processing, as a fold writes
    them (`fact_row` plus its memo)."""
    rows = []
    for i in range(n):
        received = at - timedelta(days=i % 9, minutes=i)
        rows.append({
            "dossier_code": f"000.01.01.H{i % 60:02d}-261207-{i:05d}",
            "agency_code": f"000.01.01.H{i % 60:02d}", "procedure_code": "BHXH.NH.03",
            "catalog_version": "2025.07", "channel": "counter", "return_channel": "postal",
            "origin_system": None, "province_processed": False, "received_at": received,
            "legal_received_at": received, "receipt_day": received.date(),
            "original_due_at": received + timedelta(days=7),
            "due_at": received + timedelta(days=7), "apology_due_at": None,
            "digitized_at": received + timedelta(hours=1), "supplement_count": 0,
            "supplement_open": False, "supplement_periods": [], "resolved_at": None,
            "decision": None, "timeliness": None, "returned_at": None, "refused_at": None,
            "withdrawn_at": None, "overdue": False, "overdue_at": None, "explained": False,
            "explained_at": None, "apology": False, "step_count": 2, "status": "processing",
            "event_count": 3, "first_recorded_at": received, "last_recorded_at": at,
            "fold_state": {"steps": [[f"NV{i % 7}", received.isoformat()]],
                           "seen": ["received", "digitized", "assigned"]}})
    return rows


async def _measure(url: str, rows: int, batches: int) -> dict[str, dict[str, float]]:
    dialect = asyncpg_dialect.dialect()
    conns = {way: await asyncpg.connect(url) for way in WAYS}
    try:
        first = conns["arrays"]
        await first.execute(str(CreateTable(TABLE).compile(dialect=dialect)))
        for index in TABLE.indexes:
            await first.execute(str(CreateIndex(index).compile(dialect=dialect)))
        sample = fact_rows(1, datetime.now(UTC))
        writer = _writer(TABLE, tuple(sample[0]), dialect, "replace", ("dossier_code",))
        assert writer is not None and writer.json is not None
        backends = {way: psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
                    for way, conn in conns.items()}
        totals = {way: {"client": 0.0, "server": 0.0, "wall": 0.0} for way in WAYS}
        start = datetime.now(UTC)
        for batch in range(batches):
            # Each way writes the same rows: the first batch inserts, the rest update.
            batch_rows = fact_rows(rows, start + timedelta(seconds=batch))
            for way in (WAYS if batch % 2 else WAYS[::-1]):
                conn, backend = conns[way], backends[way]
                server = sum(backend.cpu_times()[:2])
                client, wall = time.process_time(), time.perf_counter()
                async with conn.transaction():
                    if way == "arrays":
                        await conn.execute(writer.sql, *writer.parameters(batch_rows))
                    else:
                        sql, parameters = writer.statement(batch_rows)
                        assert sql == writer.json_sql
                        await conn.execute(sql, *parameters)
                totals[way]["client"] += time.process_time() - client
                totals[way]["wall"] += time.perf_counter() - wall
                totals[way]["server"] += sum(backend.cpu_times()[:2]) - server
        n = rows * batches
        return {way: {k: round(v * 1e6 / n, 2) for k, v in figures.items()}
                for way, figures in totals.items()}
    finally:
        for conn in conns.values():
            await conn.close()


def measure(rows: int = 227, batches: int = 40) -> dict[str, dict[str, float]]:
    """µs per row: client CPU, server CPU and wall, each way (227 rows: a reporting batch's
    dossiers at full load)."""
    async def run() -> dict[str, dict[str, float]]:
        urls = await create_databases(("upserts",))
        try:
            # The runtime's URL is SQLAlchemy's; asyncpg takes the plain one.
            return await _measure(urls["upserts"].replace("+asyncpg", ""), rows, batches)
        finally:
            await drop_databases(urls)
    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=227)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    figures = measure(args.rows, args.batches)
    print(f"dossier_facts upsert, {args.rows} rows a batch, {args.batches} batches each way "
          "(µs per row):")
    for way, f in figures.items():
        print(f"  {way:6s}  client CPU {f['client']:6.2f}  server CPU {f['server']:6.2f}  "
              f"together {f['client'] + f['server']:6.2f}  wall {f['wall']:6.2f}")


if __name__ == "__main__":
    main()
