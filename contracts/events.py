"""Version 1 events of a dossier's life. Each class is the `data` of one envelope type.

Personal numbers (ID number, social insurance code) appear only in ApplicantRecorded, which
travels on intake's private topic; every other event names the applicant by pseudonym.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from contracts.common import (
    MAX_ITEMS,
    AgencyCode,
    Applicant,
    ApplicantRef,
    Channel,
    Code,
    ComponentForm,
    ComponentRef,
    Contract,
    DocumentRef,
    DossierCode,
    LegalTime,
    LongText,
    Reason,
    ReturnChannel,
    ShortText,
    Timeliness,
    Timestamp,
)
from contracts.envelope import TYPE_PREFIX


class Event(Contract):
    """Base of every event body; `event_type` is the versioned CloudEvents type."""

    event_type: ClassVar[str]
    dossier_code: DossierCode


def _t(name: str, version: int = 1) -> str:
    return f"{TYPE_PREFIX}{name}.v{version}"


# --- intake ---------------------------------------------------------------------------


class DossierReceived(Event):
    event_type: ClassVar[str] = _t("dossier.received")
    agency_code: AgencyCode
    procedure_code: Code
    catalog_version: Code = Field(description="version of the catalogue the dossier is judged by")
    channel: Channel
    return_channel: ReturnChannel
    received_at: Timestamp = Field(description="the real time of receipt")
    due_at: Timestamp = Field(description="appointment: end of the legal time")
    legal_time: LegalTime
    applicant: ApplicantRef
    components: list[ComponentRef] = Field(max_length=MAX_ITEMS)
    origin_system: ShortText | None = Field(default=None,
                                            description="province system that reported it")
    channel_reference: ShortText | None = Field(
        default=None, description="postal tracking number; the portal account of an online "
        "dossier is not published (it is often the applicant's ID number)")


class ApplicantRecorded(Event):
    """Private: the applicant's identity, for services that need it to do their job."""

    event_type: ClassVar[str] = _t("applicant.recorded")
    applicant_ref: ShortText
    applicant: Applicant


class DossierRejected(Event):
    event_type: ClassVar[str] = _t("dossier.rejected")
    agency_code: AgencyCode
    procedure_code: Code
    applicant: ApplicantRef
    rejected_at: Timestamp
    reasons: list[Reason] = Field(min_length=1, max_length=MAX_ITEMS)


class DossierWithdrawn(Event):
    event_type: ClassVar[str] = _t("dossier.withdrawn")
    withdrawn_at: Timestamp
    reason: LongText | None = None


class SupplementItem(Contract):
    component_code: Code | None = None
    problem_vi: LongText
    problem_en: LongText | None = None
    legal_basis: LongText | None = None


class SupplementRequested(Event):
    event_type: ClassVar[str] = _t("supplement.requested")
    requested_at: Timestamp
    stage: Literal["intake", "processing"]
    requested_by: ShortText = Field(description="officer or department asking")
    items: list[SupplementItem] = Field(min_length=1, max_length=MAX_ITEMS)


class SupplementReceived(Event):
    event_type: ClassVar[str] = _t("supplement.received")
    received_at: Timestamp
    components: list[ComponentRef] = Field(max_length=MAX_ITEMS)
    complete: bool
    due_at: Timestamp | None = Field(
        default=None, description="new appointment when complete: the clock starts afresh"
    )


# --- digitization ---------------------------------------------------------------------


class ComponentDigitized(Event):
    event_type: ClassVar[str] = _t("component.digitized")
    component_code: Code
    form: ComponentForm
    digitized_at: Timestamp
    document_ref: DocumentRef | None = None
    signed: bool = False
    sha256: Annotated[str, Field(max_length=64)] | None = None


class DossierDigitized(Event):
    event_type: ClassVar[str] = _t("dossier.digitized")
    agency_code: AgencyCode
    procedure_code: Code
    digitized_at: Timestamp
    component_count: int = Field(ge=0)


# --- processing -----------------------------------------------------------------------


class StepAssigned(Event):
    event_type: ClassVar[str] = _t("step.assigned")
    step_no: int = Field(ge=1)
    step_code: Code
    department: ShortText
    assignee: ShortText | None = None
    assigned_at: Timestamp
    step_due_at: Timestamp | None = None


class StepCompleted(Event):
    event_type: ClassVar[str] = _t("step.completed")
    step_no: int = Field(ge=1)
    step_code: Code
    department: ShortText
    completed_at: Timestamp
    outcome: Timeliness
    handed_to: ShortText | None = None


class VerificationRequested(Event):
    event_type: ClassVar[str] = _t("verification.requested")
    request_id: Code
    to_agency: ShortText
    requested_at: Timestamp
    sub_due_at: Timestamp | None = None
    question: LongText


class VerificationAnswered(Event):
    event_type: ClassVar[str] = _t("verification.answered")
    request_id: Code
    from_agency: ShortText
    answered_at: Timestamp
    answer_summary: LongText


class DeadlineApproaching(Event):
    event_type: ClassVar[str] = _t("deadline.approaching")
    due_at: Timestamp
    warned_at: Timestamp
    scope: Literal["dossier", "step"] = "dossier"
    step_no: int | None = None


class DossierOverdue(Event):
    event_type: ClassVar[str] = _t("dossier.overdue")
    due_at: Timestamp
    detected_at: Timestamp
    responsible_department: ShortText | None = None


class OverdueExplained(Event):
    event_type: ClassVar[str] = _t("overdue.explained")
    explained_at: Timestamp
    explained_by: AgencyCode
    cause: LongText = Field(min_length=1)


class ApologyIssued(Event):
    event_type: ClassVar[str] = _t("apology.issued")
    issued_at: Timestamp
    original_due_at: Timestamp
    new_due_at: Timestamp
    reason: LongText
    department: ShortText
    signed_by: ShortText


class DossierResolved(Event):
    event_type: ClassVar[str] = _t("dossier.resolved")
    agency_code: AgencyCode
    procedure_code: Code
    applicant: ApplicantRef
    resolved_at: Timestamp
    decision: Literal["approved", "denied"]
    due_at: Timestamp
    timeliness: Timeliness
    reasons: list[Reason] = Field(default_factory=list, max_length=MAX_ITEMS)


class ResultIssued(Event):
    event_type: ClassVar[str] = _t("result.issued")
    agency_code: AgencyCode
    procedure_code: Code
    applicant: ApplicantRef
    issued_at: Timestamp
    result_code: Code
    result_type: ShortText
    document_ref: DocumentRef | None = None
    verification_url: str | None = Field(
        default=None, max_length=500,
        description="where anyone can check the signed result document (digitization's "
        "verify endpoint)")


class ResultReturned(Event):
    event_type: ClassVar[str] = _t("result.returned")
    returned_at: Timestamp
    return_channel: ReturnChannel


# --- notification ---------------------------------------------------------------------


class NotificationSent(Event):
    event_type: ClassVar[str] = _t("notification.sent")
    notification_id: ShortText
    about_event: ShortText = Field(description="type of the event the notification is about")
    channel: ShortText
    recipient_ref: ShortText = Field(description="pseudonym of the applicant")
    sent_at: Timestamp


class NotificationFailed(Event):
    event_type: ClassVar[str] = _t("notification.failed")
    notification_id: ShortText
    about_event: ShortText
    channel: ShortText
    recipient_ref: ShortText
    failed_at: Timestamp
    attempts: int = Field(ge=1)
    error: LongText
