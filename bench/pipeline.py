"""`make bench`: the raw broker's ceiling and the whole pipeline's throughput, side by side.

Raw: plain aiokafka produce and consume of events of the real size (a DossierReceived
envelope) on a 6-partition topic. Pipeline: province events published to the ingest topic
until reporting's projection holds every event of every dossier (received, component
digitized, dossier digitized, notification sent; a province's dossier is watched by
processing, not stepped: its steps come from the province's own reports, none here), with
the peak RSS of each service sampled meanwhile. Figures are printed and written to
bench/results/*.json; nothing here asserts a timing.

    python -m bench.pipeline [--raw N] [--dossiers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp

import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from contracts import topics
from contracts.topics import SERVICES
from deploy.local.broker import LocalBroker, free_port
from deploy.local.stack import Stack
from services.common.kafka import ensure_topics
from services.intake.settings import dev_signed

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT.parent / "contracts" / "examples"
# Lifecycle events per province dossier into reporting; before processing watched province
# dossiers (issue 10) it also stepped them (5 per dossier): compare across it in dossiers/s.
PER_DOSSIER = 4


def progress(label: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f"\r  {label}: {done}/{total} ({rate:,.0f}/s)", end="", flush=True)


def sample_event() -> bytes:
    return (EXAMPLES / "dossier.received.v1.json").read_bytes()


async def raw_ceiling(bootstrap: str, n: int) -> dict[str, float]:
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    await admin.close()
    value = json.dumps(json.loads(sample_event()), separators=(",", ":")).encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1,
                                max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    futures = []
    for i in range(n):
        futures.append(await producer.send(topic, value, key=f"k{i}".encode()))
        if i % 5000 == 0:
            progress("raw produce", i, n, started)
    await asyncio.gather(*futures)
    produce_s = time.perf_counter() - started
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-{topic}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    started, got = time.perf_counter(), 0
    while got < n:
        batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
        got += sum(len(r) for r in batch.values())
        if batch:
            await consumer.commit()
        progress("raw consume", got, n, started)
    consume_s = time.perf_counter() - started
    await consumer.stop()
    print()
    return {"events": n, "event_bytes": len(value), "produce_per_s": n / produce_s,
            "consume_per_s": n / consume_s}


def province_events(n: int) -> list[tuple[bytes, bytes]]:
    example = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
    now = datetime.now(UTC).isoformat()
    out = []
    for i in range(n):
        code = f"000.01.01.H26-260302-b{i:06d}"
        data = {**example["data"], "dossier_code": code, "occurred_at": now, "received_at": now,
                "components": [{"code": "GKS", "form": "electronic"}],
                "applicant": {**example["data"]["applicant"], "id_number": f"00119{i:07d}"}}
        event = {**example, "id": str(uuid.uuid4()), "subject": code, "data": data}
        out.append((code.encode(), json.dumps(event, ensure_ascii=False).encode()))
    return out


class RssSampler(threading.Thread):
    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self.stopping = threading.Event()
        self.cpu_start = self.cpu_seconds()

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU each service has used so far: steadier than rates on a shared
        machine, since time spent waiting for the CPU is not counted."""
        out = {}
        for name, proc in self.procs.items():
            try:
                t = proc.cpu_times()
                out[name] = t.user + t.system
            except psutil.Error:
                out[name] = 0.0
        return out

    def run(self) -> None:
        while not self.stopping.is_set():
            for name, proc in self.procs.items():
                try:
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.2)


