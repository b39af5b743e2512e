from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from contracts.ingest import sign
from services.common.settings import ServiceSettings, prefixed
from services.law.catalog.loader import DEFAULT_DIR

# In development a system without a configured key signs with this prefix and its id (the
# tests, benches and `make up` do); production refuses any key that starts with it.
DEV_PROVINCE_KEY_PREFIX = "development-only-province-key-"


def dev_province_key(system_id: str) -> str:
    return DEV_PROVINCE_KEY_PREFIX + system_id


def dev_signed(value: bytes | None, system_id: str, at_ms: int | None = None
               ) -> list[tuple[str, bytes]]:
    """The headers of a record signed now (or `at_ms`) with a system's development key:
    how the tests and benches publish as a province."""
    stamp = int(time.time() * 1000) if at_ms is None else at_ms
    return sign(value, system_id, dev_province_key(system_id), stamp)


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
    # INTAKE_PROVINCE_KEYS='{"hanoi-mcdt": "<secret>", ...}': the HMAC key of each system
    # (contracts/ingest.py says what is signed). Production needs one for every system.
    province_keys: dict[str, SecretStr] = Field(default_factory=dict)
    # "hmac": every ingest record must be signed. "sasl": not checked, for a broker that
    # authenticates each province itself (SASL/SCRAM and deploy/kafka's ACLs); the
    # envelope's source is then trusted, so docker-compose.yml keeps "hmac" as well.
    ingest_authentication: Literal["hmac", "sasl"] = "hmac"
    # Signed longer ago than this (or further ahead than the skew) is refused as a replay.
    # A day, so a backlog after an outage is not refused; exact copies the inbox skips.
    ingest_signature_max_age_seconds: float = 24 * 3600.0
    ingest_signature_max_skew_seconds: float = 300.0
    # The citizens' status lookup (code + last four ID digits), per client address.
    public_lookups_per_minute: float = 10.0
    # The citizens' page (api.py's public routes, citizen.py): the path, result and return
    # from processing's case view, the rating kept by reporting, asked as our service once
    # the code and the digits matched. Unset: intake's own status only, no rating.
    processing_url: str | None = None
    reporting_url: str | None = None

    @model_validator(mode="after")
    def _real_province_keys_in_production(self) -> IntakeSettings:
        if self.env == "production":
            dev = sorted(k for k, v in self.province_keys.items()
                         if v.get_secret_value().startswith(DEV_PROVINCE_KEY_PREFIX))
            if dev:
                raise ValueError(f"INTAKE_PROVINCE_KEYS holds development keys for {dev}")
        if self.ingest_authentication == "sasl" and self.env == "development":
            # The local broker has no SASL: nothing would say who wrote a record.
            raise ValueError("INTAKE_INGEST_AUTHENTICATION=sasl needs a SASL broker, "
                             "not the development one")
        return self

    def province_key_map(self, systems: list[str]) -> dict[str, bytes]:
        """The key of every registered system; in development a missing one is its
        development key, in production it stops the service."""
        keys = {k: v.get_secret_value().encode() for k, v in self.province_keys.items()}
        missing = sorted(s for s in systems if s not in keys)
        if missing and self.env == "production" and self.ingest_authentication == "hmac":
            raise ValueError(f"INTAKE_PROVINCE_KEYS has no key for {missing}")
        keys.update({s: dev_province_key(s).encode() for s in missing})
        return keys
