"""Processing's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from contracts.common import Problem
from services.common.http import ApiError, not_found
from services.common.idempotency import IdempotencyKeys
from services.common.runtime import Runtime
from services.law.workdays import TZ
from services.processing.domain import OFFICER_ACTIONS
from services.processing.handlers import Cases, NotFound
from services.processing.repository import DuplicateKey
from services.processing.workflow import Action, InvalidAction, State, WrongState

router = APIRouter(prefix="/api/v1", tags=["processing"])


class Deadline(StrEnum):
    """The deadline monitor's filter on the case list (domain.deadline_status)."""

    near = "near"
    overdue = "overdue"

# What an officer may ask for (open, supplement_received and withdraw arrive as events).
OfficerAction = StrEnum("OfficerAction", {a.name: a.value for a in OFFICER_ACTIONS})  # type: ignore[misc]


class ActionIn(BaseModel):
    """An officer's action; the action's own fields (e.g. `decision`, `items`, `reasons`)
    sit beside `action` and `officer` and are checked by the workflow."""

    model_config = ConfigDict(extra="allow")

    action: OfficerAction  # type: ignore[valid-type]
    officer: str | None = Field(default=None, min_length=1, max_length=200)


def acting_officer(body: ActionIn, request: Request) -> str | None:
    """Who acts. The one place to read it: the security issue swaps the body's field for
    the token's user here."""
    del request  # the token, once there is one
    return body.officer


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
    agency: Annotated[str | None, Query(max_length=64,
                                        description="the agency and its sub-agencies")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    officer: Annotated[str | None, Query(max_length=200)] = None,
    state: State | None = None,
    deadline: Annotated[Deadline | None, Query(
        description="near: a DeadlineApproaching fired, not overdue, not resolved; "
                    "overdue: a DossierOverdue fired, not resolved")] = None,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[str | None, Query(max_length=300,
                                       description="cursor: next_after of the last page")] = None,
) -> dict[str, Any]:
    """Cases by receipt time then code; keyset pagination, so pages stay stable while new
    cases arrive."""
    cursor = _cursor(after)
    async with request.app.state.runtime.sessions() as s:
        items, more = await _cases(request).page(
            s, agency=agency, department=department, officer=officer,
            state=state.value if state else None, after=cursor, limit=page_size,
            deadline=deadline.value if deadline else None)
    last = items[-1] if items else None
    return {"items": _json(items),
            "next_after": f"{last['received_at'].isoformat()}|{last['code']}"
            if more and last else None}


@router.get("/cases/{code}")
async def case(code: str, request: Request) -> dict[str, Any]:
    """State, current step and holder, due time, working time used and left on the law's
    clock, the full history, and what an officer may do now."""
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        found = await _cases(request).view(s, code, rt.clock.now())
    if found is None:
        raise _no_case(code)
    return _json(found)  # type: ignore[no-any-return]


@router.post("/cases/{code}/actions")
async def act(code: str, body: ActionIn, request: Request) -> JSONResponse:
    """An officer's action; 409 with `current_state` and `allowed_actions` when it does not
    fit the case now. With an Idempotency-Key header, a retry gets the first answer back."""
    rt: Runtime = request.app.state.runtime
    keys: IdempotencyKeys = request.app.state.idempotency
    key, where, replay = await keys.replay(request, rt.sessions)
    if replay is not None:
        return replay
    try:
        async with rt.transaction() as s:
            now = rt.clock.now()
            answer = _json(await _cases(request).act(
                s, code, Action(body.action.value), dict(body.model_extra or {}),
                acting_officer(body, request), now))
            if key:
                await keys.keep(s, key, where, 200, answer, now)
    except NotFound as exc:
        raise _no_case(code) from exc
    except WrongState as exc:
        raise _conflict(exc) from exc
    except InvalidAction as exc:
        raise ApiError(422, list(exc.problems)) from exc
    except DuplicateKey:
        raise ApiError(409, [Problem.of(
            "conflict", "Yêu cầu trùng với một yêu cầu đang được xử lý; vui lòng thử lại",
            "the request raced another with the same Idempotency-Key; try again",
            "Idempotency-Key")]) from None
    return JSONResponse(answer)