async def publish(bootstrap: str, events: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    # Signed as Hanoi's system (the example's) would, with its development key.
    futures = [await producer.send(topics.INGEST.name, value, key=key,
                                   headers=dev_signed(value, "hanoi-mcdt"))
               for key, value in events]
    await asyncio.gather(*futures)
    await producer.stop()
    return time.perf_counter() - started


def pipeline(bootstrap: str, n: int, var: Path) -> dict[str, object]:
    stack = Stack(bootstrap, var, ports={s: free_port() for s in SERVICES},
                  extra_env={"ONESTOP_LOG_LEVEL": "WARNING"})
    stack.migrate()
    stack.start()
    sampler = RssSampler({name: svc.process.pid for name, svc in stack.services.items()
                          if svc.process})
    sampler.start()
    try:
        events = province_events(n)
        stats_url = f"{stack.services['reporting'].url}/api/v1/stats"
        started = time.perf_counter()
        publish_s = asyncio.run(publish(bootstrap, events))
        target, held, first = n * PER_DOSSIER, 0, None
        while held < target:
            held = httpx.get(stats_url, timeout=30).json()["events"]
            if held and first is None:
                first = (time.perf_counter(), held)
            progress("pipeline (events in reporting)", held, target, started)
            if time.perf_counter() - started > 1800:
                raise TimeoutError(f"reporting holds {held} of {target} events after 30 min")
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        cpu_end = sampler.cpu_seconds()
        # Sustained: from the first events in reporting to the last (consumer groups joined).
        sustained = (target - first[1]) / max(time.perf_counter() - first[0], 1e-9) \
            if first else 0.0
        print()
    finally:
        sampler.stopping.set()
        sampler.join()
        stack.stop()
    return {"dossiers": n, "events_in_reporting": target, "seconds": elapsed,
            "publish_seconds": publish_s, "dossiers_per_s": n / elapsed,
            "events_per_s": target / elapsed, "sustained_events_per_s": sustained,
            "sustained_dossiers_per_s": sustained / PER_DOSSIER,
            "peak_rss_mib": {k: round(v / 2**20, 1) for k, v in sampler.peak.items()},
            # CPU milliseconds each service spent per dossier, from publish to the last event
            "cpu_ms_per_dossier": {k: round((cpu_end[k] - sampler.cpu_start[k]) * 1000 / n, 2)
                                   for k in cpu_end}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=int, default=50_000, help="events for the raw ceiling")
    parser.add_argument("--dossiers", type=int, default=5_000, help="dossiers for the pipeline")
    args = parser.parse_args()
    var = Path(mkdtemp(prefix="onestop-bench-"))
    broker = LocalBroker(free_port(), var / "log" / "broker.log").start()
    try:
        asyncio.run(ensure_topics(broker.bootstrap))
        print(f"raw ceiling: {args.raw} events on {broker.bootstrap}")
        raw = asyncio.run(raw_ceiling(broker.bootstrap, args.raw))
        print(f"pipeline: {args.dossiers} province dossiers through five services")
        pipe = pipeline(broker.bootstrap, args.dossiers, var)
    finally:
        broker.stop()
    ratio = pipe["sustained_events_per_s"] / raw["consume_per_s"]  # type: ignore[operator]
    result = {"at": datetime.now(UTC).isoformat(), "machine": platform.node(),
              "cpus": psutil.cpu_count(), "raw": raw, "pipeline": pipe,
              "sustained_pipeline_events_over_raw_consume": ratio}
    print()
    print(f"{'':32}{'events/s':>12}")
    print(f"{'raw produce (aiokafka)':32}{raw['produce_per_s']:>12,.0f}")
    print(f"{'raw consume (aiokafka)':32}{raw['consume_per_s']:>12,.0f}")
    print(f"{'pipeline, events (sustained)':32}{pipe['sustained_events_per_s']:>12,.0f}")
    print(f"{'pipeline, dossiers (sustained)':32}{pipe['sustained_dossiers_per_s']:>12,.0f}")
    print(f"{'pipeline, dossiers incl. start':32}{pipe['dossiers_per_s']:>12,.0f}")
    print(f"sustained pipeline events / raw consume = {ratio:.4f}")
    print("peak RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in
                                         pipe["peak_rss_mib"].items()))  # type: ignore[union-attr]
    cpu = pipe["cpu_ms_per_dossier"]
    print("CPU ms per dossier: " + ", ".join(f"{k} {v}" for k, v in cpu.items())  # type: ignore[union-attr]
          + f"; all services {sum(cpu.values()):.2f}")  # type: ignore[union-attr]
    out = ROOT / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()
