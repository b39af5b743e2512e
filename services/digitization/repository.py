"""Every SQL statement of digitization: dossiers, their components, signed files, the
warehouse index. Batch reads take every row a batch touches in one query per table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.bulk import defer_insert, upsert
from services.digitization import tables

_COMPONENT_STATE = ("form", "document_ref", "digitized_at", "source", "sha256", "pages",
                    "signer", "not_digitized_at", "decided_by", "decision")


class DigitizationRepository:
    # --- a batch of consumed events --------------------------------------------------------

    async def dossiers(self, s: AsyncSession, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
        t = tables.dossiers
        rows = (await s.execute(select(t).where(t.c.code.in_(list(codes))))).mappings()
        return {r["code"]: dict(r) for r in rows}

    async def components_of(self, s: AsyncSession, codes: Iterable[str]
                            ) -> dict[str, dict[str, dict[str, Any]]]:
        c = tables.components.c
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for r in (await s.execute(select(tables.components).where(
                c.dossier_code.in_(list(codes))))).mappings():
            out.setdefault(r["dossier_code"], {})[r["code"]] = dict(r)
        return out

    async def insert_dossiers(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        if rows:
            await s.execute(tables.dossiers.insert(), rows)

    async def update_dossiers(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        if rows:
            t = tables.dossiers
            await s.execute(update(t).where(t.c.code == bindparam("b_code")).values(
                digitized_at=bindparam("digitized_at"),
                component_count=bindparam("component_count")).execution_options(
                synchronize_session=False),
                [{"b_code": r["code"], "digitized_at": r["digitized_at"],
                  "component_count": r["component_count"]} for r in rows])

    def insert_components(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            defer_insert(s, tables.components, row)

    async def update_components(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        if rows:
            c = tables.components.c
            await s.execute(update(tables.components).where(
                c.dossier_code == bindparam("b_dossier"), c.code == bindparam("b_code"))
                .values({k: bindparam(k) for k in _COMPONENT_STATE}).execution_options(
                synchronize_session=False),
                [{"b_dossier": r["dossier_code"], "b_code": r["code"],
                  **{k: r[k] for k in _COMPONENT_STATE}} for r in rows])

    async def store_documents(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """Into applicants' warehouses, once per (applicant, document)."""
        if rows:
            t = tables.documents
            await s.execute(upsert(s, t).on_conflict_do_nothing(
                index_elements=[t.c.applicant_ref, t.c.document_ref]), rows)

    async def keep_declarations(self, s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """The applicants' declared identities, one per dossier; a later record (intake
        corrected it) replaces the earlier."""
        if rows:
            t = tables.declarations
            stmt = upsert(s, t)
            await s.execute(stmt.on_conflict_do_update(
                index_elements=[t.c.dossier_code],
                set_={k: stmt.excluded[k] for k in ("full_name", "id_number",
                                                    "social_insurance_code", "recorded_at")}),
                rows)

    async def declaration(self, s: AsyncSession, code: str) -> dict[str, Any] | None:
        t = tables.declarations
        row = (await s.execute(select(t).where(t.c.dossier_code == code))).mappings().first()
        return dict(row) if row else None

    # --- one dossier (HTTP) --------------------------------------------------------------

    async def dossier(self, s: AsyncSession, code: str, lock: bool = False
                      ) -> dict[str, Any] | None:
        query = select(tables.dossiers).where(tables.dossiers.c.code == code)
        # Two components finished at once must not both see "one left" (PostgreSQL).
        row = (await s.execute(query.with_for_update() if lock else query)).mappings().first()
        return dict(row) if row else None

    async def component(self, s: AsyncSession, code: str,
                        component: str) -> dict[str, Any] | None:
        c = tables.components.c
        row = (await s.execute(select(tables.components).where(
            c.dossier_code == code, c.code == component))).mappings().first()
        return dict(row) if row else None

    async def components(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        c = tables.components.c
        return [dict(r) for r in (await s.execute(select(tables.components).where(
            c.dossier_code == code).order_by(c.code))).mappings()]

    async def finish_component(self, s: AsyncSession, code: str, component: str,
                               values: dict[str, Any]) -> bool:
        """False when it was finished meanwhile (a second scan of the same component)."""
        c = tables.components.c
        result = await s.execute(update(tables.components).where(
            c.dossier_code == code, c.code == component, c.digitized_at.is_(None),
            c.not_digitized_at.is_(None)).values(**values))
        return bool(getattr(result, "rowcount", 0))

    async def mark_dossier(self, s: AsyncSession, code: str, at: datetime) -> None:
        await s.execute(update(tables.dossiers).where(tables.dossiers.c.code == code)
                        .values(digitized_at=at))

    # --- files and the warehouse -----------------------------------------------------------

    async def add_file(self, s: AsyncSession, row: dict[str, Any]) -> None:
        t = tables.files
        await s.execute(upsert(s, t).values(**row).on_conflict_do_nothing(
            index_elements=[t.c.id]))

    async def file(self, s: AsyncSession, document_id: str) -> dict[str, Any] | None:
        t = tables.files
        row = (await s.execute(select(t).where(t.c.id == document_id))).mappings().first()
        return dict(row) if row else None

    async def document(self, s: AsyncSession, applicant_ref: str,
                       document_ref: str) -> dict[str, Any] | None:
        t = tables.documents
        row = (await s.execute(select(t).where(t.c.applicant_ref == applicant_ref,
                                               t.c.document_ref == document_ref))
               ).mappings().first()
        return dict(row) if row else None

    async def warehouse(self, s: AsyncSession, applicant_ref: str) -> list[dict[str, Any]]:
        """The applicant's documents with their signed file when held here, and every
        dossier that reused each (linked, not copied)."""
        d, f, c = tables.documents, tables.files, tables.components.c
        rows = [dict(r) for r in (await s.execute(
            select(d, f.c.sha256, f.c.pages, f.c.size, f.c.signer, f.c.signed_at)
            .outerjoin(f, f.c.id == d.c.document_ref)
            .where(d.c.applicant_ref == applicant_ref)
            .order_by(d.c.stored_at, d.c.document_ref))).mappings()]
        refs = [r["document_ref"] for r in rows]
        uses: dict[str, list[str]] = {}
        if refs:
            owned = select(tables.dossiers.c.code).where(
                tables.dossiers.c.applicant_ref == applicant_ref)
            for ref, dossier in (await s.execute(
                    select(c.document_ref, c.dossier_code).where(and_(
                        c.document_ref.in_(refs), c.source == "reused",
                        c.dossier_code.in_(owned))).order_by(c.dossier_code))).all():
                uses.setdefault(ref, []).append(dossier)
        return [{**r, "reused_in": uses.get(r["document_ref"], [])} for r in rows]
