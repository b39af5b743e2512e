"""Intake's HTTP API: counters, post and online portals submit dossiers here."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

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
from services.intake import slip_views, tables
from services.intake.lifecycle import NotFound, WrongState, no_catalogue
from services.intake.receiving import Receiver, Rejected, Submission, public_view
from services.intake.warehouse import Warehouse, WarehouseUnavailable
from services.law.catalog import CatalogError
from services.law.pseudonym import applicant_pseudonym
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


async def _replayed(request: Request, submission_id: str | None) -> JSONResponse | None:
    """The same submission_id answers with the dossier it already made (200)."""
    if not submission_id:
        return None
    async with request.app.state.runtime.sessions() as s:
        found = await request.app.state.receiver.existing(s, submission_id=submission_id)
    return JSONResponse(_json(public_view(found)), status_code=200) if found else None


@router.post("/dossiers", status_code=201)
async def submit(body: SubmissionIn, request: Request) -> JSONResponse:
    rt = request.app.state.runtime
    receiver: Receiver = request.app.state.receiver
    now = rt.clock.now()
    if replay := await _replayed(request, body.submission_id):
        return replay
    sub = body.submission(now)
    sub.components = await _verify_reuse(request, sub)
    try:
        async with rt.transaction() as s:
            row = await receiver.receive(s, sub, now)
    except Rejected as exc:
        raise ApiError(422, exc.problems) from exc
    except CatalogError as exc:
        raise ApiError(422, [no_catalogue(exc)]) from exc
    except IntegrityError:
        return await _raced(request, body.submission_id)
    return JSONResponse(_json(public_view(row)), status_code=201)


async def _raced(request: Request, submission_id: str | None) -> JSONResponse:
    """Two requests with one submission_id raced: the first one's dossier is the answer.
    The IntegrityError is dropped unlogged and unchained: its text holds the statement's
    parameters, the applicant's identity among them."""
    if replay := await _replayed(request, submission_id):
        return replay
    raise ApiError(409, [Problem.of(
        "conflict", "Yêu cầu trùng với một yêu cầu đang được xử lý; vui lòng thử lại",
        "the request conflicted with another one; try again", "submission_id")])


async def _verify_reuse(request: Request, sub: Submission) -> list[ComponentRef]:
    """Every reused component must be held for this applicant; all unknown ones at once."""
    warehouse: Warehouse = request.app.state.warehouse
    reused = [c for c in sub.components if c.reused]
    if not reused:
        return sub.components
    ref = applicant_pseudonym(request.app.state.receiver.key, sub.applicant)
    try:
        found = {c.code: await warehouse.holds(ref, c.document_ref or "") for c in reused}
    except WarehouseUnavailable as exc:
        raise ApiError(503, [Problem.of(
            "warehouse_unavailable", "Không kiểm tra được kho dữ liệu; vui lòng thử lại",
            "the data warehouse could not be asked; try again", "components")]) from exc
    unknown = [i for i, c in enumerate(sub.components) if c.reused and not found[c.code]]
    if unknown:
        raise ApiError(422, [Problem.of(
            "reused_document_unknown",
            f"Kho dữ liệu không có tài liệu {sub.components[i].document_ref} của người nộp",
            f"the warehouse holds no {sub.components[i].document_ref} for this applicant",
            f"components.{i}.document_ref") for i in unknown])
    return sub.components


def _no_dossier(code: str) -> ApiError:
    return not_found(f"Không tìm thấy hồ sơ {code}", f"no dossier {code}", "code")


def _conflict(exc: WrongState) -> ApiError:
    return ApiError(409, [Problem.of("wrong_state", f"Không thể thực hiện khi hồ sơ đang ở "
                                     f"trạng thái {exc.status}", str(exc), "status")],
                    current_status=exc.status)


