"""Composition of the reporting service: runtime, use cases, routes."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from fastapi.staticfiles import StaticFiles

from contracts.common import Contract
from contracts.events import DossierRated
from contracts.registry import EVENT_TYPES
from contracts.topics import REPORTS, topics_consumed_by
from services.common.clock import Clock
from services.common.messaging.consumer import Batched, Handler
from services.common.runtime import Runtime
from services.law.catalog import AgencyScope, load_catalogs
from services.product.roles import ROLE_PERMISSIONS
from services.reporting import tables
from services.reporting.api import router
from services.reporting.dashboard_api import STATIC
from services.reporting.dashboard_api import router as dashboard_router
from services.reporting.domain_metrics import ReportingMetrics
from services.reporting.handlers import Projection, QuarterClosing
from services.reporting.monitoring import BoardSettings, Monitor
from services.reporting.rubric import load_rubrics
from services.reporting.settings import ReportingSettings


def build(settings: Any = None, clock: Clock | None = None) -> Runtime:
    settings = settings or ReportingSettings()
    runtime = Runtime.create("reporting", settings, tables,
                             "Reporting — báo cáo, giám sát", router, clock,
                             grants=ROLE_PERMISSIONS)
    catalogs = load_catalogs(settings.catalog_dir)
    runtime.agency_tree(partial(AgencyScope.of, catalogs))
    projection = Projection(catalogs, scope=settings.scope_agency,
                            metrics=ReportingMetrics(runtime.metrics.registry))
    # Every event of every topic it reads is stored and folded, a whole batch at a time
    # (one Batched instance for every type, so a batch's records reach it together).
    apply = Batched(projection.apply)
    handlers: dict[type[Contract], Handler] = {
        EVENT_TYPES[t]: apply for topic in topics_consumed_by("reporting")
        if topic is not REPORTS for t in topic.events}
    # Its own topic: the ratings it took (its closed reports are not dossier events).
    handlers[DossierRated] = Batched(projection.apply_ratings)
    runtime.handle(handlers)
    runtime.app.state.projection = projection
    closing = QuarterClosing(runtime, projection,
                             timedelta(hours=settings.quarter_close_grace_hours))
    runtime.app.state.closing = closing
    runtime.periodic.append((settings.quarter_close_check_seconds, closing.run))
    # The national dashboard: its page and API, and the page's own files (no CDN).
    runtime.app.state.monitor = Monitor(projection, BoardSettings(
        near_due=timedelta(hours=settings.dashboard_near_due_hours),
        rate_days=settings.dashboard_rate_days, trend_days=settings.dashboard_trend_days,
        list_limit=settings.dashboard_list_limit,
        forecast_default_step_days=settings.forecast_default_step_days,
        forecast_margin=settings.forecast_margin), runtime.outbox,
        load_rubrics(settings.evaluation_rubric))
    runtime.app.include_router(dashboard_router)
    runtime.app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return runtime
