"""One service process: database, outbox relay, batch consumer and HTTP, started and
stopped together. Every service builds a `Runtime` and hands it to `main()`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.common import Contract
from contracts.topics import TOPICS, dead_letter_topic
from services.common.clock import Clock, SystemClock
from services.common.garbage import CollectionTimer, settle
from services.common.http import database_busy
from services.common.http import edge as http
from services.common.http.auth import Authenticator, Grants, TreeOf, document_permissions
from services.common.http.ops import install_ops
from services.common.messaging.consumer import (
    Answer,
    BatchConsumer,
    Handler,
    Subscription,
    Verify,
    describe,
)
from services.common.messaging.dead_letter_replay import count_replays
from services.common.messaging.dead_letter_replay import run as dead_letters
from services.common.messaging.inbox import Inbox
from services.common.messaging.kafka import ensure_topics, make_consumer, make_producer
from services.common.messaging.outbox import OutboxWriter
from services.common.messaging.relay import OutboxRelay
from services.common.messaging.retry import retrying
from services.common.messaging.wiring import subscriptions_for
from services.common.observability.gauges import RuntimeGauges
from services.common.observability.logs import configure_logging, get_logger
from services.common.observability.metrics import RuntimeMetrics
from services.common.observability.sqlstats import SqlStats, sql_phase
from services.common.observability.tracing import Tracing
from services.common.persistence.audit import AuditLog
from services.common.persistence.bulk import flush_inserts
from services.common.persistence.db import (
    PENDING_TRIGGER,
    RuntimeTables,
    make_engine,
    pending_trigger_present,
    session_factory,
    waiting_at_most,
)
from services.common.persistence.migrations import upgrade_async
from services.common.sealing import Sealer, dead_letter_value
from services.common.settings import ServiceSettings

log = get_logger(__name__)


class ServiceTables(Protocol):
    """A service's tables module: its metadata, with the runtime's tables in it."""

    metadata: MetaData
    runtime: RuntimeTables


@dataclass
class Runtime:
    name: str
    settings: ServiceSettings
    metadata: MetaData
    tables: RuntimeTables
    app: FastAPI
    clock: Clock = field(default_factory=SystemClock)
    # (every N seconds, job): background work such as expiring parked records
    periodic: list[tuple[float, Callable[[], Awaitable[object]]]] = field(default_factory=list)
    # Which role may do what: the product's table (services/product/roles.py), given here.
    grants: Grants = field(kw_only=True)

    def __post_init__(self) -> None:
        self.subscriptions: list[Subscription] = []
        self.url = self.settings.db_url(self.name)
        self.engine = make_engine(self.url)
        self.sessions = session_factory(self.engine)
        self.metrics = RuntimeMetrics(self.name)
        # Where the database time goes (statements, commits, pool), on /metrics.
        self.sql = SqlStats.watch(self.engine, self.metrics.registry)
        # Garbage collections' time, counted once serve() installs it (garbage.py).
        self.collections = CollectionTimer(self.metrics.registry)
        # Spans of HTTP, outbox, relay and consumer, exported as settings say (tracing.py).
        self.tracing = Tracing.from_settings(self.name, self.settings).instrumenting(self.app)
        self.outbox = OutboxWriter(self.name, self.tables, self.clock, self.tracing)
        self.audit = AuditLog.from_settings(self.name, self.settings, self.tables.audit,
                                            self.clock, self.sessions)
        self.sealer = Sealer.from_settings(self.settings)
        # Kafka clients need a running event loop: they are made in start().
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: BatchConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.app.state.runtime = self
        self.app.state.auth = Authenticator.from_settings(self.settings, self.grants)
        document_permissions(self.app)
        http.install(self.app, max_body_bytes=self.settings.http_max_body_bytes,
                     cors_origins=self.settings.cors_origins)
        database_busy.install(self.app, busy_seconds=self.settings.http_db_busy_seconds)
        install_ops(self.app, self.name, {"database": self._database_ok,
                                          "broker": self._broker_ok, "relay": self._relay_ok},
                    self.metrics.registry, timeout=self.settings.health_timeout_seconds)
        self.periodic.append((self.settings.metrics_refresh_seconds, self._count_replays))

    def agency_tree(self, tree: TreeOf) -> None:
        """Who sees what below their agency (the law's catalogue; without it, an agency sees
        itself only)."""
        self.app.state.auth.tree = tree

    async def _database_ok(self) -> tuple[bool, str]:
        # A writing transaction that writes nothing: on SQLite it asks for the write lock
        # every batch and POST needs, and lets it go at once. It waits half the check's
        # bound, the other half left to the pool and the thread hops of a loaded machine,
        # so a lock held elsewhere is named as such, not as a timeout.
        try:
            with waiting_at_most(self.settings.health_timeout_seconds * 0.5):
                async with self.sessions() as s, s.begin():
                    await s.execute(text("SELECT 1"))
        except OperationalError as exc:
            return False, describe(exc)
        return True, ""

    async def _count_replays(self) -> None:
        await count_replays(self)

    async def _broker_ok(self) -> tuple[bool, str]:
        if self.producer is None:
            return False, "not connected yet"
        await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 3)
        return True, ""

    async def _relay_ok(self) -> tuple[bool, str] | None:
        # A reachable broker is not enough: rows pending and nothing moving is an outage.
        return self.relay.health() if self.relay is not None else None

    @classmethod
    def create(cls, name: str, settings: ServiceSettings, tables: ServiceTables, title: str,
               router: APIRouter, clock: Clock | None = None, *, grants: Grants) -> Runtime:
        """A service's runtime with its HTTP app: its title, its routes, the product's
        grants (who may do what); `clock` for tests that move time (the law's clock runs
        on it)."""
        app = FastAPI(title=title, version="1.0.0")
        runtime = cls(name, settings, tables.metadata, tables.runtime, app,
                      clock or SystemClock(), grants=grants)
        app.include_router(router)
        return runtime

    def handle(self, handlers: Mapping[type[Contract], Handler],
               answers: Mapping[str, Answer] | None = None,
               verifiers: Mapping[str, Verify] | None = None) -> None:
        """What the service handles (and, per topic, how it answers refused records and
        checks who wrote them): its subscriptions follow from these and the registry, or it
        does not start."""
        self.subscriptions = subscriptions_for(self.name, handlers, answers, verifiers)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """State and outgoing events in one transaction; the relay is woken after commit."""
        async with self.sessions() as session, session.begin():
            yield session
            await flush_inserts(session)
        if self.relay:
            self.relay.poke()

    def _dead_letter_value(self, topic: str, value: bytes) -> tuple[bytes,
                                                                    list[tuple[str, bytes]]]:
        # Dead letters of topics that carry personal data are sealed (sealing.py).
        sealed, headers = dead_letter_value(topic, value, self.sealer)
        return sealed or b"", headers

    async def migrate(self) -> None:
        await upgrade_async(self.name, self.url, self.metadata)

    async def check_pending_trigger(self) -> None:
        """Refuse to start when the outbox's inserts no longer fill the relay's queue (db.py,
        `pending_trigger_present`): its events would be written and never published."""
        async with self.engine.connect() as conn:
            present = await conn.run_sync(pending_trigger_present)
        if not present:
            raise RuntimeError(
                f"{self.name}: the outbox has no {PENDING_TRIGGER} trigger, so no event "
                "written would be published; a migration that rebuilt the outbox table must "
                "run db.PENDING_TRIGGER_DDL again, as migrations.add_outbox_queue does")

    async def verify_audit(self) -> bool:
        """`audit verify`: the chain checked from its first row; False at the first break."""
        try:
            verdict = await self.audit.verify()
        finally:
            await self.engine.dispose()
        print(f"{self.name}: audit log {verdict.describe()}",
              file=sys.stdout if verdict.ok else sys.stderr)
        return verdict.ok

    async def start(self, migrate: bool = True) -> None:
        if migrate:
            await self.migrate()
        await self.check_pending_trigger()
        self.outbox.prepare(t for t in TOPICS if t.owner == self.name)
        self.producer = producer = make_producer(self.settings.kafka_bootstrap_servers,
                                                 self.settings.kafka_idempotence,
                                                 self.settings.kafka_producer_linger_ms)
        self.relay = relay = OutboxRelay(
            service=self.name, engine=self.engine, sessions=self.sessions, tables=self.tables,
            producer=producer, bootstrap=self.settings.kafka_bootstrap_servers,
            clock=self.clock, metrics=self.metrics, batch=self.settings.outbox_batch,
            retention_hours=self.settings.outbox_retention_hours,
            reset_check_seconds=self.settings.reset_check_seconds,
            stall_seconds=self.settings.relay_stall_seconds, tracing=self.tracing)
        await retrying(producer.start, "broker not reachable yet (producer)", delay=0.5,
                       max_delay=5.0)
        await retrying(lambda: ensure_topics(self.settings.kafka_bootstrap_servers),
                       "broker not reachable yet (topics)", delay=0.5, max_delay=5.0)
        self._tasks.append(asyncio.create_task(relay.run(), name="outbox-relay"))
        if self.subscriptions:
            kafka_consumer = make_consumer(self.settings.kafka_bootstrap_servers,
                                           self.settings.consumer_group or f"onestop.{self.name}",
                                           f"{self.name}-consumer")
            await retrying(kafka_consumer.start, "broker not reachable yet (consumer)",
                           delay=0.5, max_delay=5.0)
            self.consumer = BatchConsumer(
                service=self.name, consumer=kafka_consumer, producer=producer,
                sessions=self.sessions, inbox=Inbox(self.name, self.tables),
                subscriptions=self.subscriptions,
                dead_letter_topic=dead_letter_topic(self.name).name, clock=self.clock,
                metrics=self.metrics, max_records=self.settings.consumer_max_records,
                linger_ms=self.settings.consumer_linger_ms,
                max_record_bytes=self.settings.consumer_max_record_bytes,
                max_depth=self.settings.consumer_max_depth,
                dead_letter_value=self._dead_letter_value, after_commit=relay.poke,
                tracing=self.tracing)
            self._tasks.append(asyncio.create_task(self.consumer.run(), name="consumer"))
        gauges = RuntimeGauges(self.metrics, self.sessions, self.tables, self.clock,
                               lambda: self.consumer.consumer if self.consumer else None)
        self.app.state.gauges = gauges  # tests and tools refresh without waiting
        for seconds, job in [*self.periodic, (self.settings.metrics_refresh_seconds,
                                              gauges.refresh),
                             (self.settings.audit_anchor_seconds, self.audit.anchor)]:
            self._tasks.append(asyncio.create_task(_every(seconds, job),
                                                   name=getattr(job, "__name__", "periodic")))
        for task in self._tasks:
            task.add_done_callback(_crash_on_failure)
        log.info("service started", http=f"http://{self.settings.http_host}:"
                 f"{self.settings.http_port}")

    async def stop(self) -> None:
        if self.consumer:
            await self.consumer.stop()
        if self.relay:
            await self.relay.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.consumer:
            with contextlib.suppress(Exception):
                await self.consumer.consumer.stop()
        if self.producer:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        try:  # the audit chain's head as the service leaves it (audit.py)
            await self.audit.anchor()
        except Exception as exc:
            log.warning("audit chain not anchored at stop", error=repr(exc)[:300])
        await self.engine.dispose()
        self.tracing.shutdown()  # the last spans flushed, the exporter's thread ended
        log.info("service stopped")


async def _every(seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    """A periodic job never takes the process down: a failed run is logged and retried."""
    while True:
        await asyncio.sleep(seconds)
        try:
            with sql_phase("periodic"):
                await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("periodic job failed; will run again", job=getattr(job, "__name__", ""),
                        error=repr(exc)[:300])


def _crash_on_failure(task: asyncio.Task[None]) -> None:
    # A dead relay or consumer must not leave a healthy-looking process behind.
    if not task.cancelled() and task.exception() is not None:
        log.error("background task died; exiting", task=task.get_name(),
                  error=repr(task.exception()))
        sys.exit(70)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def,override]
        # Signals are handled by `serve()` so the whole runtime stops cleanly.
        yield


async def serve(runtime: Runtime) -> None:
    await runtime.start()
    # Only the serving process: tests start many runtimes in one process (garbage.py).
    runtime.collections.install()
    settle(runtime.settings.gc_young_threshold, runtime.settings.gc_freeze)
    config = http.server_config(runtime.app, host=runtime.settings.http_host,
                                port=runtime.settings.http_port,
                                trusted=runtime.settings.trusted_proxies,
                                log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    try:
        await server.serve()
    finally:
        await runtime.stop()


def main(build: Callable[[], Runtime], argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    runtime = build()
    configure_logging(runtime.name, runtime.settings.log_level)
    if args[:1] == ["migrate"]:
        asyncio.run(runtime.migrate())
        print(f"{runtime.name}: database migrated ({runtime.url.split('://')[0]})")
        return 0
    if args == ["audit", "verify"]:
        return 0 if asyncio.run(runtime.verify_audit()) else 1
    if args[:1] == ["dead-letters"]:
        return asyncio.run(dead_letters(runtime, args[1:]))
    if args:
        print(f"usage: python -m services.{runtime.name} [migrate | audit verify | "
              "dead-letters {list,show,replay} ...]", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=loop_factory(runtime.settings.event_loop)) as runner:
        runner.run(serve(runtime))
    return 0


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The serving loop. uvloop (selector, callbacks, transports in C) costs less CPU than
    the standard loop for what the services do most: a SQLite transaction through
    aiosqlite's thread hop, a Kafka record produced and consumed."""
    if name == "uvloop":
        import uvloop  # only the serving process needs it

        return uvloop.new_event_loop
    return None
