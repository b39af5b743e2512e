"""Settings of the notification service: the shared ones, read with its own prefix."""

from __future__ import annotations

from services.common.settings import ServiceSettings, prefixed


class NotificationSettings(ServiceSettings):
    model_config = prefixed("NOTIFICATION_")

    http_port: int = 8004
