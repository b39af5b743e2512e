from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings, prefixed
from services.law.catalog.loader import DEFAULT_DIR


class IntakeSettings(ServiceSettings):
    model_config = prefixed("INTAKE_")

    http_port: int = 8001
    catalog_dir: Path = DEFAULT_DIR  # every catalog.v*.yaml in it, each dated
    warehouse_url: str | None = None
    province_systems_file: Path = Path(__file__).with_name("province_systems.yaml")
    # A province event for a dossier not (yet) received waits this long for its receipt,
    # then is answered on the feedback topic (unknown_dossier) and dropped.
    parked_expiry_hours: float = 24.0
    parked_check_seconds: float = 60.0
