"""Composition of the reporting service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from contracts.registry import EVENT_TYPES
from contracts.topics import topics_consumed_by
from services.common.runtime import Runtime
from services.reporting import tables
from services.reporting.api import router
from services.reporting.handlers import Projection
from services.reporting.settings import ReportingSettings


def build(settings: Any = None) -> Runtime:
    runtime = Runtime.create("reporting", settings or ReportingSettings(), tables,
                             "Reporting — báo cáo, giám sát", router)
    projection = Projection()
    # Every event of every topic it reads is stored as it came.
    runtime.handle({EVENT_TYPES[t]: projection.record for topic in topics_consumed_by("reporting")
                    for t in topic.events})
    runtime.app.state.projection = projection
    return runtime
