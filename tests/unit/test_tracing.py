"""OpenTelemetry spans: the outbox's create span, the relay's send span and the consumer's
process spans chain through the W3C traceparent text; unsampled traces make no span; the
HTTP server span names the dossier; the JSON-lines exporter writes one span a line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import SpanContext, SpanKind, StatusCode, TraceFlags

from contracts.envelope import Envelope
from services.common.observability.tracing import (
    DOSSIER,
    BatchTrace,
    SendSpan,
    Tracing,
    attached,
    outbox_traceparent,
    read_jsonl,
    record_context,
    remote_context,
    span_context_of,
    traceparent_of,
)
from services.common.settings import ServiceSettings
from tests.auth import AUTH

TRACE, SPAN = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7
SAMPLED = f"00-{TRACE:032x}-{SPAN:016x}-01"
UNSAMPLED = f"00-{TRACE:032x}-{SPAN:016x}-00"
CODE = "000.01.01.H26-260302-000042"


def envelope() -> Envelope:
    return Envelope(id=uuid.uuid4(), type="vn.gov.bhxh.onestop.dossier.received.v1",
                    source="onestop/intake", subject=CODE, time=datetime.now(UTC),
                    agencycode="000.01.01.H26", data={})


def parse(value: str | bytes | OtelContext | None) -> tuple[int, int, int] | None:
    """(trace id, span id, flags) of a traceparent text or of a context's current span."""
    sc = trace.get_current_span(value).get_span_context() \
        if isinstance(value, OtelContext) else span_context_of(value)
    return None if sc is None or not sc.is_valid else \
        (sc.trace_id, sc.span_id, int(sc.trace_flags))


def memory(service: str = "intake", ratio: float = 1.0) -> Tracing:
    return Tracing.create(service, "memory", ratio=ratio)


def test_traceparent_text_round_trips_and_refuses_garbage() -> None:
    assert parse(SAMPLED) == (TRACE, SPAN, 1)
    assert parse(SAMPLED.encode()) == (TRACE, SPAN, 1)
    assert traceparent_of(SpanContext(TRACE, SPAN, False, TraceFlags(1))) == SAMPLED
    for bad in (None, "", "00-abc", f"00-{'0' * 32}-{SPAN:016x}-01",
                f"00-{TRACE:032x}-{'0' * 16}-01"):
        assert parse(bad) is None


def test_an_outbox_row_under_a_sampled_span_gets_a_create_span_as_its_parent() -> None:
    tracing = memory()
    with attached(remote_context(SAMPLED)):
        stored = outbox_traceparent(tracing.tracer, "onestop.intake.v1", envelope())
    assert tracing.memory is not None
    (span,) = tracing.memory.get_finished_spans()
    assert span.name == "create onestop.intake.v1" and span.kind is SpanKind.PRODUCER
    assert span.parent is not None and span.parent.span_id == SPAN
    assert span.context.trace_id == TRACE
    assert span.attributes is not None and span.attributes[DOSSIER] == CODE
    assert span.resource.attributes["service.name"] == "intake"
    assert parse(stored) == (TRACE, span.context.span_id, 1)


def test_an_unsampled_trace_is_passed_on_without_any_span() -> None:
    tracing = memory()
    with attached(remote_context(UNSAMPLED)):
        stored = outbox_traceparent(tracing.tracer, "onestop.intake.v1", envelope())
    parsed = parse(stored)
    assert parsed is not None and parsed[0] == TRACE and parsed[2] == 0 and parsed[1] != SPAN
    send = SendSpan(tracing.tracer, "onestop.intake.v1", CODE, "id", "t", stored)
    assert send.header(stored) == stored
    send.done()
    assert tracing.memory is not None and tracing.memory.get_finished_spans() == ()


def test_exporter_none_records_nothing_but_still_starts_and_carries_a_trace() -> None:
    tracing = Tracing.create("intake", "none")
    stored = outbox_traceparent(tracing.tracer, "onestop.intake.v1", envelope())
    parsed = parse(stored)
    assert parsed is not None and not parsed[2] & 1  # not sampled
    with attached(remote_context(stored)):
        child = parse(outbox_traceparent(tracing.tracer, "t", envelope()))
    assert child is not None and child[0] == parsed[0]


