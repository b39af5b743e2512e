"""OpenTelemetry spans of one service: its HTTP requests, the events it writes to its outbox,
the relay's sends and the records its consumer applies, linked into one trace per dossier
by the W3C `traceparent` Kafka header (the header on the wire is unchanged).

Each runtime has its own tracer provider (several services may share one process in
tests, each with its own `service.name`). Cost is kept off the hot path: spans are made
per record only for sampled traces (ParentBased; at the root, every HTTP request and a
ratio of the records); an unsampled record only passes its trace id on, as the
`traceparent` text itself (no OpenTelemetry context, span or parse is made for it: the
profile put those at a sixth of the services' CPU), and every consumed transaction gets one
batch span.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import random
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.envelope import Envelope
from services.common.http.edge import redact_url

EXPORTERS = ("otlp", "jsonl", "memory", "none")
DOSSIER = "onestop.dossier_code"
# Path parameters that name a dossier (intake's /dossiers/{code}, processing's /cases/{code}).
_DOSSIER_PARAMS = ("code", "dossier_code")
_SAMPLED = TraceFlags.SAMPLED
# The W3C trace context as OpenTelemetry reads and writes it: the one parser of the header.
_W3C = TraceContextTextMapPropagator()
# A well-formed version-00 traceparent whose sampled flag is off: such a record's trace is
# carried as this text alone. Anything else (sampled, another version, malformed) goes
# through the propagator above.
_UNSAMPLED_TEXT = re.compile(
    r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f][02468ace]")
# The unsampled traceparent the current record's work runs under (RecordContext sets it);
# its outbox rows descend from it without any OpenTelemetry context.
_UNSAMPLED: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "onestop_unsampled_traceparent", default=None)
# What a record's work runs in: a sampled record's OpenTelemetry context, an unsampled
# record's traceparent text, or nothing known.
RecordTrace = OtelContext | str | None


class PresetIds(RandomIdGenerator):
    """Random ids, except that the next trace id can be given: a record starting a trace
    is asked of the sampler with its id first, and only a sampled one gets a span (with
    that id, so the sampler, deterministic in the id, says the same again)."""

    def __init__(self) -> None:
        self.preset = 0

    def generate_trace_id(self) -> int:
        trace_id, self.preset = self.preset, 0
        return trace_id or super().generate_trace_id()


class JsonLinesExporter(SpanExporter):
    """One JSON object per span, appended to a file (`make up`: var/traces/<service>.jsonl).
    Each export is one write() of whole lines on an O_APPEND descriptor, so replicas of one
    service appending to the same file never interleave within a line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(_json_line(span) for span in spans).encode()
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                try:
                    os.write(fd, lines)
                finally:
                    os.close(fd)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


def _json_line(span: ReadableSpan) -> str:
    """ReadableSpan.to_json's shape, compact, times in Unix nanoseconds: a quarter of its cost
    (it encodes the resource to JSON and back for every span)."""
    ctx, parent = span.context, span.parent
    return json.dumps({
        "name": span.name,
        "context": {"trace_id": f"0x{ctx.trace_id:032x}", "span_id": f"0x{ctx.span_id:016x}"},
        "kind": span.kind.name,
        "parent_id": f"0x{parent.span_id:016x}" if parent is not None else None,
        "start_time_unix_nano": span.start_time, "end_time_unix_nano": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "links": [{"trace_id": f"0x{link.context.trace_id:032x}",
                   "span_id": f"0x{link.context.span_id:016x}"} for link in span.links],
        "resource": {"attributes": {"service.name": span.resource.attributes.get(
            "service.name")}},
    }, ensure_ascii=False, separators=(",", ":")) + "\n"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The spans a JsonLinesExporter wrote (for tools and tests)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# Attributes of a server span that hold the request's URL or its query (both conventions).
URL_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")


def redact_request(span: trace.Span, _scope: Scope) -> None:
    """The instrumentation's hook once a server span holds the request's attributes:
    token-like query values (`token`, `api_key`, any JWT...) replaced before any exporter
    sees them. The dashboard's `access_token` never gets this far: the HTTP edge takes it
    out of the URL (http.Edge)."""
    attributes = getattr(span, "attributes", None) or {}
    for key in URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str):
            redacted = redact_url(value)
            if redacted != value:
                span.set_attribute(key, redacted)


