"""`python -m deploy.simulate`: N provincial systems publish on the ingest topic, paced.

    python -m deploy.simulate --provinces 3 --rate 20 --duration 60 --seed 7
    python -m deploy.simulate --dossiers 500 --rate 200 --bootstrap 127.0.0.1:9092
    python -m deploy.simulate --duration 0      # until Ctrl-C (what `make up` runs)

Each record is signed with its system's development key as it leaves, and sent when its
moment comes (deploy/simulate/generator.py says what the traffic holds). Like a province,
it reads the answers on the feedback topic and sends again, signed anew, any record still
unanswered after SIMULATE_RESEND_AFTER_SECONDS (deploy/simulate/feedback.py); a finite run
waits up to SIMULATE_ANSWER_WAIT_SECONDS for its last answers. `--rate` is the
rate while receipts arrive (rounds overlap in a long run, so it holds there); a short run
ends with its lives' tails: at 3600x a dossier's life lasts a few real minutes
(`--speed 36000` makes that seconds). Settings come from
SIMULATE_* variables (settings.py); the options override them. At the end it prints what
was sent and what the pipeline should hold for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from contracts import topics
from deploy.simulate import (
    Expectation,
    Province,
    Record,
    expectation,
    generate,
    load_provinces,
    signed,
)
from deploy.simulate.feedback import Feedback
from deploy.simulate.settings import SimulateSettings
from services.common.messaging.kafka import ensure_topics, make_producer
from services.law.catalog import CatalogIndex, load_catalogs


def records_per_dossier(catalog: CatalogIndex, provinces: list[Province],
                        settings: SimulateSettings) -> float:
    """How many records a dossier makes with this mix, from a small pilot traffic."""
    pilot = generate(catalog, provinces, dossiers=200, seed=settings.seed,
                     start=datetime(2026, 1, 1, tzinfo=UTC), speed=settings.speed,
                     mix=settings.mix())
    return len(pilot) / 200


def rounds(catalog: CatalogIndex, provinces: list[Province], settings: SimulateSettings,
           dossiers: int | None, duration: float) -> tuple[int, float, int | None]:
    """(dossiers per round, real seconds their receipts spread over, rounds or None: endless)."""
    per = records_per_dossier(catalog, provinces, settings)
    if dossiers is not None:
        return dossiers, dossiers * per / settings.rate, 1
    seconds = min(duration or settings.round_seconds, settings.round_seconds)
    count = None if duration == 0 else max(1, round(duration / seconds))
    return max(1, round(settings.rate * seconds / per)), seconds, count


async def send(producer: AIOKafkaProducer, records: list[Record], stopping: asyncio.Event,
               sent: Counter[str], feedback: Feedback | None = None) -> int:
    """Each record when its moment comes, signed as it leaves; how many were sent. Each
    one then waits for its answer in `feedback`."""
    pending = []
    for record in records:
        delay = (record.at - datetime.now(UTC)).total_seconds()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
        if stopping.is_set():
            break
        ack = await producer.send(topics.INGEST.name, record.value, key=record.key,
                                  headers=signed(record))
        if feedback is not None:
            feedback.sent(record, ack)
        pending.append(ack)
        sent[record.kind] += 1
        if len(pending) >= 1000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return sum(sent.values())


def describe(kinds: Counter[str], expected: Expectation, seconds: float) -> str:
    total = sum(kinds.values())
    return (f"sent {total} records in {seconds:.0f} s ({total / max(seconds, 1e-9):.1f}/s): "
            + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            + f"; {expected.dossiers} dossiers ({expected.received} received, "
            f"{expected.refused} refused), {expected.out_of_order} sent out of order; "
            f"reporting should hold {expected.reporting_events} events for them")


async def main_async(settings: SimulateSettings, dossiers: int | None, duration: float) -> int:
    catalog = load_catalogs().latest
    provinces = load_provinces(settings.provinces, catalog=catalog)
    per_round, spread, count = rounds(catalog, provinces, settings, dossiers, duration)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    print(f"simulating {', '.join(p.system_id for p in provinces)}: about {settings.rate:g} "
          f"records/s, {settings.speed:g}x clock, seed {settings.seed}, to "
          f"{settings.kafka_bootstrap_servers}", flush=True)
    # The ingest topic with its partitions, not one auto-created with a single partition.
    await ensure_topics(settings.kafka_bootstrap_servers, [topics.INGEST])
    producer = make_producer(settings.kafka_bootstrap_servers, idempotence=False)
    await producer.start()
    feedback = Feedback(settings.kafka_bootstrap_servers, producer,
                        [p.system_id for p in provinces], signed,
                        settings.resend_after_seconds)
    listening, heard = asyncio.Event(), None
    started, number, running = time.monotonic(), 0, set()
    try:
        heard = asyncio.create_task(feedback.run(listening))
        while not stopping.is_set() and (count is None or number < count):
            running.add(asyncio.create_task(one_round(
                producer, catalog, provinces, settings, number, per_round, spread, stopping,
                feedback)))
            number += 1
            # The next round's receipts begin as this one's end; its lives' tails overlap.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), spread)
            running = {t for t in running if not t.done()}
        await asyncio.gather(*running)
        if not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feedback.settled(), settings.answer_wait_seconds)
        print(f"answers: {feedback.answered} records answered, {feedback.unanswered} not "
              f"(yet), {feedback.resent} sent again", flush=True)
    finally:
        listening.set()
        if heard is not None:
            await heard
        await producer.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Ctrl-C reaches the whole process group and `make up` then sends SIGTERM too:
            # a second signal after the loop is gone is nothing to report.
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
    print(f"stopped after {time.monotonic() - started:.0f} s", flush=True)
    return 0


async def one_round(producer: AIOKafkaProducer, catalog: CatalogIndex,
                    provinces: list[Province], settings: SimulateSettings, number: int,
                    dossiers: int, spread: float, stopping: asyncio.Event,
                    feedback: Feedback | None = None) -> None:
    # A round's seed and tag follow from the run's: the same run sends the same bytes.
    records = generate(catalog, provinces, dossiers=dossiers, seed=settings.seed + number,
                       start=datetime.now(UTC) + timedelta(seconds=0.5),
                       span=timedelta(seconds=spread), speed=settings.speed,
                       mix=settings.mix(), tag=f"s{settings.seed % 10**8}r{number}")
    kinds: Counter[str] = Counter()
    began = time.monotonic()
    done = await send(producer, records, stopping, kinds, feedback)
    # Stopped early: what was sent (a held-back receipt not sent leaves its news parked).
    print(f"round {number}: " + describe(kinds, expectation(records[:done]),
                                         time.monotonic() - began), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--provinces", type=int, help="how many registered systems (all)")
    parser.add_argument("--rate", type=float, help="records per second, about")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--duration", type=float, default=60.0,
                       help="real seconds to run, 0 until stopped (default 60)")
    group.add_argument("--dossiers", type=int, help="send this many dossiers' lives, then stop")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--speed", type=float, help="simulated seconds per real second (3600)")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (KAFKA_BOOTSTRAP_SERVERS)")
    args = parser.parse_args(argv)
    given = {"provinces": args.provinces, "rate": args.rate, "seed": args.seed,
             "speed": args.speed, "kafka_bootstrap_servers": args.bootstrap}
    settings = SimulateSettings(**{k: v for k, v in given.items() if v is not None})
    return asyncio.run(main_async(settings, args.dossiers, args.duration))


if __name__ == "__main__":
    raise SystemExit(main())
