"""Every SQL statement of digitization: dossiers, their components, signed files, the
warehouse index. Batch reads take every row a batch touches in one query per table."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.persistence.bulk import (
    defer_insert,
    dialect_of,
    rows_by_key,
    upsert,
    values_of,
)
from services.digitization import tables
from services.digitization.document_set import ComponentScan, DocumentSet

_COMPONENT_STATE = ("form", "document_ref", "digitized_at", "source", "sha256", "pages",
                    "signer", "not_digitized_at", "decided_by", "decision", "extraction")
# The aggregates' fields bear their tables' column names.
_DOSSIER = tuple(c.name for c in tables.dossiers.columns)
_COMPONENT = tuple(c.name for c in tables.components.columns)


def document_set(row: Any) -> DocumentSet:
    return DocumentSet(**row)


def component_scan(row: Any) -> ComponentScan:
    return ComponentScan(**row)


class DigitizationRepository:
    # --- a batch of consumed events --------------------------------------------------------

    async def dossiers(self, s: AsyncSession, codes: Iterable[str]) -> dict[str, DocumentSet]:
        dialect = dialect_of(s)
        rows = (await s.execute(rows_by_key(tables.dossiers, "code", dialect, unique=True),
                                {"code": values_of(codes, dialect)})).mappings()
        return {r["code"]: document_set(r) for r in rows}

    async def components_of(self, s: AsyncSession, codes: Iterable[str]
                            ) -> dict[str, dict[str, ComponentScan]]:
        out: dict[str, dict[str, ComponentScan]] = {}
        dialect = dialect_of(s)
        for r in (await s.execute(
                rows_by_key(tables.components, "dossier_code", dialect, unique=False),
                {"dossier_code": values_of(codes, dialect)})).mappings():
            out.setdefault(r["dossier_code"], {})[r["code"]] = component_scan(r)
        return out

    async def insert_dossiers(self, s: AsyncSession, dossiers: list[DocumentSet]) -> None:
        if dossiers:
            await s.execute(tables.dossiers.insert(),
                            [{n: getattr(d, n) for n in _DOSSIER} for d in dossiers])

    async def update_dossiers(self, s: AsyncSession, dossiers: list[DocumentSet]) -> None:
        if dossiers:
            t = tables.dossiers
            await s.execute(update(t).where(t.c.code == bindparam("b_code")).values(
                digitized_at=bindparam("digitized_at"),
                component_count=bindparam("component_count")).execution_options(
                synchronize_session=False),
                [{"b_code": d.code, "digitized_at": d.digitized_at,
                  "component_count": d.component_count} for d in dossiers])

    def insert_components(self, s: AsyncSession, components: list[ComponentScan]) -> None:
        for comp in components:
            defer_insert(s, tables.components, {n: getattr(comp, n) for n in _COMPONENT})

    async def update_components(self, s: AsyncSession, components: list[ComponentScan]
                                ) -> None:
        if components:
            c = tables.components.c
            await s.execute(update(tables.components).where(
                c.dossier_code == bindparam("b_dossier"), c.code == bindparam("b_code"))
                .values({k: bindparam(k) for k in _COMPONENT_STATE}).execution_options(
                synchronize_session=False),
                [{"b_dossier": r.dossier_code, "b_code": r.code,
                  **{k: getattr(r, k) for k in _COMPONENT_STATE}} for r in components])

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
                      ) -> DocumentSet | None:
        query = select(tables.dossiers).where(tables.dossiers.c.code == code)
        # Two components finished at once must not both see "one left" (PostgreSQL).
        row = (await s.execute(query.with_for_update() if lock else query)).mappings().first()
        return document_set(row) if row else None

    async def component(self, s: AsyncSession, code: str,
                        component: str) -> ComponentScan | None:
        c = tables.components.c
        row = (await s.execute(select(tables.components).where(
            c.dossier_code == code, c.code == component))).mappings().first()
        return component_scan(row) if row else None

    async def components(self, s: AsyncSession, code: str) -> list[ComponentScan]:
        c = tables.components.c
        return [component_scan(r) for r in (await s.execute(select(tables.components).where(
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

    async def file(self, s: AsyncSession, document_id: str,
                   agencies: Collection[str] | None = None) -> dict[str, Any] | None:
        """A signed file, if the agencies given (None: all) hold it: its own agency's, or a
        dossier of theirs reused it for the same applicant."""
        f = tables.files
        row = (await s.execute(select(f).where(f.c.id == document_id, _or_reused(
            f.c.agency_code, f.c.id, None, agencies)))).mappings().first()
        return dict(row) if row else None

    async def document(self, s: AsyncSession, applicant_ref: str, document_ref: str,
                       agencies: Collection[str] | None = None) -> dict[str, Any] | None:
        t = tables.documents
        row = (await s.execute(select(t).where(
            t.c.applicant_ref == applicant_ref, t.c.document_ref == document_ref,
            _or_reused(t.c.agency_code, t.c.document_ref, t.c.applicant_ref, agencies)))
               ).mappings().first()
        return dict(row) if row else None

    async def warehouse(self, s: AsyncSession, applicant_ref: str,
                        agencies: Collection[str] | None = None) -> list[dict[str, Any]]:
        """The applicant's documents the agencies given hold (None: all), with their signed
        file when held here, and every dossier of theirs that reused each (linked, not
        copied)."""
        d, f, c = tables.documents, tables.files, tables.components.c
        o = tables.dossiers.c
        rows = [dict(r) for r in (await s.execute(
            select(d, f.c.sha256, f.c.pages, f.c.size, f.c.signer, f.c.signed_at)
            .outerjoin(f, f.c.id == d.c.document_ref)
            .where(d.c.applicant_ref == applicant_ref,
                   _or_reused(d.c.agency_code, d.c.document_ref, d.c.applicant_ref, agencies))
            .order_by(d.c.stored_at, d.c.document_ref))).mappings()]
        refs = [r["document_ref"] for r in rows]
        uses: dict[str, list[str]] = {}
        if refs:
            owned = select(o.code).where(o.applicant_ref == applicant_ref, _within(
                o.agency_code, agencies))
            for ref, dossier in (await s.execute(
                    select(c.document_ref, c.dossier_code).where(and_(
                        c.document_ref.in_(refs), c.source == "reused",
                        c.dossier_code.in_(owned))).order_by(c.dossier_code))).all():
                uses.setdefault(ref, []).append(dossier)
        return [{**r, "reused_in": uses.get(r["document_ref"], [])} for r in rows]


def _within(agency: Any, agencies: Collection[str] | None) -> ColumnElement[bool]:
    return true() if agencies is None else agency.in_(list(agencies))


def _or_reused(agency: Any, document_ref: Any, applicant_ref: Any,
               agencies: Collection[str] | None) -> ColumnElement[bool]:
    """Held by one of the agencies, or reused by a dossier of theirs for the same applicant
    (the warehouse's point: the applicant's papers are not asked for again). A component
    that merely names a reference, without the reuse intake checked, opens nothing."""
    if agencies is None:
        return true()
    c, o, w = tables.components.c, tables.dossiers.c, tables.documents.c
    same_applicant = (o.applicant_ref == applicant_ref if applicant_ref is not None
                      else exists().where(w.document_ref == c.document_ref,
                                          w.applicant_ref == o.applicant_ref))
    reused = exists().where(c.document_ref == document_ref, c.source == "reused",
                            o.code == c.dossier_code, o.agency_code.in_(list(agencies)),
                            same_applicant)
    return or_(agency.in_(list(agencies)), reused)