def test_the_relay_send_span_is_the_records_parent_and_ends_with_the_ack() -> None:
    tracing = memory("processing")
    send = SendSpan(tracing.tracer, "onestop.processing.v1", CODE, "e-1",
                    "vn.gov.bhxh.onestop.step.assigned.v1", SAMPLED)
    on_the_wire = send.header(SAMPLED)
    assert tracing.memory is not None and tracing.memory.get_finished_spans() == ()
    send.done(ConnectionError("broker away"))
    (span,) = tracing.memory.get_finished_spans()
    assert span.name == "send onestop.processing.v1" and span.parent is not None
    assert span.parent.span_id == SPAN and span.status.status_code is StatusCode.ERROR
    assert parse(on_the_wire) == (TRACE, span.context.span_id, 1)
    assert span.attributes is not None and span.attributes[DOSSIER] == CODE


async def test_a_consumed_batch_makes_a_process_span_per_sampled_record() -> None:
    tracing = memory("reporting")
    headers = [("ce_type", b"x"), ("traceparent", SAMPLED.encode())]
    async with BatchTrace(tracing.tracer, "reporting", 3) as batch:
        ctx = batch.context_for(headers, "onestop.intake.v1", envelope())
        unsampled = batch.context_for([("traceparent", UNSAMPLED.encode())],
                                      "onestop.intake.v1", envelope())
        with attached(ctx):
            current = trace.get_current_span().get_span_context()
        # Unsampled: no span and no context, only the traceparent text passed on.
        assert unsampled == UNSAMPLED
        with record_context(unsampled):
            passed = parse(outbox_traceparent(tracing.tracer, "t", envelope()))
        assert passed is not None and passed[0] == TRACE and passed[2] == 0
        # A record without any traceparent starts a trace of its own (sampled by ratio).
        batch.context_for(None, "onestop.ingest.v1", envelope())
    assert tracing.memory is not None
    spans = {s.name: s for s in tracing.memory.get_finished_spans()}
    process = spans["process onestop.intake.v1"]
    assert process.kind is SpanKind.CONSUMER and process.context.span_id == current.span_id
    assert process.parent is not None and process.parent.span_id == SPAN
    assert process.attributes is not None and process.attributes[DOSSIER] == CODE
    whole = spans["process reporting batch"]
    assert whole.parent is None and whole.attributes is not None
    assert whole.attributes["messaging.batch.message_count"] == 3
    assert [link.context.span_id for link in process.links] == [whole.context.span_id]
    root = spans["process onestop.ingest.v1"]
    assert root.parent is None and root.context.trace_id != TRACE
    assert len(spans) == 3  # nothing for the unsampled record


async def test_a_record_starting_an_unsampled_trace_gets_only_its_traceparent() -> None:
    tracing = memory(ratio=0.0)
    async with BatchTrace(tracing.tracer, "intake", 1) as batch:
        begun = batch.context_for(None, "onestop.ingest.v1", envelope())
    assert isinstance(begun, str)  # no span recorded for it: only its traceparent text
    parsed = parse(begun)
    assert parsed is not None and not parsed[2] & 1  # not sampled
    assert tracing.memory is not None
    assert tracing.memory.get_finished_spans() == ()  # nothing, not even the batch's
    with record_context(begun):
        child = parse(outbox_traceparent(tracing.tracer, "t", envelope()))
    assert child is not None and child[0] == parsed[0]  # its events carry its trace id


async def test_a_root_records_sampling_is_the_ratios_decision_on_its_own_trace_id() -> None:
    """Asked of the sampler before any span is made, then made with that same id: every
    span kept and every text passed on agree with the ratio's rule on their trace id."""
    tracing = memory(ratio=0.5)
    bound = TraceIdRatioBased.get_bound_for_rate(0.5)
    async with BatchTrace(tracing.tracer, "intake", 200) as batch:
        begun = [batch.context_for(None, "onestop.ingest.v1", envelope()) for _ in range(200)]
    texts = [b for b in begun if isinstance(b, str)]
    sampled = [trace.get_current_span(b).get_span_context() for b in begun
               if not isinstance(b, str)]
    assert texts and sampled  # 200 draws at a half: both kinds
    assert all((parse(t) or (0, 0, 0))[0] & TraceIdRatioBased.TRACE_ID_LIMIT >= bound
               for t in texts)
    assert all(sc.trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < bound and sc.trace_flags & 1
               for sc in sampled)
    assert tracing.memory is not None
    kept = {s.context.trace_id for s in tracing.memory.get_finished_spans()
            if s.name == "process onestop.ingest.v1"}
    assert kept == {sc.trace_id for sc in sampled}


