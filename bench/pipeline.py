"""The raw broker's ceiling and the whole pipeline's throughput and latency, side by side.

Raw: plain aiokafka produce and consume of events of the real size (a DossierReceived
envelope) on a 6-partition topic. Pipeline, on SQLite files and on PostgreSQL (each on a
fresh broker), the five services as processes, fed by the province simulator
(deploy/simulate: three provinces' full lifecycles with the catalogue's procedures and
steps, duplicates, out-of-order and malformed records; seeded), or with `--load receipts`
by the uniform load of earlier runs (one electronic receipt per dossier, four events each
into reporting), to compare across the change:
- full load: the whole traffic published to the ingest topic at once, until reporting's
  database holds every event the simulator expects of it (deploy.simulate.expectation:
  intake's, digitization's and notification's); sustained = from the first events seen
  there to the last;
- latency: a steady offered load (a paced producer) at 25%, 50% and 75% of the full load's
  sustained rate of ingest records; for each dossier its receipt's publish time against the
  moment reporting applied the receipt (its inbox row's applied_at), and the publish time
  of its last record against the last of its events there; p50/p95/p99;
- peak RSS of each service process over the whole run, CPU per dossier at full load.
Progress is read from reporting's database directly (every 0.5 s the rows arrived since,
`HeldCount`), not through its API, so the harness adds no work to the services it
measures. `--replicas N` adds a run on PostgreSQL with N processes each of processing and
reporting in their consumer groups.
Figures are printed and written to bench/results/*.json; nothing here asserts a timing.
`python -m bench` runs this with the rebuild and monitor benches and writes one JSON.

    python -m bench.pipeline [--raw N] [--dossiers N] [--level-seconds S]
                             [--backend sqlite|postgres|both] [--replicas N]
                             [--load simulated|receipts] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import platform
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import explain as plans
from bench.breakdown import MachineLoad, PgServer, breakdown, print_breakdown, scrape
from bench.databases import ServiceDb, create_databases, drop_databases, utc
from bench.targets import print_targets, targets
from contracts import topics
from contracts.events import DossierReceived
from contracts.topics import SERVICES
from deploy.local.broker import free_port, fresh_broker
from deploy.local.stack import Stack
from deploy.simulate import expectation, ready, traffic
from services.intake.settings import dev_signed

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT.parent / "contracts" / "examples"
# Lifecycle events per receipt of the uniform load into reporting; before processing watched
# province dossiers it also stepped them (5 per dossier).
PER_DOSSIER = 4
CODE_PREFIX = "000.01.01.H26-260302-"
FULL_TAG, LEVEL_TAGS = "b", "xyzuvw"  # one letter per load: its dossiers' codes
SEED, PROVINCES = 14, 3  # the simulated traffic: the same records every run
LOADS = ("simulated", "receipts")
LEVELS = (0.25, 0.5, 0.75)  # steady loads, as shares of the full load's sustained rate
REPLICATED = ("processing", "reporting")  # what --replicas scales out
POLL = 0.5  # seconds between looks at reporting's database


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


def province_events(n: int, tag: str = "b") -> list[tuple[bytes, bytes]]:
    """n province receipts; `tag` (one letter) keeps each load's dossier codes apart."""
    example = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
    now = datetime.now(UTC).isoformat()
    out = []
    for i in range(n):
        code = f"{CODE_PREFIX}{tag}{i:06d}"
        data = {**example["data"], "dossier_code": code, "occurred_at": now, "received_at": now,
                "components": [{"code": "GKS", "form": "electronic"}],
                "applicant": {**example["data"]["applicant"], "id_number": f"00119{i:07d}"}}
        event = {**example, "id": str(uuid.uuid4()), "subject": code, "data": data}
        out.append((code.encode(), json.dumps(event, ensure_ascii=False).encode()))
    return out


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


def signed(events: list[tuple[bytes, bytes]]) -> list[Record]:
    """Signed as Hanoi's system (the example's) would, with its development key; done
    before the clock starts, so signing is not counted in what is measured."""
    return [(key, value, dev_signed(value, "hanoi-mcdt")) for key, value in events]


