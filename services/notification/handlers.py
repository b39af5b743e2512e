"""Notification's use cases: tell the applicant their dossier was received."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.events import DossierReceived, NotificationSent
from services.common.consumer import Context
from services.common.outbox import OutboxWriter
from services.common.telemetry import get_logger
from services.notification.domain import LOG_CHANNEL, received_text
from services.notification.repository import NotificationRepository

log = get_logger("notification.log-channel")


class Notifier:
    channel = LOG_CHANNEL

    def __init__(self, outbox: OutboxWriter,
                 repository: NotificationRepository | None = None) -> None:
        self.outbox = outbox
        self.repo = repository or NotificationRepository()

    async def on_received(self, ctx: Context, event: DossierReceived) -> None:
        now = self.outbox.clock.now()
        notification_id = str(uuid.uuid4())
        body = received_text(event)
        self.repo.add(ctx.session, {
            "id": notification_id, "dossier_code": event.dossier_code,
            "about_event_id": str(ctx.envelope.id), "about_event": ctx.envelope.type,
            "channel": self.channel, "recipient_ref": event.applicant.ref, "body": body,
            "status": "sent", "created_at": now, "sent_at": now})
        log.info("notification", dossier=event.dossier_code, recipient=event.applicant.ref,
                 text=body)
        await self.outbox.emit(ctx.session, topics.NOTIFICATION, NotificationSent(
            dossier_code=event.dossier_code, notification_id=notification_id,
            about_event=ctx.envelope.type, channel=self.channel,
            recipient_ref=event.applicant.ref, sent_at=now), event.agency_code)

    async def list_for(self, s: AsyncSession, code: str) -> list[dict[str, Any]]:
        return [{"id": r["id"], "channel": r["channel"], "body": r["body"],
                 "status": r["status"], "about_event": r["about_event"],
                 "sent_at": r["sent_at"] and r["sent_at"].isoformat()}
                for r in await self.repo.of_dossier(s, code)]
