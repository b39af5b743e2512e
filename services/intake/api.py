"""Intake's HTTP API: counters, post and online portals submit dossiers here."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
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
from services.common.auth import Caller, acting, check_agency, require, visible
from services.common.http import ApiError, client_address, not_found
from services.common.idempotency import IdempotencyKeys
from services.common.sealed_columns import sealed_columns
from services.common.sealing import data_sealer
from services.intake import citizen, slip_views
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
from services.intake.tables import dossiers, metadata
from services.intake.warehouse import WarehouseUnavailable
from services.law.catalog import CatalogError
from services.law.pseudonym import pseudonym
from services.law.workdays import TZ
from services.product.roles import Permission as P

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
    officer: str | None = Field(default=None, max_length=200,
                                description="the token's officer; another name is refused")
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

    def submission(self, now: datetime, officer: str) -> Submission:
        return Submission(
            agency_code=self.agency_code, procedure_code=self.procedure_code,
            channel=Channel(self.channel),
            return_channel=self.return_channel or ReturnChannel(self.channel),
            applicant=self.applicant, components=self.components,
            received_at=self.received_at or now, submission_id=self.submission_id,
            officer=officer,
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


async def _replayed(request: Request, submission_id: str | None,
                    caller: Caller) -> JSONResponse | None:
    """The same submission_id answers with the dossier it already made (200)."""
    if not submission_id:
        return None
    async with request.app.state.runtime.sessions() as s:
        found = visible(caller, await _intake(request).existing(s, submission_id=submission_id))
    return JSONResponse(_json(public_view(found)), status_code=200) if found else None


async def _raced(request: Request, submission_id: str | None, caller: Caller) -> JSONResponse:
    """Two requests with one submission_id raced: the first one's dossier is the answer.
    The IntegrityError is dropped unlogged and unchained: its text holds the statement's
    parameters, the applicant's identity among them."""
    if replay := await _replayed(request, submission_id, caller):
        return replay
    raise ApiError(409, [Problem.of(
        "conflict", "Yêu cầu trùng với một yêu cầu đang được xử lý; vui lòng thử lại",
        "the request conflicted with another one; try again", "submission_id")])


Receiving = Annotated[Caller, require(P.dossier_receive)]
Reading = Annotated[Caller, require(P.dossier_read)]


