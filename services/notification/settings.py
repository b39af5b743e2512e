"""Settings of the notification service: the shared ones, read with its own prefix."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import SecretStr, model_validator

from services.common.settings import ServiceSettings, prefixed

DEV_WEBHOOK_SECRET = "development-only-webhook-secret"
HERE = Path(__file__).parent
CATALOG_DIR = HERE.parent / "law" / "catalog"


class NotificationSettings(ServiceSettings):
    model_config = prefixed("NOTIFICATION_")

    http_port: int = 8004
    # Reference data: who is told of what (rules), in which words (templates), and who the
    # officers, heads and leaders of each office are (directory, beside the catalogue).
    rules_file: Path = HERE / "rules.yaml"
    templates_dir: Path = HERE / "templates"
    directory_file: Path = CATALOG_DIR / "directory.yaml"
    # Escalation: an overdue dossier still open this many working days after its due time
    # goes to the office leader and the national unit (confirm).
    escalate_after_working_days: int = 2
    # SMS to citizens wait out the night, Vietnam time (confirm).
    quiet_start: time = time(21, 0)
    quiet_end: time = time(7, 0)
    # Digests each working morning, from this local time on; escalations and digests are
    # looked for this often.
    digest_at: time = time(7, 30)
    watch_seconds: float = 30.0
    # The send queue: how often the sender looks, how many rows one pass takes, how long a
    # taken row is held before another pass may retry it (a crashed sender's rows).
    sender_seconds: float = 1.0
    sender_batch: int = 200
    sender_concurrency: int = 20
    # Longer than a whole pass can take (checked below), or a slow pass's messages could be
    # taken again by another pass and sent twice.
    sender_lease_seconds: float = 300.0
    # Retries on transient failure: base * 2^(attempt-1), capped; after max_attempts the
    # message fails and NotificationFailed is published.
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    max_attempts: int = 12  # about six hours of retries with the defaults (confirm)
    # Channels: each is on when its endpoint is set; an off channel is not queued at all.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "BHXH Việt Nam <khong-tra-loi@baohiemxahoi.gov.vn>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None
    sms_sender_name: str = "BHXHVN"
    # Without diacritics (GSM-7, 160 characters a segment) by default; see sms.py (confirm).
    sms_diacritics: bool = False
    sms_max_segments: int = 3
    sms_timeout_seconds: float = 10.0
    webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    webhook_timeout_seconds: float = 10.0
    # The in-app inbox is always on: it is the portal account of the applicant and the
    # desk of the officer.

    @model_validator(mode="after")
    def _real_webhook_secret_in_production(self) -> NotificationSettings:
        if self.env == "production" and \
                self.webhook_secret.get_secret_value() == DEV_WEBHOOK_SECRET:
            raise ValueError("NOTIFICATION_WEBHOOK_SECRET must be set in production")
        slowest = max(self.smtp_timeout_seconds, self.sms_timeout_seconds,
                      self.webhook_timeout_seconds)
        longest_pass = -(-self.sender_batch // self.sender_concurrency) * slowest
        if self.sender_lease_seconds <= longest_pass:
            raise ValueError(
                f"NOTIFICATION_SENDER_LEASE_SECONDS ({self.sender_lease_seconds:g}) must exceed "
                f"the longest send pass: ceil(sender_batch / sender_concurrency) x the slowest "
                f"channel timeout = {longest_pass:g} s")
        return self
