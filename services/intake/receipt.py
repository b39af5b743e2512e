"""The counter's receipt, pure: judging a submission received or refused, the dossier as
recorded, its supplement and its withdrawal, and the events that say so.

No SQL, no HTTP, no outbox: functions take the recorded dossier and values and return its new
values and the events to emit; handlers.py reads, writes and emits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from contracts import topics
from contracts.catalog import Agency, Procedure
from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    IndividualApplicant,
    LegalTime,
    OrganizationApplicant,
    Reason,
)
from contracts.events import (
    ApplicantRecorded,
    ContactsRecorded,
    DossierReceived,
    DossierRejected,
    DossierWithdrawn,
    SupplementItem,
    SupplementReceived,
    SupplementRequested,
)
from services.intake.domain import (
    Change,
    Emit,
    IntakeLaw,
    NotFound,
    Rejected,
    Submission,
    WrongState,
    no_catalogue,
)
from services.intake.dossier import Dossier
from services.intake.rules import (
    ALLOWED_FROM,
    check_components,
    check_submission,
    personal_numbers,
    still_missing,
)
from services.law.catalog import CatalogError, CatalogIndex
from services.law.pseudonym import applicant_pseudonym

# The problems of check_submission that make a refusal itself impossible to record (no such
# agency or procedure, a time that cannot be true). The others (procedure not handled here,
# wrong applicant kind, components missing or unknown) are what a refusal is for.
REFUSAL_BLOCKERS = frozenset({
    "received_at_in_future", "unknown_agency", "agency_not_active", "unknown_procedure",
    "duplicate_component", "personal_document_ref", "control_characters"})



# --- receipt and refusal ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """How a dossier is recorded: its status, appointment, legal time and catalogue."""

    status: str
    due_at: datetime
    legal_time: LegalTime
    catalog_version: str
    clock_started_at: datetime | None
    reasons: list[Reason] | None = None


def _checked(law: IntakeLaw, sub: Submission, now: datetime
             ) -> tuple[CatalogIndex, list[Reason], Agency | None, Procedure | None]:
    """The catalogue in force at receipt and what the submission rules find in `sub`;
    Rejected when no catalogue was in force."""
    try:
        catalog = law.catalog_on(sub.received_at)
    except CatalogError as exc:
        raise Rejected([no_catalogue(exc)]) from None
    problems, agency, procedure = check_submission(
        catalog, agency_code=sub.agency_code, procedure_code=sub.procedure_code,
        applicant_kind=sub.applicant.kind, components=sub.components,
        received_at=sub.received_at, now=now, applicant=sub.applicant)
    return catalog, problems, agency, procedure


def judge_receipt(law: IntakeLaw, sub: Submission, now: datetime) -> Verdict:
    """Received, with its appointment counted from receipt; Rejected with every problem."""
    catalog, problems, agency, procedure = _checked(law, sub, now)
    if problems or agency is None or procedure is None:
        raise Rejected(problems)
    legal_time = catalog.legal_time(procedure, sub.applicant.kind)
    due_at = law.calendar_for(agency).due_at(sub.received_at, legal_time)
    return Verdict("received", due_at, legal_time, catalog.version, sub.received_at)


def judge_refusal(law: IntakeLaw, sub: Submission, reasons: list[Reason],
                  now: datetime) -> Verdict:
    """Decree 61/2018 Art. 19(1)(c) / Decree 118/2025: not in the agency's remit or not
    eligible: a refusal slip with reasons. Rejected when the refusal itself cannot stand
    (see REFUSAL_BLOCKERS)."""
    catalog, found, _, _ = _checked(law, sub, now)
    if problems := [p for p in found if p.code in REFUSAL_BLOCKERS]:
        raise Rejected(problems)
    return Verdict("refused", sub.received_at, LegalTime(value=0, unit="same_day"),
                   catalog.version, None, reasons)


def new_dossier(sub: Submission, code: str, verdict: Verdict, now: datetime, *,
                pseudonym_key: str, reuse_verified: bool) -> Dossier:
    """The dossier as recorded (received or refused)."""
    return Dossier(
        code=code, agency_code=sub.agency_code, procedure_code=sub.procedure_code,
        catalog_version=verdict.catalog_version, channel=sub.channel.value,
        return_channel=sub.return_channel.value, status=verdict.status,
        received_at=sub.received_at, due_at=verdict.due_at,
        legal_time=verdict.legal_time.model_dump(mode="json"),
        applicant_kind=sub.applicant.kind,
        applicant_ref=applicant_pseudonym(pseudonym_key, sub.applicant),
        applicant=sub.applicant.model_dump(mode="json"),
        # Whether reused components were checked against the warehouse before receipt.
        components=[{**c.model_dump(mode="json"),
                     **({"reuse_verified": reuse_verified} if c.reused else {})}
                    for c in sub.components],
        submission_id=sub.submission_id, origin_system=sub.origin_system,
        updated_at=now, clock_started_at=verdict.clock_started_at,
        officer=sub.officer, supplement_request=None,
        reasons=[r.model_dump(mode="json") for r in verdict.reasons]
        if verdict.reasons else None,
        channel_reference=sub.channel_reference)


def receipt_events(sub: Submission, dossier: Dossier, verdict: Verdict) -> list[Emit]:
    """DossierReceived on the broad topic (pseudonym only), the identity on the private one."""
    code, ref, agency = dossier.code, dossier.applicant_ref, sub.agency_code
    return [
        Emit(topics.INTAKE, DossierReceived(
            dossier_code=code, agency_code=agency, procedure_code=sub.procedure_code,
            catalog_version=verdict.catalog_version, channel=sub.channel,
            return_channel=sub.return_channel, received_at=sub.received_at,
            due_at=verdict.due_at, legal_time=verdict.legal_time,
            applicant=ApplicantRef(kind=sub.applicant.kind, ref=ref),
            components=sub.components, origin_system=sub.origin_system,
            channel_reference=sub.channel_reference if sub.channel == Channel.postal
            else None), agency),
        Emit(topics.INTAKE_PRIVATE, ApplicantRecorded(
            dossier_code=code, applicant_ref=ref, applicant=sub.applicant), agency),
        *contacts_events(code, ref, sub),
    ]


def contacts_events(code: str, ref: str, sub: Submission) -> list[Emit]:
    """How to reach the applicant, for notification only, on its own narrow topic: phone
    and e-mail, not the identity's personal numbers (docs/law.md#personal-data-on-topics)."""
    phone, email = sub.applicant.phone, sub.applicant.email
    if phone is None and email is None:
        return []
    return [Emit(topics.CONTACTS, ContactsRecorded(
        dossier_code=code, applicant_ref=ref, phone=phone, email=email), sub.agency_code)]


