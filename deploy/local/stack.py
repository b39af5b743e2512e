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
from deploy.local.broker import end_process

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"intake": 8001, "digitization": 8002, "processing": 8003, "notification": 8004,
         "reporting": 8005}


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
    bootstrap: str
    var_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(PORTS))
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def env_for(self, name: str) -> dict[str, str]:
        prefix = name.upper() + "_"
        digitization = f"http://127.0.0.1:{self.ports['digitization']}"
        # Who calls digitization: intake's reuse lookup, processing's result signatures.
        peers = {"intake": {"INTAKE_WAREHOUSE_URL": digitization},
                 "processing": {"PROCESSING_SIGN_URL": f"{digitization}/api/v1/sign",
                                "PROCESSING_VERIFY_URL":
                                    digitization + "/api/v1/documents/{document_ref}/verify"}}
        return {**os.environ, **peers.get(name, {}),
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "ONESTOP_VAR_DIR": str(self.var_dir), f"{prefix}HTTP_PORT": str(self.ports[name]),
                "PYTHONUNBUFFERED": "1", **self.extra_env}

    def migrate(self) -> None:
        for name in SERVICES:
            subprocess.run([sys.executable, "-m", f"services.{name}", "migrate"],
                           env=self.env_for(name), check=True, stdout=subprocess.DEVNULL,
                           cwd=ROOT)

    def start(self, names: tuple[str, ...] = SERVICES) -> Stack:
        for name in names:
            self.services[name] = ServiceProcess(
                name, self.ports[name], self.env_for(name),
                self.var_dir / "log" / f"{name}.log").start()
        for name in names:
            self.services[name].wait_healthy()
        return self

    def restart(self, name: str) -> None:
        self.services[name].start().wait_healthy()

    def stop(self) -> None:
        for svc in self.services.values():
            if svc.process and svc.process.poll() is None:
                svc.process.terminate()
        for svc in self.services.values():
            svc.stop()
