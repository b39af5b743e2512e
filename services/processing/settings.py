"""Settings of the processing service: the shared ones, read with its own prefix."""

from __future__ import annotations

from services.common.settings import ServiceSettings, prefixed


class ProcessingSettings(ServiceSettings):
    model_config = prefixed("PROCESSING_")

    http_port: int = 8003
