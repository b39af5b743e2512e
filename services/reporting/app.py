"""Wiring and HTTP API of the reporting service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request

from contracts import topics
from contracts.registry import EVENT_TYPES
from services.common.consumer import Subscription
from services.common.http import ApiError, problem
from services.common.runtime import Runtime
from services.reporting import projection, tables
from services.reporting.settings import ReportingSettings

router = APIRouter(prefix="/api/v1", tags=["reporting"])
INPUTS = (topics.INTAKE, topics.PROVINCIAL, topics.DIGITIZATION, topics.PROCESSING,
          topics.NOTIFICATION)


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
        raise ApiError(404, [problem("not_found", f"Chưa có sự kiện nào của hồ sơ {code}",
                                     f"no events for dossier {code}")])
    return {"dossier_code": code, "events": events}


def build(settings: Any = None) -> Runtime:
    settings = settings or ReportingSettings()
    app = FastAPI(title="Reporting — báo cáo, giám sát", version="1.0.0")
    subscriptions = []
    for topic in INPUTS:
        sub = Subscription(topic)
        for event_type in topic.events:
            sub.on(EVENT_TYPES[event_type])(projection.record)
        subscriptions.append(sub)
    runtime = Runtime("reporting", settings, tables.metadata, tables.runtime, app,
                      subscriptions)
    app.include_router(router)
    return runtime
