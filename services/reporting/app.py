"""Wiring and HTTP API of the reporting service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request

from contracts.registry import EVENT_TYPES
from contracts.topics import topics_consumed_by
from services.common.http import not_found
from services.common.runtime import Runtime
from services.reporting import projection, tables
from services.reporting.settings import ReportingSettings

router = APIRouter(prefix="/api/v1", tags=["reporting"])
INPUTS = topics_consumed_by("reporting")


@router.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        return await projection.stats(s)


@router.get("/dossiers/{code}/trace")
async def trace(code: str, request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        events = await projection.trace(s, code)
    if not events:
        raise not_found(f"Chưa có sự kiện nào của hồ sơ {code}",
                        f"no events for dossier {code}")
    return {"dossier_code": code, "events": events}


def build(settings: Any = None) -> Runtime:
    settings = settings or ReportingSettings()
    app = FastAPI(title="Reporting — báo cáo, giám sát", version="1.0.0")
    runtime = Runtime("reporting", settings, tables.metadata, tables.runtime, app)
    # Every event of every topic it reads is stored as it came.
    runtime.handle({EVENT_TYPES[t]: projection.record for topic in INPUTS
                    for t in topic.events})
    app.include_router(router)
    return runtime
