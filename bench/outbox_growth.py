"""What a PostgreSQL outbox cost the relay before its queue as its published history grew
(the relay's statements of then, BEFORE_THE_QUEUE), on a server
without autovacuum (as on the development machine): outbox rows of the real size inserted
in steps, each step marked published in the relay's pass size with the relay's statement
(`OutboxRelay._mark`'s shape then), then the relay's query for pending rows timed. Every marked
row leaves a dead version until a vacuum; the pending query walks their entries in its
partial index. Beside it, the relay's query as it runs between its scans from the start:
above the last row it settled (relay.ScanFloor). Last, the query after a VACUUM. Nothing is
asserted; the figures are printed.

    python -m bench.outbox_growth [--rows 600000] [--step 100000] [--pass-rows 700]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import MetaData

from bench.databases import create_databases, drop_databases
from bench.inserts import outbox_rows
from services.common.persistence.db import make_engine, runtime_tables

INSERT = ("INSERT INTO outbox (event_id, topic, key, event_type, payload, traceparent, "
          "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
MARK = ("UPDATE outbox SET published_at = $1 WHERE seq BETWEEN $2 AND $3 "
        "AND seq = ANY($4::bigint[])")
PENDING = ("SELECT seq, topic, key, payload FROM outbox WHERE published_at IS NULL "
           "AND parked_at IS NULL ORDER BY seq LIMIT 2000")
# The relay as it was before its queue (migrations.add_outbox_queue), which this bench and
# bench.outbox_mark measure: rows marked published, read through a partial index over
# published_at; the outbox's trigger is not part of it.
BEFORE_THE_QUEUE = ("DROP TRIGGER IF EXISTS outbox_pending_add ON outbox; "
                    "CREATE INDEX IF NOT EXISTS ix_outbox_pending ON outbox (seq) "
                    "WHERE published_at IS NULL AND parked_at IS NULL")
ABOVE_FLOOR = ("SELECT seq, topic, key, payload FROM outbox WHERE published_at IS NULL "
               "AND parked_at IS NULL AND seq > $1 ORDER BY seq LIMIT 2000")


async def measure(rows: int, step: int, pass_rows: int) -> list[dict[str, Any]]:
    urls = await create_databases(("outbox",))
    try:
        engine = make_engine(urls["outbox"])
        metadata = MetaData()
        runtime_tables(metadata)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await engine.dispose()
        conn = await asyncpg.connect(urls["outbox"].replace("+asyncpg", "", 1))
        out = []
        try:
            await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
            await conn.execute(BEFORE_THE_QUEUE)
            now, done = datetime.now(UTC), 0
            while done < rows:
                made = outbox_rows(step)
                await conn.executemany(INSERT, [
                    (r["event_id"], r["topic"], r["key"], r["event_type"], r["payload"],
                     r["traceparent"], r["created_at"]) for r in made])
                started, marks = time.perf_counter(), 0
                for low in range(done + 1, done + step + 1, pass_rows):
                    high = min(low + pass_rows - 1, done + step)
                    await conn.execute(MARK, now, low, high, list(range(low, high + 1)))
                    marks += 1
                marked = time.perf_counter()
                await conn.fetch(PENDING)  # the first visits each newly dead row's heap
                first = time.perf_counter()
                for _ in range(5):
                    await conn.fetch(PENDING)
                pending = time.perf_counter()
                for _ in range(5):
                    await conn.fetch(ABOVE_FLOOR, done + step)
                above = time.perf_counter()
                plan = await conn.fetchval(f"EXPLAIN {PENDING}")
                done += step
                row = {"published_rows": done,
                       "mark_ms": (marked - started) * 1000 / marks,
                       "first_pending_query_ms": (first - marked) * 1000,
                       "pending_query_ms": (pending - first) * 1000 / 5,
                       "above_floor_query_ms": (above - pending) * 1000 / 5, "plan": plan}
                out.append(row)
                print(f"  {done:9,d} published rows: {row['mark_ms']:6.1f} ms per mark of "
                      f"{pass_rows}; pending query first {row['first_pending_query_ms']:6.1f} ms, "
                      f"then {row['pending_query_ms']:6.2f} ms, above the relay's floor "
                      f"{row['above_floor_query_ms']:5.2f} ms ({plan})",
                      flush=True)
            await conn.execute("VACUUM outbox")
            started = time.perf_counter()
            for _ in range(5):
                await conn.fetch(PENDING)
            vacuumed = (time.perf_counter() - started) * 1000 / 5
            out.append({"published_rows": done, "vacuumed": True, "pending_query_ms": vacuumed})
            print(f"  after VACUUM: pending query {vacuumed:6.2f} ms")
        finally:
            await conn.close()
        return out
    finally:
        await drop_databases(urls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--step", type=int, default=100_000)
    parser.add_argument("--pass-rows", type=int, default=700)
    args = parser.parse_args()
    asyncio.run(measure(args.rows, args.step, args.pass_rows))


if __name__ == "__main__":
    main()
