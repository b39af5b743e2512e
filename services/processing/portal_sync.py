"""Status sync to the National Public Service Portal (docs/portal-sync.md).

Recording: processing already meets every status change of the dossiers it follows, in the
transaction that applies it. `PortalRecorder` is told of each (case_records.py: what a consumed
event says, `heard`; what a central case's transition does, `moved`), keeps the notes on
the session, and at the end of the transaction (`flush`) queues the changes the portal has
not been told, numbered per dossier, in `portal_outbox` (portal_status.plan decides). So a
status is queued exactly when its cause commits: once, whatever the redeliveries. A
province's statuses are held on the dossier's track instead and queued by the sender once
they settled, in the order of their times (`release`).

Delivering: `PortalSender`, a periodic job of the runtime, POSTs the queue in order to
PROCESSING_PORTAL_URL, one dossier's statuses one after another (a later one is never sent
before an earlier one is taken), several dossiers at once. One process sends (PostgreSQL:
an advisory lock per pass; SQLite: one process per file). A failure leaves the row queued
with its own growing wait; a pass in which the portal took nothing stops the sender for a
growing wait too, then one request probes before the rest follow. The portal being away
holds its queue, never the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.events import DossierRejected
from contracts.portal import IDEMPOTENCY_HEADER
from services.common.clock import Clock, SystemClock
from services.common.messaging.consumer import describe
from services.common.observability.logs import get_logger
from services.common.observability.metrics import on_commit
from services.common.runtime import Runtime
from services.processing import portal_status as ps
from services.processing.case_record import CaseRecord
from services.processing.portal_repository import PortalRepository

log = get_logger(__name__)

_NOTES = "portal_sync.notes"
# One sender per processing database (the outbox relay's lock is another key).
SENDER_LOCK = 0x0E57_B047
PURGE_EVERY_SECONDS = 600.0


class PortalMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.pending = Gauge("onestop_portal_sync_pending",
                             "status changes queued for the national portal, not yet taken "
                             "(the backlog)", registry=registry)
        self.oldest_seconds = Gauge("onestop_portal_sync_oldest_pending_seconds",
                                    "age of the oldest status change not yet taken (0: none)",
                                    registry=registry)
        self.parked = Gauge("onestop_portal_sync_parked",
                            "status changes the portal refused for good (400, 413, 415, 422); "
                            "alert on any", registry=registry)
        self.recorded = Counter("onestop_portal_sync_recorded_total",
                                "status changes queued for the portal", ["status"],
                                registry=registry).labels
        self.delivered = Counter("onestop_portal_sync_delivered_total",
                                 "status changes the portal took", ["status"],
                                 registry=registry).labels
        self.failures = Counter("onestop_portal_sync_failures_total",
                                "attempts that failed: unreachable, timeout, unavailable, "
                                "unauthorised, misdirected, refused", ["reason"],
                                registry=registry).labels
        self.backoff = Gauge("onestop_portal_sync_backoff_seconds",
                             "the sender's wait after a pass the portal took nothing of "
                             "(0: sending)", registry=registry)
        self.enabled = Gauge("onestop_portal_sync_enabled",
                             "1 when PROCESSING_PORTAL_URL is set (the sync is on)",
                             registry=registry)
        self.late = Counter("onestop_portal_sync_late_total",
                            "a province's statuses queued after a later one of their "
                            "dossier (they reached processing after the settle window)",
                            registry=registry)

    def count(self, plan: ps.Plan) -> None:
        """What a committed plan queued."""
        for o in plan.outgoing:
            self.recorded(status=str(int(o.status))).inc()
        self.late.inc(plan.late)


class PortalRecorder:
    """The hooks processing calls in its transactions; `scope` None: the sync is off and
    every hook returns at once."""

    def __init__(self, scope: ps.Scope | None, clock: Clock | None = None,
                 metrics: PortalMetrics | None = None,
                 repository: PortalRepository | None = None) -> None:
        self.scope = scope
        self.clock = clock or SystemClock()
        self.metrics = metrics
        self.repo = repository or PortalRepository()

    @property
    def events(self) -> tuple[type, ...]:
        """What processing reads for the portal alone: refusals at receipt (status 3)."""
        return (DossierRejected,) if self.scope is not None else ()

    def heard(self, s: AsyncSession, row: CaseRecord | None, event: Any) -> None:
        """An event processing consumed, before it is applied (`row`: the case as it was)."""
        if self.scope is None or (found := ps.heard_status(event)) is None:
            return
        status, at = found
        self._note(s, ps.Note(event.dossier_code, status, at,
                              ps.Facts.of_event(event) or ps.Facts.of_case(row)))

    def moved(self, s: AsyncSession, row: CaseRecord, state: str, at: datetime) -> None:
        """A central case's transition to `state` at `at` (`row`: the case before it)."""
        if self.scope is None or (status := ps.STATE_STATUS.get(state)) is None:
            return
        if (facts := ps.Facts.of_case(row)) is not None:
            self._note(s, ps.Note(row.code, status, at, facts))

    def _note(self, s: AsyncSession, note: ps.Note) -> None:
        assert self.scope is not None
        # Outside the scope, only a province's receipt matters: it forgets what was held
        # before it.
        if note.facts is None or self.scope.covers(note.facts) or (
                note.held and note.status in ps.FIRST):
            s.info.setdefault(_NOTES, []).append(note)

    async def flush(self, s: AsyncSession) -> None:
        """The transaction's notes, queued (a few statements per transaction, none without
        notes)."""
        notes: list[ps.Note] | None = s.info.pop(_NOTES, None)
        if not notes or self.scope is None:
            return
        now = self.clock.now()
        tracks = await self.repo.tracks(s, {n.code for n in notes})
        plan = ps.plan(tracks, notes, self.scope, now)
        await self.repo.keep(s, plan.tracks, plan.forget, plan.outgoing, now)
        if plan.outgoing and self.metrics is not None:
            metrics, counted = self.metrics, plan
            on_commit(s, lambda: metrics.count(counted))


