"""Processing's use cases. A case is known from intake's and digitization's events and opens
at its first step when both have arrived; then intake's events (supplement, withdrawal) and
officers' actions move it. Every move goes through one path: read the case, decide with
workflow.apply, then write the case, one history row and its events in the caller's
transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.catalog import Procedure
from contracts.common import Channel, Problem
from contracts.events import (
    ApplicantRecorded,
    DossierDigitized,
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    Event,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from services.common.bulk import flush_inserts
from services.common.consumer import Context, traced
from services.common.errors import Conflict, Invalid, Missing
from services.common.outbox import OutboxWriter
from services.common.pdf import Letterhead
from services.common.telemetry import get_logger
from services.law.catalog import CatalogSet
from services.law.workdays import WorkCalendar, agency_calendar
from services.processing import agency_requests, domain, overdue, portal_sync, provincial
from services.processing.documents import letters
from services.processing.documents.control_slip import (
    ControlSlip,
    build_control_slip,
    result_handed_at,
)
from services.processing.repository import ProcessingRepository
from services.processing.result_signer import ResultSigner, Signed
from services.processing.workflow import (
    Action,
    Case,
    InvalidAction,
    State,
    Transition,
    WrongState,
    allowed_actions,
    apply,
)

log = get_logger(__name__)

# What the provincial topic says of a dossier processed in a province's own software.
PROVINCE_EVENTS = (StepAssigned, StepCompleted, DossierResolved, ResultReturned)


class NotFound(Missing):
    """No such case, or not in the caller's tree: the same 404 either way."""

    def __init__(self, code: str) -> None:
        super().__init__([Problem.of("not_found", f"Không tìm thấy hồ sơ {code}",
                                     f"no case {code}", "code")])
        self.code = code


class NotNow(Conflict):
    """An officer's action that does not fit the case now (409): the answer names the
    state and what an officer may do in it (the workflow's WrongState, answered)."""

    def __init__(self, wrong: WrongState) -> None:
        super().__init__(
            [Problem.of("wrong_state", f"Không thể thực hiện khi hồ sơ đang ở trạng thái "
                        f"{wrong.state}", str(wrong), "action")],
            current_state=wrong.state.value,
            allowed_actions=[a.value for a in wrong.allowed if a in domain.OFFICER_ACTIONS])
        self.state = wrong.state
        self.allowed = wrong.allowed


class Unfit(Invalid):
    """An officer's action that fits, with what came with it not (422): every problem the
    workflow found (its InvalidAction, answered)."""

    def __init__(self, invalid: InvalidAction) -> None:
        super().__init__(list(invalid.problems))


def decide(case: Case, action: Action, payload: Mapping[str, Any] | None, at: datetime,
           officer: str | None = None, found: Sequence[Problem] = ()) -> Transition:
    """workflow.apply for an officer: its verdicts raised as the service's domain errors.
    The workflow stays pure (it imports nothing of the runtime), so this is where its
    refusals become answers."""
    try:
        return apply(case, action, payload, at, officer, found)
    except WrongState as exc:
        raise NotNow(exc) from exc
    except InvalidAction as exc:
        raise Unfit(exc) from exc


@dataclass
class Touched:
    """The cases one transaction works on: read once, changed in memory as its events
    apply in order, written once."""

    rows: dict[str, dict[str, Any]]
    changed: set[str] = field(default_factory=set)
    # Steps completed: (dossier_code, seq, completed_at, outcome), written after the
    # batch's deferred step inserts.
    completions: list[dict[str, Any]] = field(default_factory=list)
    # Cases whose clock or state moved: their deadline columns are computed once, from the
    # row as the batch leaves it, not after each event.
    clocked: set[str] = field(default_factory=set)

    def change(self, code: str, values: dict[str, Any]) -> None:
        if values:
            self.rows[code] = self.rows[code] | values
            self.changed.add(code)


