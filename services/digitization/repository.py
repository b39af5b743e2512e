"""Every SQL statement of digitization: dossiers, their components, the warehouse index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bulk import defer_insert, upsert
from services.digitization import tables


class DigitizationRepository:
    async def add_dossier_if_new(self, s: AsyncSession, row: dict[str, Any]) -> bool:
        """False when the dossier is known already (the same receipt redelivered under
        another event id): one round trip either way."""
        t = tables.dossiers
        inserted = (await s.execute(upsert(s, t).values(**row)
                                    .on_conflict_do_nothing(index_elements=[t.c.code])
                                    .returning(t.c.code))).scalar_one_or_none()
        return inserted is not None

    def add_component(self, s: AsyncSession, row: dict[str, Any]) -> None:
        defer_insert(s, tables.components, row)

    async def dossier(self, s: AsyncSession, code: str) -> dict[str, Any] | None:
        row = (await s.execute(select(tables.dossiers).where(tables.dossiers.c.code == code))
               ).mappings().first()
        return dict(row) if row else None

    async def component(self, s: AsyncSession, code: str,
                        component: str) -> dict[str, Any] | None:
        c = tables.components.c
        row = (await s.execute(select(tables.components).where(
            c.dossier_code == code, c.code == component))).mappings().first()
        return dict(row) if row else None

    async def components(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        return [dict(r) for r in (await s.execute(select(tables.components).where(
            tables.components.c.dossier_code == code))).mappings()]

    async def mark_component(self, s: AsyncSession, code: str, component: str, at: datetime,
                             document_ref: str | None) -> None:
        c = tables.components.c
        await s.execute(update(tables.components).where(
            c.dossier_code == code, c.code == component).values(
            digitized_at=at, document_ref=document_ref))

    async def components_left(self, s: AsyncSession, code: str) -> int:
        c = tables.components.c
        return int(await s.scalar(select(func.count()).select_from(tables.components).where(
            c.dossier_code == code, c.digitized_at.is_(None))) or 0)

    async def mark_dossier(self, s: AsyncSession, code: str, at: datetime) -> None:
        await s.execute(update(tables.dossiers).where(tables.dossiers.c.code == code)
                        .values(digitized_at=at))

    async def store_document(self, s: AsyncSession, row: dict[str, Any]) -> None:
        """Into the applicant's warehouse, once per (applicant, document)."""
        t = tables.documents
        exists = await s.scalar(select(func.count()).select_from(t).where(
            t.c.applicant_ref == row["applicant_ref"], t.c.document_ref == row["document_ref"]))
        if not exists:
            await s.execute(t.insert().values(**row))

    async def document(self, s: AsyncSession, applicant_ref: str,
                       document_ref: str) -> dict[str, Any] | None:
        t = tables.documents
        row = (await s.execute(select(t).where(t.c.applicant_ref == applicant_ref,
                                               t.c.document_ref == document_ref))
               ).mappings().first()
        return dict(row) if row else None