async def test_a_failed_transaction_ends_its_spans_in_error() -> None:
    tracing = memory("processing")
    with pytest.raises(RuntimeError):
        async with BatchTrace(tracing.tracer, "processing", 1) as batch:
            batch.context_for([("traceparent", SAMPLED.encode())], "t", envelope())
            raise RuntimeError("database away")
    assert tracing.memory is not None
    statuses = {s.name: s.status.status_code for s in tracing.memory.get_finished_spans()}
    assert statuses == {"process t": StatusCode.ERROR,
                        "process processing batch": StatusCode.ERROR}


async def test_a_ratio_of_zero_starts_no_trace_at_a_record_but_at_every_request() -> None:
    tracing = memory(ratio=0.0)
    async with BatchTrace(tracing.tracer, "intake", 2) as batch:
        batch.context_for(None, "onestop.ingest.v1", envelope())
        batch.context_for([("traceparent", SAMPLED.encode())], "onestop.ingest.v1",
                          envelope())
    assert tracing.memory is not None
    assert [s.context.trace_id for s in tracing.memory.get_finished_spans()] == [TRACE]
    request = tracing.tracer.start_span("POST /api/v1/dossiers", kind=SpanKind.SERVER)
    assert request.is_recording() and request.parent is None
    # A caller that says "not sampled" is followed, even for a request.
    with attached(remote_context(UNSAMPLED)):
        assert not tracing.tracer.start_span("GET", kind=SpanKind.SERVER).is_recording()


async def test_the_http_server_span_continues_the_callers_trace_and_names_the_dossier() -> None:
    tracing = memory("processing")
    app = FastAPI()

    @app.get("/api/v1/cases/{code}")
    async def case(code: str) -> dict[str, str]:
        with attached(None):
            stored = outbox_traceparent(tracing.tracer, "onestop.processing.v1", envelope())
        return {"code": code, "traceparent": stored}

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    tracing.instrumenting(app)
    async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=app),
                                 base_url="http://processing") as client:
        r = await client.get(f"/api/v1/cases/{CODE}", headers={"traceparent": SAMPLED})
        assert (await client.get("/health")).status_code == 200
    assert tracing.memory is not None
    spans = {s.kind: s for s in tracing.memory.get_finished_spans()}
    assert set(spans) == {SpanKind.SERVER, SpanKind.PRODUCER}  # /health is not traced
    server = spans[SpanKind.SERVER]
    assert server.parent is not None and server.parent.span_id == SPAN
    assert server.attributes is not None and server.attributes[DOSSIER] == CODE
    assert "/api/v1/cases/{code}" in server.name
    created = spans[SpanKind.PRODUCER]
    assert created.parent is not None and created.parent.span_id == server.context.span_id
    assert parse(r.json()["traceparent"]) == (TRACE, created.context.span_id, 1)


def test_the_jsonl_exporter_writes_one_span_a_line_under_var(tmp_path: Path) -> None:
    tracing = Tracing.create("notification", "jsonl", var_dir=tmp_path)
    with attached(remote_context(SAMPLED)):
        outbox_traceparent(tracing.tracer, "onestop.notification.v1", envelope())
        outbox_traceparent(tracing.tracer, "onestop.notification.v1", envelope())
    tracing.shutdown()  # flushes the batch processor
    spans = read_jsonl(tmp_path / "traces" / "notification.jsonl")
    assert [s["name"] for s in spans] == ["create onestop.notification.v1"] * 2
    assert {s["context"]["trace_id"] for s in spans} == {f"0x{TRACE:032x}"}
    assert spans[0]["resource"]["attributes"]["service.name"] == "notification"


def test_settings_choose_the_exporter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ONESTOP_TRACING_EXPORTER", raising=False)
    assert ServiceSettings().tracing_exporter == "jsonl"  # development: a file under var/
    assert ServiceSettings().tracing_sample_ratio == 0.01
    monkeypatch.setenv("ONESTOP_TRACING_EXPORTER", "none")
    monkeypatch.setenv("ONESTOP_TRACING_SAMPLE_RATIO", "0.25")
    settings = ServiceSettings(var_dir=tmp_path)
    assert settings.tracing_exporter == "none" and settings.tracing_sample_ratio == 0.25
    monkeypatch.setenv("ONESTOP_TRACING_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="ONESTOP_TRACING_EXPORTER"):
        ServiceSettings()
    with pytest.raises(ValueError, match="not one of"):
        Tracing.create("intake", "zipkin")