@dataclass
class Load:
    """What one measurement sends, and what reporting must then hold."""

    produced: list[Record]  # signed before the clock starts
    like: str  # SQL LIKE pattern of the load's dossier codes
    target: int  # events reporting ends up holding for them
    dossiers: int
    # Per record sent: its dossier when it is a lifecycle event (a duplicate or a malformed
    # record is not), and whether it is the dossier's receipt.
    codes: list[str | None]
    receipts: list[bool]


def receipts_load(n: int, tag: str) -> Load:
    events = province_events(n, tag)
    return Load(signed(events), f"{CODE_PREFIX}{tag}%", n * PER_DOSSIER, n,
                [key.decode() for key, _ in events], [True] * n)


def simulated_load(n: int, tag: str) -> Load:
    records = traffic(seed=SEED, provinces=PROVINCES, dossiers=n, tag=f"bench{tag}")
    expected = expectation(records)
    counted = [r.well_formed and r.kind != "duplicate" for r in records]
    return Load(list(ready(records)), f"%-bench{tag}-%", expected.reporting_events,
                expected.dossiers, [r.dossier_code if c else None
                                    for r, c in zip(records, counted, strict=True)],
                [c and r.status == 2 for r, c in zip(records, counted, strict=True)])


def make_load(kind: str, n: int, tag: str) -> Load:
    return simulated_load(n, tag) if kind == "simulated" else receipts_load(n, tag)


def broker_process(bootstrap: str) -> psutil.Process | None:
    """The local broker (Tansu) listening on `bootstrap`'s port, if it runs here."""
    port = bootstrap.rsplit(":", 1)[1]
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "tansu" in cmdline and f":{port}" in cmdline:
            return proc
    return None


class RssSampler(threading.Thread):
    """The services' peak RSS and CPU; with `broker`, the local broker's beside them (kept
    apart: the per-service targets are not its)."""

    def __init__(self, pids: dict[str, int], broker: psutil.Process | None = None) -> None:
        super().__init__(daemon=True)
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak = dict.fromkeys(pids, 0)
        self.broker = broker
        self.stopping = threading.Event()
        self.cpu_start = self.cpu_seconds()

    def broker_cpu_seconds(self) -> float | None:
        """User + system CPU the local broker has used so far (all its threads)."""
        if self.broker is None:
            return None
        try:
            t = self.broker.cpu_times()
        except psutil.Error:
            return None
        return t.user + t.system

    def broker_rss_mib(self) -> float | None:
        if self.broker is None:
            return None
        try:
            return round(self.broker.memory_info().rss / 2**20, 1)
        except psutil.Error:
            return None

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


async def publish(bootstrap: str, records: list[Record], rate: float | None = None
                  ) -> tuple[list[float], float]:
    """Publish to the ingest topic at full speed or, with `rate`, paced at that many records
    a second (a steady offered load). Returns each record's publish time (epoch seconds,
    taken as it is handed to the producer) and the seconds until every one was acked."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024)
    await producer.start()
    sent_at: list[float] = []
    try:
        futures = []
        started = time.time()
        for i, (key, value, headers) in enumerate(records):
            if rate:
                delay = started + i / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at.append(time.time())
            futures.append(await producer.send(topics.INGEST.name, value, key=key,
                                               headers=headers))
        await asyncio.gather(*futures)
        return sent_at, time.time() - started
    finally:
        await producer.stop()


async def events_mark(db: ServiceDb) -> int:
    """The last `seq` of reporting's events before a load is sent: its events come after."""
    return int(await db.scalar("SELECT coalesce(max(seq), 0) FROM events") or 0)


def load_events(load: Load, mark: int, alias: str = "") -> str:
    """The SQL condition of the load's events: those after `mark` (a primary-key range, so a
    poll reads the load's rows, not the whole table: a LIKE on the code alone scanned every
    event twice a second, more each minute of a soak), with the load's codes."""
    return f"{alias}seq > {mark:d} AND {alias}dossier_code LIKE '{load.like}'"


