"""Version 1 events of a dossier's life. Each class is the `data` of one envelope type.

Personal numbers (ID number, social insurance code) appear only in ApplicantRecorded, which
travels on intake's private topic; every other event names the applicant by pseudonym.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from contracts.common import (
    AgencyCode,
    Applicant,
    ApplicantRef,
    Channel,
    ComponentForm,
    ComponentRef,
    Contract,
    DossierCode,
    LegalTime,
    Reason,
    ReturnChannel,
    Timeliness,
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
    procedure_code: str
    catalog_version: str = Field(description="version of the catalogue the dossier is judged by")
    channel: Channel
    return_channel: ReturnChannel
    received_at: AwareDatetime = Field(description="the real time of receipt")
    due_at: AwareDatetime = Field(description="appointment: end of the legal time")
    legal_time: LegalTime
    applicant: ApplicantRef
    components: list[ComponentRef]
    origin_system: str | None = Field(default=None, description="province system that reported it")
    channel_reference: str | None = Field(
        default=None, description="postal tracking number; the portal account of an online "
        "dossier is not published (it is often the applicant's ID number)")


class ApplicantRecorded(Event):
    """Private: the applicant's identity, for services that need it to do their job."""

    event_type: ClassVar[str] = _t("applicant.recorded")
    applicant_ref: str
    applicant: Applicant


class DossierRejected(Event):
    event_type: ClassVar[str] = _t("dossier.rejected")
    agency_code: AgencyCode
    procedure_code: str
    applicant: ApplicantRef
    rejected_at: AwareDatetime
    reasons: list[Reason] = Field(min_length=1)


class DossierWithdrawn(Event):
    event_type: ClassVar[str] = _t("dossier.withdrawn")
    withdrawn_at: AwareDatetime
    reason: str | None = None


class SupplementItem(Contract):
    component_code: str | None = None
    problem_vi: str
    problem_en: str | None = None
    legal_basis: str | None = None


class SupplementRequested(Event):
    event_type: ClassVar[str] = _t("supplement.requested")
    requested_at: AwareDatetime
    stage: Literal["intake", "processing"]
    requested_by: str = Field(description="officer or department asking")
    items: list[SupplementItem] = Field(min_length=1)


class SupplementReceived(Event):
    event_type: ClassVar[str] = _t("supplement.received")
    received_at: AwareDatetime
    components: list[ComponentRef]
    complete: bool
    due_at: AwareDatetime | None = Field(
        default=None, description="new appointment when complete: the clock starts afresh"
    )


# --- digitization ---------------------------------------------------------------------


class ComponentDigitized(Event):
    event_type: ClassVar[str] = _t("component.digitized")
    component_code: str
    form: ComponentForm
    digitized_at: AwareDatetime
    document_ref: str | None = None
    signed: bool = False
    sha256: str | None = None


class DossierDigitized(Event):
    event_type: ClassVar[str] = _t("dossier.digitized")
    agency_code: AgencyCode
    procedure_code: str
    digitized_at: AwareDatetime
    component_count: int = Field(ge=0)


# --- processing -----------------------------------------------------------------------


class StepAssigned(Event):
    event_type: ClassVar[str] = _t("step.assigned")
    step_no: int = Field(ge=1)
    step_code: str
    department: str
    assignee: str | None = None
    assigned_at: AwareDatetime
    step_due_at: AwareDatetime | None = None


class StepCompleted(Event):
    event_type: ClassVar[str] = _t("step.completed")
    step_no: int = Field(ge=1)
    step_code: str
    department: str
    completed_at: AwareDatetime
    outcome: Timeliness
    handed_to: str | None = None


class VerificationRequested(Event):
    event_type: ClassVar[str] = _t("verification.requested")
    request_id: str
    to_agency: str
    requested_at: AwareDatetime
    sub_due_at: AwareDatetime | None = None
    question: str


class VerificationAnswered(Event):
    event_type: ClassVar[str] = _t("verification.answered")
    request_id: str
    from_agency: str
    answered_at: AwareDatetime
    answer_summary: str


class DeadlineApproaching(Event):
    event_type: ClassVar[str] = _t("deadline.approaching")
    due_at: AwareDatetime
    warned_at: AwareDatetime
    scope: Literal["dossier", "step"] = "dossier"
    step_no: int | None = None


class DossierOverdue(Event):
    event_type: ClassVar[str] = _t("dossier.overdue")
    due_at: AwareDatetime
    detected_at: AwareDatetime
    responsible_department: str | None = None


class OverdueExplained(Event):
    event_type: ClassVar[str] = _t("overdue.explained")
    explained_at: AwareDatetime
    explained_by: AgencyCode
    cause: str = Field(min_length=1)


class ApologyIssued(Event):
    event_type: ClassVar[str] = _t("apology.issued")
    issued_at: AwareDatetime
    original_due_at: AwareDatetime
    new_due_at: AwareDatetime
    reason: str
    department: str
    signed_by: str


class DossierResolved(Event):
    event_type: ClassVar[str] = _t("dossier.resolved")
    agency_code: AgencyCode
    procedure_code: str
    applicant: ApplicantRef
    resolved_at: AwareDatetime
    decision: Literal["approved", "denied"]
    due_at: AwareDatetime
    timeliness: Timeliness
    reasons: list[Reason] = Field(default_factory=list)


class ResultIssued(Event):
    event_type: ClassVar[str] = _t("result.issued")
    agency_code: AgencyCode
    procedure_code: str
    applicant: ApplicantRef
    issued_at: AwareDatetime
    result_code: str
    result_type: str
    document_ref: str | None = None


class ResultReturned(Event):
    event_type: ClassVar[str] = _t("result.returned")
    returned_at: AwareDatetime
    return_channel: ReturnChannel


# --- notification ---------------------------------------------------------------------


class NotificationSent(Event):
    event_type: ClassVar[str] = _t("notification.sent")
    notification_id: str
    about_event: str = Field(description="type of the event the notification is about")
    channel: str
    recipient_ref: str = Field(description="pseudonym of the applicant")
    sent_at: AwareDatetime


class NotificationFailed(Event):
    event_type: ClassVar[str] = _t("notification.failed")
    notification_id: str
    about_event: str
    channel: str
    recipient_ref: str
    failed_at: AwareDatetime
    attempts: int = Field(ge=1)
    error: str
