"""Where each service's time went during a measured load, from the services' own /metrics
(scraped before and after it: services/common/observability/sqlstats.py and the
consumer's batch parts)
and, on PostgreSQL, from the server: its processes' CPU and its per-database counters.

Per service, per consumer batch: wall ms, of it SQL statements, commit, pool (checkout and
liveness pings), the broker's offset commit and Python (the rest, parsing included);
statements and round trips per batch, per table; records fetched, applied and published
per dossier. Beside the services' own CPU per dossier, the PostgreSQL server's: the CPU of
the backends serving the run's databases and of the server's shared writers (checkpointer,
WAL and background writer, which other databases on the machine share).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import asyncpg
import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from bench.databases import APPLICATION
from bench.monitor import PG_ADMIN

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# asyncpg's liveness ping is a transaction of its own: BEGIN, an empty query, ROLLBACK.
PING_ROUND_TRIPS = 3
SHARED_WRITERS = ("checkpointer", "walwriter", "background writer")


async def scrape(urls: dict[str, list[str]]) -> dict[str, Samples]:
    """service -> its /metrics samples, summed over its replicas."""
    out: dict[str, Samples] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for service, addresses in urls.items():
            summed: Samples = defaultdict(float)
            for address in addresses:
                text = (await client.get(f"{address}/metrics")).text
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        summed[(s.name, tuple(sorted(s.labels.items())))] += s.value
            out[service] = dict(summed)
    return out


def _delta(before: Samples, after: Samples) -> Samples:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def _sum(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name
               and all(dict(ls).get(k) == want for k, want in labels.items()))


def service_breakdown(d: Samples, dossiers: int, backend: str) -> dict[str, Any]:
    """One service's figures from the change of its metrics over the load."""
    batches = _sum(d, "onestop_consumer_batch_seconds_count")
    per_batch = 1000 / batches if batches else 0.0  # seconds in total -> ms per batch
    wall = _sum(d, "onestop_consumer_batch_seconds_sum")
    sql = _sum(d, "onestop_sql_statement_seconds_total", phase="consumer")
    commit = _sum(d, "onestop_sql_commit_seconds_total", phase="consumer") + \
        _sum(d, "onestop_sql_rollback_seconds_total", phase="consumer")
    pool = _sum(d, "onestop_sql_checkout_seconds_total", phase="consumer") + \
        _sum(d, "onestop_sql_ping_seconds_total", phase="consumer")
    offsets = _sum(d, "onestop_consumer_batch_part_seconds_total", part="offsets")
    parse = _sum(d, "onestop_consumer_batch_part_seconds_total", part="parse")
    statements = _sum(d, "onestop_sql_statements_total", phase="consumer")
    pings = _sum(d, "onestop_sql_pings_total", phase="consumer")
    ends = _sum(d, "onestop_sql_commits_total", phase="consumer") + \
        _sum(d, "onestop_sql_rollbacks_total", phase="consumer")
    begins = _sum(d, "onestop_sql_transactions_total", phase="consumer")
    # PostgreSQL: BEGIN and COMMIT are round trips of their own; SQLite's BEGIN is counted
    # as a statement (each one a hop to aiosqlite's thread, as is the commit).
    round_trips = statements + ends + (begins + PING_ROUND_TRIPS * pings
                                       if backend == "postgres" else 0)
    tables: dict[str, dict[str, float]] = {}
    for (name, labels), value in d.items():
        ls = dict(labels)
        if name == "onestop_sql_statements_total" and ls.get("phase") == "consumer" and value:
            key = f"{ls['verb']} {ls['table']}".strip()
            seconds = d.get(("onestop_sql_statement_seconds_total", labels), 0.0)
            rows = d.get(("onestop_sql_parameter_sets_total", labels), 0.0)
            compiled = d.get(("onestop_sql_compilations_total", labels), 0.0)
            tables[key] = {"per_batch": value / batches if batches else 0.0,
                           "ms_per_batch": seconds * per_batch,
                           "rows_per_statement": rows / value,
                           "compiled_per_batch": compiled / batches if batches else 0.0}
    relay_rows = _sum(d, "onestop_events_published_total")
    relay_statements = _sum(d, "onestop_sql_statements_total", phase="relay")
    phases = sorted({dict(ls).get("phase", "") for (n, ls) in d
                     if n == "onestop_sql_statements_total"})
    return {
        "batches": batches,
        "records_per_batch": _sum(d, "onestop_consumer_records_fetched_total") / batches
        if batches else 0.0,
        "ms_per_batch": {
            "wall": wall * per_batch, "sql": sql * per_batch, "commit": commit * per_batch,
            "pool": pool * per_batch, "offsets": offsets * per_batch,
            "python": (wall - sql - commit - pool - offsets) * per_batch,
            "of_which_parse": parse * per_batch},
        "statements_per_batch": statements / batches if batches else 0.0,
        "round_trips_per_batch": round_trips / batches if batches else 0.0,
        "checkouts_per_batch": _sum(d, "onestop_sql_checkouts_total", phase="consumer")
        / batches if batches else 0.0,
        "pings_per_batch": pings / batches if batches else 0.0,
        # Core statements compiled anew: each a walk of its tree in Python, every batch.
        "compilations_per_batch": _sum(d, "onestop_sql_compilations_total", phase="consumer")
        / batches if batches else 0.0,
        "compilations_per_dossier": {p: _sum(d, "onestop_sql_compilations_total", phase=p)
                                     / dossiers for p in phases},
        "tables": dict(sorted(tables.items(), key=lambda kv: -kv[1]["ms_per_batch"])),
        "per_dossier": {
            "fetched": _sum(d, "onestop_consumer_records_fetched_total") / dossiers,
            "applied": _sum(d, "onestop_events_consumed_total") / dossiers,
            "published": relay_rows / dossiers,
            "statements": {p: _sum(d, "onestop_sql_statements_total", phase=p) / dossiers
                           for p in phases},
            "sql_ms": {p: 1000 * _sum(d, "onestop_sql_statement_seconds_total", phase=p)
                       / dossiers for p in phases}},
        "relay": {"statements_per_1000_rows": 1000 * relay_statements / relay_rows
                  if relay_rows else 0.0,
                  "sql_ms_per_1000_rows": 1e6 * (
                      _sum(d, "onestop_sql_statement_seconds_total", phase="relay")
                      + _sum(d, "onestop_sql_commit_seconds_total", phase="relay"))
                  / relay_rows if relay_rows else 0.0},
        "distinct_statements": _sum(d, "onestop_sql_distinct_statements"),
        # Python's garbage collections (services/common/garbage.py), per generation.
        "gc_ms_per_dossier": {g: 1000 * _sum(d, "onestop_gc_seconds_total", generation=g)
                              / dossiers for g in ("0", "1", "2")},
    }


