"""Every SQL statement of reporting: the events it applied, the facts folded from them, the
daily figures and the closed quarters."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    distinct,
    func,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.registry import EVENT_TYPES
from services.common.persistence.bulk import (
    by_key,
    dialect_of,
    upsert,
    values_of,
    write_rows,
)
from services.reporting import tables
from services.reporting.domain import Rating, TraceEntry, latest_ratings
from services.reporting.fact_rows import (
    FACT_FIELDS,
    fact_of,
    fact_row,
    memo_json,
    memo_of_json,
    step_row,
)
from services.reporting.facts import (
    MEASURES,
    NOT_FOLDED,
    AggKey,
    DossierFact,
    DossierFold,
    FoldMemo,
    Recorded,
    StepFact,
)

_CHUNK = 2000  # keys per IN list: far under both databases' parameter limits
_FACT_COLUMNS = [tables.dossier_facts.c[name] for name in FACT_FIELDS]
_STEP_KEY = [tables.step_facts.c.dossier_code, tables.step_facts.c.idx]
_FACT_KEY = ("dossier_code",)
_STEP_KEY_NAMES = ("dossier_code", "idx")
_DAILY_KEY = ("day", "agency_code", "procedure_code", "channel")
# The advisory lock class of a dossier's fold (its second key: the code's hash). Two-key
# advisory locks never meet the one-key ones (the relay's and the audit chain's leader
# locks); two codes of one hash only wait for each other.
FOLD_LOCK_CLASS = 0x0F01D
_FOLD_LOCKS = text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(code)) "
                   "FROM unnest(:codes) AS code").bindparams(
    bindparam("lock_class", FOLD_LOCK_CLASS, type_=Integer),
    bindparam("codes", type_=ARRAY(String)))


@cache
def _folds_read(dialect: str) -> Select[Any]:
    """The fact rows (with their fold states) of the codes bound as `codes`, by key."""
    f = tables.dossier_facts
    columns = [*_FACT_COLUMNS, f.c.fold_state]
    return by_key(f.c.dossier_code, dialect, "codes",
                  lambda condition: select(*columns).where(condition), unique=True)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def recorded(event_id: str, kind: str, time: datetime, agency_code: str, data: str
             ) -> Recorded:
    """A stored event as the fold reads it: its data parsed once, straight from the stored
    JSON text, into its contract event."""
    event = EVENT_TYPES[kind].model_validate_json(data)
    return Recorded(event_id, time, agency_code, event)  # type: ignore[arg-type]


def _add_recorded(out: dict[str, list[Recorded]], rows: Iterable[Any]) -> None:
    """`_recorded_query`'s rows into `out`, per dossier. Unpacked by position: a Row
    answers a field by name in ~0.4 µs, and a rebuild's fold reads six of every event."""
    for code, event_id, kind, time, agency_code, data in rows:
        out[code].append(recorded(event_id, kind, time, agency_code, data))


def _recorded_query() -> Any:
    e = tables.events
    # `_add_recorded` unpacks these columns in this order.
    # The data as the JSON text it is stored as: pydantic parses it once, not json first.
    return select(e.c.dossier_code, e.c.event_id, e.c.type, e.c.time, e.c.agency_code,
                  cast(e.c.data, Text).label("data"))


@cache
def _stored_events_read(dialect: str) -> Select[Any]:
    """Each dossier's folded events through its index (as `= ANY($1)` a young table was
    read whole per refold); built once per dialect."""
    e = tables.events
    folded = e.c.type.not_in(sorted(NOT_FOLDED))
    return by_key(e.c.dossier_code, dialect, "codes",
                  lambda c: _recorded_query().where(c, folded), unique=False)


