"""What tracing costs a record, as the services run it by default (the JSON-lines exporter,
10% of the records that start a trace sampled), in microseconds per operation:

- `consumed, unsampled parent`: a record whose traceparent says "not sampled" (most of
  the pipeline's records), its trace made for its work (`BatchTrace.context_for`);
- `consumed, starts a trace`: a record without any traceparent (a province's), sampled at
  the ratio;
- `emitted under an unsampled record`: an outbox row's traceparent, written inside that
  record's trace (`record_context` + `outbox_traceparent`);
- `relay send, unsampled`: the relay's span decision for an unsampled row (`SendSpan`);
- the same three for a record whose trace is sampled (one in ten at the default ratio):
  its process span, a create span per event it emits, the relay's send span, each started
  and ended (exporting them happens later, on the span processor's thread).

Nothing is asserted; the figures are printed (and returned).

    python -m bench.tracing [--n N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from contracts.envelope import Envelope
from contracts.events import DossierWithdrawn
from services.common.observability.tracing import (
    BatchTrace,
    SendSpan,
    Tracing,
    outbox_traceparent,
    record_context,
)

UNSAMPLED = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
SAMPLED = UNSAMPLED[:-2] + b"01"


def _per_op(fn: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


async def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        tracing = Tracing.create("intake", "jsonl", ratio=0.1, var_dir=Path(tmp))
        envelope = Envelope(id=uuid.uuid4(), type=DossierWithdrawn.event_type,
                            source="onestop/intake", subject="D-1", time=datetime.now(UTC),
                            agencycode="A", data={})
        headers = [("ce_type", DossierWithdrawn.event_type.encode()),
                   ("traceparent", UNSAMPLED)]
        async with BatchTrace(tracing.tracer, "intake", n) as batch:
            figures = {
                "consumed, unsampled parent": _per_op(
                    lambda: batch.context_for(headers, "onestop.intake.v1", envelope), n),
                "consumed, starts a trace": _per_op(
                    lambda: batch.context_for(headers[:1], "onestop.ingest.v1", envelope), n),
            }
            trace = batch.context_for(headers, "onestop.intake.v1", envelope)

            def emit() -> None:
                with record_context(trace):
                    outbox_traceparent(tracing.tracer, "onestop.intake.v1", envelope)

            figures["emitted under an unsampled record"] = _per_op(emit, n)
            stored = UNSAMPLED.decode()
            figures["relay send, unsampled"] = _per_op(
                lambda: SendSpan(tracing.tracer, "t", "D-1", "e", "x", stored), n)
            sampled = [headers[0], ("traceparent", SAMPLED)]
            figures["consumed, sampled parent"] = _per_op(
                lambda: batch.context_for(sampled, "onestop.intake.v1", envelope), n)
            parent = batch.context_for(sampled, "onestop.intake.v1", envelope)

            def emit_sampled() -> str:
                with record_context(parent):
                    return outbox_traceparent(tracing.tracer, "onestop.intake.v1", envelope)

            figures["emitted under a sampled record"] = _per_op(emit_sampled, n)
            row = emit_sampled()
            figures["relay send, sampled (span ended)"] = _per_op(
                lambda: SendSpan(tracing.tracer, "t", "D-1", "e", "x", row).done(None), n)
        tracing.shutdown()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="operations of each kind")
    args = parser.parse_args()
    # Spans made faster than the exporter's queue drains are dropped, with a warning each
    # time: the figures are the making of spans, not their export.
    logging.getLogger("opentelemetry.sdk._shared_internal").setLevel(logging.ERROR)
    figures = asyncio.run(measure(args.n))
    print("tracing: microseconds per operation")
    for name, us in figures.items():
        print(f"  {name:38s} {us:8.2f}")


if __name__ == "__main__":
    main()