class HeldCount:
    """How many of the load's events reporting holds, counted as they arrive: each poll
    reads only the rows above a `frontier`, and rows fall behind the frontier once, counted
    then. Counting every row of the load at every poll read the whole load so far twice a
    second: on PostgreSQL that probe was 0.19 ms of the server's executor time per dossier
    (8% of the top statements', pg_stat_statements), a cost on the machine that grew with
    the square of the load.

    The frontier moves to the largest `seq` a poll saw `LAG` polls earlier: a reporting
    batch writes its events milliseconds before it commits, so by then every row below it
    has committed. Should one commit later all the same, it is never counted and the count
    stalls below the target: after `STALL` polls without a change the load is counted
    again from its mark. The count can come late, never early: a row is counted once."""

    LAG = 2
    STALL = 20

    def __init__(self, db: ServiceDb, load: Load, mark: int) -> None:
        self.db, self.load, self.mark = db, load, mark
        self.frontier, self.settled = mark, 0
        self.seen: list[int] = []  # the largest seq of each poll since the frontier moved
        self.last, self.still = -1, 0

    async def poll(self) -> int:
        move = self.seen[-self.LAG] if len(self.seen) >= self.LAG else self.frontier
        below, above, top = (await self.db.rows(
            f"SELECT count(CASE WHEN seq <= {move:d} THEN 1 END), count(*), max(seq) "
            f"FROM events WHERE {load_events(self.load, self.frontier)}"))[0]
        below, above = int(below or 0), int(above or 0)
        held = self.settled + above
        if move > self.frontier:
            self.settled += below
            self.frontier = move
            self.seen = [s for s in self.seen if s > move]
        self.seen.append(max(int(top or 0), self.frontier))
        self.still = self.still + 1 if held == self.last else 0
        self.last = held
        if self.still >= self.STALL:  # a row committed behind the frontier: count anew
            self.frontier, self.settled, self.seen, self.still = self.mark, 0, [], 0
        return held


async def wait_held(db: ServiceDb, load: Load, mark: int, target: int, label: str,
                    started: float, give_up: float = 1800.0) -> tuple[float, int] | None:
    """Poll reporting's database (every POLL s, `HeldCount`) until it holds `target` events
    of the load (`load_events`); returns when and how many it first held, None if all were
    there at once."""
    first: tuple[float, int] | None = None
    count = HeldCount(db, load, mark)
    while True:
        held = await count.poll()
        if held and first is None and held < target:
            first = (time.perf_counter(), held)
        progress(label, held, target, started)
        if held >= target:
            print()
            return first
        if time.perf_counter() - started > give_up:
            raise TimeoutError(f"reporting holds {held} of {target} events after {give_up} s")
        await asyncio.sleep(POLL)


