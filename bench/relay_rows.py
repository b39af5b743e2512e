"""The outbox relay's CPU per row published: passes of `--rows` outbox rows (about 600
bytes each, over three topics, keys of a few rows per dossier as the services write them)
inserted into a fresh outbox, each published by one `OutboxRelay.publish_pending` pass to a
fresh local broker. Printed: this process's CPU per row published over the timed passes
(the first two warm up), and how it splits between the pass's parts (the pending rows' read,
handing the rows to the producer, the settle, the counts); the producer's background work
is in the total. Nothing is asserted.

    python -m bench.relay_rows [--rows N] [--passes N] [--backend sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from sqlalchemy import MetaData, insert

from bench.databases import create_databases, drop_databases
from contracts.topics import TOPICS
from deploy.local.broker import fresh_broker
from services.common.clock import SystemClock
from services.common.messaging.kafka import ensure_topics, make_producer
from services.common.messaging.relay import OutboxRelay
from services.common.observability.metrics import RuntimeMetrics
from services.common.persistence.db import make_engine, runtime_tables, session_factory

TOPIC_NAMES = ("onestop.intake.v1", "onestop.provincial.v1", "onestop.contacts.v1")
PARTS = ("_pending", "_send_batches", "_settle", "_refresh_counts")
WARM_UP = 2
PAYLOAD = b'{"x":"' + b"y" * 600 + b'"}'
UNSAMPLED = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-00"


def _timed(relay: OutboxRelay, parts: Counter[str]) -> None:
    """Each part of a pass that the relay has, its CPU added up in `parts`."""
    for name in PARTS:
        fn: Callable[..., Awaitable[Any]] | None = getattr(relay, name, None)
        if fn is None:
            continue

        async def timed(*args: Any, _fn: Any = fn, _name: str = name, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return await _fn(*args, **kwargs)
            finally:
                parts[_name] += time.process_time() - started
        setattr(relay, name, timed)


async def _measure(bootstrap: str, url: str, rows: int, passes: int) -> dict[str, Any]:
    metadata = MetaData()
    tables = runtime_tables(metadata)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await ensure_topics(bootstrap, TOPICS)
    producer = make_producer(bootstrap, idempotence=False)
    await producer.start()
    relay = OutboxRelay(service="bench", engine=engine, sessions=session_factory(engine),
                        tables=tables, producer=producer, bootstrap=bootstrap,
                        clock=SystemClock(), metrics=RuntimeMetrics("bench"), batch=rows)
    parts: Counter[str] = Counter()
    _timed(relay, parts)
    cpu, published = 0.0, 0
    try:
        for n in range(passes + WARM_UP):
            async with relay.sessions() as s, s.begin():
                await s.execute(insert(tables.outbox), [{
                    "event_id": str(uuid.uuid4()), "topic": TOPIC_NAMES[i % 3],
                    "key": f"000.00.01.H26-261207-{(n * rows + i) // 7:07d}",
                    "event_type": "vn.gov.bhxh.onestop.bench.v1", "payload": PAYLOAD,
                    "traceparent": UNSAMPLED, "created_at": datetime.now(UTC),
                    "published_at": None} for i in range(rows)])
            if n == WARM_UP:
                parts.clear()
            started = time.process_time()
            result = await relay.publish_pending()
            if result.published != rows or result.retry_error is not None:
                raise RuntimeError(f"a pass published {result.published} of {rows} rows "
                                   f"({result.retry_error!r})")
            if n >= WARM_UP:
                cpu += time.process_time() - started
                published += result.published
    finally:
        await producer.stop()
        await engine.dispose()
    return {"rows_per_pass": rows, "passes": passes, "published": published,
            "cpu_us_per_row": cpu / published * 1e6,
            "parts_us_per_row": {k: v / published * 1e6 for k, v in parts.items()}}


def measure(rows: int = 2000, passes: int = 10, backend: str = "postgres",
            var: Path | None = None) -> dict[str, Any]:
    var = var or Path(mkdtemp(prefix="onestop-bench-relay-"))
    with fresh_broker(var / "broker.log") as bootstrap:
        if backend == "sqlite":
            return asyncio.run(_measure(bootstrap, f"sqlite+aiosqlite:///{var / 'outbox.db'}",
                                        rows, passes))
        urls = asyncio.run(create_databases(("relay",)))
        try:
            return asyncio.run(_measure(bootstrap, urls["relay"], rows, passes))
        finally:
            asyncio.run(drop_databases(urls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2000, help="outbox rows per pass")
    parser.add_argument("--passes", type=int, default=10, help="timed passes")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    args = parser.parse_args()
    figures = measure(args.rows, args.passes, args.backend)
    parts = ", ".join(f"{k.strip('_')} {v:.2f}" for k, v in
                      figures["parts_us_per_row"].items())
    print(f"relay, {args.backend}: {figures['cpu_us_per_row']:.2f} µs of CPU per row "
          f"published ({figures['published']} rows in {args.passes} passes of {args.rows}); "
          f"of which {parts}")


if __name__ == "__main__":
    main()
