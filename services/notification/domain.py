"""What the applicant is told, without I/O. This cut has one channel, a structured log
line; real channels (e-mail, SMS, the portal account) come with the notification issue."""

from __future__ import annotations

from contracts.events import DossierReceived
from services.law.workdays import TZ

LOG_CHANNEL = "log"


def received_text(event: DossierReceived) -> str:
    due = event.due_at.astimezone(TZ)
    return (f"Hồ sơ {event.dossier_code} đã được tiếp nhận. "
            f"Ngày hẹn trả kết quả: {due:%H:%M ngày %d/%m/%Y}.")
