"""Processing's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.common import AgencyCode, LongText, Problem, ShortText, Timestamp
from services.common.auth import Caller, acting, check_agency, check_permission, require
from services.common.http import ApiError, not_found
from services.common.idempotency import IdempotencyKeys
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.processing import domain, overdue
from services.processing.documents import letters, slip_pdf
from services.processing.domain import OFFICER_ACTIONS
from services.processing.handlers import Cases, NotFound
from services.processing.repository import DuplicateKey
from services.processing.signing import SigningUnavailable
from services.processing.workflow import Action, InvalidAction, State, WrongState
from services.product.roles import Permission as P

router = APIRouter(prefix="/api/v1", tags=["processing"])


class Deadline(StrEnum):
    """The deadline monitor's filter on the case list (domain.deadline_status)."""

    near = "near"
    overdue = "overdue"

# What an officer may ask for (open, supplement_received and withdraw arrive as events).
OfficerAction = StrEnum("OfficerAction", {a.name: a.value for a in OFFICER_ACTIONS})  # type: ignore[misc]


class OfficerBody(BaseModel):
    """What an officer sends. Who acts is the token's user; `officer`, if sent, must be
    them (acting_officer)."""

    officer: str | None = Field(default=None, min_length=1, max_length=200,
                                description="the token's officer; another name is refused")


class ActionIn(OfficerBody):
    """An officer's action; the action's own fields (e.g. `decision`, `items`, `reasons`)
    sit beside `action` and `officer` and are checked by the workflow."""

    model_config = ConfigDict(extra="allow")

    action: OfficerAction  # type: ignore[valid-type]


class ExplanationIn(OfficerBody):
    """The responsible office's specific explanation of an overdue dossier
    (docs/law.md#explanation-and-apology-letter)."""

    model_config = ConfigDict(extra="forbid")

    cause: LongText = Field(min_length=1)
    explained_by: AgencyCode | None = Field(
        default=None, description="the responsible office; the dossier's agency by default")


class ApologyIn(OfficerBody):
    """The apology and re-appointment letter (docs/law.md#explanation-and-apology-letter)."""

    model_config = ConfigDict(extra="forbid")

    reason: LongText = Field(min_length=1, description="the reason for the delay")
    new_due_at: Timestamp = Field(description="the new appointment")
    department: ShortText | None = Field(
        default=None, description="the department responsible; the current one by default")
    signed_by: ShortText = Field(min_length=1, description="the head who signs it")


def acting_officer(body: OfficerBody, caller: Caller) -> str:
    """Who acts: the token's officer, never another named in the body."""
    return acting(caller, body.officer)


# The permission each officer action needs (docs/law.md#processing-handovers-and-the-control-slip:
# steps by officers and heads, the decision and the signed result by the leadership, the
# hand-over at the counter).
ACTION_PERMISSIONS: dict[Action, P] = {
    **{a: P.case_process for a in (Action.claim, Action.complete_step, Action.return_to_step,
                                   Action.request_supplement, Action.ask_agency,
                                   Action.record_agency_answer, Action.stop)},
    Action.approve: P.case_decide, Action.deny: P.case_decide,
    Action.issue_result: P.case_decide, Action.record_return: P.case_return,
}
Reading = Annotated[Caller, require(P.dossier_read)]
Personal = Annotated[Caller, require(P.personal_read)]


def _json(value: Any) -> Any:
    # People read these: local time with its offset, the same on every answer.
    if isinstance(value, datetime):
        return value.astimezone(TZ).isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _cases(request: Request) -> Cases:
    return request.app.state.cases  # type: ignore[no-any-return]


def _no_case(code: str) -> ApiError:
    return not_found(f"Không tìm thấy hồ sơ {code}", f"no case {code}", "code")


def _conflict(exc: WrongState) -> ApiError:
    allowed = [a.value for a in exc.allowed if a in OFFICER_ACTIONS]
    return ApiError(409, [Problem.of("wrong_state", f"Không thể thực hiện khi hồ sơ đang ở "
                                     f"trạng thái {exc.state}", str(exc), "action")],
                    current_state=exc.state.value, allowed_actions=allowed)


def _cursor(after: str | None) -> tuple[datetime, str] | None:
    if not after:
        return None
    try:
        at_text, code = after.split("|", 1)
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None:
            raise ValueError("naive")
        at = at.astimezone(UTC)  # an offset past year 1 or 9999 overflows: a bad cursor too
    except (ValueError, OverflowError) as exc:
        raise ApiError(422, [Problem.of("bad_cursor", "Con trỏ trang không hợp lệ",
                                        "invalid cursor", "after")]) from exc
    return at, code