def breakdown(before: dict[str, Samples], after: dict[str, Samples], dossiers: int,
              backend: str) -> dict[str, dict[str, Any]]:
    return {service: service_breakdown(_delta(before[service], after[service]), dossiers,
                                       backend) for service in after}


class PgServer:
    """The local PostgreSQL server's CPU spent on a run's databases (psutil over its
    processes, user + system), and the databases' own counters (pg_stat_database)."""

    COUNTERS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted",
                "tup_updated", "tup_deleted", "blks_hit", "blks_read")

    def __init__(self, databases: list[str]) -> None:
        self.databases = databases

    async def snapshot(self) -> dict[str, Any]:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            activity = await conn.fetch(
                "SELECT pid, datname, backend_type, application_name FROM pg_stat_activity")
            stats = await conn.fetch(
                f"SELECT datname, {', '.join(self.COUNTERS)} FROM pg_stat_database "
                "WHERE datname = ANY($1::text[])", self.databases)
        finally:
            await conn.close()
        ours, shared = {}, {}
        for row in activity:
            if row["datname"] in self.databases and row["application_name"] != \
                    APPLICATION:
                ours[row["pid"]] = _cpu(row["pid"])
            elif row["datname"] is None and row["backend_type"] in SHARED_WRITERS:
                shared[row["pid"]] = _cpu(row["pid"])
        counters = {c: sum(int(r[c] or 0) for r in stats) for c in self.COUNTERS}
        return {"ours": ours, "shared": shared, "counters": counters,
                "tables": await self.rows_read(), "statements": await self.statements()}

    async def statements(self) -> dict[tuple[str, int], dict[str, Any]] | None:
        """The server's own account of each statement run in the run's databases so far
        (pg_stat_statements: calls, rows, executor time, buffers), keyed by (service,
        queryid); None when the server does not preload the extension (it collects only
        then, and a bench does not restart a server)."""
        if "pg_stat_statements" not in await self.preloaded():
            return None
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            rows = await conn.fetch(
                "SELECT d.datname, s.queryid, s.query, s.calls, s.rows, s.total_exec_time,"
                " s.shared_blks_hit + s.shared_blks_read AS blocks"
                " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
                " WHERE d.datname = ANY($1::text[])", self.databases)
        finally:
            await conn.close()
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for r in rows:
            entry = out.setdefault((r["datname"].rsplit("_", 1)[-1], int(r["queryid"] or 0)), {
                "query": " ".join(r["query"].split()), "calls": 0, "rows": 0, "ms": 0.0,
                "blocks": 0})
            # One queryid may show under several users: summed.
            entry["calls"] += int(r["calls"])
            entry["rows"] += int(r["rows"])
            entry["ms"] += float(r["total_exec_time"])
            entry["blocks"] += int(r["blocks"])
        return out

    async def rows_read(self) -> dict[str, int]:
        """Rows each table of the run's databases has handed out so far (sequential scans'
        rows read plus index scans' rows fetched), as "<service>.<table>": a statement
        reading a whole table where it should probe a few keys shows here first."""
        read: dict[str, int] = {}
        for database in self.databases:
            conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{database}",
                                         server_settings={"application_name": APPLICATION})
            try:
                for r in await conn.fetch(
                        "SELECT relname, coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
                        " AS n FROM pg_stat_user_tables"):
                    read[f"{database.rsplit('_', 1)[-1]}.{r['relname']}"] = int(r["n"])
            finally:
                await conn.close()
        return read

    @staticmethod
    async def preloaded() -> str:
        """What the server preloads (pg_stat_statements collects only when preloaded)."""
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            return str(await conn.fetchval("SHOW shared_preload_libraries"))
        finally:
            await conn.close()

    @staticmethod
    def figures(before: dict[str, Any], after: dict[str, Any], dossiers: int
                ) -> dict[str, Any]:
        def spent(kind: str) -> float:
            # A backend that started during the load counts from zero.
            return sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items())
        return {"cpu_ms_per_dossier": round(1000 * spent("ours") / dossiers, 2),
                "shared_writers_cpu_ms_per_dossier": round(1000 * spent("shared") / dossiers,
                                                           2),
                "per_dossier": {c: round((after["counters"][c] - before["counters"][c])
                                         / dossiers, 1) for c in PgServer.COUNTERS},
                # The tables that handed out the most rows per dossier (the bench's own
                # polling of reporting's events and inbox counts here too).
                "rows_read_per_dossier": dict(sorted(
                    ((t, round((n - before["tables"].get(t, 0)) / dossiers, 1))
                     for t, n in after["tables"].items()),
                    key=lambda kv: -kv[1])[:8]),
                "statements": PgServer.top_statements(before.get("statements"),
                                                      after.get("statements"), dossiers)}

    @staticmethod
    def top_statements(before: dict[tuple[str, int], dict[str, Any]] | None,
                       after: dict[tuple[str, int], dict[str, Any]] | None, dossiers: int,
                       top: int = 15) -> list[dict[str, Any]] | None:
        """The statements the server spent most executor time on during the load, per
        dossier: which service's database, calls, executor ms, rows per call, buffers per
        call. The bench's own completion poll is among them, under reporting (`SELECT
        count(*) FROM events WHERE seq > ...`, every half second); its backend's CPU is
        left out of the server's CPU figure, not out of this list."""
        if before is None or after is None:
            return None
        spent = []
        for key, now in after.items():
            was = before.get(key, {"calls": 0, "rows": 0, "ms": 0.0, "blocks": 0})
            calls = now["calls"] - was["calls"]
            if calls <= 0:
                continue
            spent.append({
                "service": key[0], "query": now["query"][:160],
                "calls_per_dossier": round(calls / dossiers, 3),
                "ms_per_dossier": round((now["ms"] - was["ms"]) / dossiers, 4),
                "rows_per_call": round((now["rows"] - was["rows"]) / calls, 1),
                "blocks_per_call": round((now["blocks"] - was["blocks"]) / calls, 1)})
        spent.sort(key=lambda s: -s["ms_per_dossier"])
        return spent[:top]


