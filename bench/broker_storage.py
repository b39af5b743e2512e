"""Can the local broker keep its log across a restart, and what does it cost?

The bundled Tansu keeps its log in memory (`memory://`) or in an S3 bucket (`s3://`); it
refuses `postgres://`, `sqlite://` and `file://`. An S3 bucket keeps the log only if the
server behind it keeps its files: here that is s3rver (npm; files in a directory), installed
under var/tools on first use when npm is there. moto's server (a dev dependency) speaks S3
too but keeps everything in memory: it shows the cost of S3 storage, not durability.

For each storage: produce and consume N real-size events (6 partitions, the services'
producer settings: acks=all, linger 5 ms, 256 KiB batches), then SIGKILL the broker (and,
for s3rver, its S3 server too), start them again on the same port and directory, and count
the records still there. Figures are printed; nothing is asserted.

    python -m bench.broker_storage [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bench.consumers import create_topic
from deploy.local.broker import (
    MEMORY,
    LocalBroker,
    end_process,
    free_port,
    port_open,
    s3_storage_env,
)
from services.common.messaging.kafka import make_producer

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "var" / "tools"
S3RVER = "s3rver@3.7.1"
BUCKET = "tansu"
EVENT = ROOT / "contracts" / "examples" / "dossier.received.v1.json"


@dataclass
class S3Server:
    """An S3-compatible server on a loopback port: s3rver (files in `directory`) or moto."""

    kind: str  # "s3rver" or "moto"
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        key = "S3RVER" if self.kind == "s3rver" else "bench"  # s3rver's fixed credentials
        return s3_storage_env(self.endpoint, key, key)

    def start(self) -> S3Server:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory.parent / f"{self.kind}.log").open("ab")
        if self.kind == "s3rver":
            command = [str(s3rver_binary()), "--directory", str(self.directory), "--address",
                       "127.0.0.1", "--port", str(self.port), "--configure-bucket", BUCKET]
        else:
            command = [str(Path(shutil.which("moto_server") or "moto_server")), "-p",
                       str(self.port)]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not start; see {log.name}")
            time.sleep(0.1)
        if self.kind == "moto":
            import boto3

            boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="bench",
                         aws_secret_access_key="bench", region_name="us-east-1"
                         ).create_bucket(Bucket=BUCKET)
        return self

    def kill(self) -> None:
        end_process(self.process, None)


def s3rver_binary() -> Path:
    """s3rver from var/tools, installed there with npm the first time."""
    binary = TOOLS / "node_modules" / ".bin" / "s3rver"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("s3rver needs Node.js and npm (apt-get install npm)")
        TOOLS.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(TOOLS), "--no-audit", "--no-fund",
                        S3RVER], check=True, capture_output=True, timeout=600)
    return binary


async def _topic(bootstrap: str, partitions: int = 6) -> str:
    name = f"bench.storage.{uuid.uuid4().hex[:6]}"
    await create_topic(bootstrap, name, partitions)
    return name


async def _produce(bootstrap: str, topic: str, n: int) -> float:
    value = json.dumps(json.loads(EVENT.read_bytes()), separators=(",", ":")).encode()
    producer = make_producer(bootstrap, idempotence=False)  # the services' settings
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=f"k{i}".encode()) for i in range(n)]
        await asyncio.gather(*futures)
        return n / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, n: int, wait: float = 60.0) -> tuple[int, float]:
    """(records read from the start, up to n, within `wait` s; their rate per second)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        started, got = time.perf_counter(), 0
        deadline = started + wait
        while got < n and time.perf_counter() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            got += sum(len(r) for r in batch.values())
        return got, got / max(time.perf_counter() - started, 1e-9)
    finally:
        await consumer.stop()


async def _kept(bootstrap: str, topic: str, n: int) -> int:
    """How many of the topic's records a restarted broker still has (its topic may be gone)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return 0
    finally:
        await admin.close()
    return (await _consume(bootstrap, topic, n, 15))[0]


@contextlib.contextmanager
def _servers(kind: str, var: Path) -> Iterator[tuple[LocalBroker, S3Server | None]]:
    s3 = None if kind == "memory" else S3Server(kind, var / kind / "data").start()
    broker = LocalBroker(free_port(), var / kind / "broker.log",
                         storage=MEMORY if s3 is None else f"s3://{BUCKET}/",
                         storage_env={} if s3 is None else s3.env())
    try:
        yield broker.start(), s3
    finally:
        broker.stop()
        if s3 is not None:
            s3.kill()


def _cpu_seconds(*processes: subprocess.Popen[bytes] | None) -> float:
    total = 0.0
    for process in processes:
        if process is not None:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(process.pid).cpu_times()
                total += times.user + times.system
    return total


async def _one(kind: str, var: Path, n: int) -> dict[str, Any]:
    with _servers(kind, var) as (broker, s3):
        topic = await _topic(broker.bootstrap)
        cpu = _cpu_seconds(broker.process, s3.process if s3 else None)
        produce = await _produce(broker.bootstrap, topic, n)
        got, consume = await _consume(broker.bootstrap, topic, n)
        cpu = _cpu_seconds(broker.process, s3.process if s3 else None) - cpu
        out: dict[str, Any] = {"events": n, "produce_per_s": round(produce),
                               "consume_per_s": round(consume), "consumed": got,
                               # the broker's and its S3 server's, for producing and reading
                               "server_cpu_ms_per_1000": round(cpu * 1e6 / n, 1)}
        broker.kill()
        broker.start()
        out["kept_after_broker_sigkill"] = await _kept(broker.bootstrap, topic, n)
        if s3 is not None and s3.kind == "s3rver":  # its files on disk: both restarted
            broker.kill()
            s3.kill()
            s3.start()
            broker.start()
            out["kept_after_broker_and_s3_sigkill"] = await _kept(broker.bootstrap, topic, n)
        if s3 is not None:
            out["s3_bytes_on_disk"] = sum(
                f.stat().st_size for f in s3.directory.rglob("*") if f.is_file()) \
                if s3.kind == "s3rver" else None
        return out


def measure(n: int = 20_000, kinds: tuple[str, ...] = ("memory", "s3rver", "moto")
            ) -> dict[str, dict[str, Any]]:
    # A restarted broker without the topic: aiokafka logs each metadata refresh as an error.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    var = Path(tempfile.mkdtemp(prefix="onestop-storage-"))
    out: dict[str, dict[str, Any]] = {}
    try:
        for kind in kinds:
            try:
                out[kind] = asyncio.run(_one(kind, var, n))
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                out[kind] = {"error": str(exc)[:300]}
    finally:
        shutil.rmtree(var, ignore_errors=True)
    return out


LABELS = {"memory": "memory://", "s3rver": "s3:// on s3rver (files on disk)",
          "moto": "s3:// on moto (memory)"}


def print_table(result: dict[str, dict[str, Any]]) -> None:
    for kind, row in result.items():
        label = LABELS.get(kind, kind)
        if "error" in row:
            print(f"  {label:<34} not measured: {row['error']}")
            continue
        kept = f"kept after broker SIGKILL {row['kept_after_broker_sigkill']}/{row['events']}"
        if "kept_after_broker_and_s3_sigkill" in row:
            kept += f", after both {row['kept_after_broker_and_s3_sigkill']}/{row['events']}"
        print(f"  {label:<34} produce {row['produce_per_s']:>7,}/s  consume "
              f"{row['consume_per_s']:>7,}/s  server CPU {row['server_cpu_ms_per_1000']} ms "
              f"per 1,000  {kept}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    result = measure(args.events)
    print_table(result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
