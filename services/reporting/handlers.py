"""Reporting's use cases: keep every event it reads and fold each touched dossier's events
into its facts (per batch), and its own ratings into `ratings`; answer the figures, a trace
and the quarterly report."""

from __future__ import annotations

import contextvars
import json
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.envelope import Envelope, ordered_uuid
from contracts.events import DossierRated, Event, QuarterlyReportClosed
from contracts.topics import REPORTS
from services.common.messaging.consumer import Context
from services.common.runtime import Runtime
from services.law.catalog import AgencyScope as Scope
from services.law.catalog import CatalogSet
from services.reporting import domain, quarterly, subdeadlines
from services.reporting.calendars import Calendars
from services.reporting.domain import Rating, Stats, TraceEntry
from services.reporting.domain_metrics import ReportingMetrics
from services.reporting.facts import (
    AggKey,
    DossierFact,
    DossierFold,
    Recorded,
    contributed,
)
from services.reporting.repository import ReportingRepository


def event_row(ctx: Context) -> dict[str, Any]:
    """The `events` row of a record; its data as JSON text, serialized once."""
    env = ctx.envelope
    data = env.data
    return {"event_id": ctx.event_id or str(env.id), "dossier_code": env.subject, "type": env.type,
            "source": env.source, "agency_code": env.agencycode, "time": env.time,
            "topic": ctx.topic, "data": data.model_dump_json() if isinstance(data, BaseModel)
            else json.dumps(data)}


def rating_of(envelope: Envelope, event: DossierRated) -> Rating:
    return Rating(envelope.subject, envelope.agencycode, event.score, event.comment,
                  event.rated_at, str(envelope.id), event.origin, event.changeable_until)


# The scope of the request being answered (the caller's tree within the instance's), set
# by the API's dependency; consumers and jobs, with none set, see the instance's scope.
request_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "reporting_request_scope", default=None)


class Projection:
    def __init__(self, catalogs: CatalogSet, repository: ReportingRepository | None = None,
                 scope: str | None = None, metrics: ReportingMetrics | None = None) -> None:
        self.catalogs = catalogs
        self.instance_scope = Scope(catalogs, scope)
        if scope is not None and not self.instance_scope.known(scope):
            raise ValueError(f"REPORTING_SCOPE_AGENCY {scope} is not in the catalogue")
        self.calendars = Calendars(catalogs)
        self.repo = repository or ReportingRepository()
        self.metrics = metrics
        # Dossiers this process brought up to date, by how (advanced / refolded).
        self.folds: Counter[str] = Counter()

    @property
    def scope(self) -> Scope:
        return request_scope.get() or self.instance_scope

    async def apply(self, s: AsyncSession, batch: list[tuple[Context, Event]]) -> None:
        """One batch: store its events, add them onto the stored fold of each dossier they
        touch (or fold that dossier again from all its events when one sorts before what
        was folded), and move the daily figures by the difference."""
        rows, new = [], {}
        for ctx, event in batch:
            rows.append(event_row(ctx))
            new.setdefault(ctx.envelope.subject, []).append(Recorded.of(ctx.envelope, event,
                                                                           ctx.event_id))
        codes = sorted(new)
        stored = await self.repo.lock_folds(s, codes)  # first: then the events read are whole
        delta: dict[AggKey, Counter[str]] = {}
        folds: list[DossierFold] = []
        again: list[str] = []
        for code in codes:
            fact, memo = stored.get(code, (None, None))
            _move(delta, fact, -1)  # before `advance` changes it in place
            fold = DossierFold.load(fact, memo) if fact is not None else DossierFold(code)
            if fold is not None and fold.advance(new[code], self.calendars):
                folds.append(fold)
            else:
                again.append(code)
        stale: list[tuple[str, int]] = []
        if again:
            # Read what was stored before this batch, then add the batch from memory: a
            # batch is never read back.
            events = await self.repo.stored_events(s, again)
            for code in again:
                fold = DossierFold.of(code, events.get(code, []) + new[code], self.calendars)
                folds.append(fold)
                before = stored[code][0].step_count if code in stored else 0
                stale.extend((code, i) for i in range(fold.fact.step_count, before))
        for fold in folds:
            _move(delta, fold.fact, 1)
        await self.repo.add_events(s, rows)
        await self.repo.save_folds(s, folds, stale)
        await self.repo.apply_daily(s, delta)
        self.folds.update(advanced=len(codes) - len(again), refolded=len(again))
        if self.metrics is not None:
            self.metrics.folded(s, len(codes) - len(again), len(again))

    async def store(self, s: AsyncSession, batch: list[tuple[Context, Any]]) -> None:
        """A rebuild's batch: only kept; `fold_stored` folds each dossier once at the end."""
        await self.repo.add_events(s, [event_row(ctx) for ctx, _ in batch])

    async def fold_stored(self, s: AsyncSession, chunk: int = 2000,
                          owns: Callable[[str], bool] | None = None) -> int:
        """The end of a rebuild into a fresh database: every dossier `apply` would have
        folded (that `owns`, when a worker folds its share), folded once from its stored
        events, a chunk of dossiers at a time (memory stays a chunk's events), the daily
        figures written once. Returns the dossiers."""
        codes = await self.repo.folded_codes(s)
        if owns is not None:
            codes = [c for c in codes if owns(c)]
        total: dict[AggKey, Counter[str]] = {}
        for i in range(0, len(codes), chunk):
            part = codes[i:i + chunk]
            await self.save_new(s, await self.repo.stored_events(s, part), total)
        await self.repo.apply_daily(s, total)
        return len(codes)

    async def save_new(self, s: AsyncSession, events: dict[str, list[Recorded]],
                       total: dict[AggKey, Counter[str]]) -> None:
        """Folds dossiers that have no fact yet (a rebuild) from all their events, saves
        them, and adds their contributions to `total`."""
        folds = [DossierFold.of(code, evs, self.calendars) for code, evs in events.items()]
        for fold in folds:
            _move(total, fold.fact, 1)
        await self.repo.save_folds(s, folds, [])

    async def apply_ratings(self, s: AsyncSession,
                            batch: list[tuple[Context, DossierRated]]) -> None:
        """Ratings read back from reporting's own topic: kept like every event (a rebuild or
        another database gets them only from there) and folded into `ratings`; the
        replica that took the rating wrote the same row already, so there it changes
        nothing."""
        await self.repo.add_events(s, [event_row(ctx) for ctx, _ in batch])
        await self.repo.fold_ratings(s, [rating_of(ctx.envelope, e) for ctx, e in batch])

    def fold_all(self, events: dict[str, list[Recorded]]) -> list[DossierFact]:
        return [DossierFold.of(code, evs, self.calendars).fact for code, evs in events.items()]

    async def quarterly(self, s: AsyncSession, year: int, quarter: int, agency: str | None,
                        as_of: datetime | None) -> dict[str, Any]:
        """The report from the live facts, or as the event log stood at `as_of`."""
        p = quarterly.period(year, quarter)
        if as_of is None:
            facts = await self.repo.facts_for_period(s, p.start, p.end)
        else:
            facts = self.fold_all(await self.repo.events_until(s, as_of,
                                                               quarterly.EVENTS_READ))
        # Requests to other agencies, for their sub-deadline overruns (the whole log: a
        # request stays open across periods until answered).
        asked = await self.repo.events_until(s, as_of, subdeadlines.EVENT_TYPES)
        result = quarterly.report(facts, self.catalogs, year, quarter, agency,
                                  subdeadlines.verifications(
                                      r for evs in asked.values() for r in evs))
        result["as_of"] = as_of.isoformat() if as_of else None
        return result

    async def stats(self, s: AsyncSession) -> Stats:
        dossiers = await self.repo.dossiers_by_agency_and_type(s)
        events = await self.repo.events_by_agency(s)
        if self.scope.agency is None:
            return domain.stats(dossiers, events, await self.repo.event_count(s))
        dossiers = [d for d in dossiers if self.scope.allows(d[0])]
        events = [e for e in events if self.scope.allows(e[0])]
        return domain.stats(dossiers, events, sum(n for _, n in events))

    async def trace(self, s: AsyncSession, code: str) -> list[TraceEntry]:
        """A dossier's events; none for a dossier outside the instance's scope."""
        events = await self.repo.events_of(s, code)
        if events and not self.scope.allows(events[0].agency_code):
            return []
        return events


