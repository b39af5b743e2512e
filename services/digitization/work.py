"""Digitizing a dossier (Decision 1333/QĐ-BHXH step 3): electronic components are taken as
digitized on arrival; paper ones when an officer reports them scanned. When the last one is
done, the dossier is digitized and processing may start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.common import ComponentForm, ComponentRef
from contracts.events import ComponentDigitized, DossierDigitized, DossierReceived
from services.common.bulk import defer_insert, upsert
from services.common.consumer import Context
from services.common.outbox import OutboxWriter
from services.common.telemetry import get_logger
from services.digitization import tables

log = get_logger(__name__)


class NotFound(Exception):
    pass


class AlreadyDone(Exception):
    pass


class Digitizer:
    def __init__(self, outbox: OutboxWriter) -> None:
        self.outbox = outbox

    async def on_received(self, ctx: Context, event: DossierReceived) -> None:
        # Everything is known from the event: no read-back needed in this transaction.
        s, now = ctx.session, self.outbox.clock.now()
        # One row per component code: a code repeated by a sender (intake refuses it now,
        # older events may carry it) is taken once, first occurrence, never an IntegrityError
        # that would dead-letter the receipt and leave the dossier waiting forever.
        firsts: dict[str, ComponentRef] = {}
        for comp in event.components:
            firsts.setdefault(comp.code, comp)
        unique = list(firsts.values())
        electronic = [c for c in unique if c.form == ComponentForm.electronic]
        complete = len(electronic) == len(unique)
        # Inserted only if unknown, in the same round trip as the old plain insert: the same
        # dossier redelivered under another event id (a republish after a broker reset) is
        # already applied and changes nothing.
        inserted = (await s.execute(
            upsert(s, tables.dossiers).values(
                    code=event.dossier_code, agency_code=event.agency_code,
                    procedure_code=event.procedure_code, component_count=len(unique),
                    received_at=event.received_at, digitized_at=now if complete else None,
                    applicant_ref=event.applicant.ref)
            .on_conflict_do_nothing(index_elements=[tables.dossiers.c.code])
            .returning(tables.dossiers.c.code))).scalar_one_or_none()
        if inserted is None:
            log.info("dossier already known, receipt skipped", dossier=event.dossier_code,
                     event_id=str(ctx.envelope.id))
            return
        for comp in unique:
            done = comp.form == ComponentForm.electronic
            defer_insert(s, tables.components, {
                "dossier_code": event.dossier_code, "code": comp.code, "form": comp.form.value,
                "document_ref": comp.document_ref, "digitized_at": now if done else None})
            if done and comp.document_ref and not comp.reused:
                await self._store(s, event.applicant.ref, comp.document_ref,
                                  event.dossier_code, comp.code, now)
            if done:
                await self.outbox.emit(s, topics.DIGITIZATION, ComponentDigitized(
                    dossier_code=event.dossier_code, component_code=comp.code, form=comp.form,
                    digitized_at=now, document_ref=comp.document_ref), event.agency_code)
        if complete:
            await self.outbox.emit(s, topics.DIGITIZATION, DossierDigitized(
                dossier_code=event.dossier_code, agency_code=event.agency_code,
                procedure_code=event.procedure_code, digitized_at=now,
                component_count=len(unique)), event.agency_code)

    async def mark_paper_digitized(self, s: AsyncSession, code: str, component: str,
                                   document_ref: str | None) -> dict[str, Any]:
        now = self.outbox.clock.now()
        dossier = (await s.execute(select(tables.dossiers)
                                   .where(tables.dossiers.c.code == code))).mappings().first()
        comp = (await s.execute(select(tables.components).where(
            tables.components.c.dossier_code == code,
            tables.components.c.code == component))).mappings().first()
        if dossier is None or comp is None:
            raise NotFound(code if dossier is None else component)
        if comp["digitized_at"] is not None:
            raise AlreadyDone(component)
        await self._mark(s, code, component, ComponentForm(comp["form"]),
                         dossier["agency_code"], now, document_ref)
        if document_ref and dossier["applicant_ref"]:
            await self._store(s, dossier["applicant_ref"], document_ref, code, component, now)
        done = await self._finish_if_complete(s, code, now)
        return {"dossier_code": code, "component": component, "digitized_at": now.isoformat(),
                "dossier_digitized": done}

    async def _store(self, s: AsyncSession, applicant_ref: str, document_ref: str,
                     dossier_code: str | None, component: str | None, now: datetime,
                     source: str = "digitized") -> None:
        t = tables.documents
        exists = await s.scalar(select(func.count()).select_from(t).where(
            t.c.applicant_ref == applicant_ref, t.c.document_ref == document_ref))
        if not exists:
            await s.execute(t.insert().values(
                applicant_ref=applicant_ref, document_ref=document_ref,
                dossier_code=dossier_code, component_code=component, source=source,
                stored_at=now))

    async def hold(self, s: AsyncSession, applicant_ref: str, document_ref: str,
                   source: str) -> None:
        """Record a document held elsewhere (a connected national database)."""
        await self._store(s, applicant_ref, document_ref, None, None, self.outbox.clock.now(),
                          source)

    async def held(self, s: AsyncSession, applicant_ref: str, document_ref: str
                   ) -> dict[str, Any] | None:
        t = tables.documents
        row = (await s.execute(select(t).where(t.c.applicant_ref == applicant_ref,
                                               t.c.document_ref == document_ref))
               ).mappings().first()
        if row is None:
            return None
        return {**dict(row), "stored_at": row["stored_at"].isoformat()}

    async def _mark(self, s: AsyncSession, code: str, component: str, form: ComponentForm,
                    agency: str, now: datetime, document_ref: str | None) -> None:
        await s.execute(update(tables.components).where(
            tables.components.c.dossier_code == code, tables.components.c.code == component)
            .values(digitized_at=now, document_ref=document_ref))
        await self.outbox.emit(s, topics.DIGITIZATION, ComponentDigitized(
            dossier_code=code, component_code=component, form=form, digitized_at=now,
            document_ref=document_ref), agency)

    async def _finish_if_complete(self, s: AsyncSession, code: str, now: datetime) -> bool:
        pending = await s.scalar(select(func.count()).select_from(tables.components).where(
            tables.components.c.dossier_code == code,
            tables.components.c.digitized_at.is_(None)))
        if pending:
            return False
        dossier = (await s.execute(select(tables.dossiers)
                                   .where(tables.dossiers.c.code == code))).mappings().one()
        await s.execute(update(tables.dossiers).where(tables.dossiers.c.code == code)
                        .values(digitized_at=now))
        await self.outbox.emit(s, topics.DIGITIZATION, DossierDigitized(
            dossier_code=code, agency_code=dossier["agency_code"],
            procedure_code=dossier["procedure_code"], digitized_at=now,
            component_count=dossier["component_count"]), dossier["agency_code"])
        return True

    async def view(self, s: AsyncSession, code: str) -> dict[str, Any]:
        dossier = (await s.execute(select(tables.dossiers)
                                   .where(tables.dossiers.c.code == code))).mappings().first()
        if dossier is None:
            raise NotFound(code)
        comps = (await s.execute(select(tables.components)
                                 .where(tables.components.c.dossier_code == code))).mappings()
        return {"dossier_code": code,
                "digitized_at": dossier["digitized_at"] and dossier["digitized_at"].isoformat(),
                "components": [{"code": c["code"], "form": c["form"],
                                "document_ref": c["document_ref"],
                                "digitized_at": c["digitized_at"] and c["digitized_at"].isoformat()}
                               for c in comps]}
