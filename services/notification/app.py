"""Wiring and HTTP API of the notification service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request

from contracts.events import DossierReceived
from services.common.runtime import Runtime
from services.notification import tables
from services.notification.notify import Notifier
from services.notification.settings import NotificationSettings

router = APIRouter(prefix="/api/v1", tags=["notification"])


@router.get("/dossiers/{code}/notifications")
async def notifications(code: str, request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        items = await request.app.state.notifier.list_for(s, code)
    return {"dossier_code": code, "items": items}


def build(settings: Any = None) -> Runtime:
    settings = settings or NotificationSettings()
    app = FastAPI(title="Notification — thông báo", version="1.0.0")
    runtime = Runtime("notification", settings, tables.metadata, tables.runtime, app)
    notifier = Notifier(runtime.outbox)
    runtime.handle({DossierReceived: notifier.on_received})
    app.state.notifier = notifier
    app.include_router(router)
    return runtime
