"""The bench's completion poll (bench.pipeline.HeldCount) reads only the rows above its
frontier, yet counts every event of the load once: never early, and a row that commits
behind the frontier is found when the count stalls. On a real SQLite file, written beside
the poll as reporting writes it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.databases import ServiceDb
from bench.pipeline import HeldCount, Load


@pytest.fixture
def events(tmp_path: Path) -> Iterator[tuple[sqlite3.Connection, ServiceDb]]:
    path = tmp_path / "reporting.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, dossier_code TEXT)")
    yield writer, ServiceDb(f"sqlite+aiosqlite:///{path}")
    writer.close()


def add(writer: sqlite3.Connection, *rows: tuple[int, str]) -> None:
    writer.executemany("INSERT INTO events VALUES (?, ?)", rows)


LOAD = Load(produced=[], like="%-benchT-%", target=0, dossiers=0, codes=[], receipts=[])


async def test_every_row_of_the_load_is_counted_once_as_the_frontier_moves(
        events: tuple[sqlite3.Connection, ServiceDb]) -> None:
    writer, db = events
    add(writer, (1, "X-benchT-1"), (2, "X-other-1"))  # before the mark, and another load's
    count = HeldCount(db, LOAD, mark=2)
    seq = 2
    expected = 0
    for step in range(8):
        for _ in range(step + 1):
            seq += 1
            add(writer, (seq, f"X-benchT-{seq}"))
            expected += 1
        seq += 1
        add(writer, (seq, f"X-other-{seq}"))  # not the load's: never counted
        assert await count.poll() == expected
    assert count.frontier > 2, "the frontier moved: later polls read only the newer rows"
    assert count.settled + (await db.scalar(
        f"SELECT count(*) FROM events WHERE seq > {count.frontier} "
        "AND dossier_code LIKE '%-benchT-%'")) == expected
    await db.close()


async def test_a_row_committed_behind_the_frontier_is_counted_when_the_count_stalls(
        events: tuple[sqlite3.Connection, ServiceDb]) -> None:
    writer, db = events
    count = HeldCount(db, LOAD, mark=0)
    for seq in range(1, 5):
        add(writer, (seq * 10, f"X-benchT-{seq}"))
        await count.poll()
    assert count.frontier >= 20
    add(writer, (5, "X-benchT-late"))  # a seq taken early, committed late
    held = [await count.poll() for _ in range(HeldCount.STALL)]
    assert held[0] == 4, "behind the frontier: not counted at first (late, never early)"
    assert await count.poll() == 5, "counted anew from the mark once the count stalled"
    await db.close()
