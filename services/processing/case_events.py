"""The consumer's batch: intake's and digitization's events, and a province's statuses. A
case is known from intake's and digitization's events and opens at its first step when both
have arrived; then intake's events (supplement, withdrawal) move it, each through the one
writing path (case_records.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.catalog import Procedure
from contracts.events import (
    ApplicantRecorded,
    DossierDigitized,
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from services.common.messaging.consumer import Context, traced
from services.common.observability.logs import get_logger
from services.processing import domain, provincial
from services.processing.case_record import CaseRecord
from services.processing.case_records import CaseRecorder, Touched
from services.processing.workflow import (
    Action,
    InvalidAction,
    Payload,
    SupplementIn,
    Withdraw,
    WrongState,
    apply,
)

log = get_logger(__name__)

# What the provincial topic says of a dossier processed in a province's own software.
PROVINCE_EVENTS = (StepAssigned, StepCompleted, DossierResolved, ResultReturned)


class CaseEvents:
    def __init__(self, recorder: CaseRecorder) -> None:
        self.recorder = recorder
        self.law = recorder.law
        self.outbox = recorder.outbox
        self.repo = recorder.repo

    async def apply_batch(self, s: AsyncSession, items: list[tuple[Context, Any]]) -> None:
        """A batch of intake's and digitization's events: the cases they touch read (and
        locked) in one query, each event applied in order in memory, then every changed
        case written in one statement, step completions in another."""
        # Receipts first: a province's later statuses may share the batch on another topic.
        items = sorted(items, key=lambda item: not isinstance(item[1], DossierReceived))
        creating = {e.dossier_code for _, e in items
                    if isinstance(e, (DossierReceived, DossierDigitized, *PROVINCE_EVENTS))}
        # Insert-if-absent first, so two replicas that meet one new dossier on two topics
        # both find a row to lock and the second waits for the first.
        await self.repo.ensure_cases(s, [domain.new_record(code) for code in sorted(creating)])
        touched = Touched(await self.repo.cases(
            s, sorted({e.dossier_code for _, e in items}), lock=True))
        applicants: dict[str, dict[str, Any]] = {}
        for ctx, event in items:
            with traced(ctx):
                self.recorder.portal.heard(s, touched.rows.get(event.dossier_code), event)
                if isinstance(event, ApplicantRecorded):
                    applicants.setdefault(event.dossier_code, {
                        "dossier_code": event.dossier_code,
                        "applicant_ref": event.applicant_ref,
                        "applicant": event.applicant.model_dump(mode="json")})
                else:
                    await self._on_event(s, touched, event)
        await self.repo.keep_applicants(s, list(applicants.values()))
        await self.recorder.write(s, touched)

    async def _on_event(self, s: AsyncSession, touched: Touched, event: Any) -> None:
        row = touched.rows.get(event.dossier_code)
        if isinstance(event, DossierDigitized) and row is not None:
            # What OCR flagged is kept whatever the case's state; the clock goes on below.
            touched.put(row := domain.with_extractions(row, event))
        if row is not None and (provincial.is_provincial(row) or (
                isinstance(event, DossierReceived) and event.origin_system) or
                isinstance(event, PROVINCE_EVENTS)):
            await self._watch(s, touched, row, event)
        elif isinstance(event, SupplementRequested):
            return  # asked at a counter before the case opened, or by processing itself
        elif isinstance(event, DossierRejected):
            return  # refused at receipt: no case; read for the portal only
        elif isinstance(event, DossierReceived):
            await self._merge(s, touched, domain.with_receipt(touched.rows[event.dossier_code],
                                                              event))
        elif isinstance(event, DossierDigitized):
            await self._merge(s, touched, domain.with_digitized(
                touched.rows[event.dossier_code], event))
        elif isinstance(event, SupplementReceived):
            await self._on_supplement(s, touched, event)
        elif isinstance(event, DossierWithdrawn):
            await self._on_withdrawn(s, touched, event)
        else:  # the wiring test keeps app.py's types and these branches together
            raise TypeError(f"processing has no handler for {type(event).__name__}")

    async def _watch(self, s: AsyncSession, touched: Touched, row: CaseRecord,
                     event: Any) -> None:
        """A dossier a province processes: its facts kept, its clock watched, and its
        results published on the results topic like a central dossier's, once each."""
        calendar, now = self.law.calendar(row), self.outbox.clock.now()
        if isinstance(event, DossierReceived):
            move = provincial.received(row, event, calendar, now)
        elif isinstance(event, StepAssigned):
            move = provincial.step_assigned(row, event, calendar, now)
        elif isinstance(event, StepCompleted):
            move = provincial.step_completed(row, event)
        elif isinstance(event, DossierResolved):
            move = provincial.resolved(row, event, calendar)
        elif isinstance(event, ResultReturned):
            move = provincial.returned(row, event, calendar)
        elif isinstance(event, DossierWithdrawn):
            move = provincial.withdrawn(row, event, calendar)
        elif isinstance(event, SupplementRequested):
            move = provincial.supplement_requested(row, event, calendar)
        elif isinstance(event, SupplementReceived):
            move = provincial.supplement_received(row, event, calendar)
        else:  # digitization's events change nothing the centre watches
            return
        if move.step is not None:
            self.repo.add_step(s, move.step, move.seq)
        if move.completion is not None:
            touched.completions.append(move.completion)
        touched.change(row.code, move.values)
        touched.clocked.add(row.code)
        if isinstance(event, DossierReceived | DossierResolved | ResultReturned):
            await self._publish_results(s, touched, row.code)

    async def _publish_results(self, s: AsyncSession, touched: Touched, code: str) -> None:
        """A province's decision and return on the results topic (provincial.py), in the
        transaction that records them with the consumed event: exactly once."""
        row = touched.rows[code]
        events, values = provincial.results_to_publish(row)
        for event in events:
            await self.outbox.emit(s, topics.RESULTS, event, row.agency_code or "")
        touched.change(code, values)

    async def _merge(self, s: AsyncSession, touched: Touched, merged: CaseRecord) -> None:
        """The case with what the event added (domain.with_receipt, with_digitized), and
        opened when ready."""
        if domain.ready_to_open(merged):
            merged = await self._open(s, touched, merged) or merged
        touched.put(merged)

    async def _open(self, s: AsyncSession, touched: Touched, row: CaseRecord
                    ) -> CaseRecord | None:
        procedure = self.law.procedure(row)
        if procedure is None:
            log.warning("case not opened: procedure not in the catalogue",
                        dossier=row.code, procedure=row.procedure_code)
            return None
        calendar = self.law.calendar(row)
        assert row.clock_start is not None  # received: ready_to_open
        dues = domain.step_dues(row, procedure, calendar, row.clock_start)
        row = row.changed({"step_dues": tuple(dues)})
        return await self._event_move(s, touched, row, procedure, Action.open, None,
                                      self.outbox.clock.now())

    async def _on_supplement(self, s: AsyncSession, touched: Touched,
                             event: SupplementReceived) -> None:
        row = touched.rows.get(event.dossier_code)
        if row is None:
            log.info("supplement for an unknown case ignored", dossier=event.dossier_code)
            return
        if row.state == domain.WAITING:
            # Completed at the counter before the case opened: the clock will start from it.
            if event.complete:
                touched.change(row.code, {"clock_start": event.received_at,
                                          "due_at": event.due_at or row.due_at})
            return
        procedure = self.law.procedure(row)
        if procedure is None:
            return
        payload = SupplementIn(
            complete=event.complete, due_at=event.due_at,
            step_dues=domain.step_dues(row, procedure, self.law.calendar(row),
                                       event.received_at) if event.complete else None)
        if moved := await self._event_move(s, touched, row, procedure,
                                           Action.supplement_received, payload,
                                           event.received_at):
            touched.put(moved)

    async def _on_withdrawn(self, s: AsyncSession, touched: Touched,
                            event: DossierWithdrawn) -> None:
        row = touched.rows.get(event.dossier_code)
        procedure = self.law.procedure(row) if row else None
        if row is None or procedure is None:
            log.info("withdrawal of an unknown case ignored", dossier=event.dossier_code)
            return
        if moved := await self._event_move(s, touched, row, procedure, Action.withdraw,
                                           Withdraw(reason=event.reason), event.withdrawn_at):
            touched.put(moved)

    async def _event_move(self, s: AsyncSession, touched: Touched, row: CaseRecord,
                          procedure: Procedure, action: Action,
                          payload: Payload | None, at: datetime
                          ) -> CaseRecord | None:
        """An event's action; one that does not fit the case (a withdrawal after the
        result, a supplement nobody waits for) is logged and ignored, never dead-lettered:
        retrying it could not make it fit."""
        try:
            done = apply(domain.to_case(row, procedure), action, payload, at)
        except (WrongState, InvalidAction) as exc:
            log.info("event action does not fit the case; ignored", dossier=row.code,
                     action=action.value, state=row.state, reason=str(exc)[:300])
            return None
        return await self.recorder.record(s, touched, row, action, done, at)