def _move(delta: dict[AggKey, Counter[str]], fact: DossierFact | None, sign: int) -> None:
    """Adds (1) or takes away (-1) what `fact` contributes to the daily figures."""
    for key, measure in contributed(fact):
        counts = delta.get(key)
        if counts is None:
            counts = delta[key] = Counter()
        counts[measure] += sign


class QuarterClosing:
    """After a quarter's cut-off (and a grace for events still on their way), publish its
    report once per root agency, as the event log stood at cut-off + grace: the same
    figures whichever replica, and whenever, the job runs. The closing row's primary key,
    written in the same transaction as the outbox row, makes it happen once. It waits until
    the projection holds an event recorded after that moment (a fresh database catching up
    publishes nothing yet). Only the latest closed quarter is considered."""

    def __init__(self, runtime: Runtime, projection: Projection, grace: timedelta) -> None:
        self.runtime = runtime
        self.projection = projection
        self.grace = grace

    async def run(self) -> list[str]:
        """The report codes this run published (none when already closed)."""
        now = self.runtime.clock.now()
        p = quarterly.last_closed(now - self.grace)
        as_of = p.end + self.grace
        async with self.runtime.sessions() as s:
            latest = await self.projection.repo.latest_recorded(s)
        if latest is None or latest <= as_of:
            # The projection has not read past the closing moment yet (a fresh database
            # catching up): figures published now could lack events, and are published once.
            return []
        published = []
        for root in quarterly.OrgTree(self.projection.catalogs, p).roots():
            async with self.runtime.transaction() as s:
                code = f"BC-{p.year}Q{p.quarter}-{root}"
                envelope_id = str(ordered_uuid())
                if not await self.projection.repo.claim_quarter(s, p.year, p.quarter, root,
                                                                now, envelope_id):
                    continue
                report = await self.projection.quarterly(s, p.year, p.quarter, root, as_of)
                event = closed_event(code, report, p, as_of)
                envelope = self.runtime.outbox.envelope(event, root).model_copy(
                    update={"id": uuid.UUID(envelope_id)})
                await self.runtime.outbox.add(s, REPORTS, envelope)
            published.append(code)
        return published


def closed_event(code: str, report: dict[str, Any], p: quarterly.Period, as_of: datetime
                 ) -> QuarterlyReportClosed:
    agencies: list[dict[str, Any]] = []
    stack: list[tuple[str | None, dict[str, Any]]] = [(None, report)]
    while stack:
        parent, node = stack.pop()
        agencies.append({"agency_code": node["agency"], "parent_code": parent,
                         "name": node["name"], "indicators": node["indicators"]})
        stack.extend((node["agency"], c) for c in reversed(node["children"]))
    return QuarterlyReportClosed(
        dossier_code=code, year=p.year, quarter=p.quarter, period_start=p.start,
        period_end=p.end, as_of=as_of, agency_code=report["agency"],
        indicators=report["indicators"], agencies=agencies,
        procedures=[{"procedure_code": x["procedure"], "indicators": x["indicators"]}
                    for x in report["procedures"]],
        sub_deadlines=report["sub_deadlines"])