async def full_load(bootstrap: str, db: ServiceDb, load: Load, sampler: RssSampler,
                    metrics: dict[str, list[str]] | None = None,
                    server: PgServer | None = None) -> dict[str, Any]:
    """The whole load published at once; the sustained rate is counted from the first
    events seen in reporting (consumer groups joined) to the last. With `metrics` (service
    -> its replicas' addresses), where each service's time went (bench/breakdown.py); with
    `server`, the PostgreSQL server's CPU beside it."""
    target, n = load.target, load.dossiers
    scraped = await scrape(metrics) if metrics else {}
    server_before = await server.snapshot() if server else None
    machine = MachineLoad()
    cpu_start = sampler.cpu_seconds()
    broker_start = sampler.broker_cpu_seconds()
    mark = await events_mark(db)
    started = time.perf_counter()
    _, publish_s = await publish(bootstrap, load.produced)
    first = await wait_held(db, load, mark, target, "full load (events in reporting)", started)
    end = time.perf_counter()
    cpu_end = sampler.cpu_seconds()
    broker_end = sampler.broker_cpu_seconds()
    extra: dict[str, Any] = {}
    if broker_start is not None and broker_end is not None:
        # The local broker's share of the machine, beside the services' and PostgreSQL's:
        # its fetch cost grows with the batches it holds (bench.broker_cpu --growth).
        extra["broker"] = {"cpu_ms_per_dossier": round((broker_end - broker_start) * 1000 / n,
                                                       2),
                           "rss_mib": sampler.broker_rss_mib()}
    if metrics:
        backend = "postgres" if server else "sqlite"
        extra["breakdown"] = breakdown(scraped, await scrape(metrics), n, backend)
    server_seconds = 0.0
    if server and server_before:
        extra["postgres_server"] = {**PgServer.figures(server_before, await server.snapshot(),
                                                       n),
                                    "pg_stat_statements": await pg_stat_statements()}
        server_seconds = extra["postgres_server"]["cpu_ms_per_dossier"] * n / 1000
    extra["machine"] = await machine.figures(server_seconds)
    elapsed = end - started
    sustained = (target - first[1]) / max(end - first[0], 1e-9) if first else target / elapsed
    return {"dossiers": n, "ingest_records": len(load.produced), "events_in_reporting": target,
            "seconds": elapsed, "publish_seconds": publish_s, "dossiers_per_s": n / elapsed,
            "events_per_s": target / elapsed, "sustained_events_per_s": sustained,
            "sustained_dossiers_per_s": sustained * n / target,
            "sustained_records_per_s": sustained * len(load.produced) / target,
            # CPU milliseconds each service spent per dossier, from publish to the last event
            "cpu_ms_per_dossier": {k: round((cpu_end[k] - cpu_start[k]) * 1000 / n, 2)
                                   for k in cpu_end}, **extra}