@router.post("/dossiers", status_code=201)
async def submit(body: SubmissionIn, request: Request, caller: Receiving) -> JSONResponse:
    rt, intake = request.app.state.runtime, _intake(request)
    now = rt.clock.now()
    check_agency(caller, body.agency_code)
    if replay := await _replayed(request, body.submission_id, caller):
        return replay
    sub = body.submission(now, acting(caller, body.officer))
    try:
        await intake.verify_reuse(request.app.state.warehouse, sub)
        async with rt.transaction() as s:
            row = await intake.receive(s, sub, now)
            await rt.audit.record(s, request, actor=None, action="dossier.receive",
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
        return await _raced(request, body.submission_id, caller)
    return JSONResponse(_json(public_view(row)), status_code=201)


def _no_dossier(code: str) -> ApiError:
    return not_found(f"Không tìm thấy hồ sơ {code}", f"no dossier {code}", "code")


def _conflict(exc: WrongState) -> ApiError:
    return ApiError(409, [Problem.of("wrong_state", f"Không thể thực hiện khi hồ sơ đang ở "
                                     f"trạng thái {exc.status}", str(exc), "status")],
                    current_status=exc.status)


Act = Callable[[Intake, Session, datetime], Awaitable[dict[str, Any]]]


async def _change(request: Request, caller: Caller, code: str, act: Act, status: int = 200, *,
                  action: str) -> JSONResponse:
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
            if visible(caller, row) is None:
                raise NotFound(code)  # another tree's dossier: rolled back, not confirmed
            view = _json(public_view(row))
            if "missing" in row:
                view["missing"] = row["missing"]
            if key:
                await keys.keep(s, key, where, status, view, rt.clock.now())
            await rt.audit.record(s, request, actor=None, action=action, dossier_code=code)
    except NotFound as exc:
        raise _no_dossier(code) from exc
    except WrongState as exc:
        raise _conflict(exc) from exc
    except Rejected as exc:  # e.g. a supplement repeating a component: nothing changed
        raise ApiError(422, exc.problems) from exc
    return JSONResponse(view, status_code=status)


@router.post("/refusals", status_code=201)
async def refuse(body: RefusalIn, request: Request, caller: Receiving) -> JSONResponse:
    """Refusal at the counter: a code, a refusal slip with reasons, DossierRejected."""
    rt = request.app.state.runtime
    check_agency(caller, body.agency_code)
    if replay := await _replayed(request, body.submission_id, caller):
        return replay
    now = rt.clock.now()
    try:
        async with rt.transaction() as s:
            sub = body.submission(now, acting(caller, body.officer))
            row = await _intake(request).refuse(s, sub, body.reasons, now)
            await rt.audit.record(s, request, actor=None, action="dossier.refuse",
                                  dossier_code=row["code"])
    except Rejected as exc:
        raise ApiError(422, exc.problems) from exc
    except DuplicateKey:
        return await _raced(request, body.submission_id, caller)
    return JSONResponse(_json(public_view(row)), status_code=201)


@router.post("/dossiers/{code}/supplement-request", status_code=201)
async def request_supplement(
        code: str, body: SupplementRequestIn, request: Request,
        caller: Annotated[Caller, require(P.supplement_request)]) -> JSONResponse:
    by = acting(caller, body.requested_by)
    return await _change(request, caller, code, lambda intake, s, now: intake.request_supplement(
        s, code, body.items, by, body.stage, now), status=201,
        action="dossier.supplement_request")


@router.post("/dossiers/{code}/supplement")
async def receive_supplement(code: str, body: SupplementIn, request: Request,
                             caller: Receiving) -> JSONResponse:
    return await _change(request, caller, code, lambda intake, s, now: intake.receive_supplement(
        s, code, body.components, now), action="dossier.supplement")


@router.post("/dossiers/{code}/withdrawal")
async def withdraw(code: str, body: WithdrawalIn, request: Request,
                   caller: Receiving) -> JSONResponse:
    return await _change(request, caller, code, lambda intake, s, now: intake.withdraw(
        s, code, body.reason, now, now), action="dossier.withdraw")


@router.get("/dossiers")
async def list_dossiers(
    request: Request,
    caller: Reading,
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
    if agency is not None:
        check_agency(caller, agency)
    async with request.app.state.runtime.sessions() as s:
        page, more = await _intake(request).page(s, agency=agency, status=status,
                                                 channel=channel, from_=from_, to=to,
                                                 after=cursor, limit=limit,
                                                 within=caller.agencies())
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
                                            "refusal.pdf"], request: Request,
                   caller: Annotated[Caller, require(P.personal_read)]) -> Response:
    """The slips (docs/law.md#slips-and-their-contents), by the form set in force on receipt."""
    intake = _intake(request)
    async with request.app.state.runtime.sessions() as s:
        row = visible(caller, await intake.existing(s, code=code))
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
async def get_dossier(code: str, request: Request, caller: Reading) -> dict[str, Any]:
    async with request.app.state.runtime.sessions() as s:
        found = visible(caller, await _intake(request).existing(s, code=code))
    if not found:
        raise _no_dossier(code)
    return _json(public_view(found))


def _id_tail(applicant: dict[str, Any]) -> str:
    number = applicant.get("id_number") or applicant.get("unit_code") or ""
    return str(number)[-4:]


# A dossier row's sealed columns, as the decoy a lookup of an unknown code opens instead.
_DECOY_APPLICANT = {"kind": "individual", "full_name": "Nguyễn Văn Ẩn Danh",
                    "id_number": "000000000000", "birth_date": "1990-01-01"}
_decoy: tuple[object, dict[str, str]] | None = None


def _decoy_row() -> dict[str, Any]:
    """What opening a found row's sealed columns gives, done on sealed decoys: a lookup of
    an unknown code does the same work as one with wrong digits, so its time does not say
    whether the code exists. Sealed once per data key."""
    global _decoy
    sealer = data_sealer()
    names = sealed_columns(metadata).get(dossiers.name, [])
    if _decoy is None or _decoy[0] is not sealer:
        clear = {n: _DECOY_APPLICANT if n == "applicant" else "" for n in names}
        _decoy = sealer, {n: dossiers.c[n].type.process_bind_param(v, None)
                          for n, v in clear.items()}
    return {n: dossiers.c[n].type.process_result_value(_decoy[1][n], None) for n in names}


PublicCode = Annotated[str, Path(min_length=3, max_length=64)]
ID_LAST4 = "^[0-9A-Za-z]{4}$"
ID_LAST4_TEXT = ("the last four characters of the applicant's ID number (unit code for an "
                 "organisation)")


async def _matching(request: Request, code: str, id_last4: str) -> dict[str, Any]:
    """The dossier whose code and last four ID digits both match, else the one 404; every
    public route spends the same per-address allowance, and does the same work whether the
    code exists or not (an unknown code opens a sealed decoy)."""
    request.app.state.public_lookups.take(client_address(request))
    async with request.app.state.runtime.sessions() as s:
        row = await _intake(request).existing(s, code=code)
    applicant = (row or _decoy_row())["applicant"]
    matched = hmac.compare_digest(_id_tail(applicant).encode(), id_last4.encode())
    if row is None or not matched:
        raise _no_dossier(code)
    return row


