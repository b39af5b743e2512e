"""Every SQL statement of processing: cases, their history and steps, the applicants'
identities, the answers kept for Idempotency-Keys."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bulk import defer_insert, upsert
from services.common.idempotency import KeptAnswers
from services.processing import tables

# Two requests racing with one Idempotency-Key: the loser's insert fails on the key.
DuplicateKey = IntegrityError


class ProcessingRepository(KeptAnswers):
    answers_table = tables.idempotency
    async def case(self, s: AsyncSession, code: str, *, lock: bool = False
                   ) -> dict[str, Any] | None:
        """A case row; `lock` for a read that is written back (PostgreSQL row lock; SQLite
        already holds the write lock from BEGIN IMMEDIATE), so no transition is lost."""
        query = select(tables.cases).where(tables.cases.c.code == code)
        if lock:
            query = query.with_for_update()
        row = (await s.execute(query)).mappings().first()
        return dict(row) if row else None

    async def insert_case(self, s: AsyncSession, row: dict[str, Any]) -> None:
        await s.execute(tables.cases.insert().values(**row))

    async def update_case(self, s: AsyncSession, code: str, **values: Any) -> None:
        await s.execute(update(tables.cases).where(tables.cases.c.code == code)
                        .values(**values))

    def add_history(self, s: AsyncSession, row: dict[str, Any]) -> None:
        defer_insert(s, tables.case_history, row)

    def add_step(self, s: AsyncSession, row: dict[str, Any]) -> None:
        defer_insert(s, tables.steps, row)

    async def complete_step(self, s: AsyncSession, code: str, seq: int, at: datetime,
                            outcome: str) -> None:
        t = tables.steps
        await s.execute(update(t).where(t.c.dossier_code == code, t.c.seq == seq)
                        .values(completed_at=at, outcome=outcome))

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
                   deadline: str | None = None) -> list[dict[str, Any]]:
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

    async def keep_applicant(self, s: AsyncSession, row: dict[str, Any]) -> None:
        """Once per dossier: the same identity republished under a new event id (after a
        broker reset) changes nothing, and raises no IntegrityError to dead-letter it for."""
        t = tables.applicants
        await s.execute(upsert(s, t).values(**row).on_conflict_do_nothing(
            index_elements=[t.c.dossier_code]))
