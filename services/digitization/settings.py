"""Settings of the digitization service: the shared ones, read with its own prefix."""

from __future__ import annotations

from services.common.settings import ServiceSettings, prefixed


class DigitizationSettings(ServiceSettings):
    model_config = prefixed("DIGITIZATION_")

    http_port: int = 8002
