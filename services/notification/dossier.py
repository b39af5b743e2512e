"""What notification knows of a dossier: the facts its events tell, folded into one row per
dossier, from which recipients are chosen and escalations timed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class WatchedDossier:
    """Mutable on purpose: `domain.fold` updates it event by event within a batch."""

    code: str
    agency_code: str | None = None
    procedure_code: str | None = None
    catalog_version: str | None = None
    applicant_ref: str | None = None
    due_at: datetime | None = None
    department: str | None = None
    assignee: str | None = None
    near_at: datetime | None = None
    overdue_at: datetime | None = None
    # When an overdue dossier still open goes up to the leader and the national unit.
    escalate_at: datetime | None = None
    escalated_at: datetime | None = None
    closed_at: datetime | None = None