class RequestsOrRatio(Sampler):
    """Where a trace starts: every HTTP request (people's, at human pace: a counter's
    submission is always traced), and `ratio` of the records that start one (the
    provinces' ingest: thousands a second, where a span per record would cost a quarter
    more CPU per dossier)."""

    def __init__(self, ratio: float) -> None:
        self.ratio = TraceIdRatioBased(ratio)

    def should_sample(self, parent_context: OtelContext | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Any = None,
                      links: Sequence[Link] | None = None, trace_state: Any = None
                      ) -> SamplingResult:
        if kind is SpanKind.SERVER:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        return self.ratio.should_sample(parent_context, trace_id, name, kind, attributes,
                                        links, trace_state)

    def get_description(self) -> str:
        return f"RequestsOr{self.ratio.get_description()}"


@dataclass
class Tracing:
    """A service's tracer provider and tracer; `memory` holds its spans in tests."""

    service: str
    provider: TracerProvider
    tracer: Tracer
    memory: InMemorySpanExporter | None = None

    @classmethod
    def create(cls, service: str, exporter: str = "none", *, ratio: float = 1.0,
               otlp_endpoint: str | None = None, var_dir: Path = Path("var")) -> Tracing:
        if exporter not in EXPORTERS:
            raise ValueError(f"tracing exporter {exporter!r} is not one of {EXPORTERS}")
        # "none": no span is recorded, but trace ids still pass from HTTP through every topic.
        sampler = ALWAYS_OFF if exporter == "none" else ParentBased(RequestsOrRatio(ratio))
        provider = TracerProvider(sampler=sampler,
                                  resource=Resource.create({"service.name": service}),
                                  shutdown_on_exit=exporter != "none", id_generator=PresetIds())
        memory = None
        if exporter == "memory":
            memory = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(memory))
        elif exporter == "jsonl":
            provider.add_span_processor(BatchSpanProcessor(
                JsonLinesExporter(var_dir / "traces" / f"{service}.jsonl")))
        elif exporter == "otlp":
            # Imported here: only production needs the OTLP client (and its requests import).
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
                endpoint=otlp_endpoint)))
        return cls(service, provider, provider.get_tracer("onestop." + service), memory)

    @classmethod
    def from_settings(cls, service: str, settings: Any) -> Tracing:
        return cls.create(service, settings.tracing_exporter, ratio=settings.tracing_sample_ratio,
                          otlp_endpoint=settings.tracing_otlp_endpoint,
                          var_dir=settings.var_dir)

    def instrumenting(self, app: FastAPI) -> Tracing:
        """A server span per request (its incoming traceparent as parent), named after the
        route, with the dossier's code when the path names one."""
        app.add_middleware(DossierAttribute)
        FastAPIInstrumentor.instrument_app(app, tracer_provider=self.provider,
                                           excluded_urls="health,metrics",
                                           exclude_spans=["receive", "send"],
                                           server_request_hook=redact_request)
        return self

    def shutdown(self) -> None:
        self.provider.shutdown()


class DossierAttribute:
    """Pure ASGI, inside the instrumented app: when the answer starts, routing has filled
    the path parameters, and the dossier they name goes on the request's server span (it
    ends with the answer's last byte, before the app returns)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def naming_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                params = scope.get("path_params") or {}
                span = trace.get_current_span()
                name = next((n for n in _DOSSIER_PARAMS if n in params), None)
                if name is not None and span.is_recording():
                    span.set_attribute(DOSSIER, str(params[name]))
            await send(message)

        await self.app(scope, receive, naming_send)


_DISABLED: Tracing | None = None


def disabled() -> Tracing:
    """A tracer that records nothing but still carries trace ids (pieces built without a
    runtime, in unit tests and tools)."""
    global _DISABLED
    if _DISABLED is None:
        _DISABLED = Tracing.create("onestop", "none")
    return _DISABLED


# --- W3C context <-> OpenTelemetry ------------------------------------------------------

def traceparent_of(span_context: SpanContext) -> str:
    """The W3C `traceparent` text of a span context."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, trace.set_span_in_context(NonRecordingSpan(span_context)))
    return carrier["traceparent"]


def unsampled_text(traceparent: str | bytes | None) -> str | None:
    """The traceparent as text when it is well-formed and not sampled, else None."""
    if traceparent is None:
        return None
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode("latin-1")
    return traceparent if _UNSAMPLED_TEXT.fullmatch(traceparent) else None


