"""Intake's lifecycle, pure: which state allows which action, what each action changes, how a
province's status maps to the national lifecycle, and the events that say so.

No SQL, no HTTP, no outbox: functions take rows (plain dicts) and values and return the
row's new values and the events to emit; handlers.py reads, writes and emits. The rules of
a submission itself (what is wrong with it, the code's shape) are in rules.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts import topics
from contracts.catalog import Agency
from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    IndividualApplicant,
    LegalTime,
    OrganizationApplicant,
    Problem,
    Reason,
    ReturnChannel,
)
from contracts.envelope import Envelope
from contracts.events import (
    ApplicantRecorded,
    ContactsRecorded,
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    Event,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementItem,
    SupplementReceived,
    SupplementRequested,
)
from contracts.ingest import (
    IngestRejected,
    PortalChannel,
    PortalStatus,
    ProvinceDossierStatus,
    ProvinceStep,
)
from contracts.topics import Topic
from services.common.errors import Conflict, Invalid, Missing
from services.intake.rules import (
    ALLOWED_FROM,
    check_components,
    check_submission,
    personal_numbers,
    still_missing,
)
from services.law.catalog import CatalogError, CatalogIndex, CatalogSet
from services.law.pseudonym import applicant_pseudonym
from services.law.workdays import TZ, WorkCalendar, agency_calendar, timeliness

# --- what goes wrong ------------------------------------------------------------------------


class Rejected(Invalid):
    """Nothing was recorded: every problem found, answered over HTTP (422) or on the
    feedback topic as it is."""

    def __init__(self, problems: list[Reason]) -> None:
        super().__init__(problems)


class NotFound(Missing):
    """No such dossier, or not in the caller's tree (not even confirmed to exist)."""

    def __init__(self, code: str) -> None:
        super().__init__([Problem.of("not_found", f"Không tìm thấy hồ sơ {code}",
                                     f"no dossier {code}", "code")])
        self.code = code


class WrongState(Conflict):
    """The action is not possible in the dossier's status (`current_status`); `status` is
    the answer's, as for every error kind."""

    def __init__(self, action: str, current_status: str) -> None:
        self.message = f"{action} is not possible while the dossier is {current_status}"
        super().__init__([Problem.of(
            "wrong_state", f"Không thể thực hiện khi hồ sơ đang ở trạng thái {current_status}",
            self.message, "status")], current_status=current_status)
        self.action = action
        self.current_status = current_status

    def __str__(self) -> str:
        return self.message


# The problems of check_submission that make a refusal itself impossible to record (no such
# agency or procedure, a time that cannot be true). The others (procedure not handled here,
# wrong applicant kind, components missing or unknown) are what a refusal is for.
REFUSAL_BLOCKERS = frozenset({
    "received_at_in_future", "unknown_agency", "agency_not_active", "unknown_procedure",
    "duplicate_component", "personal_document_ref", "control_characters"})


def no_catalogue(exc: CatalogError) -> Problem:
    """received_at before the first catalogue came into force: nothing to judge it by."""
    return Problem.of("no_catalogue",
                      "Không có danh mục thủ tục có hiệu lực vào ngày tiếp nhận",
                      str(exc)[:500], "received_at")


# --- values ----------------------------------------------------------------------------------


@dataclass
class Submission:
    agency_code: str
    procedure_code: str
    channel: Channel
    return_channel: ReturnChannel
    applicant: IndividualApplicant | OrganizationApplicant
    components: list[ComponentRef]
    received_at: datetime
    submission_id: str | None = None
    code: str | None = None  # provinces bring their own code
    origin_system: str | None = None
    officer: str | None = None
    channel_reference: str | None = None


@dataclass(frozen=True)
class Emit:
    """One event to write to the outbox, on its topic, keyed by its agency."""

    topic: Topic
    event: Event
    agency_code: str


@dataclass
class Change:
    """What an action does to a recorded dossier: the columns it sets (the repository adds
    updated_at), the events it emits, and the row as the caller answers it."""

    values: dict[str, Any]
    emits: list[Emit]
    view: dict[str, Any]


