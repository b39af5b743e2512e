"""One tick of processing's deadline monitor over a million open cases, SQLite and PostgreSQL.

The cases table is migrated for real (alembic, so its indexes are the service's own) and
filled with open cases ("in_step") made by processing's domain functions as its opening
writes them: a few hundred distinct receipts across three procedures and agencies,
replicated under new codes. A small share (`--due`) has its next alert in the past; the
rest has it hours to weeks ahead. After ANALYZE, one tick is timed as app.py's
watch_deadlines runs it (batches of `monitor_batch` in their own transactions until one is
not full), then a tick with nothing due. The goal is one tick under a second; figures are
printed and written to bench/results/*.json, nothing here asserts a timing.

    python -m bench.monitor [--cases N] [--due N] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import asyncpg
from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.common import ApplicantRef, Channel, ComponentRef, ReturnChannel
from contracts.events import DossierDigitized, DossierReceived
from services.common.clock import SystemClock
from services.common.messaging.outbox import OutboxWriter
from services.common.persistence.bulk import flush_inserts
from services.common.persistence.db import make_engine, session_factory
from services.common.persistence.migrations import upgrade_async
from services.law.catalog import CatalogSet, load_catalogs
from services.law.workdays import agency_calendar
from services.processing import domain, tables
from services.processing.case_records import CaseLaw, CaseRecorder
from services.processing.deadline_monitor import DeadlineMonitor
from services.processing.domain import AlertPolicy
from services.processing.repository import row_of
from services.processing.settings import ProcessingSettings
from services.processing.workflow import Action, apply

ROOT = Path(__file__).resolve().parent
# The same admin URL the tests use (tests/conftest.py).
PG_ADMIN = os.environ.get("ONESTOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CATALOG = "2025.07"
# Three procedures (7 working days, 20 days excluding holidays, 10 working days), each at
# an agency of another province, so the monitor builds more than one calendar.
KINDS = (("BHXH.NH.03", "000.01.01.H26"), ("BHXH.DH.01", "000.79.01.H29"),
         ("BHXH.DH.03", "000.12.01.H62"))
# Receipts every 5 hours over the last 30 days: the template rows are replicated from.
AGES = [timedelta(hours=h) for h in range(0, 30 * 24, 5)]
# A "future" case must not fall due while a million rows load: its next alert is at least
# this far ahead of the moment the templates are made.
MARGIN = timedelta(hours=6)
CHUNK = 50_000
IDLE_TICKS = 5
COLUMNS = [c.name for c in tables.cases.columns]


def progress(label: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f"\r  {label}: {done:,}/{total:,} ({rate:,.0f}/s)", end="", flush=True)


# --- the rows ---------------------------------------------------------------------------------


def opened_case(catalogs: CatalogSet, policy: AlertPolicy, procedure_code: str, agency: str,
                received_at: datetime) -> dict[str, Any]:
    """A case row as processing writes it when the receipt and the digitization (half an
    hour later, when it opens) are both known: the steps of case_events.py's _merge, _open and
    case_records.py's record through the same domain functions, without the database."""
    version = catalogs.version(CATALOG)
    procedure = version.procedure(procedure_code)
    calendar = agency_calendar(catalogs.calendar_rules(), version.agency(agency))
    code = f"{agency}-{received_at:%y%m%d}-T0000000"
    received = DossierReceived(
        dossier_code=code, agency_code=agency, procedure_code=procedure_code,
        catalog_version=CATALOG, channel=Channel.counter, return_channel=ReturnChannel.counter,
        received_at=received_at, due_at=calendar.due_at(received_at, procedure.legal_time),
        legal_time=procedure.legal_time,
        applicant=ApplicantRef(kind="individual", ref=f"p1_bench{received_at:%y%m%d%H}"),
        components=[ComponentRef(code="GKS", form="paper")])
    opened_at = received_at + timedelta(minutes=30)
    digitized = DossierDigitized(dossier_code=code, agency_code=agency,
                                 procedure_code=procedure_code, digitized_at=opened_at,
                                 component_count=1)
    record = domain.with_digitized(domain.with_receipt(domain.new_record(code), received),
                                   digitized)
    dues = domain.step_dues(record, procedure, calendar, received_at)
    record = record.changed({"step_dues": tuple(dues)})
    done = apply(domain.to_case(record, procedure), Action.open, None, opened_at)
    clock = domain.advance_clock(record, calendar, Action.open, done, opened_at)
    return row_of(domain.alert_values(
        clock, domain.fired_alerts(record), done.case.state.value, opened_at, policy
    ).on(domain.written(record, done, clock, opened_at)))