def _unsampled_child_text(traceparent: str) -> str:
    """A child of an unsampled traceparent: the same trace id and flags, a new span id."""
    return f"{traceparent[:36]}{random.getrandbits(64) or 1:016x}{traceparent[52:]}"


def span_context_of(traceparent: str | bytes | None) -> SpanContext | None:
    """The remote span a `traceparent` names; None when absent or malformed."""
    if not traceparent:
        return None
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode("latin-1")
    sc = trace.get_current_span(_W3C.extract({"traceparent": traceparent})).get_span_context()
    return sc if sc.is_valid else None


def remote_context(traceparent: str | bytes | None) -> OtelContext | None:
    """An OpenTelemetry context whose parent is the span a `traceparent` names."""
    sc = span_context_of(traceparent)
    return None if sc is None else trace.set_span_in_context(NonRecordingSpan(sc))


def record_trace(traceparent: str | bytes | None) -> RecordTrace:
    """A record's trace from its header alone: the text when unsampled, else a context."""
    return unsampled_text(traceparent) or remote_context(traceparent)


def header(headers: Sequence[tuple[str, bytes]] | None, name: str = "traceparent"
           ) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def _current_parent() -> SpanContext | None:
    """The span events written now descend from (a request's, a record's), if any."""
    sc = trace.get_current_span().get_span_context()
    return sc if sc.is_valid else None


def _unsampled_child(parent: SpanContext) -> SpanContext:
    """A child's context made without a span: the trace id passes on, nothing is recorded."""
    return SpanContext(parent.trace_id, random.getrandbits(64) or 1, is_remote=False,
                       trace_flags=parent.trace_flags)


def _messaging(topic: str, envelope: Envelope | None = None,
               dossier: str | None = None) -> dict[str, Any]:
    # Few attributes: cleaning them is a quarter of a span's cost. The name says the operation.
    attributes: dict[str, Any] = {"messaging.destination.name": topic}
    if envelope is not None:
        attributes["messaging.message.id"] = str(envelope.id)
        attributes["onestop.event_type"] = envelope.type
        dossier = dossier or envelope.subject
    if dossier:
        attributes[DOSSIER] = dossier
    return attributes


def outbox_traceparent(tracer: Tracer, topic: str, envelope: Envelope) -> str:
    """The traceparent stored with an outbox row: a `create` span, child of the current one,
    when the trace is sampled; otherwise only the trace id passed on (no span made)."""
    unsampled = _UNSAMPLED.get()
    if unsampled is not None:  # a consumed record's unsampled trace (RecordContext)
        return _unsampled_child_text(unsampled)
    parent = _current_parent()
    if parent is not None and not parent.trace_flags & _SAMPLED:
        return traceparent_of(_unsampled_child(parent))
    ctx = None if parent is None else trace.set_span_in_context(NonRecordingSpan(parent))
    span = tracer.start_span(f"create {topic}", context=ctx, kind=SpanKind.PRODUCER,
                             attributes=_messaging(topic, envelope))
    span.end()
    return traceparent_of(span.get_span_context())


class SendSpan:
    """The relay's span around one row's send, ended when the broker acknowledges it; its
    context is the record's traceparent header. Unsampled rows get no span."""

    __slots__ = ("span",)

    def __init__(self, tracer: Tracer, topic: str, key: str, event_id: str, event_type: str,
                 traceparent: str | None) -> None:
        self.span: trace.Span | None = None
        if traceparent is None or unsampled_text(traceparent) is not None:
            return  # the common case, told from the text without parsing it
        parent = span_context_of(traceparent)
        if parent is not None and parent.trace_flags & _SAMPLED:  # no span for the others
            self.span = tracer.start_span(f"send {topic}",
                                          context=trace.set_span_in_context(
                                              NonRecordingSpan(parent)),
                                          kind=SpanKind.PRODUCER,
                                          attributes={**_messaging(topic, dossier=key),
                                                      "messaging.message.id": event_id,
                                                      "onestop.event_type": event_type})

    def header(self, traceparent: str | None) -> str | None:
        return traceparent if self.span is None else traceparent_of(self.span.get_span_context())

    def done(self, error: BaseException | None = None) -> None:
        if self.span is None:
            return
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self.span.end()


