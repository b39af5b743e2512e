"""What the inbox's hash costs the consumer, per record (a micro-benchmark).

The inbox recognises an event by the hash of its content (services/common/messaging/inbox.py,
`content_hash`: canonical JSON of the parsed envelope) on a topic written from outside, and
by the hash of the record's bytes (`payload_hash`) on a topic a service's relay writes. Both
are timed here on the same records, beside what the consumer does with each record anyway
(`BatchConsumer._parse`: envelope, event, hash), once as each subscription is wired: the
province's record on the ingest topic (by content), and records of the services' own topics
as their readers are wired (by bytes) and as they were before (by content), so the share
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


# Each example's topic: the ingest topic's writers are outside, the others' a relay.
_TOPICS = {"ingest.dossier-status.v1": topics.INGEST, "dossier.received.v1": topics.INTAKE,
           "dossier.digitized.v1": topics.DIGITIZATION, "step.completed.v1": topics.PROCESSING,
           "notification.sent.v1": topics.NOTIFICATION}


def _consumer(topic: topics.Topic, event_type: str, hash_content: bool) -> BatchConsumer:
    async def nothing(*_: Any) -> None:
        return None

    subscription = Subscription(topic, strict_types=topic is topics.INGEST,
                                hash_content=hash_content)
    subscription.handlers[event_type] = nothing
    consumer = BatchConsumer.__new__(BatchConsumer)  # only _parse is used: no clients
    consumer.routes = {topic.name: subscription}
    consumer.max_record_bytes, consumer.max_depth = 1024 * 1024, 32
    return consumer


def measure(rounds: int = 20_000) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, topic in _TOPICS.items():
        value = _value(name)
        record = ConsumerRecord(topic.name, 0, 0, 0, 0, b"k", value, None, 1,
                                len(value), [])
        event_type = InboundEnvelope.model_validate_json(value).type
        outside = topic.owner not in topics.SERVICES  # known by content: wiring.subscriptions
        by_content = _consumer(topic, event_type, True)
        item = by_content._parse(record)
        assert item is not None
        envelope = item.envelope  # typed: what the consumer hashes
        row = {
            "bytes": len(value),
            "payload_hash_us": per_call_us(lambda v=value: payload_hash(v), rounds),
            "content_hash_us": per_call_us(lambda e=envelope: content_hash(e), rounds),
            "parse_record_content_us": per_call_us(
                lambda r=record, c=by_content: c._parse(r), rounds),
        }
        if not outside:
            by_bytes = _consumer(topic, event_type, False)
            row["parse_record_bytes_us"] = per_call_us(
                lambda r=record, c=by_bytes: c._parse(r), rounds)
        out[name] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    args = parser.parse_args()
    for name, row in measure(args.rounds).items():
        line = (f"{name} ({row['bytes']:.0f} bytes): bytes hash {row['payload_hash_us']:.2f} "
                f"µs, content hash {row['content_hash_us']:.2f} µs; the consumer's whole "
                f"parse of the record (envelope, event, hash): ")
        if "parse_record_bytes_us" in row:
            line += (f"{row['parse_record_bytes_us']:.2f} µs as wired (by bytes), "
                     f"{row['parse_record_content_us']:.2f} by content")
        else:
            line += f"{row['parse_record_content_us']:.2f} µs as wired (by content)"
        print(line)


if __name__ == "__main__":
    main()
