"""Notification's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.common.auth import Caller, check_permission, require
from services.common.auth import Permission as P
from services.common.http import not_found
from services.common.runtime import Runtime
from services.notification.handlers import view
from services.notification.repository import NotificationRepository

router = APIRouter(prefix="/api/v1", tags=["notification"])
repo = NotificationRepository()


@router.get("/dossiers/{code}/notifications")
async def notifications(code: str, request: Request,
                        caller: Annotated[Caller, require(P.notification_read)]
                        ) -> dict[str, Any]:
    """Every message about a dossier, on every channel, and how it went (none of another
    agency tree's)."""
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        items = [r for r in await repo.of_dossier(s, code) if caller.sees(r["agency_code"])]
    return {"dossier_code": code, "items": [view(r) for r in items]}


def _own(caller: Caller, recipient: str | None) -> str:
    if recipient is None or recipient == caller.user:
        return caller.user
    check_permission(caller, P.inbox_any)
    return recipient


@router.get("/inbox")
async def inbox(request: Request,
                caller: Annotated[Caller, require(P.inbox_read)],
                recipient: Annotated[str | None, Query(
                    min_length=1, max_length=200,
                    description="officer id or applicant pseudonym; the caller's own by "
                    "default, anyone else's only with inbox:any")] = None,
                unread: bool = False,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """The in-app inbox of an officer (or an applicant's portal account), newest first."""
    rt: Runtime = request.app.state.runtime
    recipient = _own(caller, recipient)
    async with rt.sessions() as s:
        items = await repo.inbox(s, recipient, unread, limit)
    return {"recipient": recipient, "items": [view(r) for r in items]}


@router.post("/inbox/{message_id}/read")
async def mark_read(message_id: str, request: Request,
                    caller: Annotated[Caller, require(P.inbox_read)]) -> dict[str, Any]:
    """Marks one's own inbox item read (again: no change); 404 for no such inbox item."""
    rt: Runtime = request.app.state.runtime
    only = None if caller.may(P.inbox_any) else caller.user
    async with rt.transaction() as s:
        row = await repo.mark_read(s, message_id[:36], rt.clock.now(), recipient=only)
    if row is None:
        raise not_found(f"Không có thông báo {message_id[:36]} trong hộp thư",
                        f"no inbox item {message_id[:36]}", "message_id")
    return view(row)
