"""Notification's decisions without I/O: what a dossier's events tell it (its facts), who
is told of an event and by which channels, the message rows that follows, and when a
message may go (quiet hours, retries, escalation)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from contracts import events as ev
from services.law.catalog import CatalogSet
from services.law.workdays import TZ, WorkCalendar
from services.notification.directory import Directory, Recipient
from services.notification.rules import ESCALATED, EVENTS, Audience, ChannelName, Rules
from services.notification.templates import Templates

PENDING, SENT, FAILED, SKIPPED = "pending", "sent", "failed", "skipped"
SHORT = {cls.event_type: name for name, cls in EVENTS.items()}
CLOSING = (ev.DossierRejected, ev.DossierWithdrawn, ev.DossierResolved, ev.ResultReturned)
# What `fold` reads a dossier's facts from; any other event is read only when a rule tells
# someone of it (`read_events`).
FOLDED: tuple[type[ev.Event], ...] = (
    ev.DossierReceived, ev.StepAssigned, ev.DeadlineApproaching, ev.DossierOverdue,
    ev.ApologyIssued, ev.ResultIssued, *CLOSING)


# --- what the events tell of a dossier ----------------------------------------------------


def new_row(code: str) -> dict[str, Any]:
    return {"code": code}


def fold(row: dict[str, Any], event: ev.Event, escalate_at: Callable[[dict[str, Any]], datetime]
         ) -> None:
    """`row` updated in place with what `event` says; `escalate_at` is asked once a dossier
    is overdue (it needs the agency's working calendar)."""
    if isinstance(event, ev.DossierReceived):
        row.update(agency_code=event.agency_code, procedure_code=event.procedure_code,
                   catalog_version=event.catalog_version, applicant_ref=event.applicant.ref,
                   due_at=event.due_at)
    elif isinstance(event, (ev.DossierRejected, ev.DossierResolved, ev.ResultIssued)):
        row.update(agency_code=event.agency_code, procedure_code=event.procedure_code,
                   applicant_ref=event.applicant.ref)
    elif isinstance(event, ev.StepAssigned):
        row.update(department=event.department, assignee=event.assignee)
    elif isinstance(event, ev.DeadlineApproaching | ev.DossierOverdue) and event.other_agency:
        # Another agency's sub-deadline: told to it and the asking office, but the
        # dossier's own deadline is neither near nor passed by it.
        pass
    elif isinstance(event, ev.DeadlineApproaching):
        row.update(near_at=row.get("near_at") or event.warned_at)
    elif isinstance(event, ev.DossierOverdue):
        row.update(due_at=event.due_at, overdue_at=row.get("overdue_at") or event.detected_at,
                   department=event.responsible_department or row.get("department"))
        if not row.get("closed_at") and not row.get("escalated_at"):
            row["escalate_at"] = escalate_at(row)
    elif isinstance(event, ev.ApologyIssued):
        row.update(due_at=event.new_due_at)
    if isinstance(event, CLOSING):
        row.update(closed_at=row.get("closed_at") or _when(event), escalate_at=None)


def _other_agency(event: Any) -> str | None:
    """The other agency whose sub-deadline an alert is about (None: any other event)."""
    return getattr(event, "other_agency", None)


def read_events(rules: Rules) -> tuple[type[ev.Event], ...]:
    """The lifecycle events notification consumes: the facts it folds and what its rules
    tell someone of. The consumer passes over any other type by its header, unparsed (a
    step completed, an explanation nobody is told of)."""
    told = {EVENTS[on] for on in rules.by_event if on in EVENTS}
    return tuple(cls for cls in EVENTS.values() if cls in FOLDED or cls in told)


def _when(event: ev.Event) -> datetime:
    for name in ("rejected_at", "withdrawn_at", "resolved_at", "returned_at"):
        if hasattr(event, name):
            return getattr(event, name)  # type: ignore[no-any-return]
    raise TypeError(type(event).__name__)


def escalation_time(due_at: datetime, calendar: WorkCalendar, working_days: int) -> datetime:
    """`working_days` working days after the due time, at the same time of day (Vietnam)."""
    local = due_at.astimezone(TZ)
    day = calendar.add_working_days(local.date(), working_days)
    return datetime.combine(day, local.timetz())


# --- when a message may go --------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(7, 0)

    def release(self, at: datetime) -> datetime:
        """`at`, or the end of the quiet hours it falls in (Vietnam time)."""
        local = at.astimezone(TZ)
        t = local.time()
        inside = (self.start <= t or t < self.end) if self.start > self.end \
            else self.start <= t < self.end
        if not inside:
            return at
        day = local.date() + timedelta(days=1) if t >= self.end and self.start > self.end \
            else local.date()
        return datetime.combine(day, self.end, TZ)


def waits_for_morning(audience: str, channel: str) -> bool:
    """SMS to citizens wait out the night; officers' channels and e-mail do not ring."""
    return channel == ChannelName.sms and audience == Audience.applicant


def held_until(audience: str, channel: str, quiet: QuietHours, now: datetime
               ) -> datetime | None:
    """The end of the quiet hours when a message due `now` must still wait them out, else
    None: planning and retries move `not_before` out of the night, but a message due at
    20:59 may be picked up only after 21:00 (a backlog, a sender down)."""
    if not waits_for_morning(audience, channel):
        return None
    release = quiet.release(now)
    return release if release > now else None


def backoff(attempt: int, base: float, cap: float) -> timedelta:
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def dedup_key(about_event_id: str, recipient: str, channel: str) -> str:
    """One message per (event, recipient, channel), whatever the redeliveries."""
    return hashlib.sha256(f"{about_event_id}|{recipient}|{channel}".encode()).hexdigest()


# --- who is told ----------------------------------------------------------------------------


def address(channel: str, recipient: Recipient) -> str | None:
    return {ChannelName.inbox: recipient.id, ChannelName.email: recipient.email,
            ChannelName.sms: recipient.phone, ChannelName.webhook: recipient.url}[
        ChannelName(channel)]


class Planner:
    """The messages an event (or an escalation, or a digest) makes, rendered."""

    def __init__(self, rules: Rules, templates: Templates, directory: Directory,
                 catalogs: CatalogSet, channels_on: Collection[str], quiet: QuietHours) -> None:
        self.rules = rules
        self.templates = templates
        self.directory = directory
        self.catalogs = catalogs
        self.channels_on = set(channels_on)
        self.quiet = quiet

    def recipients(self, audience: Audience, row: dict[str, Any], event: Any = None
                   ) -> list[Recipient]:
        agency, department = row.get("agency_code"), row.get("department")
        if audience == Audience.applicant:
            ref = row.get("applicant_ref")
            # The pseudonym names them; phone and e-mail are looked up when sending.
            return [Recipient(ref, "")] if ref else []
        if audience == Audience.other_agency:
            other = self.directory.other_agency(_other_agency(event))
            return [other] if other else []
        found = {
            Audience.officer: lambda: self.directory.officer(agency, department,
                                                             row.get("assignee")),
            Audience.department_head: lambda: self.directory.head(agency, department),
            Audience.office_leader: lambda: self.directory.leader(agency),
            Audience.national_unit: lambda: self.directory.national_unit,
            Audience.provincial_system: lambda: self.directory.webhook(agency),
        }[audience]()
        return [found] if found else []

    def context(self, row: dict[str, Any], event: Any) -> dict[str, Any]:
        catalog = self.catalogs.version(row.get("catalog_version") or "")
        procedure = catalog.procedure(row.get("procedure_code") or "")
        agency = catalog.agency(row.get("agency_code") or "")
        return {"event": event, "dossier_code": row["code"],
                "procedure_name": procedure.name if procedure else
                row.get("procedure_code") or "thủ tục hành chính",
                "agency_code": row.get("agency_code"),
                "agency_name": agency.name if agency else row.get("agency_code"),
                "due_at": row.get("due_at"), "department": row.get("department"),
                "assignee": row.get("assignee"),
                "other_agency_name": self.directory.agency_name(_other_agency(event))
                or _other_agency(event)}

    def plan(self, on: str, about_event_id: str, event: Any, row: dict[str, Any],
             now: datetime) -> list[dict[str, Any]]:
        if not row.get("agency_code"):
            return []  # an event ahead of its dossier's receipt: nobody to name yet
        base = self.context(row, event)
        rows = []
        for audience, channels in self.rules.who(on):
            for recipient in self.recipients(audience, row, event):
                context = {**base, "recipient_name": recipient.name}
                rows += [self.message(on, about_event_id, audience, channel, recipient,
                                      context, row["agency_code"], row["code"], now)
                         for channel in channels if channel in self.channels_on]
        return rows

    def message(self, on: str, about_event_id: str, audience: str, channel: str,
                recipient: Recipient, context: dict[str, Any], agency_code: str,
                dossier_code: str | None, now: datetime) -> dict[str, Any]:
        rendered = self.templates.render(on, audience, channel, context)
        at = self.quiet.release(now) if waits_for_morning(audience, channel) else now
        return {"id": str(uuid.uuid4()), "dedup_key": dedup_key(about_event_id, recipient.id,
                                                                channel),
                "dossier_code": dossier_code, "agency_code": agency_code, "about_event": on,
                "about_event_id": about_event_id, "audience": str(audience),
                "channel": str(channel), "recipient": recipient.id,
                "address": None if audience == Audience.applicant
                else address(channel, recipient),
                "subject": rendered.subject, "body": rendered.body, "status": PENDING,
                "attempts": 0, "not_before": at, "last_error": None, "created_at": now,
                "sent_at": None, "read_at": None}

    def escalation(self, row: dict[str, Any], working_days: int, now: datetime
                   ) -> list[dict[str, Any]]:
        event = {"due_at": row.get("due_at"), "working_days_late": working_days}
        return self.plan(ESCALATED, f"escalation:{row['code']}", event, row, now)

    # --- digests ------------------------------------------------------------------------

    def digests(self, day: date, open_rows: list[dict[str, Any]], now: datetime,
                top: int = 10) -> list[dict[str, Any]]:
        """Each office leader's near-due and overdue dossiers; the national unit's offices
        with the most overdue ones. Keyed by (day, recipient, channel): once a day."""
        by_agency: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for row in open_rows:
            item = {"dossier_code": row["code"], "due_at": row.get("due_at"),
                    "department": row.get("department"),
                    "procedure_name": self.context(row, None)["procedure_name"]}
            kind = "overdue" if row.get("overdue_at") else "near"
            by_agency.setdefault(row["agency_code"], {"near": [], "overdue": []})[kind].append(
                item)
        names = self.catalogs.latest
        messages: list[dict[str, Any]] = []
        about = f"digest:{day.isoformat()}"
        for audience, channels in self.rules.digests:
            if audience == Audience.office_leader:
                for agency, leader in self.directory.leaders():
                    lists = by_agency.get(agency)
                    if not lists:
                        continue  # nothing near or late: no message to open
                    agency_row = names.agency(agency)
                    context = {**lists, "day": day, "recipient_name": leader.name,
                               "agency_name": agency_row.name if agency_row else agency}
                    messages += [self.message("digest", about, audience, c, leader, context,
                                              agency, None, now)
                                 for c in channels if c in self.channels_on]
            else:
                ranked = sorted(by_agency.items(), key=lambda kv: (-len(kv[1]["overdue"]),
                                                                   kv[0]))
                offices = [{"agency_code": a, "overdue": len(v["overdue"]),
                            "near": len(v["near"]),
                            "agency_name": getattr(names.agency(a), "name", a)}
                           for a, v in ranked if v["overdue"]][:top]
                unit = self.directory.national_unit
                central = next((a.code for a in names.catalog.agencies if not a.parent), "")
                context = {"day": day, "offices": offices, "recipient_name": unit.name}
                messages += [self.message("digest", about, audience, c, unit, context,
                                          central, None, now)
                             for c in channels if c in self.channels_on]
        return messages
