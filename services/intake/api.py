"""Intake's HTTP API: counters, post and online portals submit dossiers here."""

from __future__ import annotations

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
from services.common.http.auth import Caller, acting, check_agency, require
from services.common.http.edge import ApiError, client_address
from services.intake import citizen
from services.intake.counter import Counter, Recorded, local_times
from services.intake.domain import Submission
from services.intake.dossier import Dossier
from services.intake.handlers import Intake
from services.intake.repository import dossier_values
from services.intake.views import public_view
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


def _intake(request: Request) -> Intake:
    return request.app.state.intake  # type: ignore[no-any-return]


def _counter(request: Request) -> Counter:
    return request.app.state.counter  # type: ignore[no-any-return]


def _recorded(done: Recorded) -> JSONResponse:
    # 201 for a new dossier; 200 for the one its submission_id made before.
    return JSONResponse(local_times(public_view(done.dossier)),
                        status_code=201 if done.new else 200)


Receiving = Annotated[Caller, require(P.dossier_receive)]
Reading = Annotated[Caller, require(P.dossier_read)]


@router.post("/dossiers", status_code=201)
async def submit(body: SubmissionIn, request: Request, caller: Receiving) -> JSONResponse:
    now = request.app.state.runtime.clock.now()
    check_agency(caller, body.agency_code)
    sub = body.submission(now, acting(caller, body.officer))
    return _recorded(await _counter(request).receive(request, caller, sub, now))


@router.post("/refusals", status_code=201)
async def refuse(body: RefusalIn, request: Request, caller: Receiving) -> JSONResponse:
    """Refusal at the counter: a code, a refusal slip with reasons, DossierRejected."""
    now = request.app.state.runtime.clock.now()
    check_agency(caller, body.agency_code)
    sub = body.submission(now, acting(caller, body.officer))
    return _recorded(await _counter(request).refuse(request, caller, sub, body.reasons, now))


@router.post("/dossiers/{code}/supplement-request", status_code=201)
async def request_supplement(
        code: str, body: SupplementRequestIn, request: Request,
        caller: Annotated[Caller, require(P.supplement_request)]) -> JSONResponse:
    by = acting(caller, body.requested_by)
    return await _counter(request).change(
        request, caller, code, lambda intake, s, now: intake.request_supplement(
            s, code, body.items, by, body.stage, now), status=201,
        action="dossier.supplement_request")


@router.post("/dossiers/{code}/supplement")
async def receive_supplement(code: str, body: SupplementIn, request: Request,
                             caller: Receiving) -> JSONResponse:
    return await _counter(request).change(
        request, caller, code, lambda intake, s, now: intake.receive_supplement(
            s, code, body.components, now), status=200, action="dossier.supplement")


@router.post("/dossiers/{code}/withdrawal")
async def withdraw(code: str, body: WithdrawalIn, request: Request,
                   caller: Receiving) -> JSONResponse:
    return await _counter(request).change(
        request, caller, code, lambda intake, s, now: intake.withdraw(
            s, code, body.reason, now, now), status=200, action="dossier.withdraw")


def _cursor(after: str) -> tuple[datetime, str]:
    """A page's `next_after`: the last dossier's receipt time and code."""
    try:
        at_text, code = after.split("|", 1)
        return datetime.fromisoformat(at_text), code
    except ValueError as exc:
        raise ApiError(422, [Problem.of("bad_cursor", "Con trỏ trang không hợp lệ",
                                        "invalid cursor", "after")]) from exc


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
    cursor = _cursor(after) if after else None
    if agency is not None:
        check_agency(caller, agency)
    page, more = await _counter(request).page(agency=agency, status=status, channel=channel,
                                              from_=from_, to=to, after=cursor, limit=limit,
                                              within=caller.agencies())
    last = page[-1] if page else None
    return {"items": [local_times(public_view(r)) for r in page],
            "next_after": f"{last.received_at.isoformat()}|{last.code}"
            if more and last else None}


@router.get("/dossiers/{code}/{slip}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def slip_pdf(code: str, slip: Literal["receipt.pdf", "supplement-request.pdf",
                                            "refusal.pdf"], request: Request,
                   caller: Annotated[Caller, require(P.personal_read)]) -> Response:
    """The slips (docs/law.md#slips-and-their-contents), by the form set in force on receipt."""
    printed = await _counter(request).slip(request, caller, code, slip)
    return Response(printed.pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{printed.filename}"'})


@router.get("/dossiers/{code}")
async def get_dossier(code: str, request: Request, caller: Reading) -> dict[str, Any]:
    return local_times(public_view(await _counter(request).dossier(caller, code)))


PublicCode = Annotated[str, Path(min_length=3, max_length=64)]
ID_LAST4 = "^[0-9A-Za-z]{4}$"
ID_LAST4_TEXT = ("the last four characters of the applicant's ID number (unit code for an "
                 "organisation)")


async def _matching(request: Request, code: str, id_last4: str) -> Dossier:
    """The dossier whose code and last four ID digits both match, else the one 404; every
    public route spends the same per-address allowance, and does the same work whether the
    code exists or not (an unknown code opens a sealed decoy)."""
    request.app.state.public_lookups.take(client_address(request))
    return await _counter(request).public_match(code, id_last4)


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
    dossier = await _matching(request, code, id_last4)
    catalog = _intake(request).catalogs.version(dossier.catalog_version)
    return local_times(await citizen.lookup(request.app.state.citizen,
                                            dossier_values(dossier), catalog))


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
    return await citizen.rate(request.app.state.citizen, code, body.score, body.comment,
                              request.app.state.runtime.clock.now())


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
    ref = await _counter(request).applicant_ref(request, body.kind, body.number)
    return {"applicant_ref": ref}


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
