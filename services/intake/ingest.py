"""Provincial systems report status changes on `onestop.ingest.v1` in the National Public
Service Portal's terms; they are mapped here to the national lifecycle. Anything not applied
is answered on the feedback topic with every problem found."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import topics
from contracts.common import ApplicantRef, Channel, Reason, ReturnChannel, Timeliness
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
from services.common.consumer import Context
from services.common.workdays import TZ
from services.intake import tables
from services.intake.lifecycle import Lifecycle
from services.intake.receiving import Receiver, Rejected, Submission
from services.intake.rules import check_submission


def timeliness(done_at: datetime, due_at: datetime) -> Timeliness:
    """Early: done on an earlier day than due; on time: by the due time; late: after it."""
    if done_at > due_at:
        return Timeliness.late
    if done_at.astimezone(TZ).date() < due_at.astimezone(TZ).date():
        return Timeliness.early
    return Timeliness.on_time


CHANNELS = {PortalChannel.direct: Channel.counter, PortalChannel.online: Channel.online,
            PortalChannel.postal: Channel.postal}


def _reason(p: dict[str, Any]) -> Reason:
    return Reason(code=str(p["code"]), message_vi=str(p["message_vi"]),
                  message_en=str(p["message_en"]), field=p.get("field"))


class IngestHandler:
    def __init__(self, receiver: Receiver, lifecycle: Lifecycle,
                 systems: dict[str, list[str]]) -> None:
        self.systems = systems  # system id -> agency codes it may report for (and below)
        self.receiver = receiver
        self.lifecycle = lifecycle
        self.outbox = receiver.outbox

    def _authorised(self, ctx: Context, event: ProvinceDossierStatus) -> list[dict[str, Any]]:
        roots = self.systems.get(event.system_id)
        problems = []
        if ctx.envelope.source != f"province/{event.system_id}":
            problems.append({"code": "source_mismatch", "field": "source",
                             "message_vi": "Nguồn sự kiện không khớp mã hệ thống",
                             "message_en": f"source must be province/{event.system_id}"})
        if roots is None:
            problems.append({"code": "unknown_system", "field": "system_id",
                             "message_vi": f"Hệ thống {event.system_id} chưa được đăng ký",
                             "message_en": f"system {event.system_id} is not registered"})
        elif not ({event.agency_code, *self.receiver.catalog.ancestors(event.agency_code)}
                  & set(roots)):
            problems.append({"code": "agency_not_allowed", "field": "agency_code",
                             "message_vi": f"Hệ thống {event.system_id} không được báo cáo "
                                           f"hồ sơ của cơ quan {event.agency_code}",
                             "message_en": f"system {event.system_id} may not report for "
                                           f"agency {event.agency_code}"})
        return problems

    async def __call__(self, ctx: Context, event: ProvinceDossierStatus) -> None:
        try:
            refused = self._authorised(ctx, event)
            if event.status in (PortalStatus.received, PortalStatus.not_received):
                await self._first(ctx, event, refused)
                await self._replay_parked(ctx, event.dossier_code)
                return
            if refused:
                raise Rejected(refused)
            row = await self.receiver.existing(ctx.session, code=event.dossier_code)
            if row is None:
                # Ahead of its receipt: keep it and apply it when the receipt arrives. Written
                # at once (not deferred): the receipt may follow in this very batch.
                await ctx.session.execute(tables.parked.insert().values(
                    event_id=str(ctx.envelope.id), dossier_code=event.dossier_code,
                    occurred_at=event.occurred_at,
                    envelope=ctx.envelope.model_dump(mode="json")))
                return
            await self._apply(ctx.session, event, row)
        except Rejected as exc:
            await self._reject(ctx, event, exc.problems)

    async def _first(self, ctx: Context, event: ProvinceDossierStatus,
                     refused: list[dict[str, Any]]) -> None:
        """Status 2 (received) or 3 (not received): the dossier enters the national record."""
        # Every problem in one answer: who may report, and what is wrong with the dossier.
        problems = list(refused)
        if event.applicant is None:
            problems.append({"code": "missing_applicant", "field": "applicant",
                             "message_vi": "Thiếu thông tin người nộp hồ sơ",
                             "message_en": "statuses 2 and 3 need the applicant"})
        if await self.receiver.existing(ctx.session, code=event.dossier_code):
            problems.append({"code": "already_received", "field": "dossier_code",
                             "message_vi": f"Hồ sơ {event.dossier_code} đã được tiếp nhận",
                             "message_en": f"dossier {event.dossier_code} was already received"})
        if event.status == PortalStatus.not_received and not event.reasons:
            problems.append({"code": "missing_reasons", "field": "reasons",
                             "message_vi": "Từ chối tiếp nhận phải nêu lý do",
                             "message_en": "status 3 (not received) needs its reasons"})
        if event.applicant is None or any(p["code"] == "already_received" for p in problems):
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
                components=sub.components, received_at=sub.received_at, now=now)
            raise Rejected(problems + found)
        await self.receiver.receive(ctx.session, sub, now)
        await self._set_status(ctx.session, event.dossier_code, "received", sub.received_at)

    async def _replay_parked(self, ctx: Context, code: str) -> None:
        t = tables.parked
        rows = (await ctx.session.execute(select(t).where(t.c.dossier_code == code)
                                          .order_by(t.c.occurred_at))).mappings().all()
        for parked in rows:
            event = ProvinceDossierStatus.model_validate(parked["envelope"]["data"])
            row = await self.receiver.existing(ctx.session, code=code)
            if row is not None:
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

    async def _reject(self, ctx: Context, event: ProvinceDossierStatus,
                      problems: list[dict[str, Any]]) -> None:
        feedback = IngestRejected(
            dossier_code=event.dossier_code, rejected_event_id=str(ctx.envelope.id),
            system_id=event.system_id, rejected_at=self.outbox.clock.now(),
            problems=[_reason(p) for p in problems])
        await self.outbox.add(ctx.session, topics.INGEST_REJECTED, Envelope(
            type=feedback.event_type, source=self.outbox.source, subject=event.dossier_code,
            time=self.outbox.clock.now(), agencycode=event.agency_code,
            data=feedback.model_dump(mode="json")))


def load_systems(path: Path) -> dict[str, list[str]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    systems = raw.get("systems")
    if not isinstance(systems, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in systems.values()):
        raise ValueError(f"{path}: expected 'systems: {{system id: [agency codes]}}'")
    return {str(k): list(v) for k, v in systems.items()}
