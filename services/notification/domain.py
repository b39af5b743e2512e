"""Notification's decisions without I/O: what a dossier's events tell it (its facts), who
is told of an event and by which channels, the messages that follow, and when a message
may go (quiet hours, retries, escalation)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from contracts import events as ev
from contracts.envelope import ordered_uuid
from services.law.catalog import CatalogSet
from services.law.workdays import TZ, WorkCalendar
from services.notification.directory import Directory, Recipient
from services.notification.dossier import WatchedDossier
from services.notification.message import (
    Context,
    DigestItem,
    DossierContext,
    Escalation,
    LeaderDigest,
    Message,
    NationalDigest,
    OfficeCount,
    variables,
)
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


def fold(dossier: WatchedDossier, event: ev.Event,
         escalate_at: Callable[[WatchedDossier], datetime]) -> None:
    """`dossier` updated in place with what `event` says; `escalate_at` is asked once a
    dossier is overdue (it needs the agency's working calendar)."""
    d = dossier
    if isinstance(event, ev.DossierReceived):
        d.agency_code, d.procedure_code = event.agency_code, event.procedure_code
        d.catalog_version, d.applicant_ref = event.catalog_version, event.applicant.ref
        d.due_at = event.due_at
    elif isinstance(event, (ev.DossierRejected, ev.DossierResolved, ev.ResultIssued)):
        d.agency_code, d.procedure_code = event.agency_code, event.procedure_code
        d.applicant_ref = event.applicant.ref
    elif isinstance(event, ev.StepAssigned):
        d.department, d.assignee = event.department, event.assignee
    elif isinstance(event, ev.DeadlineApproaching | ev.DossierOverdue) and event.other_agency:
        # Another agency's sub-deadline: told to it and the asking office, but the
        # dossier's own deadline is neither near nor passed by it.
        pass
    elif isinstance(event, ev.DeadlineApproaching):
        d.near_at = d.near_at or event.warned_at
    elif isinstance(event, ev.DossierOverdue):
        d.due_at, d.overdue_at = event.due_at, d.overdue_at or event.detected_at
        d.department = event.responsible_department or d.department
        if not d.closed_at and not d.escalated_at:
            d.escalate_at = escalate_at(d)
    elif isinstance(event, ev.ApologyIssued):
        d.due_at = event.new_due_at
    if isinstance(event, CLOSING):
        d.closed_at, d.escalate_at = d.closed_at or _when(event), None


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

    def recipients(self, audience: Audience, dossier: WatchedDossier, event: Any = None
                   ) -> list[Recipient]:
        agency, department = dossier.agency_code, dossier.department
        if audience == Audience.applicant:
            ref = dossier.applicant_ref
            # The pseudonym names them; phone and e-mail are looked up when sending.
            return [Recipient(ref, "")] if ref else []
        if audience == Audience.other_agency:
            other = self.directory.other_agency(_other_agency(event))
            return [other] if other else []
        found = {
            Audience.officer: lambda: self.directory.officer(agency, department,
                                                             dossier.assignee),
            Audience.department_head: lambda: self.directory.head(agency, department),
            Audience.office_leader: lambda: self.directory.leader(agency),
            Audience.national_unit: lambda: self.directory.national_unit,
            Audience.provincial_system: lambda: self.directory.webhook(agency),
        }[audience]()
        return [found] if found else []

    def procedure_name(self, dossier: WatchedDossier) -> str:
        catalog = self.catalogs.version(dossier.catalog_version or "")
        procedure = catalog.procedure(dossier.procedure_code or "")
        return procedure.name if procedure else \
            dossier.procedure_code or "thủ tục hành chính"

    def context(self, dossier: WatchedDossier, event: Any) -> DossierContext:
        catalog = self.catalogs.version(dossier.catalog_version or "")
        agency = catalog.agency(dossier.agency_code or "")
        return DossierContext(
            event=event, dossier_code=dossier.code, procedure_name=self.procedure_name(dossier),
            agency_code=dossier.agency_code,
            agency_name=agency.name if agency else dossier.agency_code,
            due_at=dossier.due_at, department=dossier.department, assignee=dossier.assignee,
            other_agency_name=self.directory.agency_name(_other_agency(event))
            or _other_agency(event))

    def plan(self, on: str, about_event_id: str, event: Any, dossier: WatchedDossier,
             now: datetime) -> list[Message]:
        agency_code = dossier.agency_code
        if not agency_code:
            return []  # an event ahead of its dossier's receipt: nobody to name yet
        base = self.context(dossier, event)
        messages = []
        for audience, channels in self.rules.who(on):
            for recipient in self.recipients(audience, dossier, event):
                context = replace(base, recipient_name=recipient.name)
                messages += [self.message(on, about_event_id, audience, channel, recipient,
                                          context, agency_code, dossier.code, now)
                             for channel in channels if channel in self.channels_on]
        return messages

    def message(self, on: str, about_event_id: str, audience: str, channel: str,
                recipient: Recipient, context: Context, agency_code: str,
                dossier_code: str | None, now: datetime) -> Message:
        rendered = self.templates.render(on, audience, channel, variables(context))
        at = self.quiet.release(now) if waits_for_morning(audience, channel) else now
        return Message(
            id=str(ordered_uuid()), dedup_key=dedup_key(about_event_id, recipient.id, channel),
            dossier_code=dossier_code, agency_code=agency_code, about_event=on,
            about_event_id=about_event_id, audience=str(audience), channel=str(channel),
            recipient=recipient.id,
            address=None if audience == Audience.applicant else address(channel, recipient),
            subject=rendered.subject, body=rendered.body, status=PENDING, attempts=0,
            not_before=at, last_error=None, created_at=now)

    def escalation(self, dossier: WatchedDossier, working_days: int, now: datetime
                   ) -> list[Message]:
        event = Escalation(due_at=dossier.due_at, working_days_late=working_days)
        return self.plan(ESCALATED, f"escalation:{dossier.code}", event, dossier, now)

    # --- digests ------------------------------------------------------------------------

    def digests(self, day: date, watched: list[WatchedDossier], now: datetime,
                top: int = 10) -> list[Message]:
        """Each office leader's near-due and overdue dossiers; the national unit's offices
        with the most overdue ones. Keyed by (day, recipient, channel): once a day."""
        # agency -> (near, overdue)
        by_agency: dict[str, tuple[list[DigestItem], list[DigestItem]]] = {}
        for d in watched:
            if d.agency_code is None:
                continue  # the repository lists only dossiers whose office is known
            item = DigestItem(dossier_code=d.code, due_at=d.due_at, department=d.department,
                              procedure_name=self.procedure_name(d))
            near, overdue = by_agency.setdefault(d.agency_code, ([], []))
            (overdue if d.overdue_at else near).append(item)
        names = self.catalogs.latest
        messages: list[Message] = []
        about = f"digest:{day.isoformat()}"
        for audience, channels in self.rules.digests:
            context: Context
            if audience == Audience.office_leader:
                for agency, leader in self.directory.leaders():
                    lists = by_agency.get(agency)
                    if not lists:
                        continue  # nothing near or late: no message to open
                    agency_row = names.agency(agency)
                    context = LeaderDigest(
                        day=day, recipient_name=leader.name,
                        agency_name=agency_row.name if agency_row else agency,
                        near=lists[0], overdue=lists[1])
                    messages += [self.message("digest", about, audience, c, leader, context,
                                              agency, None, now)
                                 for c in channels if c in self.channels_on]
            else:
                ranked = sorted(by_agency.items(), key=lambda kv: (-len(kv[1][1]), kv[0]))
                offices = [OfficeCount(agency_code=a, overdue=len(overdue), near=len(near),
                                       agency_name=getattr(names.agency(a), "name", a))
                           for a, (near, overdue) in ranked if overdue][:top]
                unit = self.directory.national_unit
                central = next((a.code for a in names.catalog.agencies if not a.parent), "")
                context = NationalDigest(day=day, offices=offices, recipient_name=unit.name)
                messages += [self.message("digest", about, audience, c, unit, context,
                                          central, None, now)
                             for c in channels if c in self.channels_on]
        return messages
