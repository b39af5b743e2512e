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
    Email,
    LegalTime,
    LongText,
    Phone,
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


class ContactsRecorded(Event):
    """Narrow: how to reach the applicant (phone, e-mail), for notification; no personal
    numbers, so the service that writes to applicants never holds their ID number."""

    event_type: ClassVar[str] = _t("contacts.recorded")
    applicant_ref: ShortText
    phone: Phone | None = None
    email: Email | None = None


class DossierRejected(Event):
    event_type: ClassVar[str] = _t("dossier.rejected")
    agency_code: AgencyCode
    procedure_code: Code
    applicant: ApplicantRef
    rejected_at: Timestamp
    reasons: list[Reason] = Field(min_length=1, max_length=MAX_ITEMS)
    # Optional: events written before they were added have neither. They say whether the
    # national portal is told of the refusal (contracts/portal.py).
    channel: Channel | None = Field(default=None, description="how it came")
    origin_system: ShortText | None = Field(default=None,
                                            description="province system that reported it")


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


# The declared field an extraction is about, by name (full_name, date_of_birth, id_number,
# social_insurance_code): a label, never the value read or declared.
ExtractedFieldName = Annotated[str, Field(max_length=40, pattern=r"^[a-z_]{1,40}$",
                                          description="which declared field (its name)")]


class ExtractedField(Contract):
    name: ExtractedFieldName
    read: bool = Field(description="a value of the field's shape was found on the scan")
    confidence: float = Field(ge=0, le=1)


class ExtractionMismatch(Contract):
    field: ExtractedFieldName
    kind: Literal["differs", "diacritics"] = Field(
        description="another value, or a name equal to the declared one once diacritics "
        "are removed (a weaker signal: poor scans lose tone marks)")
    confidence: float = Field(ge=0, le=1, description="confidence of the value read")


class ExtractionSummary(Contract):
    """What OCR read of a scanned declaration form (Decision 1333, Art. 9) and where it
    contradicts the applicant's declaration, without any personal value: the processing
    officer sees the flag and compares the scan with the declaration in the case."""

    form_code: Code
    fields: list[ExtractedField] = Field(default_factory=list, max_length=MAX_ITEMS)
    compared: bool = Field(default=False, description="the applicant's declaration was "
                           "known and compared; mismatches is empty otherwise")
    mismatches: list[ExtractionMismatch] = Field(default_factory=list, max_length=MAX_ITEMS)


class ComponentDigitized(Event):
    event_type: ClassVar[str] = _t("component.digitized")
    component_code: Code
    form: ComponentForm
    digitized_at: Timestamp
    document_ref: DocumentRef | None = None
    signed: bool = False
    sha256: Annotated[str, Field(max_length=64)] | None = None
    pages: int | None = Field(default=None, ge=0, description="pages of the signed file")
    signer: ShortText | None = Field(default=None, description="whose certificate signed it")
    source: Literal["electronic", "reused", "scanned", "referenced"] | None = Field(
        default=None, description="brought electronically, reused from the data warehouse, "
        "scanned and signed here, or scanned elsewhere and given by reference")
    extraction: ExtractionSummary | None = Field(
        default=None, description="fields read from a scanned declaration form (OCR)")


class DossierDigitized(Event):
    event_type: ClassVar[str] = _t("dossier.digitized")
    agency_code: AgencyCode
    procedure_code: Code
    digitized_at: Timestamp
    component_count: int = Field(ge=0)
    not_digitized: list[Code] = Field(
        default_factory=list, max_length=MAX_ITEMS,
        description="fragile originals the office leader decided not to digitize (Decision "
        "1333, step 3(1)): finished without a file")
    extractions: list[ExtractionSummary] | None = Field(
        default=None, max_length=MAX_ITEMS,
        description="what OCR read of each scanned declaration form among the components, "
        "from its latest scan (empty: none was read), so a reader of the dossier's flags "
        "needs no ComponentDigitized; absent from events written before it was added")


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


# The alerts of another agency's sub-deadline (liên thông) carry these two; an alert without
# them is about the dossier's own deadline. Optional: alerts written before them have none.
_OTHER_AGENCY = "the other agency asked (as the request names it) whose sub-deadline this " \
    "alert is about: `due_at` is then the request's sub-deadline, not the dossier's; absent: " \
    "the dossier's own deadline"
_REQUEST_ID = "the request to the other agency (VerificationRequested.request_id)"


class DeadlineApproaching(Event):
    event_type: ClassVar[str] = _t("deadline.approaching")
    due_at: Timestamp
    warned_at: Timestamp
    scope: Literal["dossier", "step"] = "dossier"
    step_no: int | None = None
    other_agency: ShortText | None = Field(default=None, description=_OTHER_AGENCY)
    request_id: Code | None = Field(default=None, description=_REQUEST_ID)


class DossierOverdue(Event):
    event_type: ClassVar[str] = _t("dossier.overdue")
    due_at: Timestamp
    detected_at: Timestamp
    responsible_department: ShortText | None = None
    other_agency: ShortText | None = Field(default=None, description=_OTHER_AGENCY)
    request_id: Code | None = Field(default=None, description=_REQUEST_ID)


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


# Who processed a result: a province's own software (its system id, as on the dossier's
# DossierReceived), or the centre when absent. Optional: results written before it have none.
_PROCESSED_BY = "the province system whose own software processed the dossier (its "\
    "DossierReceived.origin_system); absent: processed centrally"


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
    origin_system: ShortText | None = Field(default=None, description=_PROCESSED_BY)


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
    origin_system: ShortText | None = Field(default=None, description=_PROCESSED_BY)


