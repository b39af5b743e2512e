"""Telling the applicant. This cut has one channel, a structured log line; real channels
(email, SMS, the portal account) come with the notification issue."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from contracts import topics
from contracts.events import DossierReceived, NotificationSent
from services.common.bulk import defer_insert
from services.common.consumer import Context
from services.common.outbox import OutboxWriter
from services.common.telemetry import get_logger
from services.law.workdays import TZ
from services.notification import tables

log = get_logger("notification.log-channel")


def received_text(event: DossierReceived) -> str:
    due = event.due_at.astimezone(TZ)
    return (f"Hồ sơ {event.dossier_code} đã được tiếp nhận. "
            f"Ngày hẹn trả kết quả: {due:%H:%M ngày %d/%m/%Y}.")


class Notifier:
    channel = "log"

    def __init__(self, outbox: OutboxWriter) -> None:
        self.outbox = outbox

    async def on_received(self, ctx: Context, event: DossierReceived) -> None:
        now = self.outbox.clock.now()
        notification_id = str(uuid.uuid4())
        body = received_text(event)
        defer_insert(ctx.session, tables.notifications, {
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

    async def list_for(self, ctx_session: Any, code: str) -> list[dict[str, Any]]:
        rows = (await ctx_session.execute(
            select(tables.notifications).where(tables.notifications.c.dossier_code == code)
            .order_by(tables.notifications.c.created_at))).mappings().all()
        return [{"id": r["id"], "channel": r["channel"], "body": r["body"],
                 "status": r["status"], "about_event": r["about_event"],
                 "sent_at": r["sent_at"] and r["sent_at"].isoformat()} for r in rows]
