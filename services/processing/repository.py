"""Every SQL statement of processing: cases, their history and steps, the applicants'
identities, the answers kept for Idempotency-Keys."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.common import ApplicantRef, LegalTime
from contracts.events import StepAssigned
from services.common.http.idempotency import KeptAnswers
from services.common.persistence.bulk import (
    defer_insert,
    dialect_of,
    rows_by_key,
    upsert,
    values_of,
    write_rows,
)
from services.processing import tables
from services.processing.case_record import FIELDS, CaseRecord, StoredClock
from services.processing.domain import AlertColumns
from services.processing.legal_clock import Period

# Two requests racing with one Idempotency-Key: the loser's insert fails on the key.
DuplicateKey = IntegrityError


# The open cases per agency and deadline status (ProcessingRepository.open_counts).
OPEN_COUNTS = (select(tables.cases.c.agency_code, tables.cases.c.deadline, func.count())
               .where(text(tables.OPEN_CASE))
               .group_by(tables.cases.c.agency_code, tables.cases.c.deadline))


class ProcessingRepository(KeptAnswers):
    answers_table = tables.idempotency
    async def case(self, s: AsyncSession, code: str) -> CaseRecord | None:
        rows = await self.cases(s, [code])
        return rows.get(code)

    async def cases(self, s: AsyncSession, codes: Collection[str], *, lock: bool = False
                    ) -> dict[str, CaseRecord]:
        """The cases of these codes, in one query; `lock` for rows that are written back
        (PostgreSQL row locks, taken in code order so two writers cannot deadlock; SQLite
        already holds the write lock from BEGIN IMMEDIATE), so no transition is lost."""
        if not codes:
            return {}
        dialect = dialect_of(s)
        rows = await s.execute(rows_by_key(tables.cases, "code", dialect, unique=True,
                                           lock=lock),
                               {"code": values_of(sorted(codes), dialect)})
        return {r["code"]: record_of(r) for r in rows.mappings()}

    async def ensure_cases(self, s: AsyncSession, records: list[CaseRecord]) -> None:
        """Insert the cases whose code is not there yet (one statement); existing ones are
        left as they are."""
        if records:
            await write_rows(s, tables.cases, [
                {"code": r.code, "state": r.state, "supplement_rounds": r.supplement_rounds,
                 "verifications": r.verifications, "assignments": r.assignments}
                for r in records], "keep", ("code",))

    async def write_cases(self, s: AsyncSession, records: list[CaseRecord]) -> None:
        """Whole cases written back by code, one statement for the batch (bulk.write_rows)."""
        await write_rows(s, tables.cases, [row_of(r) for r in records], "update", ("code",))

    def add_history(self, s: AsyncSession, code: str, history: dict[str, Any]) -> None:
        """A transition's history row (workflow.Transition.history)."""
        defer_insert(s, tables.case_history, {"dossier_code": code, **history})

    def add_step(self, s: AsyncSession, event: StepAssigned, seq: int) -> None:
        """The steps row of an assignment, `seq`-th of its dossier."""
        defer_insert(s, tables.steps, {
            "dossier_code": event.dossier_code, "seq": seq, "step_no": event.step_no,
            "step_code": event.step_code, "department": event.department,
            "assignee": event.assignee, "assigned_at": event.assigned_at,
            "due_at": event.step_due_at})

    async def complete_steps(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Steps completed (dossier_code, seq, completed_at, outcome), one statement for the
        batch (bulk.write_rows)."""
        await write_rows(s, tables.steps, rows, "update", ("dossier_code", "seq"))

    async def steps(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        t = tables.steps
        return [dict(r) for r in (await s.execute(
            select(t).where(t.c.dossier_code == code).order_by(t.c.seq))).mappings()]

    async def history(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        t = tables.case_history
        return [dict(r) for r in (await s.execute(
            select(t).where(t.c.dossier_code == code).order_by(t.c.id))).mappings()]

    async def page(self, s: AsyncSession, *, agencies: Collection[str] | None,
                   department: str | None, officer: str | None, state: str | None,
                   after: tuple[datetime, str] | None, limit: int,
                   deadline: str | None = None, explained: bool | None = None
                   ) -> list[CaseRecord]:
        """Up to `limit` received cases by receipt time then code, after the cursor (keyset
        pagination: pages stay stable while new cases arrive)."""
        t = tables.cases
        query = select(t).where(t.c.received_at.is_not(None)).order_by(
            t.c.received_at, t.c.code).limit(limit)
        if agencies is not None:
            query = query.where(t.c.agency_code.in_(list(agencies)))
        for column, value in ((t.c.department, department), (t.c.holder, officer),
                              (t.c.state, state), (t.c.deadline, deadline)):
            if value is not None:
                query = query.where(column == value)
        if explained is not None:
            query = query.where(t.c.explained_at.is_not(None) if explained
                                else t.c.explained_at.is_(None))
        if after is not None:
            at, code = after
            query = query.where(or_(t.c.received_at > at,
                                    and_(t.c.received_at == at, t.c.code > code)))
        return [record_of(r) for r in (await s.execute(query)).mappings().all()]

    async def due_alerts(self, s: AsyncSession, now: datetime, limit: int
                         ) -> list[CaseRecord]:
        """The deadline monitor's batch: cases whose next alert is due, earliest first, by
        the index on next_alert_at. Locked rows are skipped (PostgreSQL), so two replicas
        share the work and never fire one alert twice; SQLite's BEGIN IMMEDIATE already
        serialises writers (the clause is not rendered there)."""
        t = tables.cases
        query = (select(t).where(t.c.next_alert_at <= now).order_by(t.c.next_alert_at)
                 .limit(limit).with_for_update(skip_locked=True))
        return [record_of(r) for r in (await s.execute(query)).mappings().all()]

    async def unscheduled(self, s: AsyncSession, resolved: Collection[str], limit: int
                          ) -> list[CaseRecord]:
        """Open cases whose alerts were never scheduled (opened before the monitor
        existed: alerts_fired is NULL only on those), locked like the monitor's batch. A
        scan, so it runs once per start-up, not per tick."""
        t = tables.cases
        query = (select(t).where(t.c.alerts_fired.is_(None), t.c.clock.is_not(None),
                                 t.c.state.not_in(list(resolved)))
                 .limit(limit).with_for_update(skip_locked=True))
        return [record_of(r) for r in (await s.execute(query)).mappings().all()]

    async def open_counts(self, s: AsyncSession) -> list[tuple[str, str | None, int]]:
        """Received cases not resolved, per agency and deadline status (what the monitor
        wrote: near, overdue or NULL): one grouped query, for the metrics' gauges. Its
        condition is ix_cases_open's own text, so the count reads that partial index (the
        open cases), not every case."""
        return [(a or "", d, int(n)) for a, d, n in (await s.execute(OPEN_COUNTS)).all()]

    async def set_alerts(self, s: AsyncSession, alerts: list[tuple[str, AlertColumns]]
                         ) -> None:
        """The monitor's columns of many cases in one executemany, by code."""
        if not alerts:
            return
        t = tables.cases
        await s.execute(
            update(t).where(t.c.code == bindparam("b_code")).values(
                next_alert_at=bindparam("b_next_alert_at"),
                alerts_fired=bindparam("b_alerts_fired"), deadline=bindparam("b_deadline")),
            [{"b_code": code, "b_next_alert_at": a.next_alert_at,
              "b_alerts_fired": list(a.alerts_fired), "b_deadline": a.deadline}
             for code, a in alerts])

    async def applicant(self, s: AsyncSession, code: str) -> dict[str, Any] | None:
        """The applicant's identity (for the letters sent to them)."""
        t = tables.applicants
        return await s.scalar(select(t.c.applicant).where(t.c.dossier_code == code))

    async def keep_applicants(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Once per dossier, one statement for the batch: the same identity republished
        under a new event id (after a broker reset) changes nothing, and raises no
        IntegrityError to dead-letter it for."""
        if rows:
            t = tables.applicants
            # Kept only by the services that need them: a letter needs the name, not the
            # applicant's ID number, social insurance code or contacts.
            rows = [{**r, "applicant": _for_letters(r["applicant"])} for r in rows]
            await s.execute(upsert(s, t).on_conflict_do_nothing(
                index_elements=[t.c.dossier_code]), rows)


def _for_letters(applicant: dict[str, Any]) -> dict[str, Any]:
    """What case_views.applicant_name reads of an applicant, and its kind."""
    return {k: applicant[k] for k in ("kind", "full_name", "name") if k in applicant}


# --- cases rows to and from CaseRecord ------------------------------------------------------


def _when(value: Any) -> datetime | None:
    """A JSON column's time: an ISO string (or a datetime, as SQLite's JSON may hand back
    what was written in the same session)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _clock(stored: Any) -> StoredClock | None:
    if not stored:
        return None
    return StoredClock(
        tuple(Period(_when(p["start"]), _when(p["end"]), p["kind"],  # type: ignore[arg-type]
                     p.get("department"), p.get("officer")) for p in stored["periods"]),
        tuple(_when(r) for r in stored.get("restarts", ())))  # type: ignore[misc]


