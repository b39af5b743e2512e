"""Processing's HTTP API: routes of a few lines (parse, authorize, call one use case,
render) over the use cases in case_reads.py and officer_writes.py."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts.common import AgencyCode, LongText, Problem, ShortText, Timestamp
from services.common.http.auth import Caller, acting, check_agency, check_permission, require
from services.common.http.edge import ApiError
from services.common.http.idempotency import IdempotencyKeys
from services.common.runtime import Runtime
from services.processing.case_reads import CaseReads
from services.processing.domain import OFFICER_ACTIONS
from services.processing.officer_writes import Keyed, OfficerWrites, as_answer
from services.processing.workflow import Action, State
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


def _reads(request: Request) -> CaseReads:
    return request.app.state.reads  # type: ignore[no-any-return]


def _writes(request: Request) -> OfficerWrites:
    return request.app.state.writes  # type: ignore[no-any-return]


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
    items, more = await _reads(request).page(
        caller, agency=agency, department=department, officer=officer,
        state=state.value if state else None, after=cursor, limit=page_size,
        deadline=deadline.value if deadline else None, explained=explained)
    last = items[-1] if items else None
    return {"items": as_answer(items),
            "next_after": f"{last['received_at'].isoformat()}|{last['code']}"
            if more and last else None}


@router.get("/cases/{code}")
async def case(code: str, request: Request, caller: Reading) -> dict[str, Any]:
    """State, current step and holder, due time, working time used and left on the law's
    clock, the full history, and what an officer may do now."""
    return as_answer(await _reads(request).view(caller, code))  # type: ignore[no-any-return]


async def _keyed(request: Request) -> tuple[Keyed, JSONResponse | None]:
    """The request's Idempotency-Key, and the first answer to replay when it was answered."""
    rt: Runtime = request.app.state.runtime
    keys: IdempotencyKeys = request.app.state.idempotency
    key, where, replay = await keys.replay(request, rt.sessions)
    return Keyed(key, where), replay


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
    keyed, replay = await _keyed(request)
    if replay is not None:
        return replay
    status, answer = await _writes(request).act(
        request, caller, keyed, code, action, dict(body.model_extra or {}), officer)
    return JSONResponse(answer, status_code=status)


@router.post("/cases/{code}/explanations", status_code=201)
async def explain(code: str, body: ExplanationIn, request: Request,
                  caller: Annotated[Caller, require(P.case_explain)]) -> JSONResponse:
    """The responsible office explains an overdue dossier's delay (OverdueExplained); 409
    when the dossier is not overdue. It then leaves `explained=false`."""
    officer = acting_officer(body, caller)
    keyed, replay = await _keyed(request)
    if replay is not None:
        return replay
    status, answer = await _writes(request).explain(
        request, caller, keyed, code, body.cause, body.explained_by, officer)
    return JSONResponse(answer, status_code=status)


@router.post("/cases/{code}/apology", status_code=201)
async def apologise(code: str, body: ApologyIn, request: Request,
                    caller: Annotated[Caller, require(P.case_explain)]) -> JSONResponse:
    """The apology and re-appointment letter (ApologyIssued), once per dossier; issued
    later than one working day before the due time it is still issued, with
    `in_time: false`. The new date never makes a late dossier on time."""
    acting_officer(body, caller)
    keyed, replay = await _keyed(request)
    if replay is not None:
        return replay
    status, answer = await _writes(request).apologise(
        request, caller, keyed, code, reason=body.reason, new_due_at=body.new_due_at,
        department=body.department, signed_by=body.signed_by)
    return JSONResponse(answer, status_code=status)


# --- documents ---------------------------------------------------------------------------


def _pdf(content: bytes, name: str) -> Response:
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/cases/{code}/control-slip")
async def control_slip(code: str, request: Request, caller: Reading) -> dict[str, Any]:
    """Phiếu kiểm soát quá trình giải quyết hồ sơ: every handover with from, to, time
    handed and received, the step's due time and its outcome."""
    return (await _reads(request).control_slip(caller, code)).to_json()


@router.get("/cases/{code}/control-slip.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def control_slip_pdf(code: str, request: Request, caller: Reading) -> Response:
    return _pdf(await _reads(request).control_slip_pdf(caller, code),
                f"phieu-kiem-soat-{code}.pdf")


@router.get("/cases/{code}/apology.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def apology_pdf(code: str, request: Request, caller: Personal) -> Response:
    """The apology and re-appointment letter as issued (404 before it is)."""
    return _pdf(await _reads(request).apology_pdf(request, caller, code),
                f"xin-loi-{code}.pdf")


@router.get("/cases/{code}/result.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}},
                       307: {"description": "the signed result, kept by digitization"}})
async def result_pdf(code: str, request: Request, caller: Personal) -> Response:
    """The result document once decided: once issued signed, a redirect to the signed file
    the signing service keeps; before that (or with no signing service), a rendering
    marked unsigned (CHƯA KÝ SỐ). 404 before the decision."""
    found = await _reads(request).result(request, caller, code)
    if isinstance(found, str):
        return RedirectResponse(found, status_code=307)
    return _pdf(found, f"ket-qua-{code}.pdf")