@router.get("/cases")
async def list_cases(
    request: Request,
    caller: Reading,
    agency: Annotated[str | None, Query(max_length=64,
                                        description="the agency and its sub-agencies")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    officer: Annotated[str | None, Query(max_length=200)] = None,
    state: State | None = None,
    deadline: Annotated[Deadline | None, Query(
        description="near: a DeadlineApproaching fired, not overdue, not resolved; "
                    "overdue: a DossierOverdue fired, not resolved")] = None,
    explained: Annotated[bool | None, Query(
        description="with deadline=overdue: false lists what the centre must chase")] = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(max_length=300,
                                       description="cursor: next_after of the last page")] = None,
) -> dict[str, Any]:
    """Cases by receipt time then code; keyset pagination, so pages stay stable while new
    cases arrive."""
    cursor = _cursor(after)
    if agency is not None:
        check_agency(caller, agency)
    async with request.app.state.runtime.sessions() as s:
        items, more = await _cases(request).page(
            s, agency=agency, within=caller.agencies(), department=department, officer=officer,
            state=state.value if state else None, after=cursor, limit=page_size,
            deadline=deadline.value if deadline else None, explained=explained)
    last = items[-1] if items else None
    return {"items": _json(items),
            "next_after": f"{last['received_at'].isoformat()}|{last['code']}"
            if more and last else None}


@router.get("/cases/{code}")
async def case(code: str, request: Request, caller: Reading) -> dict[str, Any]:
    """State, current step and holder, due time, working time used and left on the law's
    clock, the full history, and what an officer may do now."""
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        found = await _cases(request).view(s, code, rt.clock.now())
    if found is None or not caller.sees(found.get("agency_code")):
        raise _no_case(code)
    return _json(found)  # type: ignore[no-any-return]


Work = Callable[[AsyncSession, datetime, Any], Awaitable[dict[str, Any]]]


async def _write(request: Request, caller: Caller, code: str, status: int, work: Work,
                 prepare: Callable[[], Awaitable[Any]] | None = None, *,
                 action: str) -> JSONResponse:
    """One officer's write in one transaction with its audit row, its errors answered one
    way; with an Idempotency-Key header, a retry gets the first answer back. `prepare` runs
    before the transaction (e.g. signing over HTTP, holding no lock); its result goes to
    `work`."""
    rt: Runtime = request.app.state.runtime
    keys: IdempotencyKeys = request.app.state.idempotency
    key, where, replay = await keys.replay(request, rt.sessions)
    if replay is not None:
        return replay
    try:
        async with rt.sessions() as s:  # another tree's case is not even confirmed
            if not caller.sees(await _cases(request).agency_of(s, code)):
                raise NotFound(code)
        prepared = await prepare() if prepare else None
        async with rt.transaction() as s:
            now = rt.clock.now()
            answer = _json(await work(s, now, prepared))
            if key:
                await keys.keep(s, key, where, status, answer, now)
            await rt.audit.record(s, request, actor=None, action=action, dossier_code=code)
    except NotFound as exc:
        raise _no_case(code) from exc
    except WrongState as exc:
        raise _conflict(exc) from exc
    except InvalidAction as exc:
        raise ApiError(422, list(exc.problems)) from exc
    except overdue.NotLate as exc:
        raise ApiError(409, [Problem.of(
            "not_overdue", f"Hồ sơ {code} không quá hạn: không cần giải trình",
            f"case {code} is not overdue: there is nothing to explain", "code")]) from exc
    except overdue.Refused as exc:
        raise ApiError(exc.status, list(exc.problems)) from exc
    except SigningUnavailable as exc:
        raise ApiError(503, [Problem.of(
            "signing_unavailable", "Chưa ký số được kết quả; vui lòng thử lại sau",
            f"the result could not be signed; try again later ({exc})", "action")]) from exc
    except DuplicateKey:
        raise ApiError(409, [Problem.of(
            "conflict", "Yêu cầu trùng với một yêu cầu đang được xử lý; vui lòng thử lại",
            "the request raced another with the same Idempotency-Key; try again",
            "Idempotency-Key")]) from None
    return JSONResponse(answer, status_code=status)


@router.post("/cases/{code}/actions")
async def act(code: str, body: ActionIn, request: Request,
              caller: Annotated[Caller, require(P.case_process, P.case_decide,
                                                P.case_return)]) -> JSONResponse:
    """An officer's action; 409 with `current_state` and `allowed_actions` when it does not
    fit the case now. With an Idempotency-Key header, a retry gets the first answer back.
    Each action needs its own permission (ACTION_PERMISSIONS)."""
    action = Action(body.action.value)
    check_permission(caller, ACTION_PERMISSIONS[action])
    officer = acting_officer(body, caller)

    async def sign() -> Any:
        # The result document is signed before it is issued (issue_result only).
        if action != Action.issue_result:
            return None
        async with request.app.state.runtime.sessions() as s:
            return await _cases(request).sign_result(s, code)

    return await _write(request, caller, code, 200, lambda s, now, signed: _cases(request).act(
        s, code, action, dict(body.model_extra or {}), officer, now, signed),
        prepare=sign, action=f"case.{action.value}")


