"""Intake's HTTP API: counters, post and online portals submit dossiers here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from contracts.common import (
    MAX_ITEMS,
    AgencyCode,
    Applicant,
    Channel,
    Code,
    ComponentRef,
    LongText,
    Problem,
    Reason,
    ReturnChannel,
    ShortText,
    Timestamp,
)
from contracts.events import SupplementItem
from services.common.http import ApiError, not_found
from services.common.idempotency import IdempotencyKeys
from services.intake import slip_views
from services.intake.domain import (
    NotFound,
    Rejected,
    Submission,
    WrongState,
    no_catalogue,
    public_view,
)
from services.intake.handlers import Intake
from services.intake.repository import DuplicateKey, Session
from services.intake.warehouse import WarehouseUnavailable
from services.law.catalog import CatalogError
from services.law.workdays import TZ

router = APIRouter(prefix="/api/v1", tags=["intake"])


class SubmissionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency_code: AgencyCode
    procedure_code: Code = Field(min_length=1)
    channel: Annotated[str, Field(pattern="^(counter|postal|online)$")]
    return_channel: ReturnChannel | None = None
    applicant: Applicant
    components: list[ComponentRef] = Field(min_length=1, max_length=MAX_ITEMS)
    submission_id: str | None = Field(default=None, min_length=1, max_length=128)
    received_at: Timestamp | None = None
    officer: str | None = Field(default=None, max_length=200)
    postal_tracking_number: str | None = Field(default=None, min_length=4, max_length=40)
    portal_account: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _channel_details(self) -> SubmissionIn:
        # Post: the public postal service's tracking number; online: the portal account.
        if self.channel == "postal" and not self.postal_tracking_number:
            raise PydanticCustomError(
                "missing_channel_detail", "a postal dossier needs postal_tracking_number",
                {"field": "postal_tracking_number",
                 "vi": "Hồ sơ qua bưu chính cần số hiệu bưu gửi"})
        if self.channel == "online" and not self.portal_account:
            raise PydanticCustomError(
                "missing_channel_detail", "an online dossier needs portal_account",
                {"field": "portal_account",
                 "vi": "Hồ sơ trực tuyến cần tài khoản trên Cổng dịch vụ công"})
        return self

    def submission(self, now: datetime) -> Submission:
        return Submission(
            agency_code=self.agency_code, procedure_code=self.procedure_code,
            channel=Channel(self.channel),
            return_channel=self.return_channel or ReturnChannel(self.channel),
            applicant=self.applicant, components=self.components,
            received_at=self.received_at or now, submission_id=self.submission_id,
            officer=self.officer,
            channel_reference=self.postal_tracking_number or self.portal_account)


class RefusalIn(SubmissionIn):
    reasons: list[Reason] = Field(min_length=1, max_length=MAX_ITEMS)


class SupplementRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[SupplementItem] = Field(min_length=1, max_length=MAX_ITEMS)
    requested_by: ShortText = Field(min_length=1)
    stage: Literal["intake", "processing"] = "intake"


class SupplementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    components: list[ComponentRef] = Field(min_length=1, max_length=MAX_ITEMS)


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: LongText | None = None


def _json(view: dict[str, Any]) -> dict[str, Any]:
    # People read these: local time with its offset, the same on every answer.
    return {k: v.astimezone(TZ).isoformat() if isinstance(v, datetime) else v
            for k, v in view.items()}


def _intake(request: Request) -> Intake:
    return request.app.state.intake  # type: ignore[no-any-return]


async def _replayed(request: Request, submission_id: str | None) -> JSONResponse | None:
    """The same submission_id answers with the dossier it already made (200)."""
    if not submission_id:
        return None
    async with request.app.state.runtime.sessions() as s:
        found = await _intake(request).existing(s, submission_id=submission_id)
    return JSONResponse(_json(public_view(found)), status_code=200) if found else None


async def _raced(request: Request, submission_id: str | None) -> JSONResponse:
    """Two requests with one submission_id raced: the first one's dossier is the answer.
    The IntegrityError is dropped unlogged and unchained: its text holds the statement's
    parameters, the applicant's identity among them."""
    if replay := await _replayed(request, submission_id):
        return replay
    raise ApiError(409, [Problem.of(
        "conflict", "Yêu cầu trùng với một yêu cầu đang được xử lý; vui lòng thử lại",
        "the request conflicted with another one; try again", "submission_id")])


