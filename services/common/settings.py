"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PSEUDONYM_KEY = "development-only-pseudonym-key"
# Fernet key sealing dead letters of personal-data topics in development (sealing.py).
DEV_DLQ_KEY = "rQZVojkbC2BQCmYBnNUKHM6ICe7VK2N2C4MQOiawwpk="


def _shared(name: str) -> AliasChoices:
    # Shared variables are read without the service's prefix.
    return AliasChoices(name)


def prefixed(prefix: str) -> SettingsConfigDict:
    """A service's settings are read with its own prefix (INTAKE_, ...)."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092",
                                         validation_alias=_shared("KAFKA_BOOTSTRAP_SERVERS"))
    # Apache Kafka: on. The local Tansu broker rejects InitProducerId, so off by default.
    kafka_idempotence: bool = Field(False, validation_alias=_shared("KAFKA_IDEMPOTENCE"))
    env: str = Field("development", validation_alias=_shared("ONESTOP_ENV"))
    pseudonym_key: SecretStr = Field(SecretStr(DEV_PSEUDONYM_KEY),
                                     validation_alias=_shared("ONESTOP_PSEUDONYM_KEY"))
    # Comma-separated Fernet keys: the first seals dead letters, every one opens them.
    dlq_key: SecretStr = Field(SecretStr(DEV_DLQ_KEY), validation_alias=_shared("ONESTOP_DLQ_KEY"))
    var_dir: Path = Field(Path("var"), validation_alias=_shared("ONESTOP_VAR_DIR"))
    log_level: str = Field("INFO", validation_alias=_shared("ONESTOP_LOG_LEVEL"))

    database_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Request bodies over this are refused with 413 before they are read whole.
    http_max_body_bytes: int = 1024 * 1024
    consumer_group: str | None = None  # default onestop.<service>
    consumer_max_records: int = 1000
    # Parsing limits of one consumed record: larger or deeper records are dead-lettered.
    consumer_max_record_bytes: int = 1024 * 1024
    consumer_max_depth: int = 32
    outbox_batch: int = 2000
    outbox_retention_hours: float = 168.0
    reset_check_seconds: float = 3.0
    # /health turns 503 when rows are pending and the relay has not moved for this long.
    relay_stall_seconds: float = 30.0

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> ServiceSettings:
        if self.env == "production" and self.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY:
            raise ValueError("ONESTOP_PSEUDONYM_KEY must be set to a real secret in production")
        dlq_keys = [k.strip() for k in self.dlq_key.get_secret_value().split(",")]
        if self.env == "production" and DEV_DLQ_KEY in dlq_keys:
            raise ValueError("ONESTOP_DLQ_KEY must not hold the development key in production")
        return self

    def db_url(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'db' / f'{service}.db').resolve()}"
