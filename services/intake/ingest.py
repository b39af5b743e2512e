"""Provincial systems report status changes on `onestop.ingest.v1` in the National Public
Service Portal's terms; they are mapped here to the national lifecycle. Anything not applied
is answered on the feedback topic with every problem found."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.common import ApplicantRef, Channel, Problem, Reason, ReturnChannel, Timeliness
from contracts.envelope import Envelope
from contracts.events import (
    DossierResolved,
    DossierWithdrawn,
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
from services.common.consumer import Context, Refusal
from services.intake import tables
from services.intake.lifecycle import Lifecycle, no_catalogue
from services.intake.receiving import Receiver, Rejected, Submission
from services.intake.rules import check_submission
from services.law.catalog.loader import CatalogError
from services.law.workdays import TZ


def timeliness(done_at: datetime, due_at: datetime) -> Timeliness:
    """Early: done on an earlier day than due; on time: by the due time; late: after it."""
    if done_at > due_at:
        return Timeliness.late
    if done_at.astimezone(TZ).date() < due_at.astimezone(TZ).date():
        return Timeliness.early
    return Timeliness.on_time


CHANNELS = {PortalChannel.direct: Channel.counter, PortalChannel.online: Channel.online,
            PortalChannel.postal: Channel.postal}


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
}


def _best_effort(record_value: bytes | None) -> dict[str, Any]:
    """Whatever can still be read of a refused record, to say whose it was."""
    try:
        body = json.loads(record_value or b"")
    except (ValueError, RecursionError, TypeError):
        return {}
    return body if isinstance(body, dict) else {}


def _text(value: Any, limit: int = 64) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


class IngestHandler:
    def __init__(self, receiver: Receiver, lifecycle: Lifecycle,
                 systems: dict[str, list[str]]) -> None:
        self.systems = systems  # system id -> agency codes it may report for (and below)
        self.receiver = receiver
        self.lifecycle = lifecycle
        self.outbox = receiver.outbox

    def _authorised(self, source: str, event: ProvinceDossierStatus) -> list[Reason]:
        roots = self.systems.get(event.system_id)
        problems: list[Reason] = []
        if source != f"province/{event.system_id}":
            problems.append(Problem.of("source_mismatch",
                                       "Nguồn sự kiện không khớp mã hệ thống",
                                       f"source must be province/{event.system_id}", "source"))
        if roots is None:
            problems.append(Problem.of("unknown_system",
                                       f"Hệ thống {event.system_id} chưa được đăng ký",
                                       f"system {event.system_id} is not registered",
                                       "system_id"))
        elif not ({event.agency_code, *self.receiver.catalog.ancestors(event.agency_code)}
                  & set(roots)):
            problems.append(Problem.of(
                "agency_not_allowed",
                f"Hệ thống {event.system_id} không được báo cáo hồ sơ của cơ quan "
                f"{event.agency_code}",
                f"system {event.system_id} may not report for agency {event.agency_code}",
                "agency_code"))
        return problems

    def _owns(self, system_id: str, event: ProvinceDossierStatus,
              row: dict[str, Any]) -> list[Reason]:
        """A system may change only dossiers recorded under its roots, whatever agency its
        event names."""
        roots = set(self.systems.get(system_id) or ())
        recorded = row["agency_code"]
        problems: list[Reason] = []
        if not ({recorded, *self.receiver.catalog.ancestors(recorded)} & roots):
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

    async def __call__(self, ctx: Context, event: ProvinceDossierStatus) -> None:
        try:
            refused = self._authorised(ctx.envelope.source, event)
            if event.status in (PortalStatus.received, PortalStatus.not_received):
                await self._first(ctx, event, refused)
                await self._replay_parked(ctx, event.dossier_code)
                return
            if refused:
                raise Rejected(refused)
            row = await self.receiver.existing(ctx.session, code=event.dossier_code)
            if row is None:
                # Ahead of its receipt: keep it and apply it when the receipt arrives (or
                # answer it when it expires). Written at once (not deferred): the receipt
                # may follow in this very batch.
                await ctx.session.execute(tables.parked.insert().values(
                    event_id=str(ctx.envelope.id), dossier_code=event.dossier_code,
                    occurred_at=event.occurred_at, parked_at=self.outbox.clock.now(),
                    envelope=ctx.envelope.model_dump(mode="json")))
                return
            if problems := self._owns(event.system_id, event, row):
                raise Rejected(problems)
            await self._apply(ctx.session, event, row)
        except CatalogError as exc:
            # No catalogue in force on that day: retrying cannot help; tell the province.
            await self._reject(ctx.session, ctx.envelope, event, [no_catalogue(exc)])
        except Rejected as exc:
            await self._reject(ctx.session, ctx.envelope, event, exc.problems)

    async def _first(self, ctx: Context, event: ProvinceDossierStatus,
                     refused: list[Reason]) -> None:
        """Status 2 (received) or 3 (not received): the dossier enters the national record."""
        # Every problem in one answer: who may report, and what is wrong with the dossier.
        problems = list(refused)
        if event.applicant is None:
            problems.append(Problem.of("missing_applicant", "Thiếu thông tin người nộp hồ sơ",
                                       "statuses 2 and 3 need the applicant", "applicant"))
        if await self.receiver.existing(ctx.session, code=event.dossier_code):
            problems.append(Problem.of(
                "already_received", f"Hồ sơ {event.dossier_code} đã được tiếp nhận",
                f"dossier {event.dossier_code} was already received", "dossier_code"))
        if event.status == PortalStatus.not_received and not event.reasons:
            problems.append(Problem.of("missing_reasons", "Từ chối tiếp nhận phải nêu lý do",
                                       "status 3 (not received) needs its reasons", "reasons"))
        if event.applicant is None or any(p.code == "already_received" for p in problems):
            raise Rejected(problems)
        channel = CHANNELS.get(event.channel, Channel.provincial) if event.channel else \
            Channel.provincial
        return_channel = event.return_channel or (
            ReturnChannel(channel.value) if channel != Channel.provincial else
            ReturnChannel.counter)
        sub = Submission(
            agency_code=event.agency_code, procedure_code=event.procedure_code,
            channel=channel, return_channel=return_channel, applicant=event.applicant,
            components=event.components, received_at=event.received_at or event.occurred_at,
            code=event.dossier_code, origin_system=event.system_id)
        now = self.outbox.clock.now()
        if event.status == PortalStatus.not_received:
            if problems:
                raise Rejected(problems)
            await self.lifecycle.refuse(ctx.session, sub, event.reasons, now)
            return
        if problems:  # not allowed: still list what else is wrong, but receive nothing
            found, _, _ = check_submission(
                self.receiver.catalog_on(sub.received_at), agency_code=sub.agency_code,
                procedure_code=sub.procedure_code, applicant_kind=sub.applicant.kind,
                components=sub.components, received_at=sub.received_at, now=now,
                applicant=sub.applicant)
            raise Rejected(problems + found)
        await self.receiver.receive(ctx.session, sub, now)
        await self._set_status(ctx.session, event.dossier_code, "received", sub.received_at)

    async def _replay_parked(self, ctx: Context, code: str) -> None:
        t = tables.parked
        rows = (await ctx.session.execute(select(t).where(t.c.dossier_code == code)
                                          .order_by(t.c.occurred_at))).mappings().all()
        for parked in rows:
            envelope = Envelope.model_validate(parked["envelope"])
            event = ProvinceDossierStatus.model_validate(envelope.data)
            row = await self.receiver.existing(ctx.session, code=code)
            if row is None:
                continue
            if problems := self._authorised(envelope.source, event) or \
                    self._owns(event.system_id, event, row):
                await self._reject(ctx.session, envelope, event, problems)
                continue
            await self._apply(ctx.session, event, row)
        if rows:
            await ctx.session.execute(delete(t).where(t.c.dossier_code == code))

    async def _set_status(self, s: AsyncSession, code: str, status: str, at: datetime) -> None:
        """The national status follows the latest news, whatever order it arrived in."""
        t = tables.dossiers
        await s.execute(update(t).where(t.c.code == code, or_(
            t.c.status_at.is_(None), t.c.status_at <= at)).values(
            status=status, status_at=at, updated_at=self.outbox.clock.now()))

    async def _apply(self, s: AsyncSession, event: ProvinceDossierStatus,
                     row: dict[str, Any]) -> None:
        """Statuses 4-10 of a received dossier, mapped to the national lifecycle."""
        code, agency, at = event.dossier_code, row["agency_code"], event.occurred_at
        applicant = ApplicantRef(kind=row["applicant_kind"], ref=row["applicant_ref"])
        status = event.status
        if status in (PortalStatus.registered, PortalStatus.financial_obligation):
            return  # no national event: before receipt, or a fee step outside BHXH's clock
        if status == PortalStatus.processing:
            step = event.step or ProvinceStep(step_no=1, step_code="XU-LY",
                                              department="Bộ phận giải quyết", at=at)
            if step.completed:
                await self.outbox.emit(s, topics.PROVINCIAL, StepCompleted(
                    dossier_code=code, step_no=step.step_no, step_code=step.step_code,
                    department=step.department, completed_at=step.at,
                    outcome=timeliness(step.at, row["due_at"])), agency)
            else:
                await self.outbox.emit(s, topics.PROVINCIAL, StepAssigned(
                    dossier_code=code, step_no=step.step_no, step_code=step.step_code,
                    department=step.department, assigned_at=step.at,
                    step_due_at=row["due_at"]), agency)
            await self._set_status(s, code, "processing", at)
        elif status == PortalStatus.supplement_requested:
            items = [SupplementItem(component_code=r.field, problem_vi=r.message_vi,
                                    problem_en=r.message_en, legal_basis=r.legal_basis)
                     for r in event.reasons] or [SupplementItem(
                         problem_vi=event.note or "Yêu cầu bổ sung hồ sơ")]
            await self.outbox.emit(s, topics.INTAKE, SupplementRequested(
                dossier_code=code, requested_at=at, stage="processing",
                requested_by=event.system_id, items=items), agency)
            await self._set_status(s, code, "awaiting_supplement", at)
        elif status == PortalStatus.withdrawn:
            await self.outbox.emit(s, topics.INTAKE, DossierWithdrawn(
                dossier_code=code, withdrawn_at=at, reason=event.note), agency)
            await self._set_status(s, code, "withdrawn", at)
        elif status in (PortalStatus.stopped, PortalStatus.resolved):
            # Decree 118/2025 "dừng xử lý" is reported as a denial with its reasons.
            decision = "denied" if status == PortalStatus.stopped else (event.decision
                                                                       or "approved")
            await self.outbox.emit(s, topics.PROVINCIAL, DossierResolved(
                dossier_code=code, agency_code=agency, procedure_code=row["procedure_code"],
                applicant=applicant, resolved_at=at, decision=decision,
                due_at=row["due_at"], timeliness=timeliness(at, row["due_at"]),
                reasons=event.reasons), agency)
            await self._set_status(s, code, "resolved" if decision == "approved" else "denied",
                                   at)
        elif status == PortalStatus.returned:
            await self.outbox.emit(s, topics.PROVINCIAL, ResultReturned(
                dossier_code=code, returned_at=at,
                return_channel=event.return_channel or ReturnChannel(row["return_channel"])),
                agency)
            await self._set_status(s, code, "returned", at)

    async def _reject(self, s: AsyncSession, envelope: Envelope, event: ProvinceDossierStatus,
                      problems: list[Reason]) -> None:
        await self._feedback(s, rejected_event_id=str(envelope.id),
                             dossier_code=event.dossier_code, system_id=event.system_id,
                             agency_code=event.agency_code, problems=problems)

    async def _feedback(self, s: AsyncSession, *, rejected_event_id: str,
                        dossier_code: str | None, system_id: str | None, agency_code: str,
                        problems: list[Reason]) -> None:
        now = self.outbox.clock.now()
        # `problems` is declared list[Reason]: a Problem's facts (e.g. successor) are not
        # serialized, the province reads the Reason's fields only.
        feedback = IngestRejected(
            dossier_code=dossier_code, rejected_event_id=rejected_event_id[:200],
            system_id=system_id, rejected_at=now, problems=problems)
        await self.outbox.add(s, topics.INGEST_REJECTED, Envelope(
            type=feedback.event_type, source=self.outbox.source,
            subject=dossier_code or rejected_event_id, time=now, agencycode=agency_code,
            data=feedback.model_dump(mode="json")))

    async def answer(self, s: AsyncSession, refusal: Refusal) -> None:
        """A record the consumer refused (unreadable, invalid, unknown type, or one that
        failed): the province hears why on its feedback topic, as far as its record can be
        read (its id, else the record's place on the topic)."""
        record, envelope = refusal.record, refusal.envelope
        body = {} if envelope is not None else _best_effort(record.value)
        data = envelope.data if envelope is not None else body.get("data")
        data = data if isinstance(data, dict) else {}
        key = record.key.decode("utf-8", "replace")[:64] if record.key else None
        event_id = str(envelope.id) if envelope is not None else (
            _text(body.get("id"), 100) or
            f"{record.topic}/{record.partition}/{record.offset}")
        dossier_code = _text(data.get("dossier_code")) or \
            (envelope.subject[:64] if envelope is not None else None) or key
        system_id = _text(data.get("system_id"), 200) or \
            (source[len("province/"):][:200] if (source := _text(
                envelope.source if envelope else body.get("source"), 300)) and
             source.startswith("province/") else None)
        agency = _text(data.get("agency_code"), 32) or \
            (envelope.agencycode[:32] if envelope is not None else "") or ""
        await self._feedback(s, rejected_event_id=event_id, dossier_code=dossier_code,
                             system_id=system_id, agency_code=agency, problems=[Problem.of(
                                 refusal.reason,
                                 UNREADABLE_VI.get(refusal.reason,
                                                   "Sự kiện không được chấp nhận"),
                                 f"{refusal.reason}: {refusal.detail} (record {record.topic}/"
                                 f"{record.partition}/{record.offset})")])

    async def expire_parked(self, s: AsyncSession, older_than: timedelta,
                            limit: int = 1000) -> int:
        """Events parked for a dossier that never arrived are answered, then forgotten."""
        t = tables.parked
        before = self.outbox.clock.now() - older_than
        # SKIP LOCKED (PostgreSQL): two replicas never answer the same parked event twice.
        rows = (await s.execute(select(t).where(t.c.parked_at < before)
                                .order_by(t.c.parked_at).limit(limit)
                                .with_for_update(skip_locked=True))).mappings().all()
        for parked in rows:
            envelope = parked["envelope"]
            data = envelope.get("data") or {}
            await self._feedback(
                s, rejected_event_id=parked["event_id"], dossier_code=parked["dossier_code"],
                system_id=_text(data.get("system_id"), 200),
                agency_code=_text(data.get("agency_code"), 32) or "", problems=[Problem.of(
                    "unknown_dossier",
                    f"Không có hồ sơ {parked['dossier_code']} được tiếp nhận trong "
                    f"{older_than} chờ đợi",
                    f"no dossier {parked['dossier_code']} was received within {older_than} "
                    "of this event; report its receipt (status 2) first, then send this "
                    "event again", "dossier_code")])
        if rows:
            await s.execute(delete(t).where(t.c.event_id.in_([r["event_id"] for r in rows])))
        return len(rows)


def load_systems(path: Path) -> dict[str, list[str]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    systems = raw.get("systems")
    if not isinstance(systems, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in systems.values()):
        raise ValueError(f"{path}: expected 'systems: {{system id: [agency codes]}}'")
    return {str(k): list(v) for k, v in systems.items()}