class MachineLoad:
    """How busy the machine was during a measurement, and how much of that was others'
    work (other engineers' tests on a shared machine): every CPU's busy time, less this
    process's and its children's (the services and the broker) and, on PostgreSQL, the
    backends serving the run. A noisy figure is then told from a slow change."""

    def __init__(self, server: PgServer | None = None) -> None:
        self.server = server
        self.started = self._now()

    @staticmethod
    def _now() -> tuple[float, float, float]:
        t = psutil.cpu_times()
        busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + \
            getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)
        me = psutil.Process()
        ours = 0.0
        for proc in (me, *me.children(recursive=True)):
            try:
                c = proc.cpu_times()
            except psutil.Error:
                continue
            ours += c.user + c.system
        return time.monotonic(), busy, ours

    async def figures(self, server_seconds: float = 0.0) -> dict[str, float]:
        """Shares of the whole machine (every CPU) since this was made; `server_seconds`:
        the PostgreSQL CPU the run used meanwhile, counted as the run's own."""
        start, busy0, ours0 = self.started
        end, busy1, ours1 = self._now()
        capacity = max(end - start, 1e-9) * (psutil.cpu_count() or 1)
        busy = busy1 - busy0
        return {"machine_busy_share": round(busy / capacity, 3),
                "others_share": round(max(0.0, busy - (ours1 - ours0) - server_seconds)
                                      / capacity, 3)}


