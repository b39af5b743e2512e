"""The simulator's settings (env prefix SIMULATE_); the command line overrides them."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.simulate.records import Mix


class SimulateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIMULATE_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    provinces: int | None = None  # None: every system of province_systems.yaml
    rate: float = Field(20.0, gt=0, description="records per second, about")
    # Simulated seconds per real second: 3600 plays an hour of a dossier's life each second.
    speed: float = Field(3600.0, ge=1)
    # A long run is generated in rounds of this many real seconds (a fresh tag each), so
    # memory stays flat and `--duration 0` can run for days.
    round_seconds: float = Field(600.0, gt=0)
    seed: int = 1
    duplicates: float = Field(0.05, ge=0, le=1)
    out_of_order: float = Field(0.10, ge=0, le=1)
    malformed: float = Field(0.02, ge=0, le=1)
    late: float = Field(0.0, ge=0, le=1)
    # A record without an answer on the feedback topic this long after it was sent is sent
    # again (the same id and bytes, signed anew): what the README asks of every province.
    resend_after_seconds: float = Field(600.0, gt=0)
    # How long a finite run waits, after its last record, for the answers to all of them.
    answer_wait_seconds: float = Field(120.0, ge=0)

    def mix(self) -> Mix:
        return Mix(duplicates=self.duplicates, out_of_order=self.out_of_order,
                   malformed=self.malformed, late=self.late)
