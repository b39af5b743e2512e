"""What processing's parts share of a case: its refusals (the workflow's verdicts answered),
the law it is judged by (its procedure and its agency's calendar, from the catalogue), the
cases one transaction works on, and the one writing path. Every move goes through that
path: read the case, decide with workflow.apply, then write the case, one history row and
its events in the caller's transaction (case_events.py for a consumed event,
officer_actions.py for an officer's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.catalog import Procedure
from contracts.common import Problem
from contracts.events import StepAssigned, StepCompleted
from services.common.errors import Conflict, Invalid, Missing
from services.common.messaging.outbox import OutboxWriter
from services.common.persistence.bulk import flush_inserts
from services.law.catalog import CatalogSet
from services.law.workdays import WorkCalendar, agency_calendar
from services.processing import domain, portal_sync
from services.processing.case_record import CaseChanges, CaseRecord
from services.processing.repository import ProcessingRepository
from services.processing.workflow import (
    Action,
    Case,
    Form,
    InvalidAction,
    Payload,
    Transition,
    WrongState,
    apply,
)


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


def decide(case: Case, action: Action, payload: Payload | Form | None, at: datetime,
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

    rows: dict[str, CaseRecord]
    changed: set[str] = field(default_factory=set)
    # Steps completed: (dossier_code, seq, completed_at, outcome), written after the
    # batch's deferred step inserts.
    completions: list[dict[str, Any]] = field(default_factory=list)
    # Cases whose clock or state moved: their deadline columns are computed once, from the
    # row as the batch leaves it, not after each event.
    clocked: set[str] = field(default_factory=set)

    def change(self, code: str, values: CaseChanges) -> None:
        if values:
            self.put(self.rows[code].changed(values))

    def put(self, record: CaseRecord) -> None:
        """The case as a move left it (the same record: nothing changed)."""
        if record is not self.rows[record.code]:
            self.rows[record.code] = record
            self.changed.add(record.code)



class CaseLaw:
    """The law a case is judged by: its procedure in its catalogue version, and its
    agency's working calendar (built once per version and agency)."""

    def __init__(self, catalogs: CatalogSet) -> None:
        self.catalogs = catalogs
        self._calendars: dict[tuple[str, str], WorkCalendar] = {}

    def procedure(self, record: CaseRecord) -> Procedure | None:
        if not record.procedure_code:
            return None
        return self.catalogs.version(record.catalog_version or "").procedure(
            record.procedure_code)

    def calendar(self, record: CaseRecord) -> WorkCalendar:
        key = (record.catalog_version or "", record.agency_code or "")
        found = self._calendars.get(key)
        if found is None:
            agency = self.catalogs.version(key[0]).agency(key[1])
            found = self._calendars[key] = agency_calendar(
                self.catalogs.calendar_rules(), agency)
        return found

    def case(self, record: CaseRecord) -> Case | None:
        procedure = self.procedure(record)
        return domain.to_case(record, procedure) if procedure else None


class CaseRecorder:
    """The one writing path: a transition's history row, steps and events recorded, then
    the transaction's cases written once with their deadline columns."""

    # The national portal's status sync (portal_sync.py; app.py sets it): told of every
    # status change in the transaction that makes it. Off: every call returns at once.
    portal: portal_sync.PortalRecorder = portal_sync.OFF

    def __init__(self, law: CaseLaw, outbox: OutboxWriter,
                 repository: ProcessingRepository | None = None,
                 alerts: domain.AlertPolicy | None = None) -> None:
        self.law = law
        self.outbox = outbox
        self.repo = repository or ProcessingRepository()
        self.alerts = alerts or domain.AlertPolicy()

    async def record(self, s: AsyncSession, touched: Touched, row: CaseRecord,
                     action: Action, done: Transition, at: datetime) -> CaseRecord:
        """The history row, the steps and the events of a transition (deferred inserts and
        outbox rows); returns the case as the transition leaves it, for the caller to keep."""
        now = self.outbox.clock.now()
        clock = domain.advance_clock(row, self.law.calendar(row), action, done, at)
        code, agency = row.code, row.agency_code or ""
        self.repo.add_history(s, code, done.history)
        self.portal.moved(s, row, done.case.state, at)
        seq = row.assignments
        for event in done.events:
            if isinstance(event, StepAssigned):
                seq += 1
                self.repo.add_step(s, event, seq)
            elif isinstance(event, StepCompleted):
                touched.completions.append({"dossier_code": code, "seq": seq,
                                            "completed_at": event.completed_at,
                                            "outcome": event.outcome.value})
            for topic in domain.topics_for(event):
                await self.outbox.emit(s, topic, event, agency)
        touched.clocked.add(code)
        return domain.written(row, done, clock, now)

    def with_alerts(self, row: CaseRecord, now: datetime) -> CaseRecord:
        """The case with the deadline monitor's columns, for one whose clock or state
        moved (the same record when they do not change)."""
        calendar = self.law.calendar(row)
        state = domain.clock_state(row, calendar) if row.clock is not None else None
        values = domain.alert_values(state, domain.fired_alerts(row), row.state, now,
                                     self.alerts, domain.sub_alerts(row, calendar, self.alerts))
        return values.on(row) if values.differ(row) else row

    async def write(self, s: AsyncSession, touched: Touched) -> None:
        """The batch's writes after its deferred inserts (the steps a completion updates
        may have been assigned in this same batch)."""
        now = self.outbox.clock.now()
        for code in sorted(touched.clocked):
            touched.put(self.with_alerts(touched.rows[code], now))
        await flush_inserts(s)
        await self.repo.write_cases(s, [touched.rows[c] for c in sorted(touched.changed)])
        await self.repo.complete_steps(s, touched.completions)
        await self.portal.flush(s)