OFF = PortalRecorder(None)


def install(runtime: Runtime, settings: Any) -> PortalRecorder:
    """The recorder processing's cases call, and the sender as a periodic job of the
    runtime; OFF without PROCESSING_PORTAL_URL. The metrics are on /metrics either way (an
    alert on them finds them), `onestop_portal_sync_enabled` saying which."""
    metrics = PortalMetrics(runtime.metrics.registry)
    if not settings.portal_url:
        return OFF
    metrics.enabled.set(1)
    scope = ps.Scope(settings.portal_channel_set, settings.portal_skip_system_set)
    sender = PortalSender(
        url=settings.portal_url, token=settings.portal_token.get_secret_value(), scope=scope,
        engine=runtime.engine, sessions=runtime.sessions, clock=runtime.clock,
        metrics=metrics, timeout=settings.portal_timeout_seconds,
        concurrency=settings.portal_concurrency, batch=settings.portal_batch,
        settle_seconds=settings.portal_settle_seconds,
        retry_seconds=settings.portal_retry_seconds,
        retry_max_seconds=settings.portal_retry_max_seconds,
        retention_hours=settings.portal_retention_hours)
    runtime.periodic.append((settings.portal_poll_seconds, sender.run))
    runtime.app.state.portal_sender = sender  # tests and tools deliver without waiting
    return PortalRecorder(scope, runtime.clock, metrics)