@router.get("/public/dossiers/{code}", tags=["public"])
async def public_status(
        code: PublicCode, request: Request,
        id_last4: Annotated[str, Query(pattern=ID_LAST4, description=ID_LAST4_TEXT)]
) -> dict[str, Any]:
    """For citizens, without an account: where one dossier stands. Both the code and the
    last four ID digits must match (a wrong pair is not found, so codes cannot be walked),
    rate-limited per client address; the same work whether the code exists or not;
    nothing personal in the answer. Beside intake's status: the stage in plain Vietnamese
    (`status_vi`), the appointment, the path (steps and milestones, no officer named),
    whether the result is ready and how it is returned, the signed result's verification
    link, and the citizen's rating (`rating.allowed` once returned)."""
    row = await _matching(request, code, id_last4)
    sources: citizen.Sources = request.app.state.citizen
    case, rating, known = None, None, True
    try:
        case = await sources.case(code)
    except citizen.SourceUnavailable:
        known = False  # intake's own status still answers
    if citizen.stage(row, case) == "returned":
        with contextlib.suppress(citizen.SourceUnavailable):
            rating = await sources.rating(code)
    catalog = _intake(request).catalogs.version(row["catalog_version"])
    return _json({"dossier_code": row["code"], "status": row["status"],
                  "agency_code": row["agency_code"], "procedure_code": row["procedure_code"],
                  "received_at": row["received_at"], "due_at": row["due_at"],
                  **citizen.view(row, case, catalog, rating, progress_known=known)})


class PublicRatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id_last4: str = Field(pattern=ID_LAST4, description=ID_LAST4_TEXT)
    score: int = Field(ge=1, le=5, description="1 (rất không hài lòng) … 5 (rất hài lòng)")
    comment: str = Field("", max_length=2000)


@router.post("/public/dossiers/{code}/rating", tags=["public"])
async def public_rating(code: PublicCode, body: PublicRatingIn,
                        request: Request) -> dict[str, Any]:
    """The citizen rates their returned dossier (Art. 31), with the same code and digits
    check and the same allowance as the lookup: once per dossier, changeable for the days
    reporting states (`changeable_until`), then 409 rating_closed; 409 not_returned before
    the result is handed over. Reporting keeps it and publishes it (DossierRated, origin
    citizen)."""
    await _matching(request, code, body.id_last4)
    try:
        answer = await request.app.state.citizen.rate(code, body.score, body.comment)
    except citizen.SourceUnavailable as exc:
        raise ApiError(503, [Problem.of(
            "rating_unavailable", "Chưa ghi nhận được đánh giá; vui lòng thử lại sau",
            "the rating could not be recorded now; try again later", "score")]) from exc
    if answer.status_code == 404:  # reporting has not heard of the dossier's return yet
        raise ApiError(409, [Problem.of(
            "not_returned", f"Hồ sơ {code} chưa trả kết quả, chưa thể đánh giá",
            f"dossier {code} has not been returned yet; it cannot be rated", "code")])
    if answer.status_code != 200:
        given = answer.json()
        raise ApiError(answer.status_code, [Problem.model_validate(p)
                                            for p in given.get("problems", [])])
    now = request.app.state.runtime.clock.now()
    return {"dossier_code": code, **citizen.rating_answer(answer.json(), now)}


class ApplicantNumberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["individual", "organization"]
    number: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z.\-]+$",
                        description="the ID number (individual) or unit code (organisation)")


@router.post("/applicants/ref")
async def applicant_ref(body: ApplicantNumberIn, request: Request,
                        caller: Annotated[Caller, require(P.warehouse_read)]) -> dict[str, str]:
    """The applicant's pseudonym (`applicant_ref`), from the number typed at the counter,
    so the counter can offer what the data warehouse already holds (digitization's
    `GET /api/v1/warehouse/{applicant_ref}/documents`, within the officer's tree). The
    number travels in the body, never in a URL."""
    await request.app.state.runtime.audit.read(request, action="read.applicant_ref",
                                               dossier_code=None)
    return {"applicant_ref": pseudonym(_intake(request).key, body.kind, body.number)}


@router.get("/catalog/agencies", dependencies=[require(P.catalog_read)])
async def agencies(request: Request) -> dict[str, Any]:
    cat = _intake(request).catalog
    return {"version": cat.version,
            "items": [a.model_dump(mode="json") for a in cat.catalog.agencies]}


@router.get("/catalog/procedures", dependencies=[require(P.catalog_read)])
async def procedures(request: Request) -> dict[str, Any]:
    cat = _intake(request).catalog
    return {"version": cat.version,
            "items": [p.model_dump(mode="json") for p in cat.catalog.procedures]}
