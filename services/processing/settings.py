"""Settings of the processing service: the shared ones, read with its own prefix."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from contracts.portal import PORTAL_CHANNEL
from services.common.settings import ServiceSettings, prefixed

PORTAL_CHANNELS = ",".join(c.value for c in PORTAL_CHANNEL)


class ProcessingSettings(ServiceSettings):
    model_config = prefixed("PROCESSING_")

    http_port: int = 8003
    # The deadline monitor: how often it looks, how many due cases one transaction takes,
    # and the DeadlineApproaching thresholds (one working day left, 80% used:
    # docs/law.md#near-due-and-overdue-dossiers).
    monitor_seconds: float = 5.0
    monitor_batch: int = 500
    alert_near_days: float | None = 1
    alert_used_share: float | None = 0.8
    # The apology and re-appointment letter (docs/law.md#explanation-and-apology-letter, both
    # "(confirm)"): at
    # least this many working days before the due time, at most this many per dossier.
    apology_days_before: int = 1
    apology_max_per_dossier: int = 1
    # Processing asks for a supplement within this many working days of receiving the
    # complete dossier (docs/law.md#supplements-and-the-restarted-clock, "(confirm)");
    # later: 422 supplement_late.
    supplement_within_days: int = 3
    # The verification link published with each result: digitization's verify endpoint of
    # the result document, as other government systems reach it.
    verify_url: str = "http://127.0.0.1:8002/api/v1/documents/{document_ref}/verify"
    # Digitization's signing route; empty: results stay unsigned renderings (CHƯA KÝ SỐ).
    sign_url: str = ""
    sign_timeout_seconds: float = 30.0
    # Status sync to the National Public Service Portal (docs/portal-sync.md). Empty URL:
    # off, nothing is queued. The token is sent as "Authorization: Bearer".
    portal_url: str = ""
    portal_token: SecretStr = SecretStr("")
    # The national channels: dossiers received through these (contracts.common.Channel
    # values, comma-separated) are synced; a province's record without a channel code is not.
    portal_channels: str = PORTAL_CHANNELS
    # Province systems (intake's province_systems.yaml ids) whose own software tells the
    # portal of their dossiers: not synced from here. Comma-separated.
    portal_skip_systems: str = ""
    portal_timeout_seconds: float = Field(10.0, gt=0)
    # Dossiers sent to at once (each dossier's statuses always one after another).
    portal_concurrency: int = Field(8, ge=1)
    portal_batch: int = Field(500, ge=1)
    portal_poll_seconds: float = Field(1.0, gt=0)
    # A province's statuses wait this long, then go in the order of the times it reported
    # (they reach processing on two topics whose order between them is not kept).
    portal_settle_seconds: float = Field(10.0, ge=0)
    # A failed status change waits this long, doubled at each failure, at most the maximum.
    portal_retry_seconds: float = Field(1.0, gt=0)
    portal_retry_max_seconds: float = Field(300.0, gt=0)
    # Status changes the portal took are kept this long (then purged).
    portal_retention_hours: float = Field(168.0, gt=0)

    @field_validator("portal_channels")
    @classmethod
    def _known_channels(cls, value: str) -> str:
        unknown = set(_items(value)) - set(PORTAL_CHANNELS.split(","))
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)}; the portal has codes for "
                             f"{PORTAL_CHANNELS}")
        return value

    @model_validator(mode="after")
    def _portal_in_production(self) -> ProcessingSettings:
        if self.env == "production" and self.portal_url and (
                not self.portal_url.startswith("https://")
                or not self.portal_token.get_secret_value()):
            raise ValueError("PROCESSING_PORTAL_URL must be https:// with "
                             "PROCESSING_PORTAL_TOKEN set in production")
        return self

    @property
    def portal_channel_set(self) -> frozenset[str]:
        return frozenset(_items(self.portal_channels))

    @property
    def portal_skip_system_set(self) -> frozenset[str]:
        return frozenset(_items(self.portal_skip_systems))


def _items(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
