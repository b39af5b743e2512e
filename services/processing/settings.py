"""Settings of the processing service: the shared ones, read with its own prefix."""

from __future__ import annotations

from services.common.settings import ServiceSettings, prefixed


class ProcessingSettings(ServiceSettings):
    model_config = prefixed("PROCESSING_")

    http_port: int = 8003
    # The deadline monitor: how often it looks, how many due cases one transaction takes,
    # and the DeadlineApproaching thresholds (issue 10: one working day left, 80% used).
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