def _cpu(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return t.user + t.system


def print_breakdown(pipes: dict[str, dict[str, Any]]) -> None:
    """Per run, per service: the batch's ms by part, statements and round trips, the tables
    that took most time, records per dossier; the PostgreSQL server's CPU beside the
    services'."""
    for label, pipe in pipes.items():
        services = pipe.get("breakdown")
        if not services:
            continue
        names = list(services)
        print(f"-- where a consumer batch's time goes: {label} --")

        def row(title: str, cells: list[str]) -> None:
            print(f"{title:34}" + "".join(f"{c:>14}" for c in cells))

        row("", names)
        row("batches", [f"{s['batches']:,.0f}" for s in services.values()])
        row("records fetched per batch", [f"{s['records_per_batch']:,.1f}"
                                          for s in services.values()])
        for part in ("wall", "sql", "commit", "pool", "offsets", "python", "of_which_parse"):
            row(f"ms per batch: {part.replace('_', ' ')}",
                [f"{s['ms_per_batch'][part]:,.2f}" for s in services.values()])
        row("statements per batch", [f"{s['statements_per_batch']:,.1f}"
                                     for s in services.values()])
        trips = "round trips" if pipe["backend"] == "postgres" else "driver calls"
        row(f"{trips} per batch", [f"{s['round_trips_per_batch']:,.1f}"
                                   for s in services.values()])
        row("checkouts / pings per batch", [
            f"{s['checkouts_per_batch']:,.1f}/{s['pings_per_batch']:,.1f}"
            for s in services.values()])
        row("records fetched per dossier", [f"{s['per_dossier']['fetched']:,.2f}"
                                            for s in services.values()])
        row("records applied per dossier", [f"{s['per_dossier']['applied']:,.2f}"
                                            for s in services.values()])
        row("records published per dossier", [f"{s['per_dossier']['published']:,.2f}"
                                              for s in services.values()])
        for phase in ("consumer", "relay", "periodic", "other"):
            row(f"statements per dossier: {phase}", [
                f"{s['per_dossier']['statements'].get(phase, 0):,.2f}"
                for s in services.values()])
        row("relay statements per 1000 rows", [
            f"{s['relay']['statements_per_1000_rows']:,.1f}" for s in services.values()])
        row("statements compiled per batch", [
            f"{s.get('compilations_per_batch', 0):,.2f}" for s in services.values()])
        row("distinct statement texts", [f"{s['distinct_statements']:,.0f}"
                                         for s in services.values()])
        row("CPU ms per dossier", [f"{pipe['cpu_ms_per_dossier'].get(n, 0):,.2f}"
                                   for n in names])
        row("  of which garbage collection", [
            f"{sum(s.get('gc_ms_per_dossier', {}).values()):,.2f}" for s in services.values()])
        for name, s in services.items():
            top = [f"{k} {t['per_batch']:.1f}x{t['rows_per_statement']:.0f} "
                   f"{t['ms_per_batch']:.2f}ms" for k, t in list(s["tables"].items())[:6]]
            print(f"  {name}: per batch, statement n x rows, ms: " + "; ".join(top))
            anew = [f"{k} {t['compiled_per_batch']:.2f}" for k, t in s["tables"].items()
                    if t.get("compiled_per_batch", 0) >= 0.01]
            if anew:
                print(f"  {name}: compiled anew per batch: " + "; ".join(anew))
        half = next((lv for lv in pipe.get("latency", [])
                     if abs(lv["share_of_full_load"] - 0.5) < 1e-9 and lv.get("breakdown")),
                    None)
        if half:
            steady = half["breakdown"]
            print("  at half load, per service: batches, records per batch, ms per batch "
                  "wall/sql/commit/offsets")
            print("    " + "; ".join(
                f"{name} {s['batches']:.0f}, {s['records_per_batch']:.0f}, "
                f"{s['ms_per_batch']['wall']:.0f}/{s['ms_per_batch']['sql']:.0f}/"
                f"{s['ms_per_batch']['commit']:.0f}/{s['ms_per_batch']['offsets']:.0f}"
                for name, s in steady.items()))
        server = pipe.get("postgres_server")
        if server:
            own = sum(pipe["cpu_ms_per_dossier"].values())
            print(f"  PostgreSQL server CPU ms per dossier: {server['cpu_ms_per_dossier']:.2f} "
                  f"(backends of the run's databases) + "
                  f"{server['shared_writers_cpu_ms_per_dossier']:.2f} (shared writers), "
                  f"beside {own:.2f} for the five services")
            counts = server["per_dossier"]
            print("  PostgreSQL per dossier: " + ", ".join(
                f"{k} {v:,.1f}" for k, v in counts.items()))
            print("  PostgreSQL rows read per dossier, by table: " + ", ".join(
                f"{k} {v:,.1f}" for k, v in server.get("rows_read_per_dossier", {}).items()))
            print(f"  pg_stat_statements: {server['pg_stat_statements']}")
            statements = server.get("statements")
            if statements:
                total = sum(st["ms_per_dossier"] for st in statements)
                print(f"  PostgreSQL executor ms per dossier, top {len(statements)} statements "
                      f"({total:.2f} ms together): service, calls, ms, rows and buffers per "
                      f"call, statement")
                for st in statements:
                    print(f"    {st['service']:13}{st['calls_per_dossier']:7.2f}"
                          f"{st['ms_per_dossier']:8.3f}{st['rows_per_call']:8.1f}"
                          f"{st['blocks_per_call']:8.1f}  {st['query'][:110]}")