@router.post("/cases/{code}/explanations", status_code=201)
async def explain(code: str, body: ExplanationIn, request: Request,
                  caller: Annotated[Caller, require(P.case_explain)]) -> JSONResponse:
    """The responsible office explains an overdue dossier's delay (OverdueExplained); 409
    when the dossier is not overdue. It then leaves `explained=false`."""
    officer = acting_officer(body, caller)
    return await _write(request, caller, code, 201, lambda s, now, _: _cases(request).explain(
        s, code, body.cause, body.explained_by, officer, now), action="case.explain")


@router.post("/cases/{code}/apology", status_code=201)
async def apologise(code: str, body: ApologyIn, request: Request,
                    caller: Annotated[Caller, require(P.case_explain)]) -> JSONResponse:
    """The apology and re-appointment letter (ApologyIssued), once per dossier; issued
    later than one working day before the due time it is still issued, with
    `in_time: false`. The new date never makes a late dossier on time."""
    acting_officer(body, caller)
    return await _write(request, caller, code, 201, lambda s, now, _: _cases(request).apologise(
        s, code, reason=body.reason, new_due_at=body.new_due_at,
        department=body.department, signed_by=body.signed_by, now=now),
        action="case.apology")


# --- documents ---------------------------------------------------------------------------


async def _documents(request: Request, caller: Caller, code: str
                     ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]],
                                dict[str, Any] | None]:
    async with request.app.state.runtime.sessions() as s:
        try:
            row, steps, history = await _cases(request).documents_of(s, code)
        except NotFound as exc:
            raise _no_case(code) from exc
        if not caller.sees(row.get("agency_code")):
            raise _no_case(code)
        applicant = await _cases(request).repo.applicant(s, code)
    return row, steps, history, applicant


def _pdf(content: bytes, name: str) -> Response:
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/cases/{code}/control-slip")
async def control_slip(code: str, request: Request, caller: Reading) -> dict[str, Any]:
    """Phiếu kiểm soát quá trình giải quyết hồ sơ: every handover with from, to, time
    handed and received, the step's due time and its outcome."""
    row, steps, history, _ = await _documents(request, caller, code)
    now = request.app.state.runtime.clock.now()
    return _cases(request).control_slip(row, steps, history, now).to_json()


@router.get("/cases/{code}/control-slip.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def control_slip_pdf(code: str, request: Request, caller: Reading) -> Response:
    row, steps, history, _ = await _documents(request, caller, code)
    cases = _cases(request)
    return _pdf(slip_pdf.control_slip_pdf(
        cases.control_slip(row, steps, history, request.app.state.runtime.clock.now()),
        cases.letterhead(row),
        procedure_name=cases.procedure_name(row)), f"phieu-kiem-soat-{code}.pdf")


@router.get("/cases/{code}/apology.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def apology_pdf(code: str, request: Request, caller: Personal) -> Response:
    """The apology and re-appointment letter as issued (404 before it is)."""
    row, _, _, applicant = await _documents(request, caller, code)
    event = overdue.apology_event(row)
    if event is None:
        raise not_found(f"Hồ sơ {code} chưa có văn bản xin lỗi",
                        f"no apology letter for case {code}", "code")
    await request.app.state.runtime.audit.read(request, action="read.apology_pdf",
                                               dossier_code=code)
    cases = _cases(request)
    return _pdf(letters.apology_letter_pdf(
        cases.letterhead(row), event, procedure_name=cases.procedure_name(row),
        received_at=row["received_at"], applicant_name=domain.applicant_name(applicant)),
        f"xin-loi-{code}.pdf")


@router.get("/cases/{code}/result.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}},
                       307: {"description": "the signed result, kept by digitization"}})
async def result_pdf(code: str, request: Request, caller: Personal) -> Response:
    """The result document once decided: once issued signed, a redirect to the signed file
    the signing service keeps; before that (or with no signing service), a rendering
    marked unsigned (CHƯA KÝ SỐ). 404 before the decision."""
    row, _, _, applicant = await _documents(request, caller, code)
    result = row.get("result") or {}
    if not result.get("decision"):
        raise not_found(f"Hồ sơ {code} chưa có quyết định", f"case {code} is not decided",
                        "code")
    if result.get("document_url"):
        return RedirectResponse(result["document_url"], status_code=307)
    await request.app.state.runtime.audit.read(request, action="read.result_pdf",
                                               dossier_code=code)
    return _pdf(_cases(request).result_pdf(row, applicant, signed=False),
                f"ket-qua-{code}.pdf")
