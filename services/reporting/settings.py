"""Settings of the reporting service: the shared ones, read with its own prefix."""

from __future__ import annotations

from services.common.settings import ServiceSettings, prefixed


class ReportingSettings(ServiceSettings):
    model_config = prefixed("REPORTING_")

    http_port: int = 8005
