"""One dossier, one trace: the five services run in this process against the real broker,
each with its own in-memory span exporter, and a dossier (a counter's HTTP submission, or a
province's signed receipt) goes intake -> digitization, processing, notification,
reporting, its caller's traceparent given. Every service's spans of that dossier are in the
caller's trace, and each record's `process` span is the child of the `send` span of the
service that published it, itself the child of the `create` span written with the outbox
row while the publisher handled the same dossier."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from contracts import topics
from services.common.observability.tracing import DOSSIER, traceparent_of
from services.common.runtime import Runtime
from services.digitization.app import build as build_digitization
from services.digitization.settings import DigitizationSettings
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings, dev_signed
from services.notification.app import build as build_notification
from services.notification.settings import NotificationSettings
from services.processing.app import build as build_processing
from services.processing.settings import ProcessingSettings
from services.reporting.app import build as build_reporting
from services.reporting.settings import ReportingSettings
from tests.auth import AUTH
from tests.integration.support import eventually, settings_for, started

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
AGENCY = "000.01.01.H26"
SERVICES = {"intake": (build_intake, IntakeSettings),
            "digitization": (build_digitization, DigitizationSettings),
            "processing": (build_processing, ProcessingSettings),
            "notification": (build_notification, NotificationSettings),
            "reporting": (build_reporting, ReportingSettings)}


def receipt(code: str) -> bytes:
    example = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
    now = datetime.now(UTC).isoformat()
    data = {**example["data"], "dossier_code": code, "occurred_at": now, "received_at": now,
            "components": [{"code": "GKS", "form": "electronic"}]}
    return json.dumps({**example, "id": str(uuid.uuid4()), "subject": code, "data": data},
                      ensure_ascii=False).encode()


def spans_of(runtimes: dict[str, Runtime], trace_id: int) -> list[ReadableSpan]:
    return [span for runtime in runtimes.values()
            for span in runtime.tracing.memory.get_finished_spans()  # type: ignore[union-attr]
            if span.context.trace_id == trace_id]


def service(span: ReadableSpan) -> Any:
    return span.resource.attributes["service.name"]


@contextlib.asynccontextmanager
async def five_services(bootstrap: str, tmp_path: Path) -> AsyncIterator[dict[str, Runtime]]:
    runtimes: dict[str, Runtime] = {}
    try:
        for name, (build, settings_cls) in SERVICES.items():
            settings = settings_for(settings_cls, bootstrap,
                                    f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}",
                                    tmp_path / name)
            settings.tracing_exporter = "memory"
            runtimes[name] = await started(build(settings))
        yield runtimes
    finally:
        for runtime in reversed(runtimes.values()):
            await runtime.stop()


async def one_trace(runtimes: dict[str, Runtime], trace_id: int, root_parent: int,
                    code: str) -> list[ReadableSpan]:
    """The trace's spans once every service has a span of the dossier (and the four behind
    intake have consumed a record of it), checked link by link back to the caller's span."""
    downstream = set(SERVICES) - {"intake"}

    def consumers(spans: list[ReadableSpan]) -> set[str]:
        return {service(s) for s in spans if s.name.startswith("process onestop.")
                and (s.attributes or {}).get(DOSSIER) == code}

    def senders(spans: list[ReadableSpan]) -> set[str]:
        return {service(s) for s in spans if s.name.startswith("send ")}

    # The broker is the test's own, so the wait is for these records alone. Digitization's
    # record is relayed after it consumed intake's: wait for its send as well.
    def complete() -> bool:
        spans = spans_of(runtimes, trace_id)
        return consumers(spans) >= downstream and \
            senders(spans) >= {"intake", "digitization"} and \
            {service(s) for s in spans
             if (s.attributes or {}).get(DOSSIER) == code} == set(SERVICES)

    with contextlib.suppress(AssertionError):  # the asserts below say what is missing
        await eventually(complete, "every service's spans of the dossier", seconds=120,
                         interval=0.5)
    spans = spans_of(runtimes, trace_id)
    by_id = {s.context.span_id: s for s in spans}
    consumed = [s for s in spans if s.name.startswith("process onestop.")]
    assert consumers(spans) >= downstream, sorted((service(s), s.name) for s in spans)
    assert {service(s) for s in spans} == set(SERVICES)
    assert all((s.attributes or {}).get(DOSSIER) == code for s in consumed)

    for span in spans:  # no broken link: every span leads back to the caller's
        hops, node = 0, span
        while node.parent is not None and node.parent.span_id in by_id and hops < 50:
            node, hops = by_id[node.parent.span_id], hops + 1
        assert node.parent is not None and node.parent.span_id == root_parent, span.name
    for span in consumed:
        if span.parent is not None and span.parent.span_id == root_parent:
            continue  # the caller's own record (a province's)
        # publish -> consume: the record's parent is the publisher's send span...
        topic = span.name.removeprefix("process ")
        assert span.parent is not None
        send = by_id[span.parent.span_id]
        assert send.name == f"send {topic}" and service(send) != service(span)
        # ...the child of the create span written with the outbox row...
        assert send.parent is not None
        create = by_id[send.parent.span_id]
        assert create.name == f"create {topic}" and service(create) == service(send)
        assert (create.attributes or {}).get(DOSSIER) == code
        # ...while the publisher handled the same dossier (a request or a record).
        assert create.parent is not None
        cause = by_id[create.parent.span_id]
        assert cause.kind in (SpanKind.SERVER, SpanKind.CONSUMER)
        assert service(cause) == service(create)
    assert senders(spans) >= {"intake", "digitization"}
    return spans


async def test_a_counter_submission_is_one_trace_across_all_five_services(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    trace_id, caller_span = uuid.uuid4().int, uuid.uuid4().int >> 64
    async with five_services(kafka_bootstrap, tmp_path) as runtimes, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=runtimes["intake"].app), auth=AUTH,
            base_url="http://intake") as counter:
        r = await counter.post("/api/v1/dossiers", json={
            "agency_code": AGENCY, "procedure_code": "BHXH.NH.03", "channel": "counter",
            "applicant": {"kind": "individual", "full_name": "Trần Thị Thu",
                          "id_number": "001190054321"},
            "components": [{"code": "GKS", "form": "electronic"}],
            "submission_id": f"traced-{unique}", "officer": "Lê Thị Mai"},
            headers={"traceparent": traceparent_of(
                SpanContext(trace_id, caller_span, True, TraceFlags(1)))})
        assert r.status_code == 201, r.text
        code = r.json()["dossier_code"]
        spans = await one_trace(runtimes, trace_id, caller_span, code)
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert service(server) == "intake" and server.parent is not None
    assert server.parent.span_id == caller_span


async def test_a_province_receipt_is_one_trace_across_all_five_services(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    # The province's own span: the root every service's spans must lead back to.
    trace_id, province_span = uuid.uuid4().int, uuid.uuid4().int >> 64
    code = f"{AGENCY}-260302-t{unique}"
    async with five_services(kafka_bootstrap, tmp_path) as runtimes:
        value = receipt(code)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topics.INGEST.name, value, key=code.encode(), headers=[
                *dev_signed(value, "hanoi-mcdt"),
                ("traceparent", traceparent_of(SpanContext(trace_id, province_span, True,
                                                       TraceFlags(1))).encode())])
        finally:
            await producer.stop()
        spans = await one_trace(runtimes, trace_id, province_span, code)
    (ingest,) = [s for s in spans if s.name == f"process {topics.INGEST.name}"]
    assert service(ingest) == "intake" and ingest.parent is not None
    assert ingest.parent.span_id == province_span
