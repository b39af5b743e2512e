"""What marking outbox rows published costs PostgreSQL, against a pending queue: the
groundwork of the relay's settle as it is now (`outbox_pending`, db.py), measured before it
was built, and kept to measure both again.

The relay marked each acknowledged row with `UPDATE outbox SET published_at` (relay.py's
`OutboxRelay._mark` before the queue). `published_at` is in the predicate of the partial
pending index and outbox pages are full (rows of about 1 KB are only ever appended), so
every mark writes a whole new version of the row elsewhere, with an entry in each of the
table's indexes (not a HOT update), and the WAL carries the new version. With
pg_stat_statements on, a pipeline run (`python -m bench.pipeline --backend postgres`) put
intake's mark among the server's two costliest statements per dossier.

The other way measured here: outbox rows are never updated on publish; a narrow
`outbox_pending (seq)` holds the rows still to send, filled in the statement that inserts
them (a statement trigger over the inserted rows, so a COPY fills it too) and emptied by the
mark (a DELETE of a few bytes per row, no index entry written). Both ways run the same
passes, alternated: `--rows` rows of the real size COPYed in one transaction (as a batch's
flush does), the pending rows read in sequence order, the same rows marked. Printed per row,
for each statement: the server's executor time and buffers (pg_stat_statements, when the
server preloads it; otherwise the statement's wall time seen from here, on a local server),
and the WAL each way writes. Nothing is asserted.

    python -m bench.outbox_mark [--rows 640] [--passes 150] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from typing import Any

import asyncpg
from sqlalchemy import MetaData

from bench.breakdown import PgServer
from bench.databases import create_databases, drop_databases
from bench.inserts import outbox_rows
from bench.outbox_growth import BEFORE_THE_QUEUE, MARK  # the relay's mark of before the queue
from services.common.persistence.db import make_engine, runtime_tables

COLUMNS = ("event_id", "topic", "key", "event_type", "payload", "traceparent", "created_at",
           "published_at")
CREATED_AT = COLUMNS.index("created_at")  # the time the mark writes, as the relay's clock
PENDING = ("SELECT seq, topic, key, payload, traceparent FROM outbox WHERE published_at IS "
           "NULL AND parked_at IS NULL AND seq > $1 ORDER BY seq LIMIT $2")
QUEUE = """
CREATE TABLE outbox_pending (seq bigint PRIMARY KEY);
CREATE FUNCTION outbox_pending_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO outbox_pending SELECT seq FROM added; RETURN NULL; END $$;
CREATE TRIGGER outbox_pending_add AFTER INSERT ON outbox REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION outbox_pending_add();
"""
# Each pending row's outbox row through the primary key, in the queue's order.
QUEUED = ("SELECT o.seq, o.topic, o.key, o.payload, o.traceparent FROM "
          "(SELECT seq FROM outbox_pending WHERE seq > $1 ORDER BY seq LIMIT $2) p, "
          "LATERAL (SELECT * FROM outbox WHERE outbox.seq = p.seq LIMIT 1) o ORDER BY o.seq")
UNQUEUE = "DELETE FROM outbox_pending WHERE seq BETWEEN $1 AND $2 AND seq = ANY($3::bigint[])"
WAYS = {"update": (PENDING, MARK), "queue": (QUEUED, UNQUEUE)}


async def one_way(url: str, way: str, rows: int, passes: int, statements: bool
                  ) -> dict[str, Any]:
    """`passes` passes of `rows` rows in a fresh outbox; per row: each statement's time
    (and buffers with pg_stat_statements) and the WAL written."""
    engine = make_engine(url)
    metadata = MetaData()
    runtime_tables(metadata)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    conn = await asyncpg.connect(url.replace("+asyncpg", "", 1))
    try:
        await conn.execute("DROP TABLE IF EXISTS outbox_pending; "
                           "DROP FUNCTION IF EXISTS outbox_pending_add CASCADE")
        if way == "queue":
            await conn.execute(QUEUE)
        else:
            await conn.execute(BEFORE_THE_QUEUE)
        read, mark = WAYS[way]
        wall: dict[str, float] = defaultdict(float)
        if statements:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
        lsn = await conn.fetchval("SELECT pg_current_wal_lsn()")
        floor = 0
        for _ in range(passes):
            made = [tuple(r[c] for c in COLUMNS) for r in outbox_rows(rows)]
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table("outbox", records=made, columns=COLUMNS)
            copied = time.perf_counter()
            got = await conn.fetch(read, floor, rows)
            fetched = time.perf_counter()
            seqs = [r["seq"] for r in got]
            async with conn.transaction():
                if way == "update":
                    await conn.execute(mark, made[0][CREATED_AT], seqs[0], seqs[-1], seqs)
                else:
                    await conn.execute(mark, seqs[0], seqs[-1], seqs)
            marked = time.perf_counter()
            floor = seqs[-1]
            wall["insert"] += copied - started
            wall["read"] += fetched - copied
            wall["mark"] += marked - fetched
        wal = float(await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)",
                                        lsn))
        n = rows * passes
        out: dict[str, Any] = {"way": way, "rows": n, "wal_bytes_per_row": wal / n,
                               "wall_us_per_row": {k: v * 1e6 / n for k, v in wall.items()}}
        if statements:
            out["statements"] = [
                {"query": r["query"][:90], "exec_us_per_row": r["ms"] * 1000 / n,
                 "blocks_per_row": r["blocks"] / n}
                for r in await conn.fetch(
                    "SELECT query, total_exec_time AS ms, shared_blks_hit + shared_blks_read "
                    "+ shared_blks_dirtied AS blocks FROM pg_stat_statements WHERE dbid = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database()) AND "
                    "query ~* '^(copy|update|delete|select o|select seq)' "
                    "ORDER BY total_exec_time DESC")]
        return out
    finally:
        await conn.close()


def show(result: dict[str, Any]) -> None:
    wall = result["wall_us_per_row"]
    print(f"  {result['way']:6}: WAL {result['wal_bytes_per_row']:6,.0f} bytes a row; wall "
          f"us a row: insert {wall['insert']:5.1f}, read {wall['read']:5.1f}, mark "
          f"{wall['mark']:5.1f}")
    for s in result.get("statements", []):
        print(f"          {s['exec_us_per_row']:6.2f} us {s['blocks_per_row']:5.1f} buffers a "
              f"row  {s['query']}")


async def measure(rows: int, passes: int, rounds: int) -> list[dict[str, Any]]:
    statements = "pg_stat_statements" in await PgServer.preloaded()
    if not statements:
        print("  pg_stat_statements is not preloaded: wall times only")
    urls = await create_databases(("outbox_mark",))
    try:
        out = []
        for _ in range(rounds):
            for way in WAYS:
                result = await one_way(urls["outbox_mark"], way, rows, passes, statements)
                show(result)
                out.append(result)
        return out
    finally:
        await drop_databases(urls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=640, help="rows a pass (intake's: ~640)")
    parser.add_argument("--passes", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(measure(args.rows, args.passes, args.rounds))


if __name__ == "__main__":
    main()