@router.post("/dossiers", status_code=201)
async def submit(body: SubmissionIn, request: Request) -> JSONResponse:
    rt, intake = request.app.state.runtime, _intake(request)
    now = rt.clock.now()
    if replay := await _replayed(request, body.submission_id):
        return replay
    sub = body.submission(now)
    try:
        await intake.verify_reuse(request.app.state.warehouse, sub)
        async with rt.transaction() as s:
            row = await intake.receive(s, sub, now)
            await rt.audit.record(s, request, actor=body.officer, action="dossier.receive",
                                  dossier_code=row["code"])
    except WarehouseUnavailable as exc:
        raise ApiError(503, [Problem.of(
            "warehouse_unavailable", "Không kiểm tra được kho dữ liệu; vui lòng thử lại",
            "the data warehouse could not be asked; try again", "components")]) from exc
    except Rejected as exc:
        raise ApiError(422, exc.problems) from exc
    except CatalogError as exc:
        raise ApiError(422, [no_catalogue(exc)]) from exc
    except DuplicateKey:
        return await _raced(request, body.submission_id)
    return JSONResponse(_json(public_view(row)), status_code=201)


def _no_dossier(code: str) -> ApiError:
    return not_found(f"Không tìm thấy hồ sơ {code}", f"no dossier {code}", "code")


def _conflict(exc: WrongState) -> ApiError:
    return ApiError(409, [Problem.of("wrong_state", f"Không thể thực hiện khi hồ sơ đang ở "
                                     f"trạng thái {exc.status}", str(exc), "status")],
                    current_status=exc.status)


Act = Callable[[Intake, Session, datetime], Awaitable[dict[str, Any]]]


async def _change(request: Request, code: str, act: Act, status: int = 200, *, action: str,
                  actor: str | None = None) -> JSONResponse:
    """A counter action in one transaction with its audit row; with an Idempotency-Key
    header, a retry of the same request gets the first answer back and changes nothing."""
    rt, intake = request.app.state.runtime, _intake(request)
    keys: IdempotencyKeys = request.app.state.idempotency
    key, where, replay = await keys.replay(request, rt.sessions)
    if replay is not None:
        return replay
    try:
        async with rt.transaction() as s:
            row = await act(intake, s, rt.clock.now())
            view = _json(public_view(row))
            if "missing" in row:
                view["missing"] = row["missing"]
            if key:
                await keys.keep(s, key, where, status, view, rt.clock.now())
            await rt.audit.record(s, request, actor=actor, action=action, dossier_code=code)
    except NotFound as exc:
        raise _no_dossier(code) from exc
    except WrongState as exc:
        raise _conflict(exc) from exc
    except Rejected as exc:  # e.g. a supplement repeating a component: nothing changed
        raise ApiError(422, exc.problems) from exc
    return JSONResponse(view, status_code=status)


@router.post("/refusals", status_code=201)
async def refuse(body: RefusalIn, request: Request) -> JSONResponse:
    """Refusal at the counter: a code, a refusal slip with reasons, DossierRejected."""
    rt = request.app.state.runtime
    if replay := await _replayed(request, body.submission_id):
        return replay
    now = rt.clock.now()
    try:
        async with rt.transaction() as s:
            row = await _intake(request).refuse(s, body.submission(now), body.reasons, now)
            await rt.audit.record(s, request, actor=body.officer, action="dossier.refuse",
                                  dossier_code=row["code"])
    except Rejected as exc:
        raise ApiError(422, exc.problems) from exc
    except DuplicateKey:
        return await _raced(request, body.submission_id)
    return JSONResponse(_json(public_view(row)), status_code=201)


@router.post("/dossiers/{code}/supplement-request", status_code=201)
async def request_supplement(code: str, body: SupplementRequestIn,
                             request: Request) -> JSONResponse:
    return await _change(request, code, lambda intake, s, now: intake.request_supplement(
        s, code, body.items, body.requested_by, body.stage, now), status=201,
        action="dossier.supplement_request", actor=body.requested_by)


