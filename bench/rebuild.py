"""Reporting's rebuild rate: synthetic dossier lifecycles are published on every topic
reporting reads (intake, digitization, processing, provincial, notification) to a local
broker, then `services.reporting.rebuild` replays them from the beginning into a fresh
SQLite database, in one process and then in its default worker processes (one per CPU);
the rate is events applied per second of the replay and the fold, and the whole call's
time is printed beside it. Printed and written to bench/results/*.json; nothing here
asserts a timing (goal: 20,000 events/s).

    python -m bench.rebuild [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp

import psutil
from aiokafka import AIOKafkaProducer

from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, LegalTime, ReturnChannel
from contracts.envelope import Envelope
from contracts.events import (
    DossierDigitized,
    DossierOverdue,
    DossierReceived,
    DossierResolved,
    DossierWithdrawn,
    Event,
    NotificationSent,
    OverdueExplained,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from contracts.topics import Topic
from services.common.messaging.outbox import encode
from services.law.workdays import TZ, WorkCalendar, timeliness

ROOT = Path(__file__).resolve().parent
AGENCIES = ("000.01.01.H26", "000.01.02.H26", "000.79.01.H29", "000.12.01.H62")
CHANNELS = (Channel.counter, Channel.online, Channel.postal)
LEGAL = LegalTime(value=5, unit="working_days")
_CAL = WorkCalendar()

Published = tuple[Topic, Envelope]


def _envelope(event: Event, agency: str, source: str, at: datetime) -> Envelope:
    return Envelope(id=uuid.uuid4(), type=event.event_type, source=f"onestop/{source}",
                    subject=event.dossier_code, time=at, agencycode=agency,
                    data=event.model_dump(mode="json"))


def lifecycle(i: int, start: datetime, agency: str | None = None, tag: str = "r"
              ) -> list[Published]:
    """One dossier's events, varied by `i`: channel, a supplement, a late decision with an
    explanation, a withdrawal, a province-processed dossier, one left in progress."""
    agency = agency or AGENCIES[i % len(AGENCIES)]
    code = f"{agency}-{start:%y%m%d}-{tag}{i:07d}"
    received_at = start + timedelta(minutes=17 * i % (60 * 24 * 20))
    due = _CAL.due_at(received_at, LEGAL)
    provincial = i % 7 == 3
    steps_topic = topics.PROVINCIAL if provincial else topics.PROCESSING
    out: list[Published] = []

    def put(topic: Topic, event: Event, at: datetime, source: str) -> None:
        out.append((topic, _envelope(event, agency, source, at)))

    put(topics.INTAKE, DossierReceived(
        dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=CHANNELS[i % 3], return_channel=ReturnChannel.counter,
        received_at=received_at, due_at=due, legal_time=LEGAL,
        applicant=ApplicantRef(kind="individual", ref=f"p1_{i:08d}"),
        components=[ComponentRef(code="GKS", form="paper")],
        origin_system="tinh-h26" if provincial else None), received_at, "intake")
    t = received_at + timedelta(minutes=30)
    if i % 11 == 5:
        put(topics.INTAKE, DossierWithdrawn(dossier_code=code, withdrawn_at=t), t, "intake")
        return out
    put(topics.DIGITIZATION, DossierDigitized(
        dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03", digitized_at=t,
        component_count=1), t, "digitization")
    put(steps_topic, StepAssigned(dossier_code=code, step_no=1, step_code="CDBHXH",
                                  department="Phòng Chế độ BHXH", assignee=f"cb.{i % 5}",
                                  assigned_at=t), t, "processing")
    if i % 5 == 1:
        t += timedelta(hours=3)
        put(topics.PROCESSING, SupplementRequested(
            dossier_code=code, requested_at=t, stage="processing", requested_by="cb.an",
            items=[{"problem_vi": "Thiếu giấy ra viện"}]), t, "processing")
        t += timedelta(days=2)
        due = _CAL.due_at(t, LEGAL)
        put(topics.INTAKE, SupplementReceived(
            dossier_code=code, received_at=t, components=[], complete=True, due_at=due),
            t, "intake")
    if i % 13 == 7:
        return out  # still in progress
    t += timedelta(days=1 + i % 9)
    put(steps_topic, StepCompleted(dossier_code=code, step_no=1, step_code="CDBHXH",
                                   department="Phòng Chế độ BHXH", completed_at=t,
                                   outcome=timeliness(t, due)), t, "processing")
    if t > due:
        put(topics.PROCESSING, DossierOverdue(dossier_code=code, due_at=due, detected_at=due),
            due, "processing")
        if i % 2:
            put(topics.PROCESSING, OverdueExplained(
                dossier_code=code, explained_at=t, explained_by=agency, cause="Quá tải"),
                t, "processing")
    put(steps_topic, DossierResolved(
        dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03",
        applicant=ApplicantRef(kind="individual", ref=f"p1_{i:08d}"), resolved_at=t,
        decision="approved", due_at=due, timeliness=timeliness(t, due)), t, "processing")
    t += timedelta(hours=2)
    put(steps_topic, ResultReturned(dossier_code=code, returned_at=t,
                                    return_channel=ReturnChannel.counter), t, "processing")
    put(topics.NOTIFICATION, NotificationSent(
        dossier_code=code, notification_id=f"n-{i}", about_event="result.returned.v1",
        channel="sms", recipient_ref=f"p1_{i:08d}", sent_at=t), t, "notification")
    return out


def lifecycles(events: int, start: datetime) -> list[Published]:
    out: list[Published] = []
    i = 0
    while len(out) < events:
        out.extend(lifecycle(i, start))
        i += 1
    return out


async def publish(bootstrap: str, records: list[Published]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic.name, encode(env), key=env.subject.encode())
                   for topic, env in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def measure(events: int, var: Path | None = None) -> dict[str, object]:
    """Publish `events` events of synthetic lifecycles to a fresh local broker and time a
    rebuild of reporting from them into a fresh SQLite database: in one process, then in
    its default workers (one per CPU). The rate is events applied per second of the replay
    and the fold (the service's own figure); `wall_seconds` is the whole call, with the
    migration, the workers' start and the one idle wait that tells the log's end."""
    from deploy.local.broker import fresh_broker
    from services.reporting.rebuild import rebuild
    from services.reporting.settings import ReportingSettings

    var = var or Path(mkdtemp(prefix="onestop-bench-rebuild-"))
    runs = {}
    with fresh_broker(var / "log" / "broker.log") as bootstrap:
        records = lifecycles(events, datetime(2026, 6, 1, 8, 0, tzinfo=TZ))
        print(f"publishing {len(records)} events of synthetic lifecycles to {bootstrap}")
        publish_s = asyncio.run(publish(bootstrap, records))
        for label, workers in (("one", 1), ("default", 0)):
            settings = ReportingSettings(kafka_bootstrap_servers=bootstrap, var_dir=var,
                                         log_level="WARNING", rebuild_workers=workers)
            url = f"sqlite+aiosqlite:///{var / f'rebuilt-{label}.db'}"
            started = time.perf_counter()
            result = asyncio.run(rebuild(settings, url))
            wall = time.perf_counter() - started
            rate = result.applied / result.seconds
            print(f"rebuild in {result.workers} process(es): {result.applied} events "
                  f"({result.dossiers} dossiers) in {result.seconds:.2f} s = {rate:,.0f} "
                  f"events/s (goal 20,000/s); the whole call {wall:.2f} s")
            runs[label] = (result, rate, wall)
    result, rate, wall = runs["default"]
    one, one_rate, one_wall = runs["one"]
    return {"events_published": len(records), "publish_seconds": publish_s,
            "events_read": result.read, "events_applied": result.applied,
            "dossiers": result.dossiers, "seconds": result.seconds,
            "events_per_s": rate, "workers": result.workers, "wall_seconds": wall,
            "one_worker_events_per_s": one_rate, "one_worker_seconds": one.seconds,
            "one_worker_wall_seconds": one_wall,
            "goal_events_per_s": 20_000, "database": "sqlite"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    out = {"at": datetime.now(UTC).isoformat(), "machine": platform.node(),
           "cpus": psutil.cpu_count(), "rebuild": measure(args.events)}
    path = ROOT / "results" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-rebuild.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written to {path.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()