async def _change(request: Request, code: str, act: Any, status: int = 200) -> JSONResponse:
    """A counter action in one transaction; with an Idempotency-Key header, a retry of the
    same request gets the first answer back and changes nothing."""
    rt = request.app.state.runtime
    key = request.headers.get("idempotency-key")
    where = f"{request.method} {request.url.path}"
    t = tables.idempotency
    if key:
        async with rt.sessions() as s:
            seen = (await s.execute(select(t).where(t.c.key == key))).mappings().first()
        if seen is not None:
            if seen["request"] != where:
                raise ApiError(422, [Problem.of(
                    "idempotency_key_reused", "Khóa Idempotency-Key đã dùng cho yêu cầu khác",
                    f"Idempotency-Key was used for {seen['request']}", "Idempotency-Key")])
            return JSONResponse(seen["body"], status_code=seen["status"],
                                headers={"Idempotent-Replay": "true"})
    try:
        async with rt.transaction() as s:
            row = await act(request.app.state.lifecycle, s, rt.clock.now())
            view = _json(public_view(row))
            if "missing" in row:
                view["missing"] = row["missing"]
            if key:
                await s.execute(t.insert().values(key=key, request=where, status=status,
                                                  body=view, created_at=rt.clock.now()))
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
            row = await request.app.state.lifecycle.refuse(
                s, body.submission(now), body.reasons, now)
    except Rejected as exc:
        raise ApiError(422, exc.problems) from exc
    except IntegrityError:
        return await _raced(request, body.submission_id)
    return JSONResponse(_json(public_view(row)), status_code=201)


@router.post("/dossiers/{code}/supplement-request", status_code=201)
async def request_supplement(code: str, body: SupplementRequestIn,
                             request: Request) -> JSONResponse:
    return await _change(request, code, lambda lc, s, now: lc.request_supplement(
        s, code, body.items, body.requested_by, body.stage, now), status=201)


@router.post("/dossiers/{code}/supplement")
async def receive_supplement(code: str, body: SupplementIn, request: Request) -> JSONResponse:
    return await _change(request, code, lambda lc, s, now: lc.receive_supplement(
        s, code, body.components, now))


@router.post("/dossiers/{code}/withdrawal")
async def withdraw(code: str, body: WithdrawalIn, request: Request) -> JSONResponse:
    return await _change(request, code, lambda lc, s, now: lc.withdraw(
        s, code, body.reason, now, now))


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
    rt = request.app.state.runtime
    t = tables.dossiers
    query = select(t).order_by(t.c.received_at, t.c.code).limit(limit + 1)
    for column, value in ((t.c.agency_code, agency), (t.c.status, status),
                          (t.c.channel, channel)):
        if value is not None:
            query = query.where(column == value)
    if from_ is not None:
        query = query.where(t.c.received_at >= from_)
    if to is not None:
        query = query.where(t.c.received_at < to)
    if after:
        try:
            at_text, code = after.split("|", 1)
            at = datetime.fromisoformat(at_text)
        except ValueError as exc:
            raise ApiError(422, [Problem.of("bad_cursor", "Con trỏ trang không hợp lệ",
                                            "invalid cursor", "after")]) from exc
        query = query.where(or_(t.c.received_at > at,
                                and_(t.c.received_at == at, t.c.code > code)))
    async with rt.sessions() as s:
        rows = [dict(r) for r in (await s.execute(query)).mappings().all()]
    page, more = rows[:limit], len(rows) > limit
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
    rt = request.app.state.runtime
    async with rt.sessions() as s:
        row = await request.app.state.receiver.existing(s, code=code)
    if row is None:
        raise _no_dossier(code)
    states, render, stem = SLIPS[slip]
    if row["status"] not in states:
        raise ApiError(409, [Problem.of("no_such_slip", f"Hồ sơ ở trạng thái {row['status']} "
                                        "không có phiếu này",
                                        f"a {row['status']} dossier has no {slip}", "slip")],
                       current_status=row["status"])
    # Drawn with the catalogue the dossier was received under (its names, its components).
    catalog = request.app.state.receiver.catalogs.version(row["catalog_version"])
    pdf = await asyncio.to_thread(render, catalog, row)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{stem}-{code}.pdf"'})


@router.get("/dossiers/{code}")
async def get_dossier(code: str, request: Request) -> dict[str, Any]:
    rt = request.app.state.runtime
    async with rt.sessions() as s:
        found = await request.app.state.receiver.existing(s, code=code)
    if not found:
        raise _no_dossier(code)
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
