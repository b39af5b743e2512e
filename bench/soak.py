"""A soak: the five services held at a steady share of their full-load rate for many
minutes, each service's resident memory read at the end of every minute, so that growth
after warm-up shows (the target: at most 200 MiB per service, and flat over 30 minutes at
half load).

A full load of `--dossiers` dossiers first measures the sustained rate (as bench/pipeline.py
does); then, minute after minute, a fresh simulated load of that minute's dossiers is
offered at `--share` of the rate and waited for in reporting, with its receipt-visible p99.
"Flat" is judged from the least-squares slope of each service's RSS over the minutes after
`--warmup`: at most FLAT_MIB_PER_10_MIN (a bench choice, not a figure from the issue).
Each minute also shows what a dossier cost: every service's CPU (user + system) and, on
PostgreSQL, the server's backends for the run's databases, their buffer reads and the
table that handed out the most rows, so a latency that climbs with the data is traced to
the process whose cost per dossier grows.
Nothing is asserted; the figures are printed and written to bench/results/.

    python -m bench.soak [--minutes 30] [--share 0.5] [--backend sqlite|postgres]
                         [--dossiers 2000] [--warmup 5] [--keep-databases]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import psutil

from bench.breakdown import PgServer
from bench.databases import ServiceDb, create_databases, drop_databases
from bench.pipeline import (
    RssSampler,
    full_load,
    latency,
    local_broker,
    make_load,
    running_services,
    write,
)
from bench.targets import FLAT_MIB_PER_10_MIN, RSS_MIB
from contracts.topics import SERVICES
from deploy.local.broker import free_port
from deploy.local.stack import Stack


def latest(results: Path, minutes: int = 30, share: float = 0.5) -> dict[str, Any] | None:
    """The newest soak in `results` (bench/results/*-soak-*.json) that ran at least
    `minutes` minutes at `share` of the full load: its file, time, backend, length and the
    verdict per service; None when there is none. `make bench` prints it beside its own
    figures: a 30-minute soak is too long to run with every bench."""
    for path in sorted(results.glob("*-soak-*.json"), reverse=True):  # names start with UTC
        try:
            run = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if len(run.get("minutes", [])) >= minutes and run.get("share") == share and \
                run.get("services"):
            return {"file": path.name, "at": run["at"], "backend": run["backend"],
                    "minutes": len(run["minutes"]), "services": run["services"]}
    return None


def drift(series: list[float], warmup: int) -> dict[str, float]:
    """One service's RSS per minute (MiB): where it stood once warm, where it ended, its
    peak, and its least-squares slope in MiB per 10 minutes over the minutes after
    `warmup` (0.0 with fewer than two of them)."""
    tail = series[warmup:] if len(series) > warmup else series[-1:]
    n = len(tail)
    slope = 0.0
    if n >= 2:
        mean_x, mean_y = (n - 1) / 2, sum(tail) / n
        spread = sum((x - mean_x) ** 2 for x in range(n))
        slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(tail)) / spread * 10
    return {"warm_mib": tail[0], "last_mib": tail[-1], "peak_mib": max(series),
            "slope_mib_per_10_min": slope}


def judge(series: dict[str, list[float]], warmup: int) -> dict[str, dict[str, Any]]:
    """Each service's drift, and whether it stayed under the limit and flat."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in series.items():
        d: dict[str, Any] = drift(values, warmup)
        d["under_limit"] = d["peak_mib"] <= RSS_MIB
        d["flat"] = d["slope_mib_per_10_min"] <= FLAT_MIB_PER_10_MIN
        out[name] = d
    return out


def _rss(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out = {}
    for name, proc in procs.items():
        try:
            out[name] = round(proc.memory_info().rss / 2**20, 1)
        except psutil.Error:
            out[name] = 0.0
    return out


def cost_per_dossier(sampler: RssSampler, before: dict[str, float], dossiers: int,
                     server: dict[str, Any] | None = None) -> dict[str, Any]:
    """A minute's CPU ms per dossier for each service (and the PostgreSQL server's figures
    when `server` holds them), from the CPU seconds read at the minute's start."""
    after = sampler.cpu_seconds()
    cost: dict[str, Any] = {name: round((after[name] - before.get(name, 0.0)) * 1000
                                        / max(dossiers, 1), 2) for name in after}
    broker = sampler.broker_cpu_seconds()
    if broker is not None and "broker" in before:
        cost["broker"] = round((broker - before["broker"]) * 1000 / max(dossiers, 1), 2)
    if server is not None:
        cost["postgres"] = server["cpu_ms_per_dossier"]
        cost["postgres_blks_hit"] = server["per_dossier"]["blks_hit"]
        cost["postgres_most_read"] = next(iter(server["rows_read_per_dossier"].items()),
                                          None)
    return cost


async def _soak(stack: Stack, urls: dict[str, str], sampler: RssSampler, dossiers: int,
                minutes: int, share: float) -> dict[str, Any]:
    db = ServiceDb.of(stack.var_dir, "reporting", urls)
    server = PgServer([u.rsplit("/", 1)[1] for u in urls.values()]) if urls else None
    procs = {name: psutil.Process(svc.process.pid)
             for name, svc in stack.services.items() if svc.process}
    try:
        full = await full_load(stack.bootstrap, db, make_load("simulated", dossiers, "f"),
                               sampler)
        rate = share * full["sustained_records_per_s"]
        per_dossier = full["ingest_records"] / full["dossiers"]
        print(f"full load: {full['sustained_records_per_s']:,.0f} records/s sustained; "
              f"soaking at {rate:,.0f} records/s ({share:.0%}) for {minutes} minutes")
        rows = []
        started = time.perf_counter()
        for minute in range(1, minutes + 1):
            load = make_load("simulated", max(2, round(rate * 60 / per_dossier)), f"s{minute}")
            cpu_before = sampler.cpu_seconds()
            if (broker_cpu := sampler.broker_cpu_seconds()) is not None:
                cpu_before["broker"] = broker_cpu
            server_before = await server.snapshot() if server else None
            figures = await latency(stack.bootstrap, db, load, rate)
            server_figures = PgServer.figures(server_before, await server.snapshot(),
                                              load.dossiers) if server and server_before \
                else None
            row = {"minute": minute, "elapsed_s": round(time.perf_counter() - started, 1),
                   "dossiers": load.dossiers,
                   "achieved_records_per_s": round(figures["achieved_records_per_s"], 1),
                   "received_p99_ms": round(figures["received_visible_ms"]["p99"], 1),
                   "rss_mib": _rss(procs),
                   # The local broker keeps every record in memory (no retention): apart
                   # from the services' figures, which the RSS targets are about.
                   "broker_rss_mib": sampler.broker_rss_mib(),
                   "cpu_ms_per_dossier": cost_per_dossier(sampler, cpu_before, load.dossiers,
                                                          server_figures)}
            rows.append(row)
            cost = row["cpu_ms_per_dossier"]
            print(f"  minute {minute:3d}: receipt p99 {row['received_p99_ms']:7,.0f} ms; "
                  "RSS MiB " + ", ".join(f"{k} {v:.1f}" for k, v in row["rss_mib"].items())
                  + (f"; local broker {row['broker_rss_mib']:,.0f}"
                     if row["broker_rss_mib"] is not None else ""), flush=True)
            print("             CPU ms per dossier " + ", ".join(
                f"{k} {v:.2f}" for k, v in cost.items()
                if k not in ("postgres_blks_hit", "postgres_most_read")) +
                (f"; PostgreSQL blocks hit per dossier {cost['postgres_blks_hit']:,.0f}, "
                 f"most rows read {cost['postgres_most_read']}" if "postgres" in cost else ""),
                flush=True)
    finally:
        await db.close()
    return {"full_load": {k: full[k] for k in ("dossiers", "sustained_records_per_s",
                                                "sustained_events_per_s")},
            "offered_records_per_s": rate, "minutes": rows}


def soak(minutes: int, share: float, backend: str, dossiers: int, warmup: int,
         keep_databases: bool = False) -> dict[str, Any]:
    var = Path(mkdtemp(prefix="onestop-soak-"))
    with local_broker(var) as bootstrap:
        urls = asyncio.run(create_databases(SERVICES)) if backend == "postgres" else {}
        try:
            stack = Stack(bootstrap, var / backend, ports={s: free_port() for s in SERVICES},
                          extra_env={"ONESTOP_LOG_LEVEL": "WARNING"}, database_urls=urls)
            with running_services(stack, urls) as sampler:
                result = asyncio.run(_soak(stack, urls, sampler, dossiers, minutes, share))
        finally:
            # A 30-minute soak leaves some GB in PostgreSQL: dropped unless asked to keep
            # them for a look (EXPLAIN, pg_stat_user_tables).
            if urls and not keep_databases:
                asyncio.run(drop_databases(urls))
            elif urls:
                print("databases kept:", ", ".join(u.rsplit("/", 1)[1] for u in urls.values()))
    series = {name: [row["rss_mib"][name] for row in result["minutes"]]
              for name in result["minutes"][0]["rss_mib"]} if result["minutes"] else {}
    return {"at": datetime.now(UTC).isoformat(), "backend": backend, "share": share,
            "warmup_minutes": warmup, **result,
            "peak_rss_mib": {k: round(v / 2**20, 1) for k, v in sampler.peak.items()},
            "services": judge(series, warmup)}


def print_summary(result: dict[str, Any]) -> None:
    print(f"\n== soak: {len(result['minutes'])} minutes at {result['share']:.0%} of the full "
          f"load ({result['offered_records_per_s']:,.0f} records/s), {result['backend']} ==")
    print(f"{'service':14s} {'warm MiB':>9s} {'last MiB':>9s} {'peak MiB':>9s} "
          f"{'MiB/10 min':>11s}  target (<= {RSS_MIB:.0f} MiB, "
          f"<= {FLAT_MIB_PER_10_MIN} MiB/10 min after {result['warmup_minutes']} min)")
    for name, d in result["services"].items():
        verdict = "holds" if d["under_limit"] and d["flat"] else "NOT MET"
        print(f"{name:14s} {d['warm_mib']:9.1f} {d['last_mib']:9.1f} {d['peak_mib']:9.1f} "
              f"{d['slope_mib_per_10_min']:11.2f}  {verdict}")
    p99 = [row["received_p99_ms"] for row in result["minutes"]]
    if p99:
        print(f"receipt visible p99 per minute, ms: median {sorted(p99)[len(p99) // 2]:,.0f}, "
              f"worst {max(p99):,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--share", type=float, default=0.5,
                        help="the steady load, as a share of the full load's sustained rate")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--dossiers", type=int, default=2000,
                        help="dossiers of the full load that measures the rate")
    parser.add_argument("--warmup", type=int, default=5,
                        help="minutes left out of the slope")
    parser.add_argument("--keep-databases", action="store_true",
                        help="PostgreSQL: keep the run's databases to look at afterwards")
    args = parser.parse_args()
    result = soak(args.minutes, args.share, args.backend, args.dossiers, args.warmup,
                  args.keep_databases)
    print_summary(result)
    write(result, f"-soak-{args.backend}")


if __name__ == "__main__":
    main()
