"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PSEUDONYM_KEY = "development-only-pseudonym-key"
GC_YOUNG_THRESHOLD = 20_000  # objects allocated between young collections (garbage.py)
# Fernet key sealing dead letters of personal-data topics in development (sealing.py).
DEV_DLQ_KEY = "rQZVojkbC2BQCmYBnNUKHM6ICe7VK2N2C4MQOiawwpk="
# Fernet key sealing personal columns at rest in development (sealing.py, sealed_columns.py).
DEV_DATA_KEY = "ZgJfXIn_EbX6OA7MrdcahiznbthyCjlk7lW6FN-69GY="
# HMAC key of the audit chain and its anchors in development (audit.py).
DEV_AUDIT_KEY = "development-only-audit-key"


# Bearer tokens (auth.py): the development issuer's secret and our services' own API key.
DEV_JWT_SECRET = "development-only-jwt-secret-not-for-production-use"
DEV_SERVICE_KEY = "development-only-internal-service-key"
ISSUER, AUDIENCE = "onestop-dev", "onestop"


def key_digest(key: str) -> str:
    """An API key as settings keep it: its SHA-256, never the key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


DEV_API_KEYS = f"onestop-services:internal_service:*:{key_digest(DEV_SERVICE_KEY)}"


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
    # How long the relay's producer waits to fill a batch per partition. The local broker's
    # CPU follows the stored batches its consumers read (`python -m bench.broker_cpu`: 50
    # cut it by two thirds), but the pipeline measured no faster at 50 (docs/configuration.md).
    kafka_producer_linger_ms: int = Field(
        5, ge=0, le=1000, validation_alias=_shared("KAFKA_PRODUCER_LINGER_MS"))
    # Python's collector once the service is up (garbage.py): what start-up built set
    # aside, and the young generation's size. With the interpreter's (no freeze, 700)
    # collections took 16% of the services' CPU in `python -m bench.pipeline`; with these
    # about 2%.
    gc_freeze: bool = Field(True, validation_alias=_shared("ONESTOP_GC_FREEZE"))
    gc_young_threshold: int = Field(
        GC_YOUNG_THRESHOLD, ge=0, validation_alias=_shared("ONESTOP_GC_YOUNG_THRESHOLD"))
    env: str = Field("development", validation_alias=_shared("ONESTOP_ENV"))
    pseudonym_key: SecretStr = Field(SecretStr(DEV_PSEUDONYM_KEY),
                                     validation_alias=_shared("ONESTOP_PSEUDONYM_KEY"))
    # Comma-separated Fernet keys: the first seals dead letters, every one opens them.
    dlq_key: SecretStr = Field(SecretStr(DEV_DLQ_KEY), validation_alias=_shared("ONESTOP_DLQ_KEY"))
    # Comma-separated Fernet keys: the first seals personal columns at rest, every one opens.
    data_key: SecretStr = Field(SecretStr(DEV_DATA_KEY),
                                validation_alias=_shared("ONESTOP_DATA_KEY"))
    # Comma-separated secrets keying the audit chain and its anchors: the first keys new
    # rows, every one verifies (an old key stays listed while rows it keyed are kept).
    audit_key: SecretStr = Field(SecretStr(DEV_AUDIT_KEY),
                                 validation_alias=_shared("ONESTOP_AUDIT_KEY"))
    # Comma-separated HS256 secrets: the first is the development issuer's, every one
    # verifies (rotation). Production: an OIDC issuer's JWKS instead (auth_jwks_url).
    auth_jwt_secret: SecretStr = Field(SecretStr(DEV_JWT_SECRET),
                                       validation_alias=_shared("ONESTOP_AUTH_JWT_SECRET"))
    auth_jwks_url: str | None = Field(None, validation_alias=_shared("ONESTOP_AUTH_JWKS_URL"))
    auth_issuer: str = Field(ISSUER, validation_alias=_shared("ONESTOP_AUTH_ISSUER"))
    auth_audience: str = Field(AUDIENCE, validation_alias=_shared("ONESTOP_AUTH_AUDIENCE"))
    # system:role:agency(*):sha256(key), comma-separated (auth.parse_api_keys)
    auth_api_keys: SecretStr = Field(SecretStr(DEV_API_KEYS),
                                     validation_alias=_shared("ONESTOP_AUTH_API_KEYS"))
    # What this service sends when it calls another (X-API-Key).
    service_api_key: SecretStr = Field(SecretStr(DEV_SERVICE_KEY),
                                       validation_alias=_shared("ONESTOP_SERVICE_API_KEY"))
    # Addresses (or CIDR networks), comma-separated, of the reverse proxies whose
    # X-Forwarded-For / X-Forwarded-Proto are believed; empty: none, the peer is the client.
    trusted_proxies: str = Field("", validation_alias=_shared("ONESTOP_TRUSTED_PROXIES"))
    # Browser origins (scheme://host[:port], comma-separated) whose pages may call this API
    # with a bearer token (the screens, services/web); each named, never "*". Empty: none.
    cors_origins: str = Field("", validation_alias=_shared("ONESTOP_CORS_ORIGINS"))
    # Failed credentials (bad token or API key) a client address may send a minute; past
    # them its credentials are answered 429 until the count drains (auth.Authenticator).
    auth_failures_per_minute: float = Field(
        20.0, gt=0, validation_alias=_shared("ONESTOP_AUTH_FAILURES_PER_MINUTE"))
    var_dir: Path = Field(Path("var"), validation_alias=_shared("ONESTOP_VAR_DIR"))
    log_level: str = Field("INFO", validation_alias=_shared("ONESTOP_LOG_LEVEL"))
    # The services' event loop (runtime.main): uvloop costs less CPU per SQLite transaction
    # and Kafka record; "asyncio", the standard library's, rules the loop out of a problem.
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", validation_alias=_shared("ONESTOP_EVENT_LOOP"))
    # Spans (tracing.py): unset is OTLP in production, var/traces/<service>.jsonl otherwise;
    # memory in tests; none records nothing (trace ids are still carried).
    tracing_exporter: Literal["otlp", "jsonl", "memory", "none"] | None = Field(
        None, validation_alias=_shared("ONESTOP_TRACING_EXPORTER"))
    tracing_otlp_endpoint: str = Field("http://127.0.0.1:4318/v1/traces",
                                       validation_alias=_shared("ONESTOP_TRACING_OTLP_ENDPOINT"))
    # Share of the consumed records without a sampled parent that start a recorded trace
    # (HTTP requests always do; a trace is recorded whole or not at all). At 1.0 the
    # pipeline spends about a quarter more CPU per dossier; at 0.1 the services spent 8-12%
    # more CPU per dossier than at 0.01 in alternated PostgreSQL pipeline runs (a py-spy
    # profile put 7-17% of each service's samples in tracing). 0.01 still records several
    # dossiers a second at the 5,000 events/s targeted, some 400,000 traces a day.
    tracing_sample_ratio: float = Field(0.01, ge=0.0, le=1.0,
                                        validation_alias=_shared("ONESTOP_TRACING_SAMPLE_RATIO"))

    database_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Request bodies over this are refused with 413 before they are read whole.
    http_max_body_bytes: int = 1024 * 1024
    consumer_group: str | None = None  # default onestop.<service>
    # 2,500 against 1,000 in alternated `python -m bench.pipeline` runs (two pairs on each
    # backend): events/s within the runs' noise (-4% to +19%), CPU per record the same, the
    # largest service's peak RSS 10-20 MiB higher (up to 193 MiB of the 200 targeted).
    consumer_max_records: int = 1000
    # A fetched batch under a quarter of consumer_max_records waits this long once for
    # more before it is applied (consumer.py `_fill`); 0 applies it at once. Measured with
    # `python -m bench.pipeline` (2 cores): at a quarter of the full load the machine was
    # 79-93% busy without it, 68-75% at 50 ms, 58-60% at 100 ms; the receipt p99 at half
    # load and the full-load rate moved within the runs' noise; the p50 at a quarter load
    # rose by about 60 ms at 50 ms, 170 ms at 100 ms.
    consumer_linger_ms: float = Field(50.0, ge=0.0, le=1000.0)
    # Parsing limits of one consumed record: larger or deeper records are dead-lettered.
    consumer_max_record_bytes: int = 1024 * 1024
    consumer_max_depth: int = 32
    outbox_batch: int = 2000
    outbox_retention_hours: float = 168.0
    reset_check_seconds: float = 3.0
    # /health turns 503 when rows are pending and the relay has not moved for this long.
    relay_stall_seconds: float = 30.0
    # Each /health check answers within this or is reported as timed out (ops.py).
    health_timeout_seconds: float = Field(2.0, gt=0)
    # How long an HTTP request waits for SQLite's write lock before answering 503 with
    # Retry-After (database_busy.py); background work waits 60 s.
    http_db_busy_seconds: float = Field(3.0, gt=0)
    # Gauges that need a query (outbox age, open cases...) are refreshed this often.
    metrics_refresh_seconds: float = 15.0
    # The audit chain's head is anchored outside the database this often (and at stop):
    # rows newer than the last anchor are the only ones whose deletion goes unseen.
    audit_anchor_seconds: float = Field(60.0, gt=0)

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> ServiceSettings:
        if self.env == "production" and self.pseudonym_key.get_secret_value() == DEV_PSEUDONYM_KEY:
            raise ValueError("ONESTOP_PSEUDONYM_KEY must be set to a real secret in production")
        dlq_keys = [k.strip() for k in self.dlq_key.get_secret_value().split(",")]
        if self.env == "production" and DEV_DLQ_KEY in dlq_keys:
            raise ValueError("ONESTOP_DLQ_KEY must not hold the development key in production")
        data_keys = [k.strip() for k in self.data_key.get_secret_value().split(",")]
        if self.env == "production" and DEV_DATA_KEY in data_keys:
            raise ValueError("ONESTOP_DATA_KEY must not hold the development key in production")
        audit_keys = [k.strip() for k in self.audit_key.get_secret_value().split(",")]
        if self.env == "production" and (DEV_AUDIT_KEY in audit_keys
                                         or min(map(len, audit_keys)) < 32):
            raise ValueError("ONESTOP_AUDIT_KEY must hold secrets of 32 characters or more, "
                             "not the development key, in production")
        return self

    @model_validator(mode="after")
    def _named_origins(self) -> ServiceSettings:
        if any(o.strip() in ("*", "null") for o in self.cors_origins.split(",")):
            raise ValueError("ONESTOP_CORS_ORIGINS names each origin; '*' and 'null' are refused")
        return self

    @model_validator(mode="after")
    def _tracing_default(self) -> ServiceSettings:
        if self.tracing_exporter is None:
            self.tracing_exporter = "otlp" if self.env == "production" else "jsonl"
        if self.env == "production" and (
                DEV_JWT_SECRET in self.auth_jwt_secret.get_secret_value().split(",")
                or self.service_api_key.get_secret_value() == DEV_SERVICE_KEY
                or key_digest(DEV_SERVICE_KEY) in self.auth_api_keys.get_secret_value()):
            raise ValueError("the development token secret and service API key must not be "
                             "used in production (ONESTOP_AUTH_JWT_SECRET, "
                             "ONESTOP_AUTH_API_KEYS, ONESTOP_SERVICE_API_KEY)")
        return self

    def db_url(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'db' / f'{service}.db').resolve()}"
