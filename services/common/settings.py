"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PSEUDONYM_KEY = "development-only-pseudonym-key"


def _shared(name: str) -> AliasChoices:
    # Shared variables are read without the service's prefix.
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092",
                                         validation_alias=_shared("KAFKA_BOOTSTRAP_SERVERS"))
    # Apache Kafka: on. The local Tansu broker rejects InitProducerId, so off by default.
    kafka_idempotence: bool = Field(False, validation_alias=_shared("KAFKA_IDEMPOTENCE"))
    env: str = Field("development", validation_alias=_shared("ONESTOP_ENV"))
    pseudonym_key: SecretStr = Field(SecretStr(DEV_PSEUDONYM_KEY),
                                     validation_alias=_shared("ONESTOP_PSEUDONYM_KEY"))
    var_dir: Path = Field(Path("var"), validation_alias=_shared("ONESTOP_VAR_DIR"))
    log_level: str = Field("INFO", validation_alias=_shared("ONESTOP_LOG_LEVEL"))

    database_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    consumer_group: str | None = None  # default onestop.<service>
    consumer_max_records: int = 1000
    outbox_batch: int = 2000
    outbox_retention_hours: float = 168.0
    reset_check_seconds: float = 3.0

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> ServiceSettings:
        if self.env == "production" and self.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY:
            raise ValueError("ONESTOP_PSEUDONYM_KEY must be set to a real secret in production")
        return self

    def db_url(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'db' / f'{service}.db').resolve()}"
