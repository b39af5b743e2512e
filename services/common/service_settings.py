"""Settings of the services that need nothing beyond the shared ones: prefix and port."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)


class DigitizationSettings(ServiceSettings):
    model_config = _config("DIGITIZATION_")
    http_port: int = 8002


class ProcessingSettings(ServiceSettings):
    model_config = _config("PROCESSING_")
    http_port: int = 8003


class NotificationSettings(ServiceSettings):
    model_config = _config("NOTIFICATION_")
    http_port: int = 8004


class ReportingSettings(ServiceSettings):
    model_config = _config("REPORTING_")
    http_port: int = 8005
