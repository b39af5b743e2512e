"""Every event type the system speaks, by its versioned CloudEvents type."""

from __future__ import annotations

from contracts import events as ev
from contracts.common import Contract
from contracts.ingest import IngestAccepted, IngestRejected, ProvinceDossierStatus

EVENT_CLASSES: tuple[type[Contract], ...] = (
    ev.DossierReceived,
    ev.ApplicantRecorded,
    ev.ContactsRecorded,
    ev.DossierRejected,
    ev.DossierWithdrawn,
    ev.SupplementRequested,
    ev.SupplementReceived,
    ev.ComponentDigitized,
    ev.DossierDigitized,
    ev.StepAssigned,
    ev.StepCompleted,
    ev.VerificationRequested,
    ev.VerificationAnswered,
    ev.DeadlineApproaching,
    ev.DossierOverdue,
    ev.OverdueExplained,
    ev.ApologyIssued,
    ev.DossierResolved,
    ev.ResultIssued,
    ev.ResultReturned,
    ev.NotificationSent,
    ev.NotificationFailed,
    ev.QuarterlyReportClosed,
    ev.DossierRated,
    ProvinceDossierStatus,
    IngestRejected,
    IngestAccepted,
)

EVENT_TYPES: dict[str, type[Contract]] = {cls.event_type: cls for cls in EVENT_CLASSES}  # type: ignore[attr-defined]


def short_name(event_type: str) -> str:
    """`vn.gov.bhxh.onestop.dossier.received.v1` -> `dossier.received.v1` (file names)."""
    return event_type.removeprefix("vn.gov.bhxh.onestop.")
