"""Notification's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.common.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["notification"])


@router.get("/dossiers/{code}/notifications")
async def notifications(code: str, request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        items = await request.app.state.notifier.list_for(s, code)
    return {"dossier_code": code, "items": items}
