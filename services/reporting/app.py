"""Composition of the reporting service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from contracts.registry import EVENT_TYPES
from contracts.topics import topics_consumed_by
from services.common.runtime import Runtime
from services.reporting import tables
from services.reporting.api import router
from services.reporting.handlers import Projection
from services.reporting.settings import ReportingSettings


def build(settings: Any = None) -> Runtime:
    settings = settings or ReportingSettings()
    app = FastAPI(title="Reporting — báo cáo, giám sát", version="1.0.0")
    runtime = Runtime("reporting", settings, tables.metadata, tables.runtime, app)
    projection = Projection()
    # Every event of every topic it reads is stored as it came.
    runtime.handle({EVENT_TYPES[t]: projection.record for topic in topics_consumed_by("reporting")
                    for t in topic.events})
    app.state.projection = projection
    app.include_router(router)
    return runtime
