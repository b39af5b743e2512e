"""Settings of the services that need nothing beyond the shared ones: only prefix and port."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


def _settings(prefix: str, port: int) -> type[ServiceSettings]:
    config = SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)
    return type(f"{prefix.title().strip('_')}Settings", (ServiceSettings,),
                {"model_config": config, "__annotations__": {"http_port": int},
                 "http_port": port})


DigitizationSettings = _settings("DIGITIZATION_", 8002)
ProcessingSettings = _settings("PROCESSING_", 8003)
NotificationSettings = _settings("NOTIFICATION_", 8004)
ReportingSettings = _settings("REPORTING_", 8005)
