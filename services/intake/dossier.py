"""A dossier as intake recorded it: the aggregate its domain decides on (receipt.py,
province_status.py). The repository maps it to and from the dossiers table's row; the
fields are the table's columns, one for one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class Dossier:
    code: str
    agency_code: str
    procedure_code: str
    catalog_version: str
    channel: str
    return_channel: str
    status: str
    received_at: datetime
    due_at: datetime
    # The JSON columns as stored: kept as read, so the hot path validates nothing per row.
    legal_time: dict[str, object]
    applicant_kind: str
    applicant_ref: str
    applicant: dict[str, object]  # personal data: sealed at rest
    components: list[dict[str, object]]
    updated_at: datetime
    submission_id: str | None = None
    origin_system: str | None = None
    # When the legal clock last started: receipt, or the day a supplement made it complete.
    clock_started_at: datetime | None = None
    officer: str | None = None
    supplement_request: dict[str, object] | None = None  # the one open request
    reasons: list[dict[str, object]] | None = None  # refusal reasons
    channel_reference: str | None = None
    status_at: datetime | None = None  # when the status was true: late news cannot undo it
