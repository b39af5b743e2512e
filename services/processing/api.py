"""Processing's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.common.http import not_found
from services.common.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["processing"])


@router.get("/cases/{code}")
async def case(code: str, request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        found = await request.app.state.cases.view(s, code)
    if found is None:
        raise not_found(f"Không tìm thấy hồ sơ {code}", f"no case {code}")
    return found
