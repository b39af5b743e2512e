"""Composition of the notification service: reference data checked at start-up, channels
from settings, the consumer that queues, the sender and the watcher that run beside it."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx

from contracts.events import ContactsRecorded
from services.common.clock import Clock
from services.common.messaging.consumer import Batched
from services.common.observability.logs import get_logger
from services.common.runtime import Runtime
from services.law.catalog import AgencyScope, CatalogSet, load_catalogs
from services.law.workdays import WorkCalendar, agency_calendar
from services.notification import tables
from services.notification.api import router
from services.notification.channels import (
    Channel,
    EmailChannel,
    InboxChannel,
    SmsChannel,
    WebhookChannel,
)
from services.notification.directory import load_directory
from services.notification.domain import Planner, QuietHours, escalation_time, read_events
from services.notification.dossier import WatchedDossier
from services.notification.handlers import Notifier, Sender, Watcher
from services.notification.rules import ChannelName, load_rules
from services.notification.settings import NotificationSettings
from services.notification.templates import Templates
from services.product.roles import ROLE_PERMISSIONS

log = get_logger("notification")



def channels_from(settings: NotificationSettings) -> dict[str, Channel]:
    """The channels this deployment has: inbox and webhook always; e-mail and SMS when
    their server is configured (an off channel's messages are not queued at all)."""
    client = httpx.AsyncClient(timeout=settings.sms_timeout_seconds)
    secret = settings.webhook_secret.get_secret_value()
    found: dict[str, Channel] = {
        ChannelName.inbox: InboxChannel(),
        ChannelName.webhook: WebhookChannel(secret, httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds))}
    if settings.smtp_host:
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        found[ChannelName.email] = EmailChannel(
            settings.smtp_host, settings.smtp_port, settings.smtp_sender,
            username=settings.smtp_username, password=password,
            starttls=settings.smtp_starttls, timeout=settings.smtp_timeout_seconds)
    if settings.sms_gateway_url:
        token = settings.sms_gateway_token.get_secret_value() \
            if settings.sms_gateway_token else None
        found[ChannelName.sms] = SmsChannel(settings.sms_gateway_url, client, token=token,
                                            sender_name=settings.sms_sender_name)
    return found


def escalation_clock(catalogs: CatalogSet, working_days: int) -> Any:
    """When an overdue dossier goes up: N working days of its agency's calendar."""
    calendars: dict[str, WorkCalendar] = {}

    def escalate_at(dossier: WatchedDossier) -> datetime:
        agency = dossier.agency_code or ""
        calendar = calendars.get(agency)
        if calendar is None:
            calendar = calendars[agency] = agency_calendar(
                catalogs.calendar_rules(), catalogs.version(
                    dossier.catalog_version or "").agency(agency))
        # Asked only of an overdue dossier, whose due time the overdue event gave.
        assert dossier.due_at is not None
        return escalation_time(dossier.due_at, calendar, working_days)

    return escalate_at


def build(settings: Any = None, clock: Clock | None = None,
          channels: dict[str, Channel] | None = None) -> Runtime:
    """`channels` replaces the configured ones (tests)."""
    settings = settings or NotificationSettings()
    runtime = Runtime.create("notification", settings, tables, "Notification — thông báo",
                             router, clock, grants=ROLE_PERMISSIONS)
    catalogs = load_catalogs()
    runtime.agency_tree(partial(AgencyScope.of, catalogs))
    templates = Templates(settings.templates_dir, sms_diacritics=settings.sms_diacritics,
                          sms_max_segments=settings.sms_max_segments)
    rules = load_rules(settings.rules_file, templates)
    directory = load_directory(settings.directory_file, catalogs.latest.ancestors)
    channels = channels if channels is not None else channels_from(settings)
    quiet = QuietHours(settings.quiet_start, settings.quiet_end)
    planner = Planner(rules, templates, directory, catalogs, channels, quiet)
    notifier = Notifier(planner, runtime.outbox, escalation_clock(
        catalogs, settings.escalate_after_working_days))
    # The contacts, and what the rules and the dossiers' facts need: no more.
    runtime.handle(dict.fromkeys((ContactsRecorded, *read_events(rules)),
                                 Batched(notifier.apply_batch)))
    sender = Sender(runtime.transaction, runtime.outbox, channels, quiet,
                    batch=settings.sender_batch, concurrency=settings.sender_concurrency,
                    lease=timedelta(seconds=settings.sender_lease_seconds),
                    retry_base=settings.retry_base_seconds,
                    retry_max=settings.retry_max_seconds, max_attempts=settings.max_attempts)
    watcher = Watcher(planner, runtime.transaction, runtime.outbox,
                      WorkCalendar(catalogs.calendar_rules()),
                      escalate_after=settings.escalate_after_working_days,
                      digest_at=settings.digest_at)
    runtime.periodic += [(settings.sender_seconds, sender.run),
                         (settings.watch_seconds, watcher.run)]
    off = sorted({c.value for c in ChannelName} - set(channels))
    if off:
        log.info("channels off (not configured): messages for them are not queued",
                 channels=off)
    runtime.app.state.notifier = notifier
    runtime.app.state.sender = sender
    runtime.app.state.watcher = watcher
    return runtime