class BatchTrace:
    """One consumed transaction: a batch span, and a `process` span per sampled record
    (child of the record's traceparent, linked to the batch), all ended when the
    transaction ends, in error if it failed. Async so it can sit in the consumer's
    `async with` beside the session."""

    def __init__(self, tracer: Tracer, service: str, size: int) -> None:
        self.tracer = tracer
        self.service = service
        self.size = size
        self.batch: trace.Span | None = None
        self.spans: list[trace.Span] = []

    async def __aenter__(self) -> BatchTrace:
        self.batch = self.tracer.start_span(
            f"process {self.service} batch", kind=SpanKind.CONSUMER,
            context=otel_context.Context(),  # a root of its own, never a dossier's child
            attributes={"messaging.system": "kafka", "messaging.operation.type": "process",
                        "messaging.batch.message_count": self.size})
        return self

    def context_for(self, headers: Sequence[tuple[str, bytes]] | None, topic: str,
                    envelope: Envelope) -> RecordTrace:
        """What the record's work runs in (its outbox rows descend from it): a sampled
        record's process span, else the traceparent text whose trace id passes on (no span
        or context is made for it)."""
        raw = header(headers)
        unsampled = unsampled_text(raw)
        if unsampled is not None:
            return unsampled
        remote = span_context_of(raw)
        if remote is None:
            return self._root(topic, envelope)
        parent = trace.set_span_in_context(NonRecordingSpan(remote))
        if not remote.trace_flags & _SAMPLED:  # not the common shape (another version)
            return parent
        return self._process_span(parent, topic, envelope)

    def _root(self, topic: str, envelope: Envelope) -> RecordTrace:
        """A record that starts a trace: asked of the sampler by its new trace id first, so
        only a sampled one costs a span."""
        ids = getattr(self.tracer, "id_generator", None)
        sampler = getattr(self.tracer, "sampler", None)
        if isinstance(ids, PresetIds) and sampler is not None:
            trace_id = ids.generate_trace_id()
            if not sampler.should_sample(None, trace_id, f"process {topic}",
                                         SpanKind.CONSUMER).decision.is_sampled():
                flags = "02" if ids.is_trace_id_random() else "00"
                return f"00-{trace_id:032x}-{ids.generate_span_id():016x}-{flags}"
            ids.preset = trace_id
        return self._process_span(None, topic, envelope)

    def _process_span(self, parent: OtelContext | None, topic: str,
                      envelope: Envelope) -> OtelContext:
        links = None
        if self.batch is not None and self.batch.is_recording():
            links = [Link(self.batch.get_span_context())]
        # Attributes once sampled: given to start_span, the sampler copies them every time.
        span = self.tracer.start_span(f"process {topic}", context=parent or OtelContext(),
                                      kind=SpanKind.CONSUMER, links=links)
        if span.is_recording():
            span.set_attributes(_messaging(topic, envelope))
            self.spans.append(span)
        return trace.set_span_in_context(span)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        for span in [*self.spans, *([self.batch] if self.batch else [])]:
            if exc is not None:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
        self.spans = []


class RecordContext:
    """Runs the body in a record's trace as `BatchTrace.context_for` made it: an unsampled
    record's traceparent text, or a sampled one's OpenTelemetry context. A class, not a
    generator: handlers enter one per event."""

    __slots__ = ("ctx", "text_token", "token")

    def __init__(self, ctx: RecordTrace) -> None:
        self.ctx = ctx
        self.token: Any = None
        self.text_token: Any = None

    def __enter__(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        if isinstance(ctx, str):
            self.text_token = _UNSAMPLED.set(ctx)
            return
        self.token = otel_context.attach(ctx)
        self.text_token = _UNSAMPLED.set(None)  # an enclosing record's text is not this one

    def __exit__(self, *_: object) -> None:
        if self.text_token is not None:
            _UNSAMPLED.reset(self.text_token)
        if self.token is not None:
            otel_context.detach(self.token)


def record_context(ctx: RecordTrace) -> RecordContext:
    """`with record_context(ctx): ...` runs the body in a record's trace (RecordContext)."""
    return RecordContext(ctx)


@contextlib.contextmanager
def attached(ctx: OtelContext | None) -> Iterator[None]:
    """Runs the body with `ctx` as the current context (nothing when None)."""
    if ctx is None:
        yield
        return
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)
