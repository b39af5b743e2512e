"""`make bench`: every throughput measurement in one run, one table, one JSON, and
every target beside its figure (bench/targets.py).

The raw broker's ceiling; the pipeline at full load and its publish-to-visible latency at
25/50/75% of it, on SQLite and on PostgreSQL (bench/pipeline.py); with `--replicas N`, the
same on PostgreSQL with N processing and N reporting processes; reporting's rebuild rate
(bench/rebuild.py); one deadline-monitor tick over a million open cases on both databases
(bench/monitor.py); peak RSS per service; with `--broker-storage N`, the local broker's
log in memory against in S3 (bench/broker_storage.py). Written to bench/results/<time>.json; nothing
here asserts a timing. The CPU is shared on development machines: compare runs made in the
same half hour.

    python -m bench [--replicas N] [--dossiers N] [--raw N] [--level-seconds S]
                    [--rebuild-events N] [--cases N] [--broker-storage N]
"""

from __future__ import annotations

import argparse
from typing import Any

from bench import broker_storage, monitor, pipeline, readme, rebuild, soak
from bench.targets import print_targets, targets


def summary(result: dict[str, Any]) -> None:
    print()
    print("== pipeline ==")
    pipeline.print_pipelines(result["raw"], result["pipeline"])
    print()
    print("== rebuild ==")
    r = result["rebuild"]
    print(f"reporting rebuild (SQLite): {r['events_per_s']:,.0f} events/s "
          f"({r['events_applied']:,} events, goal 20,000/s)"
          + (f" in {r['workers']} processes; in one: {r['one_worker_events_per_s']:,.0f}; "
             f"the whole call {r['wall_seconds']:.1f} s against {r['one_worker_wall_seconds']:.1f}"
             if "workers" in r else ""))
    print()
    print("== deadline monitor ==")
    monitor.print_table(result["monitor"])
    if "broker_storage" in result:
        print()
        print("== local broker storage ==")
        broker_storage.print_table(result["broker_storage"])
    print()
    print_targets(result["targets"])
    print()
    print("The CPU of this machine may be shared: figures are noisy; compare runs made "
          "side by side.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=1,
                        help="N > 1 adds a PostgreSQL pipeline with N processing and N "
                             "reporting replicas")
    parser.add_argument("--raw", type=int, default=50_000)
    parser.add_argument("--dossiers", type=int, default=5_000)
    parser.add_argument("--level-seconds", type=float, default=15.0)
    parser.add_argument("--rebuild-events", type=int, default=20_000)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--write-readme", action="store_true",
                        help="write this run's table into bench/README.md (make bench does)")
    parser.add_argument("--broker-storage", type=int, default=0, metavar="N",
                        help="also N events through the local broker on memory:// and s3:// "
                             "(0: not measured)")
    args = parser.parse_args()
    result = pipeline.run(args.raw, args.dossiers, args.level_seconds, ("sqlite", "postgres"),
                          args.replicas)
    result["rebuild"] = rebuild.measure(args.rebuild_events)
    result["monitor"] = monitor.measure_ticks(args.cases, args.due, ("sqlite", "postgres"))
    if args.broker_storage:
        result["broker_storage"] = broker_storage.measure(args.broker_storage)
    # Not this run's: the last 30-minute soak at half load (python -m bench.soak), named.
    if (last_soak := soak.latest(pipeline.ROOT / "results")) is not None:
        result["soak"] = last_soak
    result["targets"] = targets(result)
    summary(result)
    written = pipeline.write(result, "")
    if args.write_readme:
        readme.write(result, written.name)


if __name__ == "__main__":
    main()
