"""Composition of the notification service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from contracts.events import DossierReceived
from services.common.runtime import Runtime
from services.notification import tables
from services.notification.api import router
from services.notification.handlers import Notifier
from services.notification.settings import NotificationSettings


def build(settings: Any = None) -> Runtime:
    runtime = Runtime.create("notification", settings or NotificationSettings(), tables,
                             "Notification — thông báo", router)
    notifier = Notifier(runtime.outbox)
    runtime.handle({DossierReceived: notifier.on_received})
    runtime.app.state.notifier = notifier
    return runtime