class PortalSender:
    """Delivers the queue; `run` is the runtime's periodic job (PROCESSING_PORTAL_POLL_SECONDS)."""

    def __init__(self, *, url: str, token: str, scope: ps.Scope, engine: AsyncEngine,
                 sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 metrics: PortalMetrics, client: httpx.AsyncClient | None = None,
                 timeout: float = 10.0, concurrency: int = 8, batch: int = 500,
                 settle_seconds: float = 10.0, retry_seconds: float = 1.0,
                 retry_max_seconds: float = 300.0, retention_hours: float = 168.0,
                 repository: PortalRepository | None = None) -> None:
        self.url = url
        self.scope = scope
        self.settle = timedelta(seconds=settle_seconds)
        self.headers = {"content-type": "application/json"} | (
            {"authorization": f"Bearer {token}"} if token else {})
        self.engine = engine
        self.sessions = sessions
        self.clock = clock
        self.metrics = metrics
        self.client = client or httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=concurrency))
        self.concurrency = concurrency
        self.batch = batch
        self.retry_seconds, self.retry_max_seconds = retry_seconds, retry_max_seconds
        self.retention = timedelta(hours=retention_hours)
        self.repo = repository or PortalRepository()
        # Passes in a row the portal took nothing of, and until when the sender waits.
        self.failed_passes = 0
        self.resume_at = 0.0
        self.purged_at = 0.0

    async def run(self) -> None:
        async with self._leading() as leading:
            if leading:
                while await self.release() == self.batch:
                    pass  # a full batch of tracks: look again at once
                while time.monotonic() >= self.resume_at and await self.deliver():
                    pass  # a full batch went: look again at once
                if time.monotonic() - self.purged_at > PURGE_EVERY_SECONDS:
                    self.purged_at = time.monotonic()
                    async with self.sessions() as s, s.begin():
                        await self.repo.purge(s, self.clock.now() - self.retention)
        await self.refresh()

    async def release(self) -> int:
        """A province's held statuses whose settle window is over, queued in the order of
        their times; returns how many tracks were taken."""
        now = self.clock.now()
        async with self.sessions() as s:
            if not await self.repo.holding(s, now - self.settle):
                return 0  # the usual tick: no write lock asked for
        async with self.sessions() as s, s.begin():
            tracks = await self.repo.held(s, now - self.settle, self.batch)
            plan = ps.release(tracks, self.scope)
            await self.repo.keep(s, plan.tracks, plan.forget, plan.outgoing, now)
        self.metrics.count(plan)
        return len(tracks)

    async def refresh(self) -> int:
        """The backlog gauges from the table; returns the rows pending."""
        async with self.sessions() as s:
            pending, parked, oldest = await self.repo.counts(s)
        self.metrics.pending.set(pending)
        self.metrics.parked.set(parked)
        self.metrics.oldest_seconds.set(
            max(0.0, (self.clock.now() - oldest).total_seconds()) if oldest else 0.0)
        return pending

    async def deliver(self) -> bool:
        """One pass over the oldest pending rows; True when it was a full batch the portal
        took part of (look again at once)."""
        async with self.sessions() as s:
            rows = await self.repo.pending(s, self.batch)
        if not rows:
            return False
        now = self.clock.now()
        chains: dict[str, list[dict[str, Any]]] = {}
        for row in rows:  # seq order: each dossier's rows in the order they happened
            chains.setdefault(row["dossier_code"], []).append(row)
        if self.failed_passes:  # after an outage one request asks whether it is over
            due = [next(iter(chains.values()))[:1]]
        else:
            due = [c for c in chains.values()
                   if c[0]["next_attempt_at"] is None or c[0]["next_attempt_at"] <= now]
        gate = asyncio.Semaphore(self.concurrency)
        settled: list[dict[str, Any]] = []
        labels: list[tuple[str, str]] = []  # (status, failure label: "" when taken)
        waits: list[float] = []

        async def send_chain(chain: list[dict[str, Any]]) -> None:
            for row in chain:
                async with gate:
                    verdict, reason, error, wait = await self._send(row)
                settled.append(self._outcome(row, verdict, error))
                labels.append((str(row["status"]), reason))
                if verdict != ps.DELIVERED:
                    waits.append(wait)
                if verdict == ps.RETRY:
                    return  # the dossier's later statuses wait behind this one

        await asyncio.gather(*(send_chain(chain) for chain in due))
        took = any(r["delivered_at"] or r["parked_at"] for r in settled)
        async with self.sessions() as s, s.begin():
            await self.repo.settle(s, settled)
            if took and self.failed_passes:
                await self.repo.retry_now(s)
        for status, reason in labels:  # counted once settled: a failed settle sends again
            if reason:
                self.metrics.failures(reason=reason).inc()
            else:
                self.metrics.delivered(status=status).inc()
        self._after_pass(took, waits)
        return took and len(rows) == self.batch

    def _after_pass(self, took: bool, waits: list[float]) -> None:
        if took:
            if self.failed_passes:
                log.info("national portal takes status changes again",
                         after_failed_passes=self.failed_passes)
            self.failed_passes, self.resume_at = 0, 0.0
            self.metrics.backoff.set(0)
        elif waits:
            self.failed_passes += 1
            wait = min(self.retry_max_seconds, max(
                ps.backoff(self.failed_passes, self.retry_seconds,
                           self.retry_max_seconds).total_seconds(), *waits))
            self.resume_at = time.monotonic() + wait
            self.metrics.backoff.set(wait)
            if self.failed_passes & (self.failed_passes - 1) == 0:  # 1, 2, 4, 8...: not a flood
                log.warning("national portal took nothing; waiting", seconds=round(wait, 1),
                            failed_passes=self.failed_passes)

    def _outcome(self, row: dict[str, Any], verdict: str, error: str | None
                 ) -> dict[str, Any]:
        now, attempts = self.clock.now(), row["attempts"] + 1
        return {"seq": row["seq"], "attempts": attempts, "last_error": error,
                "delivered_at": now if verdict == ps.DELIVERED else None,
                "parked_at": now if verdict == ps.PARK else None,
                "next_attempt_at": now + ps.backoff(attempts, self.retry_seconds,
                                                    self.retry_max_seconds)
                if verdict == ps.RETRY else None}

    async def _send(self, row: dict[str, Any]) -> tuple[str, str, str | None, float]:
        """(verdict, failure label, error kept on the row, seconds the portal asked to
        wait)."""
        headers = self.headers | {IDEMPOTENCY_HEADER: row["idempotency_key"]}
        try:
            r = await self.client.post(self.url, content=row["body"].encode(), headers=headers)
        except httpx.TimeoutException as exc:
            return ps.RETRY, "timeout", describe(exc), 0.0
        except httpx.HTTPError as exc:
            return ps.RETRY, "unreachable", describe(exc), 0.0
        verdict, reason = ps.judge(r.status_code)
        if verdict == ps.DELIVERED:
            return verdict, "", None, 0.0
        return verdict, reason, f"HTTP {r.status_code}: {r.text[:300]}", _retry_after(r)

    @contextlib.asynccontextmanager
    async def _leading(self) -> AsyncIterator[bool]:
        """Whether this process sends this pass (PostgreSQL: the lock, released after it)."""
        if self.engine.dialect.name == "sqlite":
            yield True
            return
        conn = await self.engine.connect()
        got = False
        try:
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"),
                                         {"k": SENDER_LOCK}))
            await conn.commit()
            yield got
        finally:
            with contextlib.suppress(Exception):
                if got:  # closing returns the connection to the pool: unlock explicitly
                    await conn.scalar(text("SELECT pg_advisory_unlock(:k)"),
                                      {"k": SENDER_LOCK})
                    await conn.commit()
            with contextlib.suppress(Exception):
                await conn.close()


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else 0.0
