"""The deadline monitor: the cases whose next alert is due get it through the outbox, and
cases opened before the monitor existed get their first alert time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.events import Event
from services.processing import agency_requests, domain
from services.processing.case_records import CaseRecorder


class DeadlineMonitor:
    def __init__(self, recorder: CaseRecorder) -> None:
        # The recorder's law, outbox, repository and alert policy: the monitor's alerts are
        # the ones the writing path schedules.
        self.law = recorder.law
        self.outbox = recorder.outbox
        self.repo = recorder.repo
        self.alerts = recorder.alerts

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
        written: list[tuple[str, domain.AlertColumns]] = []
        for row in rows:
            calendar = self.law.calendar(row)
            state = domain.clock_state(row, calendar) if row.clock is not None else None
            requests = domain.sub_alerts(row, calendar, self.alerts)
            fired = domain.fired_alerts(row)
            events: list[tuple[datetime, Event]] = []
            if state is not None and row.state not in domain.RESOLVED:
                for alert in domain.due_alerts(state, fired, now, self.alerts):
                    events.append((alert.at, domain.alert_event(row.code, state, alert,
                                                                now)))
                    fired.add(alert.kind)
            if requests and row.state not in domain.RESOLVED:
                for alert in agency_requests.due_alerts(requests, fired, now):
                    events.append((alert.at, agency_requests.alert_event(
                        row.code, row.agency_requests, alert, now)))
                    fired.add(alert.kind)
            for _, event in sorted(events, key=lambda e: e[0]):
                for topic in domain.topics_for(event):
                    await self.outbox.emit(s, topic, event, row.agency_code or "")
            written.append((row.code, domain.alert_values(
                state, fired, row.state, now, self.alerts, requests)))
        await self.repo.set_alerts(s, written)
        return len(rows)

    async def schedule_unscheduled(self, s: AsyncSession, limit: int) -> int:
        """Cases opened before the deadline monitor existed get their next alert time (what
        migration 0005 could not compute in SQL); returns how many (a full batch: again)."""
        now = self.outbox.clock.now()
        rows = await self.repo.unscheduled(s, domain.RESOLVED, limit)
        await self.repo.set_alerts(s, [(row.code, domain.alert_values(
            domain.clock_state(row, self.law.calendar(row)) if row.clock is not None else None,
            set(), row.state, now, self.alerts,
            domain.sub_alerts(row, self.law.calendar(row), self.alerts))) for row in rows])
        return len(rows)
