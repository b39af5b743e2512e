"""Reporting's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.common.http import not_found
from services.common.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["reporting"])


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        return await request.app.state.projection.stats(s)


@router.get("/dossiers/{code}/trace")
async def trace(code: str, request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        events = await request.app.state.projection.trace(s, code)
    if not events:
        raise not_found(f"Chưa có sự kiện nào của hồ sơ {code}",
                        f"no events for dossier {code}")
    return {"dossier_code": code, "events": events}
