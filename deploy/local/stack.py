"""Start the whole system on one machine; the tests and `make up` use the same code."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from contracts.topics import SERVICES
from deploy.local.broker import end_process, free_port

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"intake": 8001, "digitization": 8002, "processing": 8003, "notification": 8004,
         "reporting": 8005}
# The screens' front (services/web): not one of SERVICES, so the bench never starts it.
FRONT = "web"
FRONT_PORT = 8000


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    # Default `python -m services.<name>`; the supervisor's test runs other programs.
    command: list[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = self.command or [sys.executable, "-m", f"services.{self.name}"]
        # The child holds its own copy of the descriptor: closing ours keeps restarts from
        # leaking one open file each.
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=ROOT)
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; "
                                   f"see {self.log_file}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s; see {self.log_file}")

    def kill(self) -> None:
        end_process(self.process, None)

    def stop(self) -> None:
        end_process(self.process, 20)


@dataclass
class Stack:
    """The five services, each its own process; `replicas` runs more than one process of a
    service in its consumer group (each its own HTTP port, the same database).

    A replicated service needs a database every replica can share: a PostgreSQL URL in
    `database_urls` (service -> URL, passed as `<SERVICE>_DATABASE_URL`). SQLite files are
    refused there: two processes on one file would work only on one machine and serialize
    on its write lock, which is not the scale-out being shown."""

    bootstrap: str
    var_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)
    # Seconds each started process has to answer /health: starting seven Python processes
    # at once on a busy 2-core machine takes a while.
    health_timeout: float = 180.0
    # The screens' front, when `start_front` is to run it: its port. The services then let
    # its pages call them (ONESTOP_CORS_ORIGINS); without it they send no CORS header.
    front_port: int | None = None

    def __post_init__(self) -> None:
        for name, n in self.replicas.items():
            if n > 1 and not self.database_urls.get(name, "").startswith("postgresql"):
                raise ValueError(f"{n} replicas of {name} need a PostgreSQL URL in "
                                 "database_urls: replicas share one database")

    def env_for(self, name: str, port: int | None = None) -> dict[str, str]:
        prefix = name.upper() + "_"
        digitization = f"http://127.0.0.1:{self.ports['digitization']}"
        # Who calls digitization: intake's reuse lookup, processing's result signatures;
        # intake's public routes ask processing and reporting for the citizens' page.
        peers = {"digitization": {"DIGITIZATION_PUBLIC_URL": digitization},  # its links
                 "intake": {"INTAKE_WAREHOUSE_URL": digitization,
                            "INTAKE_PROCESSING_URL":
                                f"http://127.0.0.1:{self.ports['processing']}",
                            "INTAKE_REPORTING_URL":
                                f"http://127.0.0.1:{self.ports['reporting']}"},
                 "processing": {"PROCESSING_SIGN_URL": f"{digitization}/api/v1/sign",
                                "PROCESSING_VERIFY_URL":
                                    digitization + "/api/v1/documents/{document_ref}/verify"}}
        database = ({f"{prefix}DATABASE_URL": self.database_urls[name]}
                    if name in self.database_urls else {})
        front = {"ONESTOP_CORS_ORIGINS": self.front_origins()} if self.front_port else {}
        return {**os.environ, **peers.get(name, {}), **database, **front,
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "ONESTOP_VAR_DIR": str(self.var_dir),
                f"{prefix}HTTP_PORT": str(port or self.ports[name]),
                "PYTHONUNBUFFERED": "1", **self.extra_env}

    def front_origins(self) -> str:
        """The front's origins as a browser names them (127.0.0.1 and localhost differ)."""
        return f"http://127.0.0.1:{self.front_port},http://localhost:{self.front_port}"

    def start_front(self) -> ServiceProcess:
        """The screens (services/web) on `front_port`, pointed at the services' ports."""
        assert self.front_port, "front_port is not set"
        urls = {f"WEB_{name.upper()}_URL": f"http://127.0.0.1:{self.ports[name]}"
                for name in SERVICES}
        env = {**os.environ, **urls, "WEB_HTTP_PORT": str(self.front_port),
               "ONESTOP_VAR_DIR": str(self.var_dir), "PYTHONUNBUFFERED": "1", **self.extra_env}
        front = ServiceProcess(FRONT, self.front_port, env, self.var_dir / "log" / "web.log",
                               command=[sys.executable, "-m", f"services.{FRONT}"]).start()
        self.services[FRONT] = front
        front.wait_healthy(self.health_timeout)
        return front

    def migrate(self) -> None:
        for name in SERVICES:
            subprocess.run([sys.executable, "-m", f"services.{name}", "migrate"],
                           env=self.env_for(name), check=True, stdout=subprocess.DEVNULL,
                           cwd=ROOT)

    def replica_names(self, name: str) -> list[str]:
        """Keys in `services` of a service's replicas: `name` itself, then `name-2`, ..."""
        return [name] + [f"{name}-{i}" for i in range(2, self.replicas.get(name, 1) + 1)]

    def replicas_of(self, name: str) -> list[ServiceProcess]:
        return [self.services[key] for key in self.replica_names(name) if key in self.services]

    def start(self, names: tuple[str, ...] = SERVICES) -> Stack:
        started = []
        for name in names:
            for i, key in enumerate(self.replica_names(name)):
                port = self.ports[name] if i == 0 else free_port()
                self.services[key] = ServiceProcess(
                    key, port, self.env_for(name, port), self.var_dir / "log" / f"{key}.log",
                    command=[sys.executable, "-m", f"services.{name}"]).start()
                started.append(key)
        for key in started:
            self.services[key].wait_healthy(self.health_timeout)
        return self

    def restart(self, name: str) -> None:
        self.services[name].start().wait_healthy(self.health_timeout)

    def stop(self) -> None:
        for svc in self.services.values():
            if svc.process and svc.process.poll() is None:
                svc.process.terminate()
        for svc in self.services.values():
            svc.stop()