class IntakeLaw:
    """The dated catalogues and the calendar, as intake applies them."""

    def __init__(self, catalogs: CatalogSet, calendar: WorkCalendar) -> None:
        self.catalogs = catalogs
        self.calendar = calendar
        self._calendars: dict[str, WorkCalendar] = {}

    @property
    def catalog(self) -> CatalogIndex:
        """The newest catalogue: what clients list and what new rules are written in."""
        return self.catalogs.latest

    def catalog_on(self, at: datetime) -> CatalogIndex:
        """The catalogue in force on the day of receipt, in Vietnam."""
        return self.catalogs.in_force(at.astimezone(TZ).date())

    def calendar_for(self, agency: Agency) -> WorkCalendar:
        """The agency's own office hours and closures on top of the national calendar."""
        found = self._calendars.get(agency.code)
        if found is None:
            found = self._calendars[agency.code] = agency_calendar(self.calendar.rules, agency)
        return found


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    """What the API answers about a dossier (the applicant's numbers are not echoed)."""
    return {
        "dossier_code": row["code"], "status": row["status"],
        "agency_code": row["agency_code"], "procedure_code": row["procedure_code"],
        "channel": row["channel"], "return_channel": row["return_channel"],
        "received_at": row["received_at"], "due_at": row["due_at"],
        "legal_time": row["legal_time"], "catalog_version": row["catalog_version"],
        "components": row["components"], "applicant_ref": row["applicant_ref"],
        "supplement_request": row.get("supplement_request"), "reasons": row.get("reasons"),
        "channel_reference": row.get("channel_reference"),
    }


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


def judge_receipt(law: IntakeLaw, sub: Submission, now: datetime) -> Verdict:
    """Received, with its appointment counted from receipt; Rejected with every problem."""
    try:
        catalog = law.catalog_on(sub.received_at)
    except CatalogError as exc:
        raise Rejected([no_catalogue(exc)]) from None
    problems, agency, procedure = check_submission(
        catalog, agency_code=sub.agency_code, procedure_code=sub.procedure_code,
        applicant_kind=sub.applicant.kind, components=sub.components,
        received_at=sub.received_at, now=now, applicant=sub.applicant)
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
    try:
        catalog = law.catalog_on(sub.received_at)
    except CatalogError as exc:
        raise Rejected([no_catalogue(exc)]) from None
    found, _, _ = check_submission(
        catalog, agency_code=sub.agency_code, procedure_code=sub.procedure_code,
        applicant_kind=sub.applicant.kind, components=sub.components,
        received_at=sub.received_at, now=now, applicant=sub.applicant)
    if problems := [p for p in found if p.code in REFUSAL_BLOCKERS]:
        raise Rejected(problems)
    return Verdict("refused", sub.received_at, LegalTime(value=0, unit="same_day"),
                   catalog.version, None, reasons)


def dossier_row(sub: Submission, code: str, verdict: Verdict, now: datetime, *,
                pseudonym_key: str, reuse_verified: bool) -> dict[str, Any]:
    """The dossier's row as recorded (received or refused)."""
    return {
        "code": code, "agency_code": sub.agency_code, "procedure_code": sub.procedure_code,
        "catalog_version": verdict.catalog_version, "channel": sub.channel.value,
        "return_channel": sub.return_channel.value, "status": verdict.status,
        "received_at": sub.received_at, "due_at": verdict.due_at,
        "legal_time": verdict.legal_time.model_dump(mode="json"),
        "applicant_kind": sub.applicant.kind,
        "applicant_ref": applicant_pseudonym(pseudonym_key, sub.applicant),
        "applicant": sub.applicant.model_dump(mode="json"),
        # Whether reused components were checked against the warehouse before receipt.
        "components": [{**c.model_dump(mode="json"),
                        **({"reuse_verified": reuse_verified} if c.reused else {})}
                       for c in sub.components],
        "submission_id": sub.submission_id, "origin_system": sub.origin_system,
        "updated_at": now, "clock_started_at": verdict.clock_started_at,
        "officer": sub.officer, "supplement_request": None,
        "reasons": [r.model_dump(mode="json") for r in verdict.reasons]
        if verdict.reasons else None,
        "channel_reference": sub.channel_reference,
    }


def receipt_events(sub: Submission, row: dict[str, Any], verdict: Verdict) -> list[Emit]:
    """DossierReceived on the broad topic (pseudonym only), the identity on the private one."""
    code, ref, agency = row["code"], row["applicant_ref"], sub.agency_code
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


