"""Composition of the notification service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from contracts.events import DossierReceived
from services.common.runtime import Runtime
from services.notification import tables
from services.notification.api import router
from services.notification.handlers import Notifier
from services.notification.settings import NotificationSettings


def build(settings: Any = None) -> Runtime:
    settings = settings or NotificationSettings()
    app = FastAPI(title="Notification — thông báo", version="1.0.0")
    runtime = Runtime("notification", settings, tables.metadata, tables.runtime, app)
    notifier = Notifier(runtime.outbox)
    runtime.handle({DossierReceived: notifier.on_received})
    app.state.notifier = notifier
    app.include_router(router)
    return runtime
