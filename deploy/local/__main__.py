"""`make up`: the whole system on this machine. Ctrl-C stops every child.

Starts the local broker on 127.0.0.1:9092 unless KAFKA_BOOTSTRAP_SERVERS is set, creates the
topics, migrates each service's database, starts the five services and the screens' front
(services/web on WEB_HTTP_PORT, 8000: the officers' workbench and the citizens' page, whose
origin the services allow), prints their URLs, and restarts a process that exits (with
backoff, see supervisor.py) while the others run on.
Once they are healthy, the province simulator (deploy/simulate/) publishes a gentle traffic
so the dashboard is alive on a fresh machine; SIMULATE=0 turns it off, SIMULATE_RATE (2
records/s here), SIMULATE_SEED and the other SIMULATE_* settings tune it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from deploy.local.broker import LocalBroker, end_process, port_open
from deploy.local.stack import FRONT, FRONT_PORT, ROOT, Stack
from deploy.local.supervisor import Supervisor
from deploy.local.tokens import credentials, describe
from services.common.messaging.kafka import ensure_topics


def start_simulator(bootstrap: str, var: Path) -> subprocess.Popen[bytes] | None:
    """The province simulator, until stopped, unless SIMULATE=0. Gentle by default; a new
    seed each start (printed), so dossier codes of an earlier run on the same var/ are not
    sent again (same codes, new dates: intake would refuse them as already received)."""
    if os.environ.get("SIMULATE", "1").strip().lower() in ("0", "false", "no", "off"):
        print("simulator     off (SIMULATE=0)")
        return None
    env = {"SIMULATE_RATE": "2", "SIMULATE_LATE": "0.1",
           "SIMULATE_SEED": str(int(time.time())), **os.environ,
           "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "PYTHONUNBUFFERED": "1"}
    log_file = var / "log" / "simulate.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "deploy.simulate", "--duration", "0"],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    print(f"simulator     provinces publishing about {env['SIMULATE_RATE']} records/s, seed "
          f"{env['SIMULATE_SEED']} (log {log_file}); SIMULATE=0 make up turns it off")
    return process


def main() -> int:
    var = Path(os.environ.get("ONESTOP_VAR_DIR", "var")).resolve()
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        if port_open("127.0.0.1", 9092):
            print("something already listens on 127.0.0.1:9092; stop it or set "
                  "KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
            return 1
        broker = LocalBroker(9092, var / "log" / "broker.log").start()
        bootstrap = broker.bootstrap
        print(f"broker        kafka://{bootstrap}  (local Tansu, log in memory)")
    asyncio.run(ensure_topics(bootstrap))
    # The development issuer's secret and the services' API key: this machine's own
    # (var/auth), unless given; never the development key written in the source.
    auth = credentials(var, os.environ)
    secret = auth["ONESTOP_AUTH_JWT_SECRET"]
    stack = Stack(bootstrap, var, extra_env=auth,
                  front_port=int(os.environ.get("WEB_HTTP_PORT", FRONT_PORT)))
    stopping = False
    simulator = None

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.migrate()
        stack.start()
        stack.start_front()
        for name, svc in stack.services.items():
            if name != FRONT:
                print(f"{name:<14}{svc.url}  (docs {svc.url}/docs, log {svc.log_file})")
        front = stack.services[FRONT]
        print(f"{'screens':<14}{front.url}/workbench/  (officers: sign in with a role and "
              f"agency) and {front.url}/tra-cuu/  (citizens; log {front.log_file})")
        print(describe(secret.split(",")[0], stack.services["intake"].url,
                       stack.services["reporting"].url))
        simulator = start_simulator(bootstrap, var)
        print("all services up; Ctrl-C stops them", flush=True)
        supervisor = Supervisor(stack.services, say=lambda line: print(line, flush=True),
                                describe=lambda name: f"; see {stack.services[name].log_file}")
        supervisor.run(lambda: stopping)
    finally:
        print("stopping...", flush=True)
        end_process(simulator, 10)
        stack.stop()
        if broker:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
