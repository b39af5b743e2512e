"""Intake's use cases at the one-stop counter: receive a dossier (counter, post, online and
provincial systems alike), refuse one, request and receive its supplement, withdraw it.

Each reads through the repository port, decides with receipt.py, writes through the port and
emits through the outbox, all in the caller's transaction (the session it passes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from contracts.catalog import Agency
from contracts.common import ComponentRef, Problem, Reason
from contracts.envelope import Envelope
from contracts.events import Event, SupplementItem
from contracts.topics import Topic
from services.common.clock import Clock
from services.common.messaging.consumer import Context
from services.common.observability.logs import get_logger
from services.intake import receipt
from services.intake.domain import Change, Emit, IntakeLaw, Rejected, Submission
from services.intake.domain_metrics import IntakeMetrics
from services.intake.dossier import Dossier
from services.intake.repository import IntakeRepository, IntakeStore, Session
from services.intake.rules import dossier_code
from services.intake.warehouse import Warehouse
from services.law.catalog import CatalogIndex, CatalogSet
from services.law.pseudonym import applicant_pseudonym
from services.law.workdays import TZ, WorkCalendar

log = get_logger(__name__)


class Outbox(Protocol):
    """The part of the runtime's OutboxWriter the handlers use."""

    source: str
    clock: Clock

    async def add(self, session: Session, topic: Topic, envelope: Envelope,
                  key: str | None = None) -> None: ...

    async def emit(self, session: Session, topic: Topic, event: Event,
                   agency_code: str) -> Envelope: ...


async def emit_all(outbox: Outbox, s: Session, emits: list[Emit]) -> None:
    for e in emits:
        await outbox.emit(s, e.topic, e.event, e.agency_code)


