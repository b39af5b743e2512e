"""The domain metrics move with the dossiers, read from `/metrics` as Prometheus reads them:
a province's receipt counts once on intake's channel counter (after the batch commits, not
on a redelivery), a refusal on the refused counter; processing's open-cases gauge counts
the dossier and lets go of it when it is withdrawn; consumer lag falls to zero once a
service has caught up; the outbox gauges tell the backlog and the age of its oldest row."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from contracts import topics
from contracts.envelope import Envelope
from contracts.events import DossierReceived
from services.common.clock import FixedClock
from services.common.messaging.kafka import make_consumer
from services.common.observability.gauges import RuntimeGauges, consumer_lag
from services.common.runtime import Runtime
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings, dev_signed
from services.processing.app import build as build_processing
from services.processing.case_record import CaseRecord
from services.processing.settings import ProcessingSettings
from tests.auth import AUTH
from tests.integration.support import eventually, settings_for, started

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
AGENCY = "000.01.01.H26"  # the example's agency: shared, so only differences are asserted
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(runtime: Runtime) -> Samples:
    """What Prometheus would read from the service (`/metrics` needs no token)."""
    async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                 base_url="http://service") as client:
        r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def caught_up(runtime: Runtime) -> bool:
    """Every assigned partition has a known lag, and it is zero (as /metrics shows it)."""
    consumer = runtime.consumer.consumer if runtime.consumer else None
    if consumer is None or not consumer.assignment():
        return False
    await runtime.app.state.gauges.refresh()
    lags = {k: v for k, v in (await scrape(runtime)).items() if k[0] == "onestop_consumer_lag"}
    return len(lags) == len(consumer.assignment()) and not any(lags.values())


async def settled(runtime: Runtime) -> None:
    """Caught up, twice in a row a moment apart (a batch in flight is not caught up)."""
    async def twice() -> bool:
        if not await caught_up(runtime):
            return False
        await asyncio.sleep(1.0)
        return await caught_up(runtime)
    await eventually(twice, f"{runtime.name} to catch up with the broker")


def province_event(code: str, status: int, **data: Any) -> dict[str, Any]:
    example = json.loads((EXAMPLES / "ingest.dossier-status.v1.json").read_text("utf-8"))
    now = datetime.now(UTC).isoformat()
    return {**example, "id": str(uuid.uuid4()), "subject": code,
            "data": {**example["data"], "dossier_code": code, "status": status,
                     "occurred_at": now, "received_at": now, **data}}


async def send(bootstrap: str, *events: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for event in events:
            raw = json.dumps(event).encode()
            await producer.send_and_wait(topics.INGEST.name, raw, key=event["subject"].encode(),
                                         headers=dev_signed(raw, event["data"]["system_id"]))
    finally:
        await producer.stop()


async def test_receipts_and_open_cases_move_the_domain_metrics(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    intake = await started(build_intake(settings_for(
        IntakeSettings, kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'i.db'}",
        tmp_path).model_copy(update={"metrics_refresh_seconds": 0.5})))
    processing = await started(build_processing(settings_for(
        ProcessingSettings, kafka_bootstrap, database_url, tmp_path).model_copy(
            update={"metrics_refresh_seconds": 0.5})))
    gauges = processing.app.state.case_gauges
    try:
        # The broker is this test's own: take the figures once both have joined and caught up.
        await settled(intake)
        await settled(processing)
        await gauges.refresh()
        before_intake, before_cases = await scrape(intake), await scrape(processing)
        received = value(before_intake, "onestop_dossiers_received_total", channel="counter")
        refused = value(before_intake, "onestop_dossiers_refused_total", channel="counter")
        open_ = value(before_cases, "onestop_cases_open", agency=AGENCY)

        code, other = f"{AGENCY}-260302-M{unique}", f"{AGENCY}-260302-R{unique}"
        receipt = province_event(code, 2)  # channel 1: at the counter
        await send(kafka_bootstrap, receipt, receipt,  # a redelivery: counted once
                   province_event(other, 3, reasons=[{
                       "code": "incomplete", "message_vi": "Thiếu giấy tờ",
                       "message_en": "documents missing"}]))

        async def counted() -> bool:
            samples = await scrape(intake)
            return value(samples, "onestop_dossiers_received_total", channel="counter") > \
                received and value(samples, "onestop_dossiers_refused_total",
                                   channel="counter") > refused
        await eventually(counted, "intake to count the receipt and the refusal")
        await settled(intake)  # and the redelivery behind them
        after = await scrape(intake)
        assert value(after, "onestop_dossiers_received_total", channel="counter") == \
            received + 1
        assert value(after, "onestop_dossiers_refused_total", channel="counter") == refused + 1

        async def opened() -> bool:
            case = await _case(processing, code)
            return case is not None
        await eventually(opened, "processing to learn of the receipt")
        await settled(processing)
        await gauges.refresh()
        assert value(await scrape(processing), "onestop_cases_open", agency=AGENCY) == \
            open_ + 1

        # Withdrawn: resolved, so no longer open; the periodic job alone shows it.
        await send(kafka_bootstrap, province_event(code, 7))

        async def let_go() -> bool:
            return value(await scrape(processing), "onestop_cases_open",
                         agency=AGENCY) == open_
        await eventually(let_go, "the open-cases gauge to drop after the withdrawal")
        case = await _case(processing, code)
        assert case is not None and case.state == "withdrawn"
    finally:
        await processing.stop()
        await intake.stop()


async def _case(runtime: Runtime, code: str) -> CaseRecord | None:
    async with runtime.sessions() as s:
        return await runtime.app.state.cases.repo.case(s, code)  # type: ignore[no-any-return]


async def test_outbox_gauges_tell_the_backlog_and_its_age(database_url: str,
                                                         tmp_path: Path) -> None:
    """Not started (no relay): the rows stay pending, and the clock says how long."""
    clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    runtime = build_processing(ProcessingSettings(database_url=database_url,
                                                  var_dir=tmp_path), clock)
    await runtime.migrate()
    try:
        gauges = RuntimeGauges(runtime.metrics, runtime.sessions, runtime.tables, clock,
                               lambda: None)
        await gauges.refresh()
        empty = await scrape(runtime)
        assert value(empty, "onestop_outbox_pending") == 0
        assert value(empty, "onestop_outbox_oldest_pending_seconds") == 0
        async with runtime.transaction() as s:
            for n in range(3):
                await runtime.outbox.add(s, topics.INTAKE, Envelope(
                    id=uuid.uuid4(), type=DossierReceived.event_type, source="onestop/test",
                    subject=f"{AGENCY}-260302-G{n}", time=clock.now(), agencycode=AGENCY,
                    data={}))
            clock.advance(timedelta(seconds=30))
        clock.advance(timedelta(minutes=7))
        await gauges.refresh()
        samples = await scrape(runtime)
        assert value(samples, "onestop_outbox_pending") == 3
        assert value(samples, "onestop_outbox_oldest_pending_seconds") == 7 * 60 + 30
    finally:
        await runtime.engine.dispose()


async def test_consumer_lag_counts_the_records_not_yet_read(kafka_bootstrap: str,
                                                             unique: str) -> None:
    # A topic of its own: the registry's topics are read from the start by other tests.
    topic = f"test.metrics-lag.{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    await producer.start()
    try:  # batched, as the relay sends: the local broker's offsets are checked that way
        sent = [await producer.send(topic, b"x", partition=n % 2) for n in range(300)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    consumer = make_consumer(kafka_bootstrap, f"test-lag-{unique}", "test-lag")
    consumer.subscribe([topic])
    await consumer.start()
    try:
        read = 0
        while read == 0:  # the first fetch: a part of the 300, the rest is lag
            batch = await consumer.getmany(timeout_ms=1000, max_records=40)
            read += sum(len(records) for records in batch.values())
        lags = await consumer_lag(consumer)
        assert sorted(lags) == [(topic, 0), (topic, 1)]
        assert sum(lags.values()) == 300 - read
        while read < 300:
            batch = await consumer.getmany(timeout_ms=1000)
            read += sum(len(records) for records in batch.values())
        assert await consumer_lag(consumer) == {(topic, 0): 0, (topic, 1): 0}
    finally:
        await consumer.stop()
