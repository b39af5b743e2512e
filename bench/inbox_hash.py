"""What the inbox's content hash costs the consumer, per record (a micro-benchmark).

The inbox recognises an event by the hash of its content (services/common/messaging/inbox.py,
`content_hash`: canonical JSON of the parsed envelope) where it used to hash the record's
bytes (`payload_hash`). Both are timed here on the same records, beside what the consumer
does with each record anyway (`BatchConsumer._parse`: envelope, event, hash), so the share
is visible. Nothing is asserted; the figures are printed.

    python -m bench.inbox_hash [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka.structs import ConsumerRecord

from contracts import topics
from contracts.envelope import InboundEnvelope
from contracts.ingest import ProvinceDossierStatus
from services.common.messaging.consumer import BatchConsumer, Subscription
from services.common.messaging.inbox import content_hash, payload_hash

EXAMPLES = Path(__file__).resolve().parents[1] / "contracts" / "examples"


def _value(name: str) -> bytes:
    # As a producer sends it: compact, UTF-8.
    body = json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def per_call_us(fn: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(5):  # the best of five: the machine's other work only adds time
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - started) / rounds)
    return best * 1e6


def measure(rounds: int = 20_000) -> dict[str, dict[str, float]]:
    async def nothing(*_: Any) -> None:
        return None

    subscription = Subscription(topics.INGEST, strict_types=True)
    subscription.handlers[ProvinceDossierStatus.event_type] = nothing
    consumer = BatchConsumer.__new__(BatchConsumer)  # only _parse is used: no clients
    consumer.routes = {topics.INGEST.name: subscription}
    consumer.max_record_bytes, consumer.max_depth = 1024 * 1024, 32
    out: dict[str, dict[str, float]] = {}
    for name in ("ingest.dossier-status.v1",):
        value = _value(name)
        record = ConsumerRecord(topics.INGEST.name, 0, 0, 0, 0, b"k", value, None, 1,
                                len(value), [])
        envelope = InboundEnvelope.model_validate_json(value)
        out[name] = {
            "bytes": len(value),
            "payload_hash_us": per_call_us(lambda v=value: payload_hash(v), rounds),
            "content_hash_us": per_call_us(lambda e=envelope: content_hash(e), rounds),
            "parse_record_us": per_call_us(lambda r=record: consumer._parse(r), rounds),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    args = parser.parse_args()
    for name, row in measure(args.rounds).items():
        print(f"{name} ({row['bytes']:.0f} bytes): bytes hash {row['payload_hash_us']:.2f} µs, "
              f"content hash {row['content_hash_us']:.2f} µs; the consumer's whole parse of "
              f"the record (envelope, event, content hash) {row['parse_record_us']:.2f} µs")


if __name__ == "__main__":
    main()
