"""The dashboard's use cases: the live snapshot, the drill-down, a dossier's path, delay
attribution, emulation figures and satisfaction ratings. Every figure comes from the
projections (daily figures, dossier and step facts), read through indexed aggregates."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import DossierRated, VerificationAnswered, VerificationRequested
from contracts.topics import REPORTS
from services.common.messaging.outbox import OutboxWriter
from services.common.observability.redaction import mask
from services.law.catalog import AgencyScope as Scope
from services.law.workdays import TZ
from services.reporting import (
    attribution,
    dashboard,
    emulation,
    evaluation,
    forecast,
    subdeadlines,
)
from services.reporting.attribution import day_seconds
from services.reporting.dashboard import AgencyRows, Org
from services.reporting.domain import Rating
from services.reporting.evaluation import Window
from services.reporting.facts import DossierFact
from services.reporting.handlers import Projection, rating_of
from services.reporting.rubric import NoRubric, Rubrics

CACHE_SECONDS = 10.0
VERIFICATION_TYPES = (VerificationRequested.event_type, VerificationAnswered.event_type)


@dataclass(frozen=True)
class Rated:
    """What a rating came to: `ok`, `not_returned` or `closed` (a citizen's, past its
    window), whether it replaced one, and until when a citizen may change it."""

    outcome: str
    replaced: bool = False
    changeable_until: datetime | None = None
    rated_at: datetime | None = None
    comment: str = ""


@dataclass(frozen=True)
class BoardSettings:
    near_due: timedelta  # an open dossier due within this is "near-due"
    rate_days: int  # the on-time rate counts the dossiers resolved in these last days
    trend_days: int
    list_limit: int  # rows of the recent and overdue lists
    forecast_default_step_days: float = 1.0  # a step nobody has completed yet
    forecast_margin: float = 1.0  # scales the step means the forecast uses


class Monitor:
    def __init__(self, projection: Projection, settings: BoardSettings,
                 outbox: OutboxWriter, rubrics: Rubrics | None = None) -> None:
        self.projection = projection
        self.rubrics = rubrics
        self.outbox = outbox
        self.repo = projection.repo
        self.org = Org(projection.catalogs)
        self.settings = settings
        # Heavier answers (delays, emulation, forecast) are shared by every open page while
        # no event arrived and for at most `CACHE_SECONDS` (the clock moves them too).
        self._cache: dict[tuple[Any, ...], tuple[int, float, Any]] = {}

    @property
    def scope(self) -> Scope:
        return self.projection.scope  # the request's, when a request is answered

    async def cached(self, s: AsyncSession, key: tuple[Any, ...],
                     compute: Callable[[], Awaitable[Any]]) -> Any:
        key = (self.scope.agency, *key)  # one answer per scope: never another tree's
        token = await self.token(s)
        found = self._cache.get(key)
        if found is not None and found[0] == token and \
                time.monotonic() - found[1] < CACHE_SECONDS:
            return found[2]
        value = await compute()
        now = time.monotonic()
        # Answers past CACHE_SECONDS are never served again: dropped when one is stored, so
        # the cache holds the last seconds' keys, not every window anyone ever asked for.
        self._cache = {k: v for k, v in self._cache.items() if now - v[1] < CACHE_SECONDS}
        self._cache[key] = (token, now, value)
        return value

    def _in_scope(self, agency: str) -> bool:
        return self.scope.allows(agency)

    def _facts(self, facts: list[DossierFact]) -> list[DossierFact]:
        return [f for f in facts if self._in_scope(f.agency_code)]

    async def token(self, s: AsyncSession) -> int:
        return await self.repo.change_token(s)

    async def snapshot(self, s: AsyncSession, now: datetime) -> dict[str, Any]:
        """Everything the page's first screen shows, in one JSON document."""
        today = now.astimezone(TZ).date()
        st = self.settings
        rows = AgencyRows(
            received=await self.repo.received_on(s, today),
            resolved=await self.repo.resolved_since(s, today - timedelta(days=st.rate_days)),
            open=await self.repo.open_by_agency(s, now, now + st.near_due))
        figures = {a: f for a, f in dashboard.per_agency(rows).items() if self._in_scope(a)}
        scoped = self.scope.agencies()
        recent = self._facts(await self.repo.recent_facts(s, st.list_limit, scoped))
        overdue = self._facts(await self.repo.overdue_facts(s, st.list_limit, scoped))
        trend = await self.repo.trend(s, today - timedelta(days=st.trend_days))
        return {"generated_at": now.isoformat(), "today": today.isoformat(),
                "scope": self.scope.agency, "totals": dashboard.totals(figures.values()),
                "provinces": dashboard.provinces(self.org, figures),
                "recent": [dashboard.dossier_row(self.org, f, now) for f in recent],
                "overdue": [dashboard.dossier_row(self.org, f, now) for f in overdue],
                "trend": trend if self.scope.agency is None else [],
                "settings": {"near_due_hours": st.near_due.total_seconds() / 3600,
                             "rate_days": st.rate_days}}

    async def procedures(self, s: AsyncSession, agency: str) -> list[dict[str, Any]]:
        """One office's dossiers per procedure and status."""
        out: dict[str, dict[str, Any]] = {}
        for procedure, status, n in await self.repo.procedures_of(s, agency):
            row = out.setdefault(procedure, {"procedure_code": procedure, "total": 0,
                                             "by_status": {}})
            row["total"] += n
            row["by_status"][status] = n
        for row in out.values():
            p = self.projection.catalogs.latest.procedure(row["procedure_code"])
            row["name"] = str(p.name) if p else row["procedure_code"]
        return sorted(out.values(), key=lambda r: r["procedure_code"])

    async def dossiers(self, s: AsyncSession, agency: str, procedure: str | None,
                       now: datetime) -> list[dict[str, Any]]:
        facts = await self.repo.dossiers_of(s, agency, procedure, self.settings.list_limit * 4)
        return [dashboard.dossier_row(self.org, f, now) for f in facts]

    async def path(self, s: AsyncSession, code: str, now: datetime) -> dict[str, Any] | None:
        fact = await self.repo.fact(s, code)
        if fact is None or not fact.event_count or not self._in_scope(fact.agency_code):
            return None
        steps = (await self.repo.steps_of(s, [code])).get(code, [])
        events = await self.projection.trace(s, code)
        cal = self.projection.calendars(fact.agency_code, fact.catalog_version)
        out = dashboard.timeline(self.org, fact, steps, events, day_seconds(cal), now)
        late = await self._attribute([fact], now, s)
        out["delay"] = late[0] if late else None
        # Each request to another agency with its sub-deadline, overrun or not (now).
        asked = (await self.repo.stored_events(s, [code])).get(code, [])
        out["verifications"] = [v.json(now) for v in subdeadlines.verifications(asked)]
        return out

    async def _attribute(self, facts: list[DossierFact], now: datetime, s: AsyncSession,
                         window: Window | None = None) -> list[dict[str, Any]]:
        codes = [f.dossier_code for f in facts]
        steps = await self.repo.steps_of(s, codes)
        checks = await self.repo.events_of_types(s, codes, VERIFICATION_TYPES)
        out = []
        for f in facts:
            cal = self.projection.calendars(f.agency_code, f.catalog_version)
            row = attribution.attribute(cal, f, steps.get(f.dossier_code, []),
                                        attribution.verifications_of(
                                            checks.get(f.dossier_code, [])), now,
                                        (window.start, window.end) if window else None)
            if row is not None:
                out.append(row)
        return out

    async def late(self, s: AsyncSession, now: datetime, window: Window | None = None
                   ) -> list[dict[str, Any]]:
        """Every late dossier (found overdue, resolved late, or open past its due time)
        with who held its late working days (those within `window` when given)."""
        facts = self._facts(await self.repo.overdue_facts(s)
                            + await self.repo.late_open_facts(s, now))
        if window is not None:
            facts = [f for f in facts if f.due_at is not None and f.due_at < window.end]
        return await self._attribute(facts, now, s, window)

    async def delays(self, s: AsyncSession, now: datetime, agency: str | None
                     ) -> dict[str, Any]:
        rows = await self.late(s, now)
        if agency:
            subtree = Scope(self.projection.catalogs, agency)
            rows = [r for r in rows if subtree.allows(r["agency_code"])]
        offices = attribution.summarise(rows)
        for o in offices:
            o["name"] = self.org.name(o["agency_code"]) if o["agency_code"] != \
                attribution.APPLICANT else "Công dân (chờ bổ sung)"
        return {"generated_at": now.isoformat(), "offices": offices, "dossiers": rows}

    async def _step_totals(self, s: AsyncSession, window: Window | None,
                           within: Callable[[str], bool]) -> list[emulation.StepTotals]:
        since, until = (window.start, window.end) if window else (None, None)
        return [emulation.StepTotals(a, d, o, int(h or 0), int(t or 0), int(w or 0))
                for a, d, o, h, t, w in await self.repo.step_totals(s, since, until)
                if within(a)]

    async def emulation(self, s: AsyncSession, now: datetime, window: Window | None = None
                        ) -> dict[str, Any]:
        """Thi đua figures of all time, or of the steps, ratings and late days of `window`."""
        totals = await self._step_totals(s, window, self._in_scope)
        since, until = (window.start, window.end) if window else (None, None)
        ratings = {a: r for a, r in (await self.repo.ratings_by_agency(s, since, until)).items()
                   if self._in_scope(a)}
        late = await self.late(s, now, window)
        names = {a: self.org.name(a) for a in {t.agency_code for t in totals} | set(ratings)}
        cal = self.projection.calendars(self.scope.root(None), None)
        return {"generated_at": now.isoformat(),
                "period": window.json() if window else None,
                **emulation.figures(totals, late, ratings, day_seconds(cal), names)}

    async def evaluation(self, s: AsyncSession, now: datetime, window: Window,
                         agency: str | None) -> dict[str, Any]:
        """Art. 30-31 indices and scores per office, department and officer over `window`
        (of `agency`'s subtree when given); NoRubric when no rubric is in force then."""
        if self.rubrics is None:
            raise NoRubric(None)
        rubric = self.rubrics.in_force(window.last_day)
        subtree = Scope(self.projection.catalogs, agency) if agency else None

        def within(code: str) -> bool:
            return self._in_scope(code) and (subtree is None or subtree.allows(code))
        facts = [f for f in await self.repo.facts_for_period(s, window.start, window.end)
                 if within(f.agency_code)]
        totals = await self._step_totals(s, window, within)
        ratings = {k: r for k, r in (await self.repo.ratings_by_origin(
            s, window.start, window.end)).items() if within(k[0])}
        late = [r for r in await self.late(s, now, window) if within(r["agency_code"])]
        cal = self.projection.calendars(self.scope.root(None), None)
        return {"generated_at": now.isoformat(), "agency": agency,
                **evaluation.evaluate(facts, totals, late, ratings, self.projection.calendars,
                                      day_seconds(cal), window, rubric, self.org.name,
                                      within)}

    async def forecast(self, s: AsyncSession, now: datetime) -> dict[str, Any]:
        """Open dossiers, not late yet, forecast to miss their due time; soonest due first."""
        facts = [f for f in self._facts(await self.repo.running_facts(s))
                 if f.due_at is not None and f.due_at > now]
        steps = await self.repo.steps_of(s, [f.dossier_code for f in facts])
        holdings, facts_by_code, days = [], {}, {}
        for f in facts:
            cal = self.projection.calendars(f.agency_code, f.catalog_version)
            holding = forecast.holding(f, steps.get(f.dossier_code, []),
                                       self._procedure_steps(f), cal, now)
            holdings.append(holding)
            facts_by_code[f.dossier_code] = f
            days[f.dossier_code] = day_seconds(cal)
        st = self.settings
        durations = forecast.Durations(
            [forecast.StepMean(*m) for m in await self.repo.step_means(s)],
            st.forecast_default_step_days
            * day_seconds(self.projection.calendars(self.scope.root(None), None)),
            st.forecast_margin)
        near_hours = st.near_due.total_seconds() / 3600
        out = []
        for p in forecast.predict(durations, holdings):
            if not p.miss:
                continue
            day = days[p.dossier_code]
            row = dashboard.dossier_row(self.org, facts_by_code[p.dossier_code], now)
            row.update({"remaining_days": round(p.remaining / day, 2),
                        "available_days": round(p.available / day, 2),
                        "queue_ahead": p.queue_ahead,
                        # how long before the near-due alert (near_due_hours before due)
                        "hours_before_alert": round(max(
                            (facts_by_code[p.dossier_code].due_at - now).total_seconds()
                            / 3600 - near_hours, 0.0), 1)})
            out.append(row)
        out.sort(key=lambda r: (r["due_at"], r["dossier_code"]))
        return {"generated_at": now.isoformat(), "open": len(holdings), "at_risk": out}

    def _procedure_steps(self, fact: DossierFact) -> tuple[str, ...]:
        index = (self.projection.catalogs.version(fact.catalog_version)
                 if fact.catalog_version else self.projection.catalogs.latest)
        procedure = index.procedure(fact.procedure_code) or \
            self.projection.catalogs.latest.procedure(fact.procedure_code)
        return tuple(st.code for st in procedure.steps) if procedure else ()

    async def rate(self, s: AsyncSession, code: str, score: int, comment: str,
                   now: datetime, *, origin: str = "counter_survey",
                   change_for: timedelta | None = None) -> Rated | None:
        """None: no such dossier; `not_returned`: its result is not returned yet; `closed`:
        a citizen's rating past its `change_for` (counted from their first rating); `ok`.
        An officer's counter survey replaces the earlier one at any time."""
        fact = await self.repo.fact(s, code)
        if fact is None or not fact.event_count or not self._in_scope(fact.agency_code):
            return None
        if fact.returned_at is None:
            return Rated("not_returned")
        standing = await self.repo.rating(s, code, origin)
        until = None
        if origin == "citizen":
            until = standing.changeable_until if standing else now + (change_for or
                                                                      timedelta(0))
            if until is not None and now > until:
                return Rated("closed", changeable_until=until)
        previous = standing.rated_at if standing else None
        # A replacement sorts after what it replaces, even on a clock that stood still or
        # ran behind another replica's: the latest rated_at is the one that stands.
        rated_at = now if previous is None or now > previous \
            else previous + timedelta(microseconds=1)
        # The comment is the applicant's free text on a topic that carries no personal
        # data: numbers, phones and e-mails typed into it are masked before it is kept.
        event = DossierRated(dossier_code=code, score=score, comment=mask(comment),
                             rated_at=rated_at, origin=origin,  # type: ignore[arg-type]
                             changeable_until=until)
        envelope = self.outbox.envelope(event, fact.agency_code)
        await self.outbox.add(s, REPORTS, envelope)
        # The row too, in the same transaction: the answer and the figures show it at once;
        # the event, read back from the topic, then changes nothing here.
        await self.repo.fold_ratings(s, [rating_of(envelope, event)])
        self._cache.clear()  # no event applied here yet: the emulation figures must show it
        return Rated("ok", previous is not None, until, rated_at, event.comment)

    async def citizen_rating(self, s: AsyncSession, code: str) -> Rating | None:
        """The citizen's standing rating of a dossier of the caller's scope."""
        fact = await self.repo.fact(s, code)
        if fact is None or not self._in_scope(fact.agency_code):
            return None
        return await self.repo.rating(s, code, "citizen")

