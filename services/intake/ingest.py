"""Provincial systems report status changes on `onestop.ingest.v1` in the National Public
Service Portal's terms; they are mapped here to the national lifecycle. Anything not applied
is answered on the feedback topic with every problem found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from contracts import topics
from contracts.common import Channel, Reason, ReturnChannel
from contracts.envelope import Envelope
from contracts.ingest import IngestRejected, PortalChannel, PortalStatus, ProvinceDossierStatus
from services.common.consumer import Context
from services.intake.lifecycle import Lifecycle, NotFound, WrongState
from services.intake.receiving import Receiver, Rejected, Submission
from services.intake.rules import check_submission

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
            if event.status == PortalStatus.received:
                await self._received(ctx, event, refused)
            elif refused:
                raise Rejected(refused)
            elif event.status == PortalStatus.withdrawn:
                await self._withdrawn(ctx, event)
            else:
                raise Rejected([{
                    "code": "status_not_supported", "field": "status",
                    "message_vi": f"Trạng thái {int(event.status)} chưa được hệ thống tiếp nhận",
                    "message_en": f"status {int(event.status)} ({event.status.name}) is not "
                                  "accepted by this version of the ingest yet"}])
        except Rejected as exc:
            await self._reject(ctx, event, exc.problems)

    async def _received(self, ctx: Context, event: ProvinceDossierStatus,
                        refused: list[dict[str, Any]]) -> None:
        # Every problem in one answer: who may report, and what is wrong with the dossier.
        problems = list(refused)
        if event.applicant is None:
            problems.append({"code": "missing_applicant", "field": "applicant",
                             "message_vi": "Thiếu thông tin người nộp hồ sơ",
                             "message_en": "status 2 (received) needs the applicant"})
        if await self.receiver.existing(ctx.session, code=event.dossier_code):
            problems.append({"code": "already_received", "field": "dossier_code",
                             "message_vi": f"Hồ sơ {event.dossier_code} đã được tiếp nhận",
                             "message_en": f"dossier {event.dossier_code} was already received"})
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
        if problems:  # not allowed: still list what else is wrong, but receive nothing
            found, _, _ = check_submission(
                self.receiver.catalog, agency_code=sub.agency_code,
                procedure_code=sub.procedure_code, applicant_kind=sub.applicant.kind,
                components=sub.components, received_at=sub.received_at,
                now=self.outbox.clock.now())
            raise Rejected(problems + found)
        await self.receiver.receive(ctx.session, sub, self.outbox.clock.now())

    async def _withdrawn(self, ctx: Context, event: ProvinceDossierStatus) -> None:
        try:
            await self.lifecycle.withdraw(ctx.session, event.dossier_code, event.note,
                                          event.occurred_at, self.outbox.clock.now())
        except NotFound as exc:
            raise Rejected([{"code": "unknown_dossier", "field": "dossier_code",
                             "message_vi": f"Không có hồ sơ {event.dossier_code}",
                             "message_en": f"no dossier {event.dossier_code} was received"}]
                           ) from exc
        except WrongState as exc:
            raise Rejected([{"code": "wrong_state", "field": "status",
                             "message_vi": f"Hồ sơ đang ở trạng thái {exc.status}, không thể rút",
                             "message_en": str(exc)}]) from exc

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
