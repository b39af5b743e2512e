"""`make up`: the whole system on this machine. Ctrl-C stops every child.

Starts the local broker on 127.0.0.1:9092 unless KAFKA_BOOTSTRAP_SERVERS is set, creates the
topics, migrates each service's database, starts the five services, prints their URLs, and
restarts a service that exits (with backoff, see supervisor.py) while the others run on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from deploy.local.broker import LocalBroker, port_open
from deploy.local.stack import Stack
from deploy.local.supervisor import Supervisor
from services.common.kafka import ensure_topics


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
    stack = Stack(bootstrap, var)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.migrate()
        stack.start()
        for name, svc in stack.services.items():
            print(f"{name:<14}{svc.url}  (docs {svc.url}/docs, log {svc.log_file})")
        print("all services up; Ctrl-C stops them", flush=True)
        supervisor = Supervisor(stack.services, say=lambda line: print(line, flush=True),
                                describe=lambda name: f"; see {stack.services[name].log_file}")
        supervisor.run(lambda: stopping)
    finally:
        print("stopping...", flush=True)
        stack.stop()
        if broker:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
