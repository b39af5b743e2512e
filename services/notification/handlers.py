"""Notification's use cases. The consumer only queues: per batch it keeps the contacts and
the dossier facts and inserts the messages the rules call for (one statement per table,
duplicates ignored). The sender sends outside any consumer transaction, retries, and
publishes NotificationSent / NotificationFailed. The watcher escalates and sends digests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.events import ContactsRecorded, Event, NotificationFailed, NotificationSent
from services.common.messaging.consumer import Context, describe
from services.common.messaging.outbox import OutboxWriter
from services.common.observability.logs import get_logger
from services.law.workdays import TZ, WorkCalendar
from services.notification import domain
from services.notification.channels import Channel, Outgoing, Permanent
from services.notification.domain import FAILED, PENDING, SENT, SKIPPED, Planner, QuietHours
from services.notification.dossier import WatchedDossier
from services.notification.message import Message
from services.notification.repository import NotificationRepository
from services.notification.rules import Audience, ChannelName

log = get_logger("notification")


class Notifier:
    def __init__(self, planner: Planner, outbox: OutboxWriter,
                 escalate_at: Callable[[WatchedDossier], datetime],
                 repository: NotificationRepository | None = None) -> None:
        self.planner = planner
        self.outbox = outbox
        self.escalate_at = escalate_at
        self.repo = repository or NotificationRepository()

    async def apply_batch(self, s: AsyncSession, items: list[tuple[Context, Any]]) -> None:
        now = self.outbox.clock.now()
        contacts: dict[str, dict[str, Any]] = {}
        for _, event in items:
            if isinstance(event, ContactsRecorded):
                contacts[event.applicant_ref] = {
                    "applicant_ref": event.applicant_ref, "phone": event.phone,
                    "email": event.email, "updated_at": now}
        await self.repo.keep_contacts(s, list(contacts.values()))
        lifecycle = [(ctx, e) for ctx, e in items if not isinstance(e, ContactsRecorded)]
        dossiers = await self.repo.dossiers(s, {e.dossier_code for _, e in lifecycle})
        before = {code: replace(d) for code, d in dossiers.items()}
        messages: list[Message] = []
        for ctx, event in lifecycle:  # emits nothing: no trace to carry here
            dossier = dossiers[event.dossier_code]
            # Topics are not ordered with each other: a deadline alert read before the
            # receipt still knows its office from the envelope.
            dossier.agency_code = dossier.agency_code or ctx.envelope.agencycode
            domain.fold(dossier, event, self.escalate_at)
            if ctx.topic == topics.PROVINCIAL.name:
                continue  # a province's own software tells its applicants
            messages += self.planner.plan(domain.SHORT[event.event_type],
                                          str(ctx.envelope.id), event, dossier, now)
        await self.repo.write_dossiers(
            s, [d for code, d in dossiers.items() if d != before[code]])
        await self.repo.enqueue(s, messages)


class Sender:
    """One pass over the due messages: taken in a short transaction, sent with bounded
    concurrency and no transaction open, settled in another short one."""

    def __init__(self, transaction: Callable[[], Any], outbox: OutboxWriter,
                 channels: Mapping[str, Channel], quiet: QuietHours, *,
                 batch: int = 200, concurrency: int = 20, lease: timedelta = timedelta(
                     seconds=300), retry_base: float = 30.0, retry_max: float = 3600.0,
                 max_attempts: int = 12, repository: NotificationRepository | None = None
                 ) -> None:
        self.transaction = transaction
        self.outbox = outbox
        self.channels = channels
        self.quiet = quiet
        self.batch, self.lease = batch, lease
        self.retry_base, self.retry_max, self.max_attempts = retry_base, retry_max, max_attempts
        self.limit = asyncio.Semaphore(concurrency)
        self.repo = repository or NotificationRepository()

    async def run(self) -> int:
        """Passes until one is not full; the number of messages taken (sent, settled or
        held for the morning)."""
        total = 0
        while True:
            done = await self.run_once()
            total += done
            if done < self.batch:
                return total

    async def run_once(self) -> int:
        now = self.outbox.clock.now()
        async with self.transaction() as s:
            taken = await self.repo.claim(s, now, self.batch, now + self.lease)
            held: list[Message] = []
            sending: list[Message] = []
            for m in taken:
                until = domain.held_until(m.audience, m.channel, self.quiet, now)
                if until is None:
                    sending.append(m)
                else:
                    held.append(replace(m, not_before=until))
            # Back to the queue until morning in the claim's own transaction: not sent, and
            # the claim's attempt is given back (waiting out the night is not a failure).
            await self.repo.hold(s, held)
            refs = {m.recipient for m in sending if m.audience == Audience.applicant}
            contacts = await self.repo.contacts(s, refs)
        if not sending:
            return len(taken)  # a full batch of held messages: `run` looks again
        outcomes = await asyncio.gather(*(self._send(m, contacts) for m in sending))
        now = self.outbox.clock.now()
        settled = [self._settle(m, error, now)
                   for m, error in zip(sending, outcomes, strict=True)]
        async with self.transaction() as s:
            await self.repo.settle(s, settled)
            for m in settled:
                await self._publish(s, m, now)
        return len(taken)

    async def _send(self, m: Message, contacts: dict[str, dict[str, Any]]
                    ) -> BaseException | str | None:
        """None when handed over; SKIPPED's reason when there is nobody to write to; the
        error otherwise."""
        address = m.address
        if m.audience == Audience.applicant and m.channel != ChannelName.inbox:
            contact = contacts.get(m.recipient)
            if contact is None:
                # Contacts come on another topic and may be behind: try again later.
                return LookupError("the applicant's contacts have not arrived yet")
            address = contact["phone" if m.channel == ChannelName.sms else "email"]
            if not address:
                return f"the applicant gave no {m.channel} address"
        channel = self.channels.get(m.channel)
        if channel is None:
            return Permanent(f"channel {m.channel} is not configured")
        async with self.limit:
            try:
                await channel.send(Outgoing(
                    id=m.id, channel=m.channel, address=address or "",
                    subject=m.subject, body=m.body, dossier_code=m.dossier_code,
                    about_event=m.about_event, agency_code=m.agency_code))
            except Exception as exc:  # every failure is the message's outcome, not a crash
                return exc
        return None

    def _settle(self, m: Message, outcome: BaseException | str | None, now: datetime
                ) -> Message:
        if outcome is None:
            return replace(m, status=SENT, sent_at=now, last_error=None)
        if isinstance(outcome, str):
            return replace(m, status=SKIPPED, sent_at=None, last_error=outcome)
        error = str(outcome) if isinstance(outcome, Permanent) else describe(outcome)
        if isinstance(outcome, Permanent) or m.attempts >= self.max_attempts:
            log.warning("notification failed", id=m.id, channel=m.channel,
                        attempts=m.attempts, error=error)
            return replace(m, status=FAILED, sent_at=None, last_error=error[:500])
        at = now + domain.backoff(m.attempts, self.retry_base, self.retry_max)
        if domain.waits_for_morning(m.audience, m.channel):
            at = self.quiet.release(at)
        return replace(m, status=PENDING, not_before=at, sent_at=None,
                       last_error=error[:500])

    async def _publish(self, s: AsyncSession, m: Message, now: datetime) -> None:
        if m.dossier_code is None:
            return  # a digest is about no dossier: its row is its record
        common = {"dossier_code": m.dossier_code, "notification_id": m.id,
                  "about_event": m.about_event, "channel": m.channel,
                  "recipient_ref": m.recipient}
        event: Event
        if m.status == SENT:
            event = NotificationSent(**common, sent_at=now)
        elif m.status == FAILED:
            event = NotificationFailed(**common, failed_at=now, attempts=m.attempts,
                                       error=m.last_error or "")
        else:
            return
        await self.outbox.emit(s, topics.NOTIFICATION, event, m.agency_code)


class Watcher:
    """Escalates overdue dossiers still open after N working days; sends each working
    morning's digests, once a day whatever the number of replicas (keyed per day)."""

    def __init__(self, planner: Planner, transaction: Callable[[], Any], outbox: OutboxWriter,
                 calendar: WorkCalendar, *, escalate_after: int, digest_at: Any,
                 batch: int = 500, repository: NotificationRepository | None = None) -> None:
        self.planner = planner
        self.transaction = transaction
        self.clock = outbox.clock
        self.calendar = calendar
        self.escalate_after, self.digest_at, self.batch = escalate_after, digest_at, batch
        self.repo = repository or NotificationRepository()
        self.digested: date | None = None

    async def run(self) -> None:
        await self.escalate()
        await self.digest()

    async def escalate(self) -> int:
        total = 0
        while True:
            now = self.clock.now()
            async with self.transaction() as s:
                due = await self.repo.escalations_due(s, now, self.batch)
                messages = [m for d in due
                            for m in self.planner.escalation(d, self.escalate_after, now)]
                await self.repo.enqueue(s, messages)
                await self.repo.mark_escalated(s, [d.code for d in due], now)
            total += len(due)
            if len(due) < self.batch:
                return total

    async def digest(self) -> int:
        """The day's digests once it is a working day past `digest_at` (Vietnam time)."""
        now = self.clock.now()
        local = now.astimezone(TZ)
        day = local.date()
        if (self.digested == day or local.time() < self.digest_at
                or not self.calendar.is_working_day(day)):
            return 0
        async with self.transaction() as s:
            messages = self.planner.digests(day, await self.repo.watched(s), now)
            await self.repo.enqueue(s, messages)
        self.digested = day
        return len(messages)


def view(m: Message) -> dict[str, Any]:
    """A message as the API shows it."""
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None
    return {"id": m.id, "dossier_code": m.dossier_code, "about_event": m.about_event,
            "audience": m.audience, "channel": m.channel, "recipient": m.recipient,
            "subject": m.subject, "body": m.body, "status": m.status,
            "attempts": m.attempts, "last_error": m.last_error,
            "created_at": iso(m.created_at), "sent_at": iso(m.sent_at),
            "read_at": iso(m.read_at)}