@router.post("/dossiers/{code}/supplement")
async def receive_supplement(code: str, body: SupplementIn, request: Request) -> JSONResponse:
    return await _change(request, code, lambda intake, s, now: intake.receive_supplement(
        s, code, body.components, now), action="dossier.supplement")


@router.post("/dossiers/{code}/withdrawal")
async def withdraw(code: str, body: WithdrawalIn, request: Request) -> JSONResponse:
    return await _change(request, code, lambda intake, s, now: intake.withdraw(
        s, code, body.reason, now, now), action="dossier.withdraw")


@router.get("/dossiers")
async def list_dossiers(
    request: Request,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=64)] = None,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[Timestamp | None, Query(alias="from")] = None,
    to: Timestamp | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(max_length=200,
                                       description="cursor: next_after of the last page")] = None,
) -> dict[str, Any]:
    """Dossiers by receipt time then code; keyset pagination, so pages stay stable while
    new dossiers arrive."""
    cursor: tuple[datetime, str] | None = None
    if after:
        try:
            at_text, code = after.split("|", 1)
            cursor = (datetime.fromisoformat(at_text), code)
        except ValueError as exc:
            raise ApiError(422, [Problem.of("bad_cursor", "Con trỏ trang không hợp lệ",
                                            "invalid cursor", "after")]) from exc
    async with request.app.state.runtime.sessions() as s:
        page, more = await _intake(request).page(s, agency=agency, status=status,
                                                 channel=channel, from_=from_, to=to,
                                                 after=cursor, limit=limit)
    last = page[-1] if page else None
    return {"items": [_json(public_view(r)) for r in page],
            "next_after": f"{last['received_at'].isoformat()}|{last['code']}"
            if more and last else None}


SLIPS = {
    # slip -> (states it exists in, renderer, file name stem)
    "receipt.pdf": (frozenset({"received", "awaiting_supplement", "withdrawn"}),
                    slip_views.receipt, "giay-tiep-nhan"),
    "supplement-request.pdf": (frozenset({"awaiting_supplement"}),
                               slip_views.supplement_request, "phieu-yeu-cau-bo-sung"),
    "refusal.pdf": (frozenset({"refused"}), slip_views.refusal, "phieu-tu-choi"),
}


@router.get("/dossiers/{code}/{slip}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def slip_pdf(code: str, slip: Literal["receipt.pdf", "supplement-request.pdf",
                                            "refusal.pdf"], request: Request) -> Response:
    """The slips of domain.md section 12, as PDF, by the form set in force on receipt."""
    intake = _intake(request)
    async with request.app.state.runtime.sessions() as s:
        row = await intake.existing(s, code=code)
    if row is None:
        raise _no_dossier(code)
    states, render, stem = SLIPS[slip]
    if row["status"] not in states:
        raise ApiError(409, [Problem.of("no_such_slip", f"Hồ sơ ở trạng thái {row['status']} "
                                        "không có phiếu này",
                                        f"a {row['status']} dossier has no {slip}", "slip")],
                       current_status=row["status"])
    # Every slip prints the applicant's name, ID number and contacts: a read to record.
    await request.app.state.runtime.audit.read(request, action="read.slip", dossier_code=code,
                                               target=slip)
    # Drawn with the catalogue the dossier was received under (its names, its components).
    catalog = intake.catalogs.version(row["catalog_version"])
    pdf = await asyncio.to_thread(render, catalog, row)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{stem}-{code}.pdf"'})


@router.get("/dossiers/{code}")
async def get_dossier(code: str, request: Request) -> dict[str, Any]:
    async with request.app.state.runtime.sessions() as s:
        found = await _intake(request).existing(s, code=code)
    if not found:
        raise _no_dossier(code)
    return _json(public_view(found))


@router.get("/catalog/agencies")
async def agencies(request: Request) -> dict[str, Any]:
    cat = _intake(request).catalog
    return {"version": cat.version,
            "items": [a.model_dump(mode="json") for a in cat.catalog.agencies]}


@router.get("/catalog/procedures")
async def procedures(request: Request) -> dict[str, Any]:
    cat = _intake(request).catalog
    return {"version": cat.version,
            "items": [p.model_dump(mode="json") for p in cat.catalog.procedures]}
