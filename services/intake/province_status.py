"""The provincial systems' statuses, pure: who may report what in the National Public
Service Portal's terms, how a status maps to the national lifecycle, and what a province hears
on its feedback topic when its record is refused.

No SQL, no HTTP, no outbox: ingest.py reads, writes and emits."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts import topics
from contracts.common import (
    ApplicantRef,
    Channel,
    Problem,
    Reason,
    ReturnChannel,
)
from contracts.envelope import Envelope
from contracts.events import (
    DossierResolved,
    DossierWithdrawn,
    Event,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementItem,
    SupplementRequested,
)
from contracts.ingest import (
    IngestRejected,
    PortalChannel,
    PortalStatus,
    ProvinceDossierStatus,
    ProvinceStep,
)
from services.intake.domain import Emit, Rejected, Submission
from services.intake.dossier import Dossier
from services.law.catalog import CatalogIndex
from services.law.workdays import timeliness

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
         dossier: Dossier) -> list[Reason]:
    """A system may change only dossiers recorded under its roots, whatever agency its
    event names."""
    system_id = event.system_id
    roots = set(systems.get(system_id) or ())
    recorded = dossier.agency_code
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


def province_news(event: ProvinceDossierStatus, dossier: Dossier) -> StatusNews:
    """Statuses 4-10 of a received dossier, mapped to the national lifecycle."""
    code, agency, at = event.dossier_code, dossier.agency_code, event.occurred_at
    applicant = ApplicantRef(kind=dossier.applicant_kind, ref=dossier.applicant_ref)
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
                outcome=timeliness(step.at, dossier.due_at))
        else:
            news = StepAssigned(
                dossier_code=code, step_no=step.step_no, step_code=step.step_code,
                department=step.department, assigned_at=step.at, step_due_at=dossier.due_at)
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
            dossier_code=code, agency_code=agency, procedure_code=dossier.procedure_code,
            applicant=applicant, resolved_at=at, decision=decision,
            due_at=dossier.due_at, timeliness=timeliness(at, dossier.due_at),
            reasons=event.reasons), agency)],
            "resolved" if decision == "approved" else "denied", at)
    if status == PortalStatus.returned:
        return StatusNews([Emit(topics.PROVINCIAL, ResultReturned(
            dossier_code=code, returned_at=at,
            return_channel=event.return_channel or ReturnChannel(dossier.return_channel)),
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


def _best_effort(record_value: bytes | None) -> dict[str, object]:
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


def expired(event_id: str, code: str, envelope: Mapping[str, object],
            older_than: timedelta) -> Feedback:
    """An event parked for a dossier that never arrived (its id, code and envelope as
    parked)."""
    data = envelope.get("data")
    data = data if isinstance(data, dict) else {}
    return Feedback(event_id, code, text(data.get("system_id"), 200),
                    text(data.get("agency_code"), 32) or "", [Problem.of(
                        "unknown_dossier",
                        f"Không có hồ sơ {code} được tiếp nhận trong {older_than} chờ đợi",
                        f"no dossier {code} was received within {older_than} of this event; "
                        "report its receipt (status 2) first, then send this event again",
                        "dossier_code")])