def refusal_events(sub: Submission, row: dict[str, Any], reasons: list[Reason],
                   now: datetime) -> list[Emit]:
    return [Emit(topics.INTAKE, DossierRejected(
        dossier_code=row["code"], agency_code=sub.agency_code,
        procedure_code=sub.procedure_code,
        applicant=ApplicantRef(kind=sub.applicant.kind, ref=row["applicant_ref"]),
        rejected_at=now, reasons=reasons, channel=sub.channel,
        origin_system=sub.origin_system), sub.agency_code),
        *contacts_events(row["code"], row["applicant_ref"], sub)]


# --- the counter's actions on a recorded dossier ---------------------------------------------


def require(row: dict[str, Any] | None, code: str, action: str) -> dict[str, Any]:
    """The dossier, if it exists and its status allows the action (else 404 / 409)."""
    if row is None:
        raise NotFound(code)
    if row["status"] not in ALLOWED_FROM[action]:
        raise WrongState(action, row["status"])
    return row


def supplement_request(row: dict[str, Any] | None, code: str, items: list[SupplementItem],
                       requested_by: str, stage: str, now: datetime) -> Change:
    """One request listing everything to supplement (not several rounds)."""
    row = require(row, code, "request_supplement")
    event = SupplementRequested(dossier_code=code, requested_at=now,
                                stage=stage,  # type: ignore[arg-type]
                                requested_by=requested_by, items=items)
    values = awaiting(event)
    return Change(values, [Emit(topics.INTAKE, event, row["agency_code"])], {**row, **values})


def awaiting(event: SupplementRequested) -> dict[str, Any]:
    """The dossier waits for what the request lists, whoever asked: the counter then
    receives the supplement the same way (Law on Social Insurance 2024: one rule)."""
    return {"status": "awaiting_supplement", "supplement_request": {
        "items": [i.model_dump(mode="json") for i in event.items],
        "requested_by": event.requested_by, "requested_at": event.requested_at.isoformat(),
        "stage": event.stage}}


def asked_in_processing(row: dict[str, Any] | None, event: SupplementRequested
                        ) -> dict[str, Any] | None:
    """Processing asked the applicant for more: the dossier's new values, or None when
    intake cannot take it (unknown, withdrawn, already waiting: a redelivery)."""
    if row is None or row["status"] not in ALLOWED_FROM["request_supplement"]:
        return None
    return awaiting(event)


def supplement(law: IntakeLaw, row: dict[str, Any] | None, code: str,
               components: list[ComponentRef], now: datetime) -> Change:
    """The supplement's components: the open request shrinks, or, complete, the dossier is
    received again and its legal clock starts afresh."""
    row = require(row, code, "receive_supplement")
    agency_code = row["agency_code"]
    # The supplement's components go onto the broad intake topic too: same rules.
    applicant = row["applicant"] or {}
    model = IndividualApplicant if applicant.get("kind") == "individual" else \
        OrganizationApplicant
    if problems := check_components(components, personal_numbers(
            model.model_validate(applicant) if applicant else None)):
        raise Rejected(problems)
    request = row["supplement_request"] or {"items": []}
    missing = still_missing(request["items"], {c.code for c in components})
    given = [c.model_dump(mode="json") for c in components]
    all_components = [c for c in row["components"]
                      if c["code"] not in {g["code"] for g in given}] + given
    if missing:
        # Still incomplete: the clock does not start; the open request shrinks.
        return Change(
            {"components": all_components, "supplement_request": {**request, "items": missing}},
            [Emit(topics.INTAKE, SupplementReceived(
                dossier_code=code, received_at=now, components=components, complete=False),
                agency_code)],
            {**row, "components": all_components, "missing": missing})
    # Law on Social Insurance 2024: legal times run from the day the complete dossier
    # is received, so the appointment is counted afresh from now.
    agency = law.catalogs.version(row["catalog_version"]).agency(agency_code)
    calendar = law.calendar_for(agency) if agency else law.calendar
    due_at = calendar.due_at(now, LegalTime(**row["legal_time"]))
    return Change(
        {"status": "received", "components": all_components, "supplement_request": None,
         "clock_started_at": now, "due_at": due_at},
        [Emit(topics.INTAKE, SupplementReceived(
            dossier_code=code, received_at=now, components=components, complete=True,
            due_at=due_at), agency_code)],
        {**row, "status": "received", "components": all_components, "due_at": due_at,
         "missing": []})


