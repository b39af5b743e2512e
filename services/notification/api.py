"""Notification's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.common.http.auth import Caller, check_permission, require
from services.common.http.edge import not_found
from services.common.runtime import Runtime
from services.notification.handlers import view
from services.notification.repository import NotificationRepository
from services.product.roles import Permission as P

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
        items = [m for m in await repo.of_dossier(s, code) if caller.sees(m.agency_code)]
    return {"dossier_code": code, "items": [view(r) for r in items]}


def _another(caller: Caller, recipient: str | None) -> bool:
    """Is this someone else's inbox (inbox:any, or 403)?"""
    if recipient is None or recipient == caller.user:
        return False
    check_permission(caller, P.inbox_any)
    return True


@router.get("/inbox")
async def inbox(request: Request,
                caller: Annotated[Caller, require(P.inbox_read)],
                recipient: Annotated[str | None, Query(
                    min_length=1, max_length=200,
                    description="officer id or applicant pseudonym; the caller's own by "
                    "default, anyone else's only with inbox:any")] = None,
                unread: bool = False,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """The in-app inbox of an officer (or an applicant's portal account), newest first.
    Someone else's holds only the items about the caller's agency tree, and the read is
    written in the audit trail."""
    rt: Runtime = request.app.state.runtime
    another = _another(caller, recipient)
    recipient = recipient if another and recipient else caller.user
    async with rt.sessions() as s:
        items = await repo.inbox(s, recipient, unread, limit,
                                 within=caller.agencies() if another else None)
    if another:
        await rt.audit.read(request, action="inbox.read", dossier_code=None,
                            target=recipient)
    return {"recipient": recipient, "items": [view(r) for r in items]}


@router.post("/inbox/{message_id}/read")
async def mark_read(message_id: str, request: Request,
                    caller: Annotated[Caller, require(P.inbox_read)]) -> dict[str, Any]:
    """Marks one's own inbox item read (again: no change), or with inbox:any another's about
    the caller's agency tree (audited); 404 for no such inbox item."""
    rt: Runtime = request.app.state.runtime
    message_id = message_id[:36]
    async with rt.transaction() as s:
        row = await repo.mark_read(s, message_id, rt.clock.now(), recipient=caller.user)
        if row is None and caller.may(P.inbox_any):
            row = await repo.mark_read(s, message_id, rt.clock.now(),
                                       within=caller.agencies())
            if row is not None:
                await rt.audit.record(s, request, actor=None, action="inbox.mark_read",
                                      dossier_code=row.dossier_code, target=row.recipient)
    if row is None:
        raise not_found(f"Không có thông báo {message_id} trong hộp thư",
                        f"no inbox item {message_id}", "message_id")
    return view(row)