class ReportingRepository:
    # --- the raw events ------------------------------------------------------------------

    async def add_events(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """`rows`' data is JSON text already (handlers.event_row): one statement for the
        batch (bulk.write_rows), where SQLAlchemy's executemany ran one per event on
        PostgreSQL (pg_stat_statements: 9.3 executions a dossier, the server's costliest
        statement)."""
        await write_rows(s, tables.events, rows)

    async def stored_events(self, s: AsyncSession, codes: Sequence[str]
                            ) -> dict[str, list[Recorded]]:
        """The folded events of `codes` stored so far, per dossier."""
        dialect = dialect_of(s)
        out: dict[str, list[Recorded]] = defaultdict(list)
        _add_recorded(out, await s.execute(_stored_events_read(dialect),
                                           {"codes": values_of(codes, dialect)}))
        return out

    async def folded_codes(self, s: AsyncSession) -> list[str]:
        """Every dossier with an event the fold reads (a rating alone makes no fact)."""
        e = tables.events
        return list((await s.scalars(select(e.c.dossier_code).distinct()
                                     .where(e.c.type.not_in(sorted(NOT_FOLDED)))
                                     .order_by(e.c.dossier_code))).all())

    async def events_until(self, s: AsyncSession, as_of: datetime | None,
                           types: Sequence[str]) -> dict[str, list[Recorded]]:
        """The events of `types` recorded (envelope time) at or before `as_of` (all of them
        when None), per dossier."""
        e = tables.events
        q = _recorded_query().where(e.c.type.in_(types))
        if as_of is not None:
            q = q.where(e.c.time <= as_of)
        out: dict[str, list[Recorded]] = defaultdict(list)
        _add_recorded(out, await s.execute(q))
        return out

    # --- facts ---------------------------------------------------------------------------

    async def facts_of(self, s: AsyncSession, codes: Sequence[str]) -> dict[str, DossierFact]:
        f = tables.dossier_facts
        out: dict[str, DossierFact] = {}
        for chunk in _chunks(codes):
            q = select(*_FACT_COLUMNS).where(f.c.dossier_code.in_(chunk))
            for r in (await s.execute(q)).mappings():
                out[r["dossier_code"]] = fact_of(r)
        return out

    async def lock_folds(self, s: AsyncSession, codes: Sequence[str]
                         ) -> dict[str, tuple[DossierFact, FoldMemo | None]]:
        """The stored facts of `codes` (those with events) and their fold states, each
        dossier locked until commit: a dossier's events come on several topics, whose
        partitions two replicas may hold, and each fold must start from the other's
        committed one. On PostgreSQL a transaction-scoped advisory lock per dossier, taken
        before the read (a statement of its own, so the read's snapshot is taken after the
        other's commit); `codes` sorted: two transactions lock in one order and never
        deadlock. It replaced an upsert that created an empty row to lock, which wrote each
        dossier's fact row twice a batch (pg_stat_statements: a fifth of reporting's
        executor time). SQLite's writers are serialised by BEGIN IMMEDIATE, so there a read
        is enough."""
        out: dict[str, tuple[DossierFact, FoldMemo | None]] = {}
        if not codes:
            return out
        dialect = dialect_of(s)
        if dialect == "postgresql":
            await s.execute(_FOLD_LOCKS, {"codes": list(codes)})
        rows = (await s.execute(_folds_read(dialect),
                                {"codes": values_of(codes, dialect)})).mappings()
        for r in rows:
            if r["event_count"]:
                out[r["dossier_code"]] = (fact_of(r), memo_of_json(r["fold_state"]))
        return out

    async def save_folds(self, s: AsyncSession, folds: list[DossierFold],
                         stale_steps: list[tuple[str, int]]) -> None:
        """The folds' facts and states, their new or changed step facts, and the step facts
        a fold again no longer has: one statement per table."""
        if not folds:
            return
        await write_rows(s, tables.dossier_facts,
                         [{**fact_row(x.fact), "fold_state": memo_json(x.memo())}
                          for x in folds], "replace", _FACT_KEY)
        await write_rows(s, tables.step_facts,
                         [step_row(step) for x in folds for step in x.steps()], "replace",
                         _STEP_KEY_NAMES)
        for chunk in _chunks(stale_steps):
            await s.execute(delete(tables.step_facts).where(tuple_(*_STEP_KEY).in_(chunk)))

    async def facts_for_period(self, s: AsyncSession, start: datetime, end: datetime
                               ) -> list[DossierFact]:
        """Facts that can count in a period: received before its end and not closed before
        its start, or refused in it."""
        f = tables.dossier_facts
        still_open = [f.c.resolved_at.is_(None) | (f.c.resolved_at >= start)]
        still_open.append(f.c.withdrawn_at.is_(None) | (f.c.withdrawn_at >= start))
        q = select(*_FACT_COLUMNS).where(or_(
            (f.c.legal_received_at < end) & still_open[0] & still_open[1],
            (f.c.refused_at >= start) & (f.c.refused_at < end)))
        return [fact_of(r) for r in (await s.execute(q)).mappings()]

    async def table_rows(self, s: AsyncSession, name: str) -> list[dict[str, Any]]:
        """A projection table in key order (comparisons of live and rebuilt databases)."""
        table = tables.metadata.tables[name]
        keys = [c for c in table.primary_key.columns]
        return [dict(r) for r in (await s.execute(select(table).order_by(*keys))).mappings()]

    # --- daily figures -------------------------------------------------------------------

    async def apply_daily(self, s: AsyncSession, delta: dict[AggKey, Counter[str]]) -> None:
        """Adds `delta` to the daily figures in the statement itself (two replicas adding
        to one row never lose an addition), keys in order (no deadlock between them);
        rows that fall to zero are deleted."""
        keys = sorted(k for k, c in delta.items() if any(c.values()))
        if not keys:
            return
        d = tables.daily_figures
        await write_rows(s, d, [
            {"day": k[0], "agency_code": k[1], "procedure_code": k[2], "channel": k[3],
             **{m: delta[k][m] for m in MEASURES}} for k in keys], "add", _DAILY_KEY)
        # Only a row something was taken from can fall to zero.
        fallen = [k for k in keys if any(n < 0 for n in delta[k].values())]
        key_cols = tuple_(d.c.day, d.c.agency_code, d.c.procedure_code, d.c.channel)
        zero = and_(*(d.c[m] == 0 for m in MEASURES))
        for chunk in _chunks(fallen):
            await s.execute(delete(d).where(key_cols.in_(chunk), zero))

    # --- closed quarters -----------------------------------------------------------------

    async def claim_quarter(self, s: AsyncSession, year: int, quarter: int, agency: str,
                            at: datetime, event_id: str) -> bool:
        """True for the one transaction that records this quarter's closing first."""
        q = tables.closed_quarters
        result = await s.execute(upsert(s, q).values(
            year=year, quarter=quarter, agency_code=agency, closed_at=at, event_id=event_id
        ).on_conflict_do_nothing())
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- /stats and traces ---------------------------------------------------------------

    async def dossiers_by_agency_and_type(self, s: AsyncSession
                                          ) -> list[tuple[str, str, int]]:
        e = tables.events
        return [tuple(r) for r in (await s.execute(  # type: ignore[misc]
            select(e.c.agency_code, e.c.type, func.count(distinct(e.c.dossier_code)))
            .group_by(e.c.agency_code, e.c.type))).all()]

    async def events_by_agency(self, s: AsyncSession) -> list[tuple[str, int]]:
        e = tables.events
        return [tuple(r) for r in (await s.execute(  # type: ignore[misc]
            select(e.c.agency_code, func.count()).group_by(e.c.agency_code))).all()]

    async def latest_recorded(self, s: AsyncSession) -> datetime | None:
        return await s.scalar(select(func.max(tables.events.c.time)))

    async def event_count(self, s: AsyncSession) -> int:
        return int(await s.scalar(select(func.count()).select_from(tables.events)) or 0)

    async def events_of(self, s: AsyncSession, code: str) -> list[TraceEntry]:
        e = tables.events
        q = (select(e.c.event_id, e.c.type, e.c.source, e.c.agency_code, e.c.time, e.c.topic,
                    e.c.data).where(e.c.dossier_code == code).order_by(e.c.time, e.c.seq))
        return [TraceEntry(*r) for r in (await s.execute(q)).all()]

    async def fact(self, s: AsyncSession, code: str) -> DossierFact | None:
        return (await self.facts_of(s, [code])).get(code)


    # --- the dashboard (indexed aggregates: daily figures by day, open facts by status) --

    async def change_token(self, s: AsyncSession) -> int:
        """Moves whenever an event is applied (the events' primary key)."""
        return int(await s.scalar(select(func.max(tables.events.c.seq))) or 0)

    async def received_on(self, s: AsyncSession, day: date) -> list[tuple[str, int]]:
        d = tables.daily_figures
        return [(r[0], int(r[1])) for r in (await s.execute(
            select(d.c.agency_code, func.sum(d.c.received)).where(d.c.day == day)
            .group_by(d.c.agency_code))).all()]

    async def resolved_since(self, s: AsyncSession, since: date
                             ) -> list[tuple[str, int, int]]:
        d = tables.daily_figures
        return [(r[0], int(r[1] or 0), int(r[2] or 0)) for r in (await s.execute(
            select(d.c.agency_code, func.sum(d.c.resolved), func.sum(d.c.early + d.c.on_time))
            .where(d.c.day >= since).group_by(d.c.agency_code))).all()]

    async def open_by_agency(self, s: AsyncSession, now: datetime, near: datetime
                             ) -> list[tuple[str, int, int, int, int]]:
        """(agency, in progress, awaiting supplement, near-due, overdue) of open dossiers;
        a dossier awaiting a supplement has its clock stopped: neither near-due nor late."""
        f = tables.dossier_facts
        running = f.c.status == "in_progress"
        q = (select(f.c.agency_code,
                    func.sum(case((running, 1), else_=0)),
                    func.sum(case((running, 0), else_=1)),
                    func.sum(case((running & (f.c.due_at >= now) & (f.c.due_at < near), 1),
                                  else_=0)),
                    func.sum(case((running & (f.c.due_at < now), 1), else_=0)))
             .where(f.c.status.in_(("in_progress", "awaiting_supplement")))
             .group_by(f.c.agency_code))
        return [(r[0], *(int(x or 0) for x in r[1:])) for r in (await s.execute(q)).all()]

    async def trend(self, s: AsyncSession, since: date) -> list[dict[str, Any]]:
        d = tables.daily_figures
        q = (select(d.c.day, func.sum(d.c.received), func.sum(d.c.resolved),
                    func.sum(d.c.late), func.sum(d.c.overdue))
             .where(d.c.day >= since).group_by(d.c.day).order_by(d.c.day))
        return [{"day": r[0].isoformat(), "received": int(r[1] or 0), "resolved": int(r[2] or 0),
                 "late": int(r[3] or 0), "overdue": int(r[4] or 0)}
                for r in (await s.execute(q)).all()]

    async def recent_facts(self, s: AsyncSession, limit: int,
                           agencies: set[str] | None = None) -> list[DossierFact]:
        """The latest recorded dossiers; `agencies` filters before the limit (a scoped
        instance must not lose its rows behind the rest of the country's)."""
        f = tables.dossier_facts
        q = (select(*_FACT_COLUMNS).where(f.c.last_recorded_at.is_not(None))
             .order_by(f.c.last_recorded_at.desc(), f.c.dossier_code).limit(limit))
        if agencies is not None:
            q = q.where(f.c.agency_code.in_(sorted(agencies)))
        return [fact_of(r) for r in (await s.execute(q)).mappings()]

    async def overdue_facts(self, s: AsyncSession, limit: int | None = None,
                            agencies: set[str] | None = None) -> list[DossierFact]:
        """Dossiers found overdue (or resolved late), latest first."""
        f = tables.dossier_facts
        q = (select(*_FACT_COLUMNS).where(f.c.overdue.is_(True))
             .order_by(f.c.overdue_at.desc(), f.c.dossier_code))
        if agencies is not None:
            q = q.where(f.c.agency_code.in_(sorted(agencies)))
        return [fact_of(r) for r in (await s.execute(q.limit(limit) if limit else q)).mappings()]

    async def late_open_facts(self, s: AsyncSession, now: datetime) -> list[DossierFact]:
        """Open dossiers past their due time not (yet) reported overdue by processing."""
        f = tables.dossier_facts
        q = select(*_FACT_COLUMNS).where(f.c.status == "in_progress", f.c.due_at < now,
                            f.c.overdue.is_(False))
        return [fact_of(r) for r in (await s.execute(q)).mappings()]

    async def procedures_of(self, s: AsyncSession, agency: str
                            ) -> list[tuple[str, str, int]]:
        f = tables.dossier_facts
        return [(r[0], r[1], int(r[2])) for r in (await s.execute(
            select(f.c.procedure_code, f.c.status, func.count())
            .where(f.c.agency_code == agency).group_by(f.c.procedure_code, f.c.status))).all()]

    async def dossiers_of(self, s: AsyncSession, agency: str, procedure: str | None,
                          limit: int) -> list[DossierFact]:
        f = tables.dossier_facts
        q = select(*_FACT_COLUMNS).where(f.c.agency_code == agency)
        if procedure:
            q = q.where(f.c.procedure_code == procedure)
        q = q.order_by(f.c.last_recorded_at.desc(), f.c.dossier_code).limit(limit)
        return [fact_of(r) for r in (await s.execute(q)).mappings()]

    async def steps_of(self, s: AsyncSession, codes: Sequence[str]
                       ) -> dict[str, list[StepFact]]:
        st = tables.step_facts
        out: dict[str, list[StepFact]] = defaultdict(list)
        for chunk in _chunks(codes):
            for r in (await s.execute(select(st).where(st.c.dossier_code.in_(chunk))
                                      .order_by(st.c.dossier_code, st.c.idx))).mappings():
                out[r["dossier_code"]].append(StepFact(**dict(r)))
        return out

    async def events_of_types(self, s: AsyncSession, codes: Sequence[str],
                              types: Sequence[str]) -> dict[str, list[Recorded]]:
        """The events of `types` of `codes`, per dossier, in the order they were stored."""
        e = tables.events
        out: dict[str, list[Recorded]] = defaultdict(list)
        for chunk in _chunks(codes):
            _add_recorded(out, await s.execute(_recorded_query().where(
                e.c.dossier_code.in_(chunk), e.c.type.in_(types)).order_by(e.c.seq)))
        return out

    async def step_totals(self, s: AsyncSession, since: datetime | None = None,
                          until: datetime | None = None) -> list[tuple[Any, ...]]:
        """Per holder (agency, department, assignee): completed steps, of them on time,
        their working seconds; with `since`/`until`, only the steps completed in
        [since, until)."""
        st = tables.step_facts
        done = st.c.to_at.is_not(None)
        in_time = done & or_(st.c.to_at <= st.c.step_due_at,
                             st.c.step_due_at.is_(None)
                             & st.c.outcome.in_(("early", "on_time")))
        q = (select(st.c.agency_code, st.c.department, st.c.assignee,
                    func.sum(case((done, 1), else_=0)), func.sum(case((in_time, 1), else_=0)),
                    func.sum(func.coalesce(st.c.working_seconds, 0)))
             .group_by(st.c.agency_code, st.c.department, st.c.assignee))
        if since is not None and until is not None:
            q = q.where(st.c.to_at >= since, st.c.to_at < until)
        return [tuple(r) for r in (await s.execute(q)).all()]

    # --- ratings -------------------------------------------------------------------------

    async def rated_at(self, s: AsyncSession, code: str,
                       origin: str = "counter_survey") -> datetime | None:
        """When the dossier's standing rating of this origin was given (None: not rated)."""
        r = tables.ratings
        return await s.scalar(select(r.c.rated_at).where(r.c.dossier_code == code,
                                                         r.c.origin == origin))

    async def rating(self, s: AsyncSession, code: str, origin: str) -> Rating | None:
        """The dossier's standing rating of this origin."""
        r = tables.ratings
        row = (await s.execute(select(r).where(r.c.dossier_code == code,
                                               r.c.origin == origin))).mappings().first()
        return None if row is None else Rating(**{**row, "event_id": row["event_id"] or ""})

    async def fold_ratings(self, s: AsyncSession, ratings: Sequence[Rating]) -> None:
        """Each dossier's rating of an origin replaced only by a later one
        (domain.latest_ratings), in the statement itself: two writers of one dossier never
        lose the later rating."""
        rows = [vars(x) for x in latest_ratings(ratings)]  # one per key per statement
        if not rows:
            return
        r = tables.ratings
        stmt = upsert(s, r)
        new = stmt.excluded
        later = (new.rated_at > r.c.rated_at) | (
            (new.rated_at == r.c.rated_at) & (new.event_id > func.coalesce(r.c.event_id, "")))
        await s.execute(stmt.on_conflict_do_update(
            index_elements=[r.c.dossier_code, r.c.origin], where=later,
            set_={c: new[c] for c in ("agency_code", "score", "comment", "rated_at",
                                      "event_id", "changeable_until")}), rows)

    async def ratings_by_agency(self, s: AsyncSession, since: datetime | None = None,
                                until: datetime | None = None
                                ) -> dict[str, tuple[int, float]]:
        """Per office: (ratings, average score), of those given in [since, until) when
        given."""
        r = tables.ratings
        q = select(r.c.agency_code, func.count(), func.avg(r.c.score)).group_by(r.c.agency_code)
        if since is not None and until is not None:
            q = q.where(r.c.rated_at >= since, r.c.rated_at < until)
        return {row[0]: (int(row[1]), float(row[2])) for row in (await s.execute(q)).all()}

    async def ratings_by_origin(self, s: AsyncSession, since: datetime, until: datetime
                                ) -> dict[tuple[str, str], tuple[int, float]]:
        """Per (office, origin): (ratings, average score) of those given in [since,
        until)."""
        r = tables.ratings
        q = (select(r.c.agency_code, r.c.origin, func.count(), func.avg(r.c.score))
             .where(r.c.rated_at >= since, r.c.rated_at < until)
             .group_by(r.c.agency_code, r.c.origin))
        return {(row[0], row[1]): (int(row[2]), float(row[3]))
                for row in (await s.execute(q)).all()}

    # --- the breach forecast -------------------------------------------------------------

    async def step_means(self, s: AsyncSession) -> list[tuple[str, str, float, int]]:
        """Per (agency, step code): the mean working seconds of its completed holdings."""
        st = tables.step_facts
        q = (select(st.c.agency_code, st.c.step_code, func.avg(st.c.working_seconds),
                    func.count()).where(st.c.working_seconds.is_not(None))
             .group_by(st.c.agency_code, st.c.step_code))
        return [(r[0], r[1], float(r[2] or 0), int(r[3])) for r in (await s.execute(q)).all()]

    async def running_facts(self, s: AsyncSession) -> list[DossierFact]:
        """Open dossiers whose clock runs (not awaiting a supplement)."""
        f = tables.dossier_facts
        q = select(*_FACT_COLUMNS).where(f.c.status == "in_progress").order_by(f.c.dossier_code)
        return [fact_of(r) for r in (await s.execute(q)).mappings()]