def withdrawal(row: dict[str, Any] | None, code: str, reason: str | None,
               at: datetime) -> Change:
    row = require(row, code, "withdraw")
    return Change({"status": "withdrawn", "supplement_request": None},
                  [Emit(topics.INTAKE, DossierWithdrawn(
                      dossier_code=code, withdrawn_at=at, reason=reason),
                      row["agency_code"])],
                  {**row, "status": "withdrawn"})


# --- provincial systems: the National Public Service Portal's statuses -----------------------


CHANNELS = {PortalChannel.direct: Channel.counter, PortalChannel.online: Channel.online,
            PortalChannel.postal: Channel.postal}

# Statuses 2 (received) and 3 (not received): the dossier enters the national record.
FIRST_STATUSES = (PortalStatus.received, PortalStatus.not_received)


def authorised(systems: dict[str, list[str]], catalog: CatalogIndex, source: str,
               event: ProvinceDossierStatus, signer: str | None = None) -> list[Reason]:
    """May this system report for this agency, and is it who the envelope says it is (and,
    when the record was signed, the system whose key signed it)?"""
    roots = systems.get(event.system_id)
    problems: list[Reason] = []
    if signer is not None and signer != event.system_id:
        problems.append(wrong_signer(signer, event.system_id))
    if source != f"province/{event.system_id}":
        problems.append(Problem.of("source_mismatch",
                                   "Nguồn sự kiện không khớp mã hệ thống",
                                   f"source must be province/{event.system_id}", "source"))
    if roots is None:
        problems.append(Problem.of("unknown_system",
                                   f"Hệ thống {event.system_id} chưa được đăng ký",
                                   f"system {event.system_id} is not registered",
                                   "system_id"))
    elif not ({event.agency_code, *catalog.ancestors(event.agency_code)} & set(roots)):
        problems.append(Problem.of(
            "agency_not_allowed",
            f"Hệ thống {event.system_id} không được báo cáo hồ sơ của cơ quan "
            f"{event.agency_code}",
            f"system {event.system_id} may not report for agency {event.agency_code}",
            "agency_code"))
    return problems


def wrong_signer(signer: str, system_id: str) -> Problem:
    return Problem.of(
        "signature_system_mismatch",
        f"Sự kiện được ký bằng khóa của hệ thống {signer}, không phải {system_id}",
        f"signed with the key of {signer}, not of {system_id}", "system_id")


def owns(systems: dict[str, list[str]], catalog: CatalogIndex, event: ProvinceDossierStatus,
         row: dict[str, Any]) -> list[Reason]:
    """A system may change only dossiers recorded under its roots, whatever agency its
    event names."""
    system_id = event.system_id
    roots = set(systems.get(system_id) or ())
    recorded = row["agency_code"]
    problems: list[Reason] = []
    if not ({recorded, *catalog.ancestors(recorded)} & roots):
        problems.append(Problem.of(
            "dossier_not_allowed",
            f"Hệ thống {system_id} không được thay đổi hồ sơ {event.dossier_code} của "
            "cơ quan khác",
            f"system {system_id} may not change dossier {event.dossier_code}: it belongs "
            "to another agency's tree", "dossier_code"))
    elif event.agency_code != recorded:
        problems.append(Problem.of(
            "agency_mismatch",
            f"Hồ sơ {event.dossier_code} thuộc cơ quan {recorded}, không phải "
            f"{event.agency_code}",
            f"dossier {event.dossier_code} is recorded under {recorded}, not "
            f"{event.agency_code}", "agency_code"))
    return problems


def first_problems(event: ProvinceDossierStatus, refused: list[Reason],
                   already_received: bool) -> list[Reason]:
    """Every problem of a status 2 or 3 in one answer: who may report, and what is wrong
    with the dossier. Rejected at once when nothing can be recorded at all."""
    problems = list(refused)
    if event.applicant is None:
        problems.append(Problem.of("missing_applicant", "Thiếu thông tin người nộp hồ sơ",
                                   "statuses 2 and 3 need the applicant", "applicant"))
    if already_received:
        problems.append(Problem.of(
            "already_received", f"Hồ sơ {event.dossier_code} đã được tiếp nhận",
            f"dossier {event.dossier_code} was already received", "dossier_code"))
    if event.status == PortalStatus.not_received and not event.reasons:
        problems.append(Problem.of("missing_reasons", "Từ chối tiếp nhận phải nêu lý do",
                                   "status 3 (not received) needs its reasons", "reasons"))
    if event.applicant is None or already_received:
        raise Rejected(problems)
    return problems