class Intake:
    """The counter's use cases; the ingest topic's (ingest.py) are built on them."""

    def __init__(self, catalogs: CatalogSet, calendar: WorkCalendar, outbox: Outbox,
                 pseudonym_key: str, reuse_verified: bool = False,
                 repository: IntakeStore | None = None,
                 metrics: IntakeMetrics | None = None) -> None:
        self.law = IntakeLaw(catalogs, calendar)
        self.metrics = metrics
        self.outbox = outbox
        self.key = pseudonym_key
        # Whether reused components were checked against the warehouse before receipt.
        self.reuse_verified = reuse_verified
        self.repository: IntakeStore = repository or IntakeRepository()

    # The law as intake applies it (clients list the catalogue; slips are drawn with it).
    @property
    def catalogs(self) -> CatalogSet:
        return self.law.catalogs

    @property
    def catalog(self) -> CatalogIndex:
        return self.law.catalog

    def catalog_on(self, at: datetime) -> CatalogIndex:
        return self.law.catalog_on(at)

    def calendar_for(self, agency: Agency) -> WorkCalendar:
        return self.law.calendar_for(agency)

    # --- reads ---------------------------------------------------------------------------

    async def existing(self, s: Session, *, code: str | None = None,
                       submission_id: str | None = None) -> Dossier | None:
        if code:
            return await self.repository.dossier(s, code)
        return await self.repository.dossier_by_submission(s, submission_id)

    async def page(self, s: Session, *, agency: str | None, status: str | None,
                   channel: str | None, from_: datetime | None, to: datetime | None,
                   after: tuple[datetime, str] | None, limit: int,
                   within: set[str] | None = None) -> tuple[list[Dossier], bool]:
        """A page of dossiers (of the agencies `within`, None for all), and whether more
        follow (one row more is asked to tell)."""
        rows = await self.repository.page(s, agency=agency, status=status, channel=channel,
                                          from_=from_, to=to, after=after, limit=limit + 1,
                                          within=within)
        return rows[:limit], len(rows) > limit

    # --- receipt and refusal -------------------------------------------------------------

    async def verify_reuse(self, warehouse: Warehouse, sub: Submission) -> None:
        """Every reused component must be held for this applicant; all unknown ones at once
        (Rejected). WarehouseUnavailable when the warehouse cannot be asked."""
        reused = [c for c in sub.components if c.reused]
        if not reused:
            return
        ref = applicant_pseudonym(self.key, sub.applicant)
        found = {c.code: await warehouse.holds(ref, c.document_ref or "") for c in reused}
        unknown = [i for i, c in enumerate(sub.components) if c.reused and not found[c.code]]
        if unknown:
            raise Rejected([Problem.of(
                "reused_document_unknown",
                f"Kho dữ liệu không có tài liệu {sub.components[i].document_ref} của người nộp",
                f"the warehouse holds no {sub.components[i].document_ref} for this applicant",
                f"components.{i}.document_ref") for i in unknown])

    async def next_code(self, s: Session, agency_code: str, at: datetime) -> str:
        day = at.astimezone(TZ).date()
        return dossier_code(agency_code, day,
                            await self.repository.next_sequence(s, agency_code, day))

    async def _record(self, s: Session, sub: Submission, verdict: receipt.Verdict,
                      now: datetime) -> Dossier:
        """Record the dossier (received or refused), with a code if it has none."""
        code = sub.code or await self.next_code(s, sub.agency_code, sub.received_at)
        dossier = receipt.new_dossier(sub, code, verdict, now, pseudonym_key=self.key,
                                      reuse_verified=self.reuse_verified)
        await self.repository.insert_dossier(s, dossier)
        return dossier

    def judge(self, sub: Submission, now: datetime) -> receipt.Verdict:
        """The rules' verdict on a receipt (Rejected with every problem), asking no one."""
        return receipt.judge_receipt(self.law, sub, now)

    async def receive(self, s: Session, sub: Submission, now: datetime,
                      verdict: receipt.Verdict | None = None) -> Dossier:
        verdict = verdict or self.judge(sub, now)
        dossier = await self._record(s, sub, verdict, now)
        await emit_all(self.outbox, s, receipt.receipt_events(sub, dossier, verdict))
        if self.metrics:
            self.metrics.received(s, sub.channel.value)
        return dossier

    async def refuse(self, s: Session, sub: Submission, reasons: list[Reason],
                     now: datetime) -> Dossier:
        """A refusal slip with reasons; the dossier gets a code so the slip has one."""
        verdict = receipt.judge_refusal(self.law, sub, reasons, now)
        dossier = await self._record(s, sub, verdict, now)
        await emit_all(self.outbox, s, receipt.refusal_events(
            sub, dossier.code, dossier.applicant_ref, reasons, now))
        if self.metrics:
            self.metrics.refused(s, sub.channel.value)
        return dossier

    # --- the counter's actions on a recorded dossier -------------------------------------

    async def _apply(self, s: Session, change: Change, now: datetime) -> Change:
        await self.repository.update_dossier(s, change.dossier, change.columns, now)
        await emit_all(self.outbox, s, change.emits)
        return change

    async def request_supplement(self, s: Session, code: str, items: list[SupplementItem],
                                 requested_by: str, stage: str, now: datetime) -> Change:
        found = await self.repository.dossier(s, code)
        return await self._apply(s, receipt.supplement_request(
            found, code, items, requested_by, stage, now), now)

    async def receive_supplement(self, s: Session, code: str,
                                 components: list[ComponentRef], now: datetime) -> Change:
        found = await self.repository.dossier(s, code)
        return await self._apply(s, receipt.supplement(self.law, found, code, components,
                                                       now), now)

    async def on_processing_supplements(self, s: Session,
                                        items: list[tuple[Context, Any]]) -> None:
        """Supplements processing asked for (a batch): the dossiers wait for them, so the
        counter receives them as it receives its own request's. Read in one query, written
        in one."""
        found = await self.repository.dossiers(s, sorted({e.dossier_code for _, e in items}))
        changed: dict[str, Dossier] = {}
        for _, event in items:
            dossier = found.get(event.dossier_code)
            waiting = receipt.asked_in_processing(dossier, event)
            if waiting is None:
                log.info("supplement request not taken", dossier=event.dossier_code,
                         status=dossier.status if dossier else None)
                continue
            found[event.dossier_code] = changed[event.dossier_code] = waiting
        await self.repository.update_dossiers(s, self.outbox.clock.now(),
                                              list(changed.values()), receipt.AWAITING)

    async def withdraw(self, s: Session, code: str, reason: str | None, at: datetime,
                       now: datetime) -> Change:
        found = await self.repository.dossier(s, code)
        return await self._apply(s, receipt.withdrawal(found, code, reason, at), now)