async def pg_stat_statements() -> str:
    """Whether the server can say per statement what it spent (it must preload it)."""
    preloaded = await PgServer.preloaded()
    if "pg_stat_statements" in preloaded:
        return "collecting: the statements the server spent most on are listed"
    return (f"not collecting: shared_preload_libraries is {preloaded!r} and the server is "
            "not restarted for a bench; client-side counts only")


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p95/p99 and max, in milliseconds."""
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "max": ordered[-1] * 1000}


async def latency(bootstrap: str, db: ServiceDb, load: Load, rate: float) -> dict[str, Any]:
    """The load's records offered steadily at `rate` a second; then, from reporting's
    database, when each dossier became visible there: its receipt's inbox row (applied_at
    is taken in the batch's transaction just before its commit, so it is early by at most
    one batch's write) against the receipt's publish time; and the last of its events
    against the publish time of its last record."""
    mark = await events_mark(db)
    started = time.perf_counter()
    machine = MachineLoad()
    sent_at, publish_s = await publish(bootstrap, load.produced, rate)
    await wait_held(db, load, mark, load.target,
                    f"{rate:,.0f} records/s (events in reporting)", started)
    # Each event's inbox row by its whole key, one probe per event of the load: a join left
    # to the planner took minutes in a soak (statistics older than the load's rows made it
    # scan the inbox index once per event).
    rows = await db.rows(
        "SELECT e.dossier_code, e.type, (SELECT i.applied_at FROM inbox i WHERE i.consumer = "
        f"'reporting' AND i.event_id = e.event_id) FROM events e WHERE "
        f"{load_events(load, mark, 'e.')}")
    receipt_sent: dict[str, float] = {}
    last_sent: dict[str, float] = {}
    for code, receipt, at in zip(load.codes, load.receipts, sent_at, strict=True):
        if code is None:
            continue
        if receipt:
            receipt_sent.setdefault(code, at)
        last_sent[code] = max(last_sent.get(code, at), at)
    received: list[float] = []
    last_applied: dict[str, float] = {}
    for code, event_type, applied_at in rows:
        if applied_at is None:  # not through the inbox (a rebuild's): nothing to time
            continue
        applied = utc(applied_at).timestamp()
        if event_type == DossierReceived.event_type and code in receipt_sent:
            received.append(applied - receipt_sent[code])
        last_applied[code] = max(last_applied.get(code, applied), applied)
    lifecycle = [last_applied[code] - at for code, at in last_sent.items()]
    n = len(load.produced)
    return {"offered_records_per_s": rate, "dossiers": load.dossiers, "records": n,
            "achieved_records_per_s": n / max(sent_at[-1] - sent_at[0], 1e-9)
            if n > 1 else float(n), "publish_seconds": publish_s,
            "received_visible_ms": percentiles(received),
            "lifecycle_visible_ms": percentiles(lifecycle),
            # PostgreSQL's CPU is counted as others' here: read its share with care.
            "machine": await machine.figures()}


def pipeline(bootstrap: str, var: Path, n: int, *, backend: str = "sqlite", replicas: int = 1,
             levels: tuple[float, ...] = LEVELS, level_seconds: float = 15.0,
             load: str = "simulated", explain: bool = False) -> dict[str, Any]:
    """The five services as processes (on SQLite files or PostgreSQL databases; with
    `replicas` processes each of processing and reporting, PostgreSQL only): a full load of
    `n` dossiers, then steady loads at `levels` of its sustained rate, each `level_seconds`
    long. `explain` (PostgreSQL): the plans of the full load's statements (bench/explain.py);
    the sampled EXPLAIN ANALYZE costs the server a little, so compare rates without it."""
    urls = asyncio.run(create_databases(SERVICES)) if backend == "postgres" else {}
    plans_log = plans.server_log(asyncio.run(plans.enable(_names(urls)))) \
        if urls and explain else None
    stack = Stack(bootstrap, var / f"{backend}-x{replicas}",
                  ports={s: free_port() for s in SERVICES},
                  extra_env={"ONESTOP_LOG_LEVEL": "WARNING"}, database_urls=urls,
                  replicas=dict.fromkeys(REPLICATED, replicas) if replicas > 1 else {})
    with running_services(stack, urls) as sampler:
        result = asyncio.run(_drive(stack, urls, n, sampler, levels, level_seconds, load,
                                    (plans_log, plans_log.stat().st_size) if plans_log
                                    else None))
    return {"backend": backend, "load": load, "replicas": dict.fromkeys(REPLICATED, replicas),
            **result, "peak_rss_mib": {k: round(v / 2**20, 1) for k, v in sampler.peak.items()}}


@contextlib.contextmanager
def running_services(stack: Stack, urls: dict[str, str]) -> Iterator[RssSampler]:
    """The stack migrated and started, its services' memory sampled; on leaving, the
    sampler and the services stopped and the run's PostgreSQL databases (`urls`) dropped."""
    sampler: RssSampler | None = None
    try:
        stack.migrate()
        stack.start()
        sampler = RssSampler({name: svc.process.pid for name, svc in stack.services.items()
                              if svc.process}, broker_process(stack.bootstrap))
        sampler.start()
        yield sampler
    finally:
        if sampler is not None:
            sampler.stopping.set()
            sampler.join()
        stack.stop()
        if urls:
            asyncio.run(drop_databases(urls))


def _names(urls: dict[str, str]) -> list[str]:
    return [url.rsplit("/", 1)[1] for url in urls.values()]


