"""A rebuild in worker processes (services/reporting/rebuild.py says why and how the
dossiers are shared): the workers started, told their part, their replays and folds
awaited, the SQLite parts merged into the target, its indexes built.

Each worker is a fresh interpreter (no fork: safe whatever threads the caller runs) started
by a command of its own, with a pipe for its orders and answers: its settings, database
and part; "replayed" (with its counts and replay time), then, once the parent has what the
folds need, "fold"; "folded" once its facts are committed and its database closed; or
"failed" with the error, which stops the rebuild. Workers start while the target is
migrated; their start (an interpreter and the service's imports, about 2 s) is not replay
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, make_url

from services.common.garbage import collections_paused
from services.reporting import tables
from services.reporting.facts import MEASURES
from services.reporting.rebuild import (
    DeferredIndexes,
    Part,
    RebuildResult,
    dossier_count,
    open_runtime,
    prepared,
    replay_topics,
    topics_ready,
)
from services.reporting.settings import ReportingSettings

if TYPE_CHECKING:
    from services.common.runtime import Runtime

# Tables whose rows are sums: two workers' rows of one key are added when merged.
SUMMED: dict[Table, tuple[str, ...]] = {tables.daily_figures: MEASURES}


class WorkerFailed(RuntimeError):
    """A worker of a parallel rebuild stopped with an error (its text is the message)."""


def _part_file(database_url: str, index: int) -> Path:
    return Path(f"{make_url(database_url).database}.part{index}")


async def rebuild_parallel(settings: ReportingSettings, database_url: str, idle_ms: int,
                            workers: int) -> RebuildResult:
    sqlite = make_url(database_url).get_backend_name() == "sqlite"
    # SQLite: the first worker writes into the target, each other one into a file of its own.
    files = [_part_file(database_url, w) for w in range(1, workers)] if sqlite else []
    # The workers start (an interpreter, the service's imports) while the target is prepared.
    started = [_start() for _ in range(workers)]
    processes = [process for process, _ in started]
    pipes = [pipe for _, pipe in started]
    runtime: Runtime | None = None
    indexes: DeferredIndexes | None = None
    try:
        runtime, indexes = await prepared(settings, database_url)
        await topics_ready(settings.kafka_bootstrap_servers)
        for f in files:
            f.unlink(missing_ok=True)
        for w, pipe in enumerate(pipes):
            own = sqlite and w > 0
            url = f"sqlite+aiosqlite:///{files[w - 1]}" if own else database_url
            pipe.send((settings, url, Part(w, workers), idle_ms, own))
        replayed = await _answers(pipes, processes)
        if not sqlite and any(spilled for _, spilled, *_ in replayed):
            await indexes.build(tables.events)  # their folds read the stored events back
        folding = time.perf_counter()
        for pipe in pipes:
            pipe.send("fold")
        await _answers(pipes, processes)  # folded, committed, their databases closed
        if files:
            await asyncio.to_thread(_merge, make_url(database_url).database, files)
        await indexes.build()
        seconds = max(r[5] for r in replayed) + (time.perf_counter() - folding)
        dossiers = await dossier_count(runtime)
    finally:
        for pipe in pipes:
            pipe.close()  # a worker still waiting for its orders stops at once
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, 10)
            if process.poll() is None:
                process.kill()
                await asyncio.to_thread(process.wait)
        for f in files:
            f.unlink(missing_ok=True)
        if indexes is not None and indexes.dropped:
            with contextlib.suppress(Exception):
                await indexes.build()
        if runtime is not None:
            await runtime.engine.dispose()
    return RebuildResult(read=sum(r[2] for r in replayed), applied=sum(r[3] for r in replayed),
                         refused=sum(r[4] for r in replayed), dossiers=dossiers,
                         seconds=seconds, workers=workers)


def _start() -> tuple[subprocess.Popen[bytes], Connection]:
    """A worker process and the pipe to it. A fresh interpreter (no fork of a process that
    may run threads), started by a command of its own rather than multiprocessing's spawn,
    which imports the caller's main module again in the child."""
    mine, theirs = multiprocessing.Pipe()
    path = os.pathsep.join(p for p in sys.path if p)
    process = subprocess.Popen(
        [sys.executable, "-c", "from services.reporting.rebuild_workers import worker; "
         f"worker({theirs.fileno()})"],
        pass_fds=(theirs.fileno(),), env={**os.environ, "PYTHONPATH": path})
    theirs.close()
    return process, mine