def templates(catalogs: CatalogSet, policy: AlertPolicy, now: datetime
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(due now, due later): open cases whose next alert has passed, and ones whose next
    alert is at least MARGIN ahead."""
    due, later = [], []
    for age in AGES:
        for procedure_code, agency in KINDS:
            row = opened_case(catalogs, policy, procedure_code, agency, now - age)
            at = row["next_alert_at"]
            assert row["state"] == "in_step", row["state"]
            if at is not None and at <= now:
                due.append(row)
            elif at is not None and at > now + MARGIN:
                later.append(row)
    if not due or not later:
        raise RuntimeError(f"templates: {len(due)} due, {len(later)} later; need both")
    return due, later


def encoder(dialect: Dialect) -> Callable[[dict[str, Any]], list[Any]]:
    """A row as the driver receives it from SQLAlchemy (UTC times, JSON text...), so the
    bulk load stores exactly what the service's own inserts would."""
    procs = [(c.name, c.type.dialect_impl(dialect).bind_processor(dialect))
             for c in tables.cases.columns]

    def encode(row: dict[str, Any]) -> list[Any]:
        return [None if name not in row else proc(row[name]) if proc else row[name]
                for name, proc in procs]

    return encode


def rows(n: int, due_n: int, due: list[dict[str, Any]], later: list[dict[str, Any]],
         dialect: Dialect) -> Iterator[tuple[Any, ...]]:
    """n rows in code order, every (n // due_n)-th one due: the due cases are spread over
    the table as they would be, not packed together on a few pages."""
    encode = encoder(dialect)
    at = COLUMNS.index("code")

    def prepared(group: list[dict[str, Any]]) -> list[tuple[list[Any], str]]:
        return [(encode(r), r["code"].rsplit("-", 1)[0]) for r in group]

    due_rows, later_rows = prepared(due), prepared(later)
    stride = n // due_n if due_n else n + 1
    for i in range(n):
        is_due = i % stride == 0 and i // stride < due_n
        values, prefix = (due_rows[(i // stride) % len(due_rows)] if is_due
                          else later_rows[i % len(later_rows)])
        values = values.copy()
        values[at] = f"{prefix}-B{i:07d}"
        yield tuple(values)


def chunks(items: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load_sqlite(path: Path, n: int, due_n: int, due: list[dict[str, Any]],
                later: list[dict[str, Any]]) -> tuple[float, float]:
    """executemany in one transaction on the plain driver; returns (load s, ANALYZE s)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # loading only: the timed tick uses the engine's
        sql = f"INSERT INTO cases ({', '.join(COLUMNS)}) VALUES " \
              f"({', '.join('?' * len(COLUMNS))})"
        started, done = time.perf_counter(), 0
        conn.execute("BEGIN")
        for chunk in chunks(rows(n, due_n, due, later, sqlite.dialect()), CHUNK):
            conn.executemany(sql, chunk)
            done += len(chunk)
            progress("sqlite load", done, n, started)
        conn.execute("COMMIT")
        load_s = time.perf_counter() - started
        print()
        started = time.perf_counter()
        conn.execute("ANALYZE")
        return load_s, time.perf_counter() - started
    finally:
        conn.close()


async def load_postgres(dsn: str, n: int, due_n: int, due: list[dict[str, Any]],
                        later: list[dict[str, Any]]) -> tuple[float, float]:
    """COPY in chunks; returns (load s, VACUUM ANALYZE s)."""
    conn = await asyncpg.connect(dsn)
    try:
        started, done = time.perf_counter(), 0
        for chunk in chunks(rows(n, due_n, due, later, PGDialect_asyncpg()), CHUNK):
            await conn.copy_records_to_table("cases", records=chunk, columns=COLUMNS)
            done += len(chunk)
            progress("postgres COPY", done, n, started)
        load_s = time.perf_counter() - started
        print()
        started = time.perf_counter()
        # VACUUM as well: a million fresh inserts would otherwise start autovacuum during
        # the timed tick, and a settled production table has its visibility map.
        await conn.execute("VACUUM ANALYZE cases")
        return load_s, time.perf_counter() - started
    finally:
        await conn.close()


# --- the tick ---------------------------------------------------------------------------------


class SqlTimer:
    """Time spent in the driver per kind of statement, and the monitor's query as sent
    (for EXPLAIN), from SQLAlchemy's cursor events."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.seconds: dict[str, float] = {}
        self.query: tuple[str, Any] | None = None
        self._started = 0.0
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)
        event.listen(engine.sync_engine, "after_cursor_execute", self._after)

    def _before(self, _conn: Any, _cursor: Any, statement: str, parameters: Any,
                _context: Any, _many: bool) -> None:
        if statement.lstrip().startswith("SELECT") and "next_alert_at <=" in statement:
            self.query = (statement, parameters)
        self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, _parameters: Any,
               _context: Any, _many: bool) -> None:
        words = statement.split()
        kind = " ".join(words[:3] if words[0] in ("INSERT", "UPDATE") else words[:1])
        if words[0] == "SELECT" and "next_alert_at <=" in statement:
            kind = "SELECT due cases"
        self.seconds[kind] = self.seconds.get(kind, 0.0) + time.perf_counter() - self._started


async def tick(sessions: async_sessionmaker[AsyncSession], cases: DeadlineMonitor, batch: int
               ) -> tuple[float, int, int]:
    """app.py's watch_deadlines, each batch in a transaction as Runtime.transaction runs it
    (the outbox rows flushed before commit). Returns (seconds, cases taken, batches)."""
    started, taken, batches = time.perf_counter(), 0, 0
    while True:
        async with sessions() as s, s.begin():
            n = await cases.monitor(s, batch)
            await flush_inserts(s)
        taken, batches = taken + n, batches + 1
        if n < batch:
            return time.perf_counter() - started, taken, batches


async def plan(engine: AsyncEngine, query: tuple[str, Any]) -> list[str]:
    """EXPLAIN of the monitor's query exactly as it was sent, with its parameters."""
    statement, parameters = query
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            result = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return [r[-1] for r in result]
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        return [r[0] for r in await raw.fetch(f"EXPLAIN {statement}", *parameters)]


async def measure(url: str, batch: int, policy: AlertPolicy) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    timer = SqlTimer(engine)
    outbox = OutboxWriter("processing", tables.runtime, SystemClock())
    cases = DeadlineMonitor(CaseRecorder(CaseLaw(load_catalogs()), outbox, alerts=policy))
    try:
        async with sessions() as s:  # the pool's connection opened outside the timing
            await s.execute(text("SELECT 1"))
        timer.seconds.clear()
        # CPU as well as wall time: this machine is shared, and CPU does not count waiting
        # for a core (the database server's own CPU is not in it).
        cpu = time.process_time()
        seconds, taken, batches = await tick(sessions, cases, batch)
        cpu = time.process_time() - cpu
        sql = dict(timer.seconds)
        async with sessions() as s:
            alerts = await s.scalar(select(func.count()).select_from(tables.runtime.outbox))
        idle = [(await tick(sessions, cases, batch))[0] for _ in range(IDLE_TICKS)]
        assert timer.query is not None
        lines = await plan(engine, timer.query)
    finally:
        await engine.dispose()
    return {"tick_seconds": seconds, "tick_cpu_seconds": cpu, "taken": taken, "batches": batches,
            "alerts_emitted": alerts,
            "sql_seconds": {k: round(v, 4) for k, v in sorted(sql.items())},
            "idle_tick_ms_median": statistics.median(idle) * 1000,
            "idle_tick_ms": [round(t * 1000, 2) for t in idle], "plan": lines}


# --- one backend ------------------------------------------------------------------------------


async def postgres_database() -> tuple[str, str]:
    name = f"onestop_bench_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


async def drop_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run(backend: str, n: int, due_n: int, settings: ProcessingSettings,
              policy: AlertPolicy) -> dict[str, Any]:
    print(f"{backend}: {n:,} open cases, {due_n:,} due")
    now = datetime.now(UTC)
    due, later = templates(load_catalogs(), policy, now)
    with TemporaryDirectory(prefix="onestop-bench-monitor-") as tmp:
        if backend == "sqlite":
            path = Path(tmp) / "processing.db"
            url = f"sqlite+aiosqlite:///{path}"
            await upgrade_async("processing", url, tables.metadata)
            load_s, analyze_s = await asyncio.to_thread(load_sqlite, path, n, due_n, due,
                                                        later)
            result = await measure(url, settings.monitor_batch, policy)
        else:
            name, dsn = await postgres_database()
            try:
                url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
                await upgrade_async("processing", url, tables.metadata)
                load_s, analyze_s = await load_postgres(dsn, n, due_n, due, later)
                result = await measure(url, settings.monitor_batch, policy)
            finally:
                await drop_postgres_database(name)
    return {"cases": n, "due": due_n, "templates": {"due": len(due), "later": len(later)},
            "batch": settings.monitor_batch, "load_seconds": load_s,
            "analyze_seconds": analyze_s, **result}


def measure_ticks(cases: int, due: int, backends: tuple[str, ...]) -> dict[str, Any]:
    """backend -> figures of one tick over `cases` open cases, `due` of them due."""
    settings = ProcessingSettings()
    policy = AlertPolicy(settings.alert_near_days, settings.alert_used_share)
    return {b: asyncio.run(run(b, cases, due, settings, policy)) for b in backends}


def print_table(figures: dict[str, Any]) -> None:
    print(f"{'':34}" + "".join(f"{b:>14}" for b in figures))
    table: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("open cases", lambda f: f"{f['cases']:,}"),
        ("due now", lambda f: f"{f['due']:,}"),
        ("load (s)", lambda f: f"{f['load_seconds']:.1f}"),
        ("ANALYZE (s)", lambda f: f"{f['analyze_seconds']:.1f}"),
        ("tick (s), goal <= 1", lambda f: f"{f['tick_seconds']:.3f}"),
        ("tick CPU, this process (s)", lambda f: f"{f['tick_cpu_seconds']:.3f}"),
        ("  batches", lambda f: f"{f['batches']}"),
        ("  cases taken", lambda f: f"{f['taken']:,}"),
        ("  alerts emitted (outbox rows)", lambda f: f"{f['alerts_emitted']:,}"),
        ("  in SQL (s)", lambda f: f"{sum(f['sql_seconds'].values()):.3f}"),
        ("tick, nothing due (ms, median)", lambda f: f"{f['idle_tick_ms_median']:.1f}"),
    ]
    for label, cell in table:
        print(f"{label:34}" + "".join(f"{cell(f):>14}" for f in figures.values()))
    for backend, f in figures.items():
        print(f"{backend} SQL time by statement: " + ", ".join(
            f"{k} {v:.3f}s" for k, v in f["sql_seconds"].items()))
        scan = next((line for line in f["plan"] if "Scan" in line or "SEARCH" in line
                     or "SCAN" in line), "")
        print(f"{backend} plan: {f['plan'][0].strip()}"
              + (f" ... {scan.strip()}" if scan and scan != f["plan"][0] else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="open cases loaded")
    parser.add_argument("--due", type=int, default=1_000, help="of which due now")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    if not 0 <= args.due <= args.cases:
        parser.error("--due must be between 0 and --cases")
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    figures = measure_ticks(args.cases, args.due, backends)
    result = {"at": datetime.now(UTC).isoformat(), "machine": platform.node(),
              "cpus": os.cpu_count(), "monitor": figures}
    print()
    print_table(figures)
    out = ROOT / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()