class Cases:
    # The national portal's status sync (portal_sync.py; app.py sets it): told of every
    # status change in the transaction that makes it. Off: every call returns at once.
    portal: portal_sync.PortalRecorder = portal_sync.OFF

    def __init__(self, catalogs: CatalogSet, outbox: OutboxWriter,
                 repository: ProcessingRepository | None = None,
                 alerts: domain.AlertPolicy | None = None,
                 apologies: overdue.ApologyPolicy | None = None,
                 verify_url: str = "", signer: ResultSigner | None = None,
                 supplement_within_days: int = 3) -> None:
        self.catalogs = catalogs
        self.outbox = outbox
        self.repo = repository or ProcessingRepository()
        self.alerts = alerts or domain.AlertPolicy()
        self.apologies = apologies or overdue.ApologyPolicy()
        # The result's public verification link; "{document_ref}" is replaced. With a
        # signer, the signing service's own link replaces it.
        self.verify_url = verify_url
        self.signer = signer
        self.supplement_within_days = supplement_within_days
        self._calendars: dict[tuple[str, str], WorkCalendar] = {}

    # --- the law a case is judged by -------------------------------------------------------

    def _procedure(self, row: dict[str, Any]) -> Procedure | None:
        if not row.get("procedure_code"):
            return None
        return self.catalogs.version(row.get("catalog_version") or "").procedure(
            row["procedure_code"])

    def _calendar(self, row: dict[str, Any]) -> WorkCalendar:
        key = (row.get("catalog_version") or "", row.get("agency_code") or "")
        found = self._calendars.get(key)
        if found is None:
            agency = self.catalogs.version(key[0]).agency(key[1])
            found = self._calendars[key] = agency_calendar(
                self.catalogs.calendar_rules(), agency)
        return found

    # --- events, a batch at a time ------------------------------------------------------

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
        await self.repo.ensure_cases(s, [domain.new_row(code) for code in sorted(creating)])
        touched = Touched(await self.repo.cases(
            s, sorted({e.dossier_code for _, e in items}), lock=True))
        applicants: dict[str, dict[str, Any]] = {}
        for ctx, event in items:
            with traced(ctx):
                self.portal.heard(s, touched.rows.get(event.dossier_code), event)
                if isinstance(event, ApplicantRecorded):
                    applicants.setdefault(event.dossier_code, {
                        "dossier_code": event.dossier_code,
                        "applicant_ref": event.applicant_ref,
                        "applicant": event.applicant.model_dump(mode="json")})
                else:
                    await self._on_event(s, touched, event)
        await self.repo.keep_applicants(s, list(applicants.values()))
        await self._write(s, touched)

    async def _on_event(self, s: AsyncSession, touched: Touched, event: Any) -> None:
        row = touched.rows.get(event.dossier_code)
        if isinstance(event, DossierDigitized) and row is not None:
            # What OCR flagged is kept whatever the case's state; the clock goes on below.
            touched.change(row["code"], domain.extraction_values(row, event))
            row = touched.rows[row["code"]]
        if row is not None and (provincial.is_provincial(row) or (
                isinstance(event, DossierReceived) and event.origin_system) or
                isinstance(event, PROVINCE_EVENTS)):
            await self._watch(s, touched, row, event)
        elif isinstance(event, SupplementRequested):
            return  # asked at a counter before the case opened, or by processing itself
        elif isinstance(event, DossierRejected):
            return  # refused at receipt: no case; read for the portal only
        elif isinstance(event, DossierReceived):
            await self._merge(s, touched, event.dossier_code, domain.received_values(event))
        elif isinstance(event, DossierDigitized):
            await self._merge(s, touched, event.dossier_code, domain.digitized_values(event))
        elif isinstance(event, SupplementReceived):
            await self._on_supplement(s, touched, event)
        elif isinstance(event, DossierWithdrawn):
            await self._on_withdrawn(s, touched, event)
        else:  # the wiring test keeps app.py's types and these branches together
            raise TypeError(f"processing has no handler for {type(event).__name__}")

    async def _watch(self, s: AsyncSession, touched: Touched, row: dict[str, Any],
                     event: Any) -> None:
        """A dossier a province processes: its facts kept, its clock watched, and its
        results published on the results topic like a central dossier's, once each."""
        calendar, now = self._calendar(row), self.outbox.clock.now()
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
            self.repo.add_step(s, move.step)
        if move.completion is not None:
            touched.completions.append(move.completion)
        touched.change(row["code"], move.values)
        touched.clocked.add(row["code"])
        if isinstance(event, DossierReceived | DossierResolved | ResultReturned):
            await self._publish_results(s, touched, row["code"])

    async def _publish_results(self, s: AsyncSession, touched: Touched, code: str) -> None:
        """A province's decision and return on the results topic (provincial.py), in the
        transaction that records them with the consumed event: exactly once."""
        row = touched.rows[code]
        events, values = provincial.results_to_publish(row)
        for event in events:
            await self.outbox.emit(s, topics.RESULTS, event, row.get("agency_code") or "")
        touched.change(code, values)

    async def _merge(self, s: AsyncSession, touched: Touched, code: str,
                     values: dict[str, Any]) -> None:
        """What the event adds (facts already known are kept, so a republished receipt
        cannot undo a restarted clock), and the opening when ready."""
        row = touched.rows[code]
        changes = {k: v for k, v in values.items() if row.get(k) is None}
        merged = row | changes
        if domain.ready_to_open(merged):
            changes |= await self._open(s, touched, merged)
        touched.change(code, changes)

    async def _open(self, s: AsyncSession, touched: Touched, row: dict[str, Any]
                    ) -> dict[str, Any]:
        procedure = self._procedure(row)
        if procedure is None:
            log.warning("case not opened: procedure not in the catalogue",
                        dossier=row["code"], procedure=row.get("procedure_code"))
            return {}
        calendar = self._calendar(row)
        dues = domain.step_dues(row, procedure, calendar, row["clock_start"])
        row = row | {"step_dues": [d.isoformat() for d in dues]}
        return await self._event_move(s, touched, row, procedure, Action.open, None,
                                      self.outbox.clock.now()) or {}

    async def _on_supplement(self, s: AsyncSession, touched: Touched,
                             event: SupplementReceived) -> None:
        row = touched.rows.get(event.dossier_code)
        if row is None:
            log.info("supplement for an unknown case ignored", dossier=event.dossier_code)
            return
        if row["state"] == domain.WAITING:
            # Completed at the counter before the case opened: the clock will start from it.
            if event.complete:
                touched.change(row["code"], {"clock_start": event.received_at,
                                             "due_at": event.due_at or row["due_at"]})
            return
        procedure = self._procedure(row)
        if procedure is None:
            return
        payload: dict[str, Any] = {"complete": event.complete, "due_at": event.due_at}
        if event.complete:
            payload["step_dues"] = domain.step_dues(row, procedure, self._calendar(row),
                                                    event.received_at)
        if values := await self._event_move(s, touched, row, procedure,
                                            Action.supplement_received, payload,
                                            event.received_at):
            touched.change(row["code"], values)

    async def _on_withdrawn(self, s: AsyncSession, touched: Touched,
                            event: DossierWithdrawn) -> None:
        row = touched.rows.get(event.dossier_code)
        procedure = self._procedure(row) if row else None
        if row is None or procedure is None:
            log.info("withdrawal of an unknown case ignored", dossier=event.dossier_code)
            return
        if values := await self._event_move(s, touched, row, procedure, Action.withdraw,
                                            {"reason": event.reason}, event.withdrawn_at):
            touched.change(row["code"], values)

    async def _event_move(self, s: AsyncSession, touched: Touched, row: dict[str, Any],
                          procedure: Procedure, action: Action,
                          payload: dict[str, Any] | None, at: datetime
                          ) -> dict[str, Any] | None:
        """An event's action; one that does not fit the case (a withdrawal after the
        result, a supplement nobody waits for) is logged and ignored, never dead-lettered:
        retrying it could not make it fit."""
        try:
            done = apply(domain.to_case(row, procedure), action, payload, at)
        except (WrongState, InvalidAction) as exc:
            log.info("event action does not fit the case; ignored", dossier=row["code"],
                     action=action.value, state=row["state"], reason=str(exc)[:300])
            return None
        return await self._record(s, touched, row, action, done, at)

    async def _write(self, s: AsyncSession, touched: Touched) -> None:
        """The batch's writes after its deferred inserts (the steps a completion updates
        may have been assigned in this same batch)."""
        now = self.outbox.clock.now()
        for code in sorted(touched.clocked):
            touched.change(code, self._alert_changes(touched.rows[code], now))
        await flush_inserts(s)
        await self.repo.write_cases(s, [touched.rows[c] for c in sorted(touched.changed)])
        await self.repo.complete_steps(s, touched.completions)
        await self.portal.flush(s)

    # --- officers' actions ---------------------------------------------------------------

    async def act(self, s: AsyncSession, code: str, action: Action,
                  payload: dict[str, Any], officer: str | None, now: datetime,
                  signed: Signed | None = None) -> dict[str, Any]:
        """An officer's action: NotFound (404), NotNow (409) or Unfit (422), else the
        case moved, written with its history row and events in the caller's transaction."""
        touched = Touched(await self.repo.cases(s, [code], lock=True))
        row = touched.rows.get(code)
        if row is None:
            raise NotFound(code)
        procedure = self._procedure(row)
        if procedure is None or provincial.is_provincial(row):
            # Known only from digitization so far, or processed in a province's software.
            raise NotNow(WrongState(State(row["state"]), []))
        if action == Action.issue_result and signed is not None:
            payload = payload | {"document_ref": signed.document_id,
                                 "verification_url": signed.verification_url}
        elif action == Action.issue_result:
            ref = payload.get("document_ref") or domain.result_document_ref(code, now)
            payload = payload | {"document_ref": ref, "verification_url":
                                 self.verify_url.format(document_ref=ref) if isinstance(
                                     ref, str) else None}
        found = domain.supplement_window(row, self._calendar(row), now,
                                         self.supplement_within_days) \
            if action == Action.request_supplement else []
        done = decide(domain.to_case(row, procedure), action, payload, now, officer, found)
        values = await self._record(s, touched, row, action, done, now)
        if signed is not None and "result" in values:
            values["result"] = values["result"] | {"document_url": signed.url, "signed": True}
        touched.change(code, values)
        await self._write(s, touched)
        return domain.action_answer(row, done)

    # --- a late dossier: the explanation and the apology letter ------------------------------

    async def explain(self, s: AsyncSession, code: str, cause: str, by: str | None,
                      officer: str | None, now: datetime) -> dict[str, Any]:
        """The responsible office's explanation of an overdue dossier (OverdueExplained);
        NotFound, or overdue.NotLate when there is nothing to explain."""
        row = await self._locked(s, code)
        values, event = overdue.explain(row, by or row.get("agency_code") or "", cause,
                                        officer, now)
        return await self._amend(s, row, values, event)

    async def apologise(self, s: AsyncSession, code: str, *, reason: str,
                        new_due_at: datetime, department: str | None, signed_by: str,
                        now: datetime) -> dict[str, Any]:
        """The apology and re-appointment letter (ApologyIssued); overdue.Refused when it
        is repeated, overdue.NotLater when its date is not later, NotNow once the dossier
        is resolved."""
        row = await self._locked(s, code)
        if row["state"] in domain.RESOLVED or row["state"] == domain.WAITING:
            raise NotNow(WrongState(State(row["state"]), []))
        values, event = overdue.apologise(
            row, self._calendar(row), reason=reason, new_due_at=new_due_at,
            department=department, signed_by=signed_by, now=now, policy=self.apologies)
        return await self._amend(s, row, values, event)

    async def _locked(self, s: AsyncSession, code: str) -> dict[str, Any]:
        row = (await self.repo.cases(s, [code], lock=True)).get(code)
        if row is None or row.get("received_at") is None:
            raise NotFound(code)
        return row

    async def _amend(self, s: AsyncSession, row: dict[str, Any], values: dict[str, Any],
                     event: Event) -> dict[str, Any]:
        """A record beside the workflow (its state does not move): the row's new values
        and the event, in the caller's transaction."""
        for topic in domain.topics_for(event):
            await self.outbox.emit(s, topic, event, row.get("agency_code") or "")
        await self.repo.write_cases(s, [row | values])
        return {"dossier_code": row["code"], "event": type(event).__name__,
                **event.model_dump(exclude={"dossier_code"})} | (
            {"in_time": values["apology"]["in_time"]} if "apology" in values else {})

    # --- documents -----------------------------------------------------------------------

    async def documents_of(self, s: AsyncSession, code: str
                           ) -> tuple[dict[str, Any], list[dict[str, Any]],
                                      list[dict[str, Any]]]:
        """A case with its steps and history, for its slip and letters; NotFound."""
        row = await self.repo.case(s, code)
        if row is None or row.get("received_at") is None:
            raise NotFound(code)
        return row, await self.repo.steps(s, code), await self.repo.history(s, code)

    def control_slip(self, row: dict[str, Any], steps: list[dict[str, Any]],
                     history: list[dict[str, Any]], now: datetime | None = None
                     ) -> ControlSlip:
        paper = row.get("channel") == Channel.counter.value
        return build_control_slip(row, steps, self._calendar(row), paper=paper,
                                  result_at=result_handed_at(history), now=now)

    def letterhead(self, row: dict[str, Any]) -> Letterhead:
        version = self.catalogs.version(row.get("catalog_version") or "")
        agency = version.agency(row.get("agency_code") or "")
        parent = version.agency(agency.parent) if agency and agency.parent else None
        return Letterhead(agency.name if agency else row.get("agency_code") or "",
                          parent.name if parent else None)

    def result_pdf(self, row: dict[str, Any], applicant: dict[str, Any] | None,
                   signed: bool) -> bytes:
        """The result document from the decision kept on the case; `signed=False` prints
        the unsigned mark."""
        result = row.get("result") or {}
        resolved = DossierResolved.model_validate(
            {k: v for k, v in result.items() if k in DossierResolved.model_fields})
        return letters.result_document_pdf(
            self.letterhead(row), resolved, procedure_name=self.procedure_name(row),
            received_at=row["received_at"], signed=signed,
            applicant_name=domain.applicant_name(applicant),
            result_type=result.get("result_type") or self._result_type(row))

    def _result_type(self, row: dict[str, Any]) -> str | None:
        procedure = self._procedure(row)
        return procedure.result_type if procedure else None

    async def sign_result(self, s: AsyncSession, code: str) -> Signed | None:
        """Before issuing: the decided case's result document signed by the signing
        service (outside the issuing transaction: no lock held over HTTP). None without a
        signer, or when the case is not decided (the action then answers why)."""
        if self.signer is None:
            return None
        row = await self.repo.case(s, code)
        if row is None or not (row.get("result") or {}).get("decision") or \
                row["state"] not in (State.approved.value, State.denied.value):
            return None
        decided = [h for h in await self.repo.history(s, code)
                   if h["action"] in (Action.approve.value, Action.deny.value)]
        return await self.signer.sign(
            self.result_pdf(row, await self.repo.applicant(s, code), signed=True),
            dossier_code=code, agency_code=row["agency_code"],
            decided_by=decided[-1]["officer"] if decided else None)

    def procedure_name(self, row: dict[str, Any]) -> str:
        procedure = self._procedure(row)
        return procedure.name if procedure else row.get("procedure_code") or ""

    # --- the one writing path ------------------------------------------------------------

    async def _record(self, s: AsyncSession, touched: Touched, row: dict[str, Any],
                      action: Action, done: Transition, at: datetime) -> dict[str, Any]:
        """The history row, the steps and the events of a transition (deferred inserts and
        outbox rows); returns the case's new values for the caller to keep."""
        now = self.outbox.clock.now()
        clock = domain.advance_clock(row, self._calendar(row), action, done, at)
        code, agency = row["code"], row.get("agency_code") or ""
        self.repo.add_history(s, domain.history_row(code, done.history))
        self.portal.moved(s, row, done.case.state, at)
        seq = row.get("assignments") or 0
        for event in done.events:
            if isinstance(event, StepAssigned):
                seq += 1
                self.repo.add_step(s, domain.step_row(event, seq))
            elif isinstance(event, StepCompleted):
                touched.completions.append({"dossier_code": code, "seq": seq,
                                            "completed_at": event.completed_at,
                                            "outcome": event.outcome.value})
            for topic in domain.topics_for(event):
                await self.outbox.emit(s, topic, event, agency)
        touched.clocked.add(code)
        return domain.written(row, done, clock, now)

    def _alert_changes(self, row: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The deadline monitor's columns of a case whose clock or state moved, where they
        differ from the row's."""
        calendar = self._calendar(row)
        state = domain.clock_state(row, calendar) if row.get("clock") else None
        values = domain.alert_values(state, domain.fired_alerts(row), row["state"], now,
                                     self.alerts, domain.sub_alerts(row, calendar, self.alerts))
        return {k: v for k, v in values.items() if row.get(k) != v}

    # --- the deadline monitor ------------------------------------------------------------

    async def monitor(self, s: AsyncSession, limit: int) -> int:
        """One tick: the cases whose next alert is due (indexed, locked, skipped when
        another replica holds them) get their DeadlineApproaching or DossierOverdue through
        the outbox, the alert recorded as fired and the next one computed, in the caller's
        transaction. Each threshold fires once per dossier: the fired set is in the row.
        The sub-deadline of a request to another agency has its own thresholds, fired the
        same way to the asking office (agency_requests.py). Returns how many cases were
        taken (a full batch: call again)."""
        now = self.outbox.clock.now()
        rows = await self.repo.due_alerts(s, now, limit)
        written: list[dict[str, Any]] = []
        for row in rows:
            calendar = self._calendar(row)
            state = domain.clock_state(row, calendar) if row.get("clock") else None
            requests = domain.sub_alerts(row, calendar, self.alerts)
            fired = domain.fired_alerts(row)
            events: list[tuple[datetime, Event]] = []
            if state is not None and row["state"] not in domain.RESOLVED:
                for alert in domain.due_alerts(state, fired, now, self.alerts):
                    events.append((alert.at, domain.alert_event(row["code"], state, alert,
                                                                now)))
                    fired.add(alert.kind)
            if requests and row["state"] not in domain.RESOLVED:
                for alert in agency_requests.due_alerts(requests, fired, now):
                    events.append((alert.at, agency_requests.alert_event(row["code"], row,
                                                                         alert, now)))
                    fired.add(alert.kind)
            for _, event in sorted(events, key=lambda e: e[0]):
                for topic in domain.topics_for(event):
                    await self.outbox.emit(s, topic, event, row.get("agency_code") or "")
            written.append({"code": row["code"]} | domain.alert_values(
                state, fired, row["state"], now, self.alerts, requests))
        await self.repo.set_alerts(s, written)
        return len(rows)

    async def schedule_unscheduled(self, s: AsyncSession, limit: int) -> int:
        """Cases opened before the deadline monitor existed get their next alert time (what
        migration 0005 could not compute in SQL); returns how many (a full batch: again)."""
        now = self.outbox.clock.now()
        rows = await self.repo.unscheduled(s, domain.RESOLVED, limit)
        await self.repo.set_alerts(s, [{"code": row["code"]} | domain.alert_values(
            domain.clock_state(row, self._calendar(row)) if row.get("clock") else None,
            set(), row["state"], now, self.alerts,
            domain.sub_alerts(row, self._calendar(row), self.alerts)) for row in rows])
        return len(rows)

    # --- reads -----------------------------------------------------------------------------

    def _case(self, row: dict[str, Any]) -> Case | None:
        procedure = self._procedure(row)
        return domain.to_case(row, procedure) if procedure else None

    def _allowed(self, row: dict[str, Any], case: Case | None) -> list[Action]:
        return allowed_actions(case) if case and not provincial.is_provincial(row) else []

    async def view(self, s: AsyncSession, code: str, now: datetime) -> dict[str, Any] | None:
        row = await self.repo.case(s, code)
        if row is None:
            return None
        case = self._case(row)
        clock = domain.clock_state(row, self._calendar(row)) if case else None
        return domain.view(row, case, clock, self._allowed(row, case),
                           await self.repo.history(s, code), await self.repo.steps(s, code),
                           now)

    async def agency_of(self, s: AsyncSession, code: str) -> str | None:
        row = await self.repo.case(s, code)
        return row.get("agency_code") if row else None

    async def page(self, s: AsyncSession, *, agency: str | None, department: str | None,
                   officer: str | None, state: str | None,
                   after: tuple[datetime, str] | None, limit: int,
                   deadline: str | None = None, explained: bool | None = None,
                   within: set[str] | None = None) -> tuple[list[dict[str, Any]], bool]:
        """A page of cases (of `agency`'s subtree, and of the agencies `within`, None for
        all), and whether more follow (one row more is asked to tell)."""
        agencies = None if agency is None else domain.sub_agencies(self.catalogs.indexes,
                                                                   agency)
        if within is not None:
            agencies = within if agencies is None else agencies & within
        rows = await self.repo.page(s, agencies=agencies, department=department,
                                    officer=officer, state=state, deadline=deadline,
                                    explained=explained, after=after,
                                    limit=limit + 1)
        return [domain.summary(r) for r in rows[:limit]], len(rows) > limit

