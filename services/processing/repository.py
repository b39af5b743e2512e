"""Every SQL statement of processing: cases, their history and steps, the applicants'
identities, the answers kept for Idempotency-Keys."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bulk import defer_insert, upsert
from services.common.idempotency import KeptAnswers
from services.processing import tables

# Two requests racing with one Idempotency-Key: the loser's insert fails on the key.
DuplicateKey = IntegrityError


class ProcessingRepository(KeptAnswers):
    answers_table = tables.idempotency
    async def case(self, s: AsyncSession, code: str) -> dict[str, Any] | None:
        rows = await self.cases(s, [code])
        return rows.get(code)

    async def cases(self, s: AsyncSession, codes: Collection[str], *, lock: bool = False
                    ) -> dict[str, dict[str, Any]]:
        """The cases of these codes, in one query; `lock` for rows that are written back
        (PostgreSQL row locks, taken in code order so two writers cannot deadlock; SQLite
        already holds the write lock from BEGIN IMMEDIATE), so no transition is lost."""
        if not codes:
            return {}
        t = tables.cases
        query = select(t).where(t.c.code.in_(list(codes))).order_by(t.c.code)
        if lock:
            query = query.with_for_update()
        return {r["code"]: dict(r) for r in (await s.execute(query)).mappings()}

    async def ensure_cases(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Insert the rows whose code is not there yet (one statement); existing ones are
        left as they are."""
        if rows:
            t = tables.cases
            await s.execute(upsert(s, t).on_conflict_do_nothing(index_elements=[t.c.code]),
                            rows)

    async def write_cases(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Whole case rows written back by code, one executemany for the batch."""
        if not rows:
            return
        t = tables.cases
        columns = [c.name for c in t.columns if c.name != "code"]
        await s.execute(
            update(t).where(t.c.code == bindparam("b_code")).values(
                {name: bindparam(f"b_{name}") for name in columns}),
            [{f"b_{name}": row.get(name) for name in ["code", *columns]} for row in rows])

    def add_history(self, s: AsyncSession, row: dict[str, Any]) -> None:
        defer_insert(s, tables.case_history, row)

    def add_step(self, s: AsyncSession, row: dict[str, Any]) -> None:
        defer_insert(s, tables.steps, row)

    async def complete_steps(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Steps completed (dossier_code, seq, completed_at, outcome), one executemany."""
        if not rows:
            return
        t = tables.steps
        await s.execute(
            update(t).where(t.c.dossier_code == bindparam("b_dossier_code"),
                            t.c.seq == bindparam("b_seq")).values(
                completed_at=bindparam("b_completed_at"), outcome=bindparam("b_outcome")),
            [{f"b_{k}": v for k, v in row.items()} for row in rows])

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
                   ) -> list[dict[str, Any]]:
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
        return [dict(r) for r in (await s.execute(query)).mappings().all()]

    async def due_alerts(self, s: AsyncSession, now: datetime, limit: int
                         ) -> list[dict[str, Any]]:
        """The deadline monitor's batch: cases whose next alert is due, earliest first, by
        the index on next_alert_at. Locked rows are skipped (PostgreSQL), so two replicas
        share the work and never fire one alert twice; SQLite's BEGIN IMMEDIATE already
        serialises writers (the clause is not rendered there)."""
        t = tables.cases
        query = (select(t).where(t.c.next_alert_at <= now).order_by(t.c.next_alert_at)
                 .limit(limit).with_for_update(skip_locked=True))
        return [dict(r) for r in (await s.execute(query)).mappings().all()]

    async def unscheduled(self, s: AsyncSession, resolved: Collection[str], limit: int
                          ) -> list[dict[str, Any]]:
        """Open cases whose alerts were never scheduled (opened before the monitor
        existed: alerts_fired is NULL only on those), locked like the monitor's batch. A
        scan, so it runs once per start-up, not per tick."""
        t = tables.cases
        query = (select(t).where(t.c.alerts_fired.is_(None), t.c.clock.is_not(None),
                                 t.c.state.not_in(list(resolved)))
                 .limit(limit).with_for_update(skip_locked=True))
        return [dict(r) for r in (await s.execute(query)).mappings().all()]

    async def open_counts(self, s: AsyncSession, resolved: Collection[str]
                          ) -> list[tuple[str, str | None, int]]:
        """Received cases not resolved, per agency and deadline status (what the monitor
        wrote: near, overdue or NULL): one grouped query, for the metrics' gauges."""
        t = tables.cases
        query = (select(t.c.agency_code, t.c.deadline, func.count())
                 .where(t.c.received_at.is_not(None), t.c.state.not_in(list(resolved)))
                 .group_by(t.c.agency_code, t.c.deadline))
        return [(a or "", d, int(n)) for a, d, n in (await s.execute(query)).all()]

    async def set_alerts(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """The monitor's columns of many cases in one executemany: code, next_alert_at,
        alerts_fired, deadline."""
        if not rows:
            return
        t = tables.cases
        await s.execute(
            update(t).where(t.c.code == bindparam("b_code")).values(
                next_alert_at=bindparam("b_next_alert_at"),
                alerts_fired=bindparam("b_alerts_fired"), deadline=bindparam("b_deadline")),
            [{f"b_{k}": v for k, v in row.items()} for row in rows])

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
    """What domain.applicant_name reads of an applicant, and its kind."""
    return {k: applicant[k] for k in ("kind", "full_name", "name") if k in applicant}