async def _answers(pipes: list[Connection], processes: list[subprocess.Popen[bytes]]
                   ) -> list[tuple[Any, ...]]:
    """Every worker's next message; the first failure (or a worker gone) fails them all."""
    async def answer(w: int) -> tuple[Any, ...]:
        try:
            message: tuple[Any, ...] = await asyncio.to_thread(pipes[w].recv)
        except EOFError:
            code = await asyncio.to_thread(processes[w].wait)
            raise WorkerFailed(f"rebuild worker {w} stopped (exit code {code}) without "
                               "answering") from None
        if message[0] == "failed":
            raise WorkerFailed(f"rebuild worker {w}: {message[1]}")
        return message
    return list(await asyncio.gather(*(answer(w) for w in range(len(pipes)))))


def worker(fd: int) -> None:
    """A worker process's entry: its part replayed into the database it is given (one of
    its own, prepared here, or the shared target, prepared by the parent), then, when told,
    folded; every step answered on the pipe `fd`."""
    pipe = Connection(fd)
    try:
        import services.reporting.app  # noqa: F401  (the slow imports, while the parent prepares)

        settings, url, part, idle_ms, own_database = pipe.recv()
        asyncio.run(_worker(settings, url, part, idle_ms, own_database, pipe))
    except BaseException as exc:  # told to the parent, which stops the rebuild
        with contextlib.suppress(Exception):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
    finally:
        pipe.close()
    # Done and answered: the heap a replay built is not torn down object by object.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def _worker(settings: ReportingSettings, database_url: str, part: Part, idle_ms: int,
                  own_database: bool, pipe: Connection) -> None:
    if own_database:
        runtime, indexes = await prepared(settings, database_url)
    else:
        runtime, indexes = open_runtime(settings, database_url), None
    try:
        with collections_paused():
            done = await replay_topics(runtime, settings, idle_ms, part)
            spilled = done.keeping.events is None
            pipe.send(("replayed", spilled, done.read, done.applied, done.refused,
                       done.seconds))
            if await asyncio.to_thread(pipe.recv) != "fold":
                return
            if spilled and indexes is not None:
                await indexes.build(tables.events)  # read back by dossier, in its own file
            async with runtime.sessions() as s, s.begin():
                await done.keeping.fold(s, part)
    finally:
        await runtime.engine.dispose()
    pipe.send(("folded",))


def _merge(target: str, parts: list[Path]) -> None:
    """Every row of the parts' tables added to the target's, in one transaction: their
    sequence numbers given anew (a part's rows keep their order), `SUMMED` rows of a key
    added together."""
    db = sqlite3.connect(target, isolation_level=None)
    try:
        for i, part in enumerate(parts):
            db.execute(f"ATTACH DATABASE ? AS part{i}", (str(part),))
        db.execute("BEGIN IMMEDIATE")
        for table in tables.metadata.sorted_tables:
            columns = [c.name for c in table.columns if c.autoincrement is not True]
            names = ", ".join(f'"{c}"' for c in columns)
            order = " ORDER BY " + ", ".join(
                f'"{c.name}"' for c in table.columns if c.autoincrement is True) \
                if len(columns) < len(table.columns) else ""
            summed = SUMMED.get(table)
            conflict = ""
            if summed:
                keys = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
                conflict = f" ON CONFLICT ({keys}) DO UPDATE SET " + ", ".join(
                    f'"{m}" = "{m}" + excluded."{m}"' for m in summed)
            for i in range(len(parts)):
                # WHERE true: SQLite reads ON CONFLICT after a bare SELECT as a join's ON.
                db.execute(f'INSERT INTO main."{table.name}" ({names}) SELECT {names} '
                           f'FROM part{i}."{table.name}" WHERE true{order}{conflict}')
        db.execute("COMMIT")
        for i in range(len(parts)):
            db.execute(f"DETACH DATABASE part{i}")
    finally:
        db.close()