async def _drive(stack: Stack, urls: dict[str, str], n: int, sampler: RssSampler,
                 levels: tuple[float, ...], level_seconds: float, kind: str,
                 plans_log: tuple[Path, int] | None = None) -> dict[str, Any]:
    """`plans_log`: the server's log and where this run's part of it starts."""
    db = ServiceDb.of(stack.var_dir, "reporting", urls)
    metrics = {name: [svc.url for svc in stack.replicas_of(name)] for name in SERVICES}
    server = PgServer(_names(urls)) if urls else None
    try:
        full = await full_load(stack.bootstrap, db, make_load(kind, n, FULL_TAG), sampler,
                               metrics, server)
        if plans_log:
            full["plans"] = (await asyncio.to_thread(plans.read_plans, *plans_log,
                                                     _names(urls)))[:20]
        per_dossier = full["ingest_records"] / full["dossiers"]
        steady = []
        for level, tag in zip(levels, LEVEL_TAGS, strict=False):
            rate = level * full["sustained_records_per_s"]
            load = make_load(kind, max(2, round(rate * level_seconds / per_dossier)), tag)
            before = await scrape(metrics)
            broker_before = sampler.broker_cpu_seconds()
            figures = await latency(stack.bootstrap, db, load, rate)
            broker_after = sampler.broker_cpu_seconds()
            if broker_before is not None and broker_after is not None:
                figures["broker_cpu_ms_per_dossier"] = round(
                    (broker_after - broker_before) * 1000 / load.dossiers, 2)
            # Where a batch's time goes at this load: what a record waits behind.
            figures["breakdown"] = breakdown(before, await scrape(metrics), load.dossiers,
                                             "postgres" if urls else "sqlite")
            steady.append({"share_of_full_load": level, **figures})
    finally:
        await db.close()
    return {**full, "latency": steady}


@contextlib.contextmanager
def local_broker(var: Path) -> Iterator[str]:
    """A fresh local broker with the registry's topics, per measurement: each starts from
    the same empty log and no committed offsets. A SIGTERM meanwhile ends the run as an
    exit would (a background run ignores Ctrl-C's SIGINT), so the services and the broker
    are still stopped and the run's databases dropped, not left running."""
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        with fresh_broker(var / "log" / f"broker-{uuid.uuid4().hex[:6]}.log") as bootstrap:
            yield bootstrap
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def print_pipelines(raw: dict[str, float], pipes: dict[str, dict[str, Any]]) -> None:
    def row(label: str, cells: list[str]) -> None:
        print(f"{label:40}" + "".join(f"{c:>24}" for c in cells))

    row("", list(pipes))
    row("load", [p["load"] for p in pipes.values()])
    row("raw produce (aiokafka) events/s", [f"{raw['produce_per_s']:,.0f}"] * len(pipes))
    row("raw consume (aiokafka) events/s", [f"{raw['consume_per_s']:,.0f}"] * len(pipes))
    row("pipeline events/s (sustained)", [f"{p['sustained_events_per_s']:,.0f}"
                                          for p in pipes.values()])
    row("pipeline dossiers/s (sustained)", [f"{p['sustained_dossiers_per_s']:,.0f}"
                                            for p in pipes.values()])
    row("pipeline dossiers/s incl. start", [f"{p['dossiers_per_s']:,.0f}"
                                            for p in pipes.values()])
    row("sustained events / raw consume", [
        f"{p['sustained_events_per_s'] / raw['consume_per_s']:.4f}" for p in pipes.values()])
    for i in range(max(len(p["latency"]) for p in pipes.values())):
        for what in ("received", "lifecycle"):
            cells = []
            for p in pipes.values():
                if i >= len(p["latency"]):
                    cells.append("")
                    continue
                ms = p["latency"][i][f"{what}_visible_ms"]
                cells.append(f"{ms['p50']:,.0f}/{ms['p95']:,.0f}/{ms['p99']:,.0f}")
            level = next(p["latency"][i] for p in pipes.values() if i < len(p["latency"]))
            row(f"{what} visible ms p50/p95/p99 @{level['share_of_full_load']:.0%}", cells)
    row("  offered ingest records/s at those", [
        " ".join(f"{lv['offered_records_per_s']:,.0f}" for lv in p["latency"])
        for p in pipes.values()])
    names = sorted({k for p in pipes.values() for k in p["peak_rss_mib"]})
    for name in names:
        row(f"peak RSS MiB: {name}", [f"{p['peak_rss_mib'].get(name, '')}"
                                      for p in pipes.values()])
    row("CPU ms per dossier, all services", [
        f"{sum(p['cpu_ms_per_dossier'].values()):.2f}" for p in pipes.values()])
    row("machine busy / others' share, full load", [
        f"{p['machine']['machine_busy_share']:.0%} / {p['machine']['others_share']:.0%}"
        if "machine" in p else "" for p in pipes.values()])
    row("  others' share at each steady load", [
        " ".join(f"{lv['machine']['others_share']:.0%}" for lv in p["latency"]
                 if "machine" in lv) for p in pipes.values()])
    row("local broker CPU ms per dossier", [
        f"{p['broker']['cpu_ms_per_dossier']:.2f}" if "broker" in p else ""
        for p in pipes.values()])
    row("local broker RSS MiB after the full load", [
        f"{p['broker']['rss_mib']:,.0f}" if p.get("broker", {}).get("rss_mib") else ""
        for p in pipes.values()])
    row("  local broker's at each steady load", [
        " ".join(f"{lv['broker_cpu_ms_per_dossier']:.2f}" for lv in p["latency"]
                 if "broker_cpu_ms_per_dossier" in lv) for p in pipes.values()])
    row("PostgreSQL server CPU ms per dossier", [
        f"{p['postgres_server']['cpu_ms_per_dossier']:.2f}" if "postgres_server" in p else ""
        for p in pipes.values()])
    print()
    print_breakdown(pipes)
    for label, p in pipes.items():
        if p.get("plans"):
            print(f"{label}:")
            plans.print_plans(p["plans"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=int, default=50_000, help="events for the raw ceiling")
    parser.add_argument("--dossiers", type=int, default=5_000, help="dossiers at full load")
    parser.add_argument("--level-seconds", type=float, default=15.0,
                        help="length of each steady load (latency)")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--replicas", type=int, default=1,
                        help="N > 1 adds a PostgreSQL run with N processing and N reporting")
    parser.add_argument("--load", choices=LOADS, default="simulated",
                        help="the province simulator, or the uniform receipts of earlier runs")
    parser.add_argument("--explain", action="store_true",
                        help="PostgreSQL: sample the plans of the full load's statements "
                             "(EXPLAIN ANALYZE BUFFERS through auto_explain; slows the server)")
    args = parser.parse_args()
    result = run(args.raw, args.dossiers, args.level_seconds,
                 ("sqlite", "postgres") if args.backend == "both" else (args.backend,),
                 args.replicas, load=args.load, explain=args.explain)
    print_pipelines(result["raw"], result["pipeline"])
    result["targets"] = targets(result)
    print()
    print_targets(result["targets"])
    write(result, "")


