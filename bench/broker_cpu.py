"""What the local broker's own CPU costs under a steady stream, the shape of the pipeline at
half load: one producer at `--rate` real-size records a second (the services' producer
settings) to a 6-partition topic, and 0, 1 or 3 consumer groups reading it as it arrives
(the services' consumer settings, an offset commit per fetched batch). For each, the
broker's CPU seconds (user + system, all its threads) per second of the stream, and the
consumers' batches. Every setting runs on a fresh broker. Printed and written to
bench/results/<time>-broker-cpu.json; nothing is asserted.

Why: in a PostgreSQL soak at half load the broker used 0.35-0.5 of a core, as much as two of
the five services, on a 2-core machine that was then nearly saturated.

`--growth` follows one consumer group for the whole time and prints the broker's cores every
10 s as the log it holds grows. Its fetch lists every batch stored for a partition to find
where to start, and nothing is ever deleted (the build's memory storage has no retention), so
each fetch costs more than the last: at 600 records/s with the services' 5 ms linger one
group took the broker from 0.09 to 0.84 of a core in 50 s (30,000 records held); with a
50 ms linger (batches ten times larger) from 0.06 to 0.11. Its RSS grows with the log,
about 150 MiB a minute in a half-load pipeline soak. A local-broker property: Apache Kafka
indexes its segments.

    python -m bench.broker_cpu [--rate 600] [--seconds 20] [--growth]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.pipeline import broker_process, sample_event, write
from contracts.topics import INTAKE
from deploy.local.broker import fresh_broker
from services.common.messaging.kafka import make_consumer, make_producer


def _broker(bootstrap: str) -> psutil.Process:
    proc = broker_process(bootstrap)
    if proc is None:
        raise RuntimeError(f"no local broker listens on {bootstrap}")
    return proc


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def stream(bootstrap: str, rate: int, seconds: float, groups: int,
                 linger_ms: int | None = None, every: float | None = None) -> dict[str, Any]:
    """`rate` records a second for `seconds` while `groups` consumer groups read them;
    `linger_ms`, the producer's, when not the services' own; `every` seconds, the broker's
    cores and RSS meanwhile, as the log it holds grows (printed, and under `intervals`)."""
    value = sample_event()
    producer = (make_producer(bootstrap, idempotence=False) if linger_ms is None else
                make_producer(bootstrap, idempotence=False, linger_ms=linger_ms))
    await producer.start()
    consumers = [make_consumer(bootstrap, f"broker-cpu-{i}", f"broker-cpu-{i}")
                 for i in range(groups)]
    for consumer in consumers:
        consumer.subscribe([INTAKE.name])
        await consumer.start()
    stopping = asyncio.Event()
    read, batches = [0] * groups, [0] * groups

    async def consume(i: int) -> None:
        while not stopping.is_set():
            batch = await consumers[i].getmany(timeout_ms=200, max_records=1000)
            if batch:
                read[i] += sum(len(records) for records in batch.values())
                batches[i] += 1
                await consumers[i].commit()

    readers = [asyncio.create_task(consume(i)) for i in range(groups)]
    await asyncio.sleep(3.0)  # the groups joined and idle: what follows is the stream
    broker = _broker(bootstrap)
    cpu_before, started, sent = _cpu(broker), time.perf_counter(), 0
    intervals: list[dict[str, float]] = []
    mark = (started, cpu_before)
    while (elapsed := time.perf_counter() - started) < seconds:
        while sent < int(elapsed * rate):
            await producer.send(INTAKE.name, value, key=f"D-{sent}".encode())
            sent += 1
        await asyncio.sleep(0.01)
        if every and (now := time.perf_counter()) - mark[0] >= every:
            cpu = _cpu(broker)
            intervals.append({"seconds": round(now - started, 1), "records_held": sent,
                              "broker_cores": round((cpu - mark[1]) / (now - mark[0]), 2),
                              "broker_rss_mib": round(broker.memory_info().rss / 2**20, 1)})
            _print_interval(intervals[-1])
            mark = (now, cpu)
    await producer.flush()
    await asyncio.sleep(1.0)  # the last records read
    spent, took = _cpu(broker) - cpu_before, time.perf_counter() - started
    stopping.set()
    await asyncio.gather(*readers)
    for consumer in consumers:
        await consumer.stop()
    await producer.stop()
    return {"groups": groups, "producer_linger_ms": linger_ms, "records": sent,
            "read_per_group": read,
            "batches_per_group": batches, "broker_cpu_s": round(spent, 2),
            "broker_cores": round(spent / took, 2),
            "broker_cpu_us_per_record_read": round(1e6 * spent / sum(read), 1) if sum(read)
            else None, **({"intervals": intervals} if every else {})}


def _print_interval(row: dict[str, float]) -> None:
    print(f"    at {row['seconds']:5.0f} s, {row['records_held']:7,.0f} records held: broker "
          f"{row['broker_cores']:.2f} cores, RSS {row['broker_rss_mib']:,.0f} MiB", flush=True)


def measure(rate: int, seconds: float, lingers: list[int | None],
            growth: bool = False) -> list[dict[str, Any]]:
    """Every linger with 0, 1 and 3 consumer groups; or, `growth`, one group per linger
    for the whole time, the broker's cores every 10 s as its log grows."""
    out = []
    for linger_ms in lingers:
        for groups in ((1,) if growth else (0, 1, 3)):
            if growth:
                print(f"  {groups} consumer group, producer linger "
                      f"{'as the services' if linger_ms is None else f'{linger_ms} ms'}:")
            with fresh_broker(Path(tempfile.mkdtemp(prefix="broker-cpu-")) / "broker.log"
                              ) as bootstrap:
                row = asyncio.run(stream(bootstrap, rate, seconds, groups, linger_ms,
                                         every=10.0 if growth else None))
            out.append(row)
            _print(row)
    return out


def _print(row: dict[str, Any]) -> None:
    linger = "" if row["producer_linger_ms"] is None else \
        f", producer linger {row['producer_linger_ms']} ms"
    per_read = row["broker_cpu_us_per_record_read"]
    print(f"  {row['groups']} consumer group(s){linger}: broker {row['broker_cores']:.2f} "
          "cores" + (f" ({per_read:,.0f} us per record read, batches per group "
                     f"{row['batches_per_group']})" if per_read is not None else ""),
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=600, help="records a second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--producer-linger-ms", type=int, nargs="*", default=[],
                        help="also with these producer lingers (the services' is 5 ms)")
    parser.add_argument("--growth", action="store_true",
                        help="one consumer group for the whole time, the broker's cores "
                        "every 10 s as the log it holds grows")
    args = parser.parse_args()
    print(f"local broker CPU at a steady {args.rate:,} records/s, {args.seconds:.0f} s each:")
    rows = measure(args.rate, args.seconds, [None, *args.producer_linger_ms], args.growth)
    write({"at": datetime.now(UTC).isoformat(), "rate": args.rate, "growth": args.growth,
           "seconds": args.seconds, "runs": rows},
          "-broker-growth" if args.growth else "-broker-cpu")


if __name__ == "__main__":
    main()