def refusal_events(sub: Submission, code: str, applicant_ref: str, reasons: list[Reason],
                   now: datetime) -> list[Emit]:
    return [Emit(topics.INTAKE, DossierRejected(
        dossier_code=code, agency_code=sub.agency_code,
        procedure_code=sub.procedure_code,
        applicant=ApplicantRef(kind=sub.applicant.kind, ref=applicant_ref),
        rejected_at=now, reasons=reasons, channel=sub.channel,
        origin_system=sub.origin_system), sub.agency_code),
        *contacts_events(code, applicant_ref, sub)]


# --- the counter's actions on a recorded dossier ---------------------------------------------


def require(dossier: Dossier | None, code: str, action: str) -> Dossier:
    """The dossier, if it exists and its status allows the action (else 404 / 409)."""
    if dossier is None:
        raise NotFound(code)
    if dossier.status not in ALLOWED_FROM[action]:
        raise WrongState(action, dossier.status)
    return dossier


# What a supplement request sets, whoever asked.
AWAITING = ("status", "supplement_request")


def supplement_request(dossier: Dossier | None, code: str, items: list[SupplementItem],
                       requested_by: str, stage: str, now: datetime) -> Change:
    """One request listing everything to supplement (not several rounds)."""
    dossier = require(dossier, code, "request_supplement")
    event = SupplementRequested(dossier_code=code, requested_at=now,
                                stage=stage,  # type: ignore[arg-type]
                                requested_by=requested_by, items=items)
    return Change(awaiting(dossier, event), AWAITING,
                  [Emit(topics.INTAKE, event, dossier.agency_code)])