def run(raw_n: int, dossiers: int, level_seconds: float, backends: tuple[str, ...],
        replicas: int, var: Path | None = None, levels: tuple[float, ...] = LEVELS,
        load: str = "simulated", explain: bool = False) -> dict[str, Any]:
    """The raw ceiling, then the pipeline on each backend (and on PostgreSQL with
    `replicas` when more than one), each on a fresh broker."""
    var = var or Path(mkdtemp(prefix="onestop-bench-"))
    with local_broker(var) as bootstrap:
        print(f"raw ceiling: {raw_n} events on {bootstrap}")
        raw = asyncio.run(raw_ceiling(bootstrap, raw_n))
    runs = [(b, 1) for b in backends] + ([("postgres", replicas)] if replicas > 1 else [])
    pipes = {}
    for backend, n in runs:
        label = backend if n == 1 else f"{backend} x{n}"
        print(f"pipeline on {label}: {dossiers} province dossiers ({load}) through five "
              "services")
        with local_broker(var) as bootstrap:
            pipes[label] = pipeline(bootstrap, var, dossiers, backend=backend, replicas=n,
                                    levels=levels, level_seconds=level_seconds, load=load,
                                    explain=explain)
    return {"at": datetime.now(UTC).isoformat(), "machine": platform.node(),
            "cpus": psutil.cpu_count(), "raw": raw, "pipeline": pipes}


def write(result: dict[str, Any], suffix: str) -> Path:
    out = ROOT / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT.parent)}")
    return out


if __name__ == "__main__":
    main()
