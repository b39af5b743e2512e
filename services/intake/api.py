"""Intake's HTTP API: counters, post and online portals submit dossiers here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from contracts.common import Applicant, Channel, ComponentRef, ReturnChannel
from services.common.http import ApiError, problem
from services.common.workdays import TZ
from services.intake.receiving import Receiver, Rejected, Submission, public_view

router = APIRouter(prefix="/api/v1", tags=["intake"])


class SubmissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency_code: str
    procedure_code: str
    channel: Annotated[str, Field(pattern="^(counter|postal|online)$")]
    return_channel: ReturnChannel | None = None
    applicant: Applicant
    components: list[ComponentRef] = Field(min_length=1)
    submission_id: str | None = Field(default=None, min_length=1, max_length=128)
    received_at: AwareDatetime | None = None


def _json(view: dict[str, Any]) -> dict[str, Any]:
    # People read these: local time with its offset, the same on every answer.
    return {k: v.astimezone(TZ).isoformat() if isinstance(v, datetime) else v
            for k, v in view.items()}


@router.post("/dossiers", status_code=201)
async def submit(body: SubmissionIn, request: Request) -> JSONResponse:
    rt = request.app.state.runtime
    receiver: Receiver = request.app.state.receiver
    now = rt.clock.now()
    if body.submission_id:
        async with rt.sessions() as s:
            found = await receiver.existing(s, submission_id=body.submission_id)
        if found:
            return JSONResponse(_json(public_view(found)), status_code=200)
    sub = Submission(
        agency_code=body.agency_code, procedure_code=body.procedure_code,
        channel=Channel(body.channel),
        return_channel=body.return_channel or ReturnChannel(body.channel),
        applicant=body.applicant, components=body.components,
        received_at=body.received_at or now, submission_id=body.submission_id)
    try:
        async with rt.transaction() as s:
            row = await receiver.receive(s, sub, now)
    except Rejected as exc:
        raise ApiError(422, exc.problems) from exc
    except IntegrityError as exc:
        # Two requests with one submission_id raced: the first one's dossier is the answer.
        async with rt.sessions() as s:
            found = await receiver.existing(s, submission_id=body.submission_id)
        if found:
            return JSONResponse(_json(public_view(found)), status_code=200)
        raise exc
    return JSONResponse(_json(public_view(row)), status_code=201)


@router.get("/dossiers/{code}")
async def get_dossier(code: str, request: Request) -> dict[str, Any]:
    rt = request.app.state.runtime
    async with rt.sessions() as s:
        found = await request.app.state.receiver.existing(s, code=code)
    if not found:
        raise ApiError(404, [problem("not_found", f"Không tìm thấy hồ sơ {code}",
                                     f"no dossier {code}", "code")])
    return _json(public_view(found))


@router.get("/catalog/agencies")
async def agencies(request: Request) -> dict[str, Any]:
    cat = request.app.state.receiver.catalog
    return {"version": cat.version,
            "items": [a.model_dump(mode="json") for a in cat.catalog.agencies]}


@router.get("/catalog/procedures")
async def procedures(request: Request) -> dict[str, Any]:
    cat = request.app.state.receiver.catalog
    return {"version": cat.version,
            "items": [p.model_dump(mode="json") for p in cat.catalog.procedures]}