def awaiting(dossier: Dossier, event: SupplementRequested) -> Dossier:
    """The dossier waits for what the request lists, whoever asked: the counter then
    receives the supplement the same way (Law on Social Insurance 2024: one rule)."""
    return replace(dossier, status="awaiting_supplement", supplement_request={
        "items": [i.model_dump(mode="json") for i in event.items],
        "requested_by": event.requested_by, "requested_at": event.requested_at.isoformat(),
        "stage": event.stage})


def asked_in_processing(dossier: Dossier | None, event: SupplementRequested
                        ) -> Dossier | None:
    """Processing asked the applicant for more: the dossier waiting (its AWAITING columns
    changed), or None when intake cannot take it (unknown, withdrawn, already waiting: a
    redelivery)."""
    if dossier is None or dossier.status not in ALLOWED_FROM["request_supplement"]:
        return None
    return awaiting(dossier, event)


def supplement(law: IntakeLaw, dossier: Dossier | None, code: str,
               components: list[ComponentRef], now: datetime) -> Change:
    """The supplement's components: the open request shrinks, or, complete, the dossier is
    received again and its legal clock starts afresh."""
    dossier = require(dossier, code, "receive_supplement")
    agency_code = dossier.agency_code
    # The supplement's components go onto the broad intake topic too: same rules.
    applicant = dossier.applicant or {}
    model = IndividualApplicant if applicant.get("kind") == "individual" else \
        OrganizationApplicant
    if problems := check_components(components, personal_numbers(
            model.model_validate(applicant) if applicant else None)):
        raise Rejected(problems)
    request = dossier.supplement_request or {"items": []}
    missing = still_missing(request["items"], {c.code for c in components})
    given = [c.model_dump(mode="json") for c in components]
    all_components = [c for c in dossier.components
                      if c["code"] not in {g["code"] for g in given}] + given
    if missing:
        # Still incomplete: the clock does not start; the open request shrinks.
        return Change(
            replace(dossier, components=all_components,
                    supplement_request={**request, "items": missing}),
            ("components", "supplement_request"),
            [Emit(topics.INTAKE, SupplementReceived(
                dossier_code=code, received_at=now, components=components, complete=False),
                agency_code)],
            missing)
    # Law on Social Insurance 2024: legal times run from the day the complete dossier
    # is received, so the appointment is counted afresh from now.
    agency = law.catalogs.version(dossier.catalog_version).agency(agency_code)
    calendar = law.calendar_for(agency) if agency else law.calendar
    due_at = calendar.due_at(now, LegalTime.model_validate(dossier.legal_time))
    return Change(
        replace(dossier, status="received", components=all_components,
                supplement_request=None, clock_started_at=now, due_at=due_at),
        ("status", "components", "supplement_request", "clock_started_at", "due_at"),
        [Emit(topics.INTAKE, SupplementReceived(
            dossier_code=code, received_at=now, components=components, complete=True,
            due_at=due_at), agency_code)],
        [])


def withdrawal(dossier: Dossier | None, code: str, reason: str | None,
               at: datetime) -> Change:
    dossier = require(dossier, code, "withdraw")
    return Change(replace(dossier, status="withdrawn", supplement_request=None),
                  ("status", "supplement_request"),
                  [Emit(topics.INTAKE, DossierWithdrawn(
                      dossier_code=code, withdrawn_at=at, reason=reason),
                      dossier.agency_code)])