class ResultReturned(Event):
    event_type: ClassVar[str] = _t("result.returned")
    returned_at: Timestamp
    return_channel: ReturnChannel
    # Optional: v1 consumers and provinces' reports have none. Public topic, so no account.
    channel_reference: ShortText | None = Field(
        default=None, description="postal tracking number of the result sent by post; the "
        "online account it went to is not published (it is often the applicant's ID number)")
    origin_system: ShortText | None = Field(default=None, description=_PROCESSED_BY)


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


# --- reporting ------------------------------------------------------------------------


class ReceivedFigures(Contract):
    total: int = Field(ge=0, description="online + direct_or_postal + carried_over")
    online: int = Field(ge=0)
    direct_or_postal: int = Field(ge=0)
    carried_over: int = Field(ge=0, description="pending from before the period")
    # The form's two columns of direct_or_postal; absent from reports closed before them.
    direct: int | None = Field(default=None, ge=0, description="at the counter (trực tiếp)")
    postal: int | None = Field(default=None, ge=0, description="by the public postal service "
                               "(dịch vụ bưu chính)")


class ResolvedFigures(Contract):
    total: int = Field(ge=0)
    early: int = Field(ge=0)
    on_time: int = Field(ge=0)
    late: int = Field(ge=0)


class PendingFigures(Contract):
    total: int = Field(ge=0)
    within_time: int = Field(ge=0)
    overdue: int = Field(ge=0)


class QuarterlyIndicators(Contract):
    """Decision 2192/QĐ-BHXH indicators of one agency (its own dossiers and its subtree's)."""

    received: ReceivedFigures
    resolved: ResolvedFigures
    pending: PendingFigures = Field(description="at the cut-off")
    refused: int = Field(ge=0)
    withdrawn: int = Field(ge=0)
    returned_for_supplement: int | None = Field(
        default=None, ge=0, description="dossiers asked for a supplement in the period (hồ sơ "
        "yêu cầu bổ sung, hoàn thiện); absent from reports closed before it was counted")


class ProcedureFigures(Contract):
    procedure_code: Code
    indicators: QuarterlyIndicators


class SubDeadlineFigures(Contract):
    """Verification requests to one other agency (liên thông) open in the period, by their
    sub-deadline (`VerificationRequested.sub_due_at`)."""

    agency: ShortText = Field(description="the agency asked, as the request names it")
    requested: int = Field(ge=0, description="open in the period: asked in it or before it "
                           "and not answered before it")
    answered_on_time: int = Field(ge=0)
    answered_late: int = Field(ge=0, description="answered in the period after its sub-deadline")
    pending_within_time: int = Field(ge=0, description="unanswered at the cut-off, sub-deadline "
                                     "not passed (or none given)")
    pending_overdue: int = Field(ge=0, description="unanswered at the cut-off, past its "
                                 "sub-deadline")
    overruns: int = Field(ge=0, description="answered_late + pending_overdue")


class AgencyFigures(Contract):
    agency_code: AgencyCode
    parent_code: AgencyCode | None = None
    name: ShortText
    indicators: QuarterlyIndicators


class QuarterlyReportClosed(Event):
    """A quarter's report, closed: the figures as the event log stood at `as_of`, for the
    national reporting system. `dossier_code` carries the report's code (the topic key),
    e.g. BC-2026Q3-000.00.00.H99."""

    event_type: ClassVar[str] = _t("quarterly-report.closed")
    year: int = Field(ge=2000, le=2100)
    quarter: int = Field(ge=1, le=4)
    period_start: Timestamp = Field(description="0:00 of the period's first day (the 15th)")
    period_end: Timestamp = Field(description="the cut-off: 24:00 of its last day (the "
                                  "14th), exclusive")
    as_of: Timestamp = Field(description="events recorded up to this moment are counted")
    agency_code: AgencyCode = Field(description="root of the report")
    indicators: QuarterlyIndicators
    agencies: list[AgencyFigures] = Field(default_factory=list, max_length=5000,
                                          description="every agency of the tree, parents first")
    procedures: list[ProcedureFigures] = Field(
        default_factory=list, max_length=5000,
        description="the root's figures per procedure (the form's procedure rows)")
    sub_deadlines: list[SubDeadlineFigures] = Field(
        default_factory=list, max_length=5000,
        description="sub-deadline overruns per other agency asked, within the root's tree")


class DossierRated(Event):
    """The applicant's satisfaction with a returned dossier (Art. 31; emulation figures): a
    later rating of the same dossier and origin replaces an earlier one: the latest
    `rated_at` wins (equal times: the greater envelope id). The envelope's agency is the
    office rated; nobody who rated is named."""

    event_type: ClassVar[str] = _t("dossier.rated")
    score: int = Field(ge=1, le=5, description="1 (rất không hài lòng) … 5 (rất hài lòng)")
    comment: LongText = ""
    rated_at: Timestamp
    # Events from before citizens rated on the public page were all counter surveys.
    origin: Literal["counter_survey", "citizen"] = Field(
        default="counter_survey",
        description="who gave it: the applicant on the public page (citizen, checked by the "
                    "dossier code and the last four ID digits), or an officer recording a "
                    "counter survey (phiếu khảo sát tại quầy)")
    changeable_until: Timestamp | None = Field(
        default=None, description="a citizen's rating: until when they may change it (set "
                                  "by their first rating, repeated by each change)")
