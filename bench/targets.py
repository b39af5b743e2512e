"""Every target of the throughput issue (22) beside the figure a run measured, so a reader
sees at a glance which hold. Figures come from one run's result (bench/pipeline.py, and
bench/rebuild.py when it ran); a target whose figure the run did not measure is left out.

- pipeline lifecycle events/s into reporting (sustained) on each backend: >= 5,000
  (the goal stays 10,000), and >= 0.08 of the raw produce rate of the same run (goal 0.10);
  PostgreSQL no slower than SQLite;
- CPU per record handled, summed over the five services: <= 60 us. A record handled is a
  record a service's consumer fetched (applied, passed over or refused) or one its relay
  published: both cost the service CPU;
- a receipt visible in reporting at half load, p99: <= 1,000 ms on each backend;
- reporting's rebuild: >= 20,000 events/s;
- peak RSS of every service: <= 200 MiB;
- two replicas of processing and reporting (`--replicas 2`): >= 1.7 times one;
- RSS flat over a 30-minute soak at half load: not measured by `make bench` (too long), so
  the newest such soak in bench/results (`python -m bench.soak`) is shown, named by its file:
  the steepest service's RSS slope after warm-up, at most FLAT_MIB_PER_10_MIN
  with every service's peak under the RSS limit.
"""

from __future__ import annotations

from typing import Any

EVENTS_PER_S, GOAL_EVENTS_PER_S = 5_000, 10_000
RAW_SHARE, GOAL_RAW_SHARE = 0.08, 0.10
CPU_US_PER_RECORD = 60
RECEIPT_P99_MS = 1_000
REBUILD_EVENTS_PER_S = 20_000
RSS_MIB = 200
# RSS growth per 10 minutes after warm-up still called flat: a bench choice, not the issue's.
FLAT_MIB_PER_10_MIN = 2.0
REPLICA_GAIN = 1.7


def records_handled_per_dossier(pipe: dict[str, Any]) -> float | None:
    """Records fetched by the services' consumers plus records their relays published, per
    dossier of the full load (bench/breakdown.py)."""
    services = pipe.get("breakdown")
    if not services:
        return None
    return sum(s["per_dossier"]["fetched"] + s["per_dossier"]["published"]
               for s in services.values())


def cpu_us_per_record(pipe: dict[str, Any]) -> float | None:
    handled = records_handled_per_dossier(pipe)
    if not handled:
        return None
    return sum(pipe["cpu_ms_per_dossier"].values()) * 1000 / handled


def _half_load_p99(pipe: dict[str, Any]) -> float | None:
    for level in pipe.get("latency", []):
        if abs(level["share_of_full_load"] - 0.5) < 1e-9:
            return float(level["received_visible_ms"]["p99"])
    return None


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target and run: what, the figure, the target, whether it holds."""
    rows: list[dict[str, Any]] = []

    def add(what: str, figure: float | None, target: str, holds: bool | None) -> None:
        if figure is not None:
            rows.append({"target": what, "figure": figure, "goal": target, "holds": holds})

    raw = result["raw"]["produce_per_s"]
    pipes: dict[str, dict[str, Any]] = result["pipeline"]
    for label, pipe in pipes.items():
        rate = pipe["sustained_events_per_s"]
        add(f"pipeline events/s, {label}", rate,
            f">= {EVENTS_PER_S:,} (goal {GOAL_EVENTS_PER_S:,})", rate >= EVENTS_PER_S)
        add(f"pipeline / raw produce, {label}", rate / raw,
            f">= {RAW_SHARE} (goal {GOAL_RAW_SHARE})", rate / raw >= RAW_SHARE)
        cpu = cpu_us_per_record(pipe)
        add(f"CPU us per record handled, {label}", cpu, f"<= {CPU_US_PER_RECORD}",
            None if cpu is None else cpu <= CPU_US_PER_RECORD)
        p99 = _half_load_p99(pipe)
        add(f"receipt visible p99 ms at 50%, {label}", p99, f"<= {RECEIPT_P99_MS:,}",
            None if p99 is None else p99 <= RECEIPT_P99_MS)
        if pipe.get("peak_rss_mib"):
            name, peak = max(pipe["peak_rss_mib"].items(), key=lambda kv: kv[1])
            add(f"peak RSS MiB (largest: {name}), {label}", peak, f"<= {RSS_MIB}",
                peak <= RSS_MIB)
    if "sqlite" in pipes and "postgres" in pipes:
        ratio = pipes["postgres"]["sustained_events_per_s"] / \
            pipes["sqlite"]["sustained_events_per_s"]
        add("PostgreSQL / SQLite events/s", ratio, ">= 1.0", ratio >= 1.0)
    replicated = [label for label in pipes if " x" in label]
    if replicated and "postgres" in pipes:
        label = replicated[0]
        gain = pipes[label]["sustained_events_per_s"] / pipes["postgres"]["sustained_events_per_s"]
        add(f"{label} / postgres events/s", gain, f">= {REPLICA_GAIN}", gain >= REPLICA_GAIN)
    if "soak" in result:
        last = result["soak"]
        services = last["services"].values()
        slope = max(s["slope_mib_per_10_min"] for s in services)
        add(f"RSS MiB per 10 min, {last['minutes']}-min soak ({last['backend']}, "
            f"{last['file'][:16]})", slope,
            f"<= {FLAT_MIB_PER_10_MIN}, peak <= {RSS_MIB}",
            all(s["flat"] and s["under_limit"] for s in services))
    if "rebuild" in result:
        r = result["rebuild"]
        rebuild = float(r["events_per_s"])
        # Runs since the rebuild takes workers name them and the one-process figure beside.
        how = (f" ({r['workers']} processes; in one: {r['one_worker_events_per_s']:,.0f})"
               if "workers" in r else "")
        add(f"rebuild events/s{how}", rebuild, f">= {REBUILD_EVENTS_PER_S:,}",
            rebuild >= REBUILD_EVENTS_PER_S)
    return rows


def print_targets(rows: list[dict[str, Any]]) -> None:
    print("== throughput targets ==")
    print("(a record handled: fetched by a service's consumer or published by its relay)")
    for row in rows:
        figure = row["figure"]
        shown = f"{figure:,.3f}" if figure < 10 else f"{figure:,.1f}" if figure < 1000 \
            else f"{figure:,.0f}"
        verdict = {True: "holds", False: "NOT MET", None: ""}[row["holds"]]
        print(f"  {row['target']:52}{shown:>12}   target {row['goal']:22} {verdict}")
