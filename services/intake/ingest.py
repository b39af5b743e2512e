"""Provincial systems report status changes on `onestop.ingest.v1` in the National Public
Service Portal's terms; they are mapped here to the national lifecycle. Anything not applied
is answered on the feedback topic with every problem found."""

from __future__ import annotations

from typing import Any

from contracts import topics
from contracts.common import Channel, Reason, ReturnChannel
from contracts.envelope import Envelope
from contracts.ingest import IngestRejected, PortalChannel, PortalStatus, ProvinceDossierStatus
from services.common.consumer import Context
from services.intake.lifecycle import Lifecycle, NotFound, WrongState
from services.intake.receiving import Receiver, Rejected, Submission

CHANNELS = {PortalChannel.direct: Channel.counter, PortalChannel.online: Channel.online,
            PortalChannel.postal: Channel.postal}


def _reason(p: dict[str, Any]) -> Reason:
    return Reason(code=str(p["code"]), message_vi=str(p["message_vi"]),
                  message_en=str(p["message_en"]), field=p.get("field"))


class IngestHandler:
    def __init__(self, receiver: Receiver, lifecycle: Lifecycle) -> None:
        self.receiver = receiver
        self.lifecycle = lifecycle
        self.outbox = receiver.outbox

    async def __call__(self, ctx: Context, event: ProvinceDossierStatus) -> None:
        try:
            if event.status == PortalStatus.received:
                await self._received(ctx, event)
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

    async def _received(self, ctx: Context, event: ProvinceDossierStatus) -> None:
        problems = []
        if event.applicant is None:
            problems.append({"code": "missing_applicant", "field": "applicant",
                             "message_vi": "Thiếu thông tin người nộp hồ sơ",
                             "message_en": "status 2 (received) needs the applicant"})
        if await self.receiver.existing(ctx.session, code=event.dossier_code):
            problems.append({"code": "already_received", "field": "dossier_code",
                             "message_vi": f"Hồ sơ {event.dossier_code} đã được tiếp nhận",
                             "message_en": f"dossier {event.dossier_code} was already received"})
        if problems or event.applicant is None:
            raise Rejected(problems)
        channel = CHANNELS.get(event.channel, Channel.provincial) if event.channel else \
            Channel.provincial
        return_channel = event.return_channel or (
            ReturnChannel(channel.value) if channel != Channel.provincial else
            ReturnChannel.counter)
        await self.receiver.receive(ctx.session, Submission(
            agency_code=event.agency_code, procedure_code=event.procedure_code,
            channel=channel, return_channel=return_channel, applicant=event.applicant,
            components=event.components, received_at=event.received_at or event.occurred_at,
            code=event.dossier_code, origin_system=event.system_id),
            self.outbox.clock.now())

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