def province_submission(event: ProvinceDossierStatus) -> Submission:
    """A province's status 2 or 3 as the one submission every channel makes."""
    assert event.applicant is not None  # first_problems refused it otherwise
    channel = CHANNELS.get(event.channel, Channel.provincial) if event.channel else \
        Channel.provincial
    return_channel = event.return_channel or (
        ReturnChannel(channel.value) if channel != Channel.provincial else
        ReturnChannel.counter)
    return Submission(
        agency_code=event.agency_code, procedure_code=event.procedure_code,
        channel=channel, return_channel=return_channel, applicant=event.applicant,
        components=event.components, received_at=event.received_at or event.occurred_at,
        code=event.dossier_code, origin_system=event.system_id)


@dataclass
class StatusNews:
    """A province status of a received dossier: the events it means and the national
    status it sets as of `at` (None: no national event, nothing changes)."""

    emits: list[Emit] = field(default_factory=list)
    status: str | None = None
    at: datetime | None = None


def province_news(event: ProvinceDossierStatus, row: dict[str, Any]) -> StatusNews:
    """Statuses 4-10 of a received dossier, mapped to the national lifecycle."""
    code, agency, at = event.dossier_code, row["agency_code"], event.occurred_at
    applicant = ApplicantRef(kind=row["applicant_kind"], ref=row["applicant_ref"])
    status = event.status
    if status in (PortalStatus.registered, PortalStatus.financial_obligation):
        return StatusNews()  # before receipt, or a fee step outside BHXH's clock
    if status == PortalStatus.processing:
        step = event.step or ProvinceStep(step_no=1, step_code="XU-LY",
                                          department="Bộ phận giải quyết", at=at)
        if step.completed:
            news: Event = StepCompleted(
                dossier_code=code, step_no=step.step_no, step_code=step.step_code,
                department=step.department, completed_at=step.at,
                outcome=timeliness(step.at, row["due_at"]))
        else:
            news = StepAssigned(
                dossier_code=code, step_no=step.step_no, step_code=step.step_code,
                department=step.department, assigned_at=step.at, step_due_at=row["due_at"])
        return StatusNews([Emit(topics.PROVINCIAL, news, agency)], "processing", at)
    if status == PortalStatus.supplement_requested:
        items = [SupplementItem(component_code=r.field, problem_vi=r.message_vi,
                                problem_en=r.message_en, legal_basis=r.legal_basis)
                 for r in event.reasons] or [SupplementItem(
                     problem_vi=event.note or "Yêu cầu bổ sung hồ sơ")]
        return StatusNews([Emit(topics.INTAKE, SupplementRequested(
            dossier_code=code, requested_at=at, stage="processing",
            requested_by=event.system_id, items=items), agency)], "awaiting_supplement", at)
    if status == PortalStatus.withdrawn:
        return StatusNews([Emit(topics.INTAKE, DossierWithdrawn(
            dossier_code=code, withdrawn_at=at, reason=event.note), agency)], "withdrawn", at)
    if status in (PortalStatus.stopped, PortalStatus.resolved):
        # Decree 118/2025 "dừng xử lý" is reported as a denial with its reasons.
        decision = "denied" if status == PortalStatus.stopped else (event.decision
                                                                   or "approved")
        return StatusNews([Emit(topics.PROVINCIAL, DossierResolved(
            dossier_code=code, agency_code=agency, procedure_code=row["procedure_code"],
            applicant=applicant, resolved_at=at, decision=decision,
            due_at=row["due_at"], timeliness=timeliness(at, row["due_at"]),
            reasons=event.reasons), agency)],
            "resolved" if decision == "approved" else "denied", at)
    if status == PortalStatus.returned:
        return StatusNews([Emit(topics.PROVINCIAL, ResultReturned(
            dossier_code=code, returned_at=at,
            return_channel=event.return_channel or ReturnChannel(row["return_channel"])),
            agency)], "returned", at)
    return StatusNews()


# --- the provinces' feedback topic -----------------------------------------------------------