def clock_json(clock: StoredClock) -> dict[str, Any]:
    return {"periods": [{"start": p.start.isoformat(),
                         "end": p.end.isoformat() if p.end else None, "kind": p.kind,
                         "department": p.department, "officer": p.officer}
                        for p in clock.periods],
            "restarts": [r.isoformat() for r in clock.restarts]}


def record_of(row: Mapping[str, Any]) -> CaseRecord:
    """A cases row as the aggregate: its JSON columns parsed once, here."""
    fired, legal, applicant = row["alerts_fired"], row["legal_time"], row["applicant"]
    return CaseRecord(
        code=row["code"], state=row["state"], agency_code=row["agency_code"],
        procedure_code=row["procedure_code"], catalog_version=row["catalog_version"],
        received_at=row["received_at"], due_at=row["due_at"],
        digitized_at=row["digitized_at"], opened_at=row["opened_at"],
        current_step=row["current_step"], department=row["department"],
        holder=row["holder"],
        legal_time=LegalTime.model_validate(legal) if legal else None,
        clock_start=row["clock_start"], clock=_clock(row["clock"]),
        step_dues=tuple(d for d in map(_when, row["step_dues"] or ()) if d),
        applicant=ApplicantRef.model_validate(applicant) if applicant else None,
        return_channel=row["return_channel"], proposal=row["proposal"],
        supplement_rounds=row["supplement_rounds"] or 0,
        verifications=row["verifications"] or 0, open_request=row["open_request"],
        asked_agency=row["asked_agency"], stop_notice=row["stop_notice"],
        assignments=row["assignments"] or 0, updated_at=row["updated_at"],
        next_alert_at=row["next_alert_at"],
        alerts_fired=tuple(fired) if fired is not None else None,
        deadline=row["deadline"], origin_system=row["origin_system"],
        explained_at=row["explained_at"], explanation=row["explanation"],
        apology=row["apology"], channel=row["channel"], result=row["result"],
        extraction_flags=row["extraction_flags"], agency_requests=row["agency_requests"],
        published_results=tuple(row["published_results"] or ()))


def row_of(record: CaseRecord) -> dict[str, Any]:
    """The aggregate as the cases row's column values."""
    values = dict(zip(FIELDS, _fields(record), strict=True))
    legal, applicant, clock = record.legal_time, record.applicant, record.clock
    fired = record.alerts_fired
    values.update(
        legal_time=legal.model_dump(mode="json") if legal else None,
        applicant=applicant.model_dump(mode="json") if applicant else None,
        clock=clock_json(clock) if clock is not None else None,
        step_dues=[d.isoformat() for d in record.step_dues] or None,
        alerts_fired=list(fired) if fired is not None else None,
        published_results=list(record.published_results) or None)
    return values


_fields = attrgetter(*FIELDS)
