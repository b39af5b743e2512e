"""What a consumer batch's statements cost on SQLite in thread hops: aiosqlite runs each
statement on its worker thread (a cursor, the execution, the rows: several hops apiece).
The same batch shape (a transaction of `--statements` statements: a read of 500 keys, then
executemany inserts of 500 rows) is run three ways, timing this process's CPU and the wall
clock per batch:

- `sqlalchemy + aiosqlite`: the runtime's way, one hop (or more) per statement;
- `one worker call`: the whole transaction as one function on a sqlite3 connection of
  the bench's own, handed to a thread once (asyncio.to_thread);
- `sqlite3 inline`: the same function called on the event loop's thread (no hop at all:
  the floor; the loop is blocked meanwhile).

Compare the difference per batch with the batches per dossier that bench.pipeline's
breakdown prints (a few hundredths at full load). Nothing is asserted.

    python -m bench.sqlite_hops [--batches N] [--statements N]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
import uuid
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, insert, select

from services.common.persistence.db import make_engine, session_factory

ROWS = 500  # --rows
metadata = MetaData()
things = Table("things", metadata, Column("id", String(36), primary_key=True),
               Column("value", String(64)))


def _rows() -> list[dict[str, Any]]:
    return [{"id": str(uuid.uuid4()), "value": "v" * 40} for _ in range(ROWS)]


def _batch_sync(conn: sqlite3.Connection, statements: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    ids = [str(uuid.uuid4()) for _ in range(ROWS)]
    for i in range(statements):
        if i % 2 == 0:
            conn.execute("SELECT id FROM things WHERE id IN (SELECT value FROM json_each(?))",
                         (str(ids).replace("'", '"'),)).fetchall()
        else:
            conn.executemany("INSERT INTO things (id, value) VALUES (?, ?)",
                             [(r["id"], r["value"]) for r in _rows()])
    conn.execute("COMMIT")


async def measure(batches: int = 50, statements: int = 14) -> dict[str, dict[str, float]]:
    path = Path(mkdtemp(prefix="onestop-hops-")) / "hops.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    out: dict[str, dict[str, float]] = {}

    async def runtime_way() -> None:
        async with sessions() as s, s.begin():
            ids = [str(uuid.uuid4()) for _ in range(ROWS)]
            for i in range(statements):
                if i % 2 == 0:
                    (await s.execute(select(things.c.id).where(things.c.id.in_(ids)))).all()
                else:
                    await s.execute(insert(things), _rows())

    direct = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    direct.execute("PRAGMA journal_mode=WAL")
    ways: dict[str, Any] = {
        "sqlalchemy + aiosqlite": runtime_way,
        "one worker call": lambda: asyncio.to_thread(_batch_sync, direct, statements),
        "sqlite3 inline": lambda: _inline(direct, statements)}
    try:
        for name, way in ways.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(batches):
                await way()
            out[name] = {"cpu_ms_per_batch": (time.process_time() - cpu) * 1000 / batches,
                         "wall_ms_per_batch": (time.perf_counter() - wall) * 1000 / batches}
    finally:
        direct.close()
        await engine.dispose()
    return out


async def _inline(conn: sqlite3.Connection, statements: int) -> None:
    _batch_sync(conn, statements)


def main() -> None:
    global ROWS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--statements", type=int, default=14)
    parser.add_argument("--rows", type=int, default=ROWS,
                        help="keys read and rows inserted by each statement")
    args = parser.parse_args()
    ROWS = args.rows
    figures = asyncio.run(measure(args.batches, args.statements))
    print(f"a batch of {args.statements} statements ({ROWS} keys read or rows inserted "
          "each):")
    for name, f in figures.items():
        print(f"  {name:26} CPU {f['cpu_ms_per_batch']:7.2f} ms   wall "
              f"{f['wall_ms_per_batch']:7.2f} ms")


if __name__ == "__main__":
    main()