# What a province reads when the consumer itself refused its record (consumer.py reasons).
UNREADABLE_VI = {
    "empty": "Bản ghi không có nội dung",
    "too-large": "Bản ghi vượt quá kích thước cho phép",
    "too-deep": "Dữ liệu lồng nhau quá sâu",
    "unparseable": "Bản ghi không phải JSON hợp lệ",
    "invalid-envelope": "Phong bì sự kiện (CloudEvents) không hợp lệ",
    "invalid-event": "Dữ liệu sự kiện không đúng lược đồ",
    "unknown-type": "Loại sự kiện không được chấp nhận trên chủ đề này",
    "id-reused": "Mã sự kiện đã được dùng cho nội dung khác",
    "handler-failed": "Hệ thống không áp dụng được sự kiện",
    "signature_missing": "Bản ghi thiếu chữ ký của hệ thống gửi",
    "signature_malformed": "Chữ ký của bản ghi không đúng định dạng",
    "signature_unknown_system": "Hệ thống ký bản ghi chưa được đăng ký khóa",
    "signature_invalid": "Chữ ký của bản ghi không hợp lệ",
    "signature_stale": "Thời điểm ký của bản ghi quá cũ hoặc ở tương lai",
}


def _best_effort(record_value: bytes | None) -> dict[str, Any]:
    """Whatever can still be read of a refused record, to say whose it was."""
    try:
        body = json.loads(record_value or b"")
    except (ValueError, RecursionError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


def text(value: Any, limit: int = 64) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Feedback:
    """Whose record was refused and why: what the province hears on its feedback topic."""

    rejected_event_id: str
    dossier_code: str | None
    system_id: str | None
    agency_code: str
    problems: list[Reason]

    def event(self, now: datetime) -> IngestRejected:
        # `problems` is declared list[Reason]: a Problem's facts (e.g. successor) are not
        # serialized, the province reads the Reason's fields only.
        return IngestRejected(
            dossier_code=self.dossier_code, rejected_event_id=self.rejected_event_id[:200],
            system_id=self.system_id, rejected_at=now, problems=self.problems)


def rejection(envelope: Envelope, event: ProvinceDossierStatus,
              problems: list[Reason]) -> Feedback:
    return Feedback(str(envelope.id), event.dossier_code, event.system_id, event.agency_code,
                    problems)


def unreadable(envelope: Envelope | None, value: bytes | None, key: bytes | None, place: str,
               reason: str, detail: str) -> Feedback:
    """A record the consumer refused (unreadable, invalid, unknown type, or one that failed):
    as far as it can be read, whose it was (its id, else `place`, its place on the topic)."""
    body = {} if envelope is not None else _best_effort(value)
    data = envelope.data if envelope is not None else body.get("data")
    data = data if isinstance(data, dict) else {}
    short_key = key.decode("utf-8", "replace")[:64] if key else None
    event_id = str(envelope.id) if envelope is not None else (
        text(body.get("id"), 100) or place)
    dossier_code = text(data.get("dossier_code")) or \
        (envelope.subject[:64] if envelope is not None else None) or short_key
    system_id = text(data.get("system_id"), 200) or \
        (source[len("province/"):][:200] if (source := text(
            envelope.source if envelope else body.get("source"), 300)) and
         source.startswith("province/") else None)
    agency = text(data.get("agency_code"), 32) or \
        (envelope.agencycode[:32] if envelope is not None else "") or ""
    return Feedback(event_id, dossier_code, system_id, agency, [Problem.of(
        reason, UNREADABLE_VI.get(reason, "Sự kiện không được chấp nhận"),
        f"{reason}: {detail} (record {place})")])


def expired(parked: dict[str, Any], older_than: timedelta) -> Feedback:
    """An event parked for a dossier that never arrived."""
    data = parked["envelope"].get("data") or {}
    code = parked["dossier_code"]
    return Feedback(parked["event_id"], code, text(data.get("system_id"), 200),
                    text(data.get("agency_code"), 32) or "", [Problem.of(
                        "unknown_dossier",
                        f"Không có hồ sơ {code} được tiếp nhận trong {older_than} chờ đợi",
                        f"no dossier {code} was received within {older_than} of this event; "
                        "report its receipt (status 2) first, then send this event again",
                        "dossier_code")])
