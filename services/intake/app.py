"""Wiring of the intake service."""

from __future__ import annotations

from fastapi import FastAPI

from contracts import topics
from contracts.ingest import ProvinceDossierStatus
from services.common.catalog import load_catalogs
from services.common.consumer import Subscription
from services.common.runtime import Runtime
from services.common.workdays import WorkCalendar
from services.intake import tables
from services.intake.api import router
from services.intake.ingest import IngestHandler, load_systems
from services.intake.lifecycle import Lifecycle
from services.intake.receiving import Receiver
from services.intake.settings import IntakeSettings
from services.intake.warehouse import warehouse_from


def build(settings: IntakeSettings | None = None) -> Runtime:
    settings = settings or IntakeSettings()
    app = FastAPI(title="Intake — tiếp nhận hồ sơ", version="1.0.0")
    ingest = Subscription(topics.INGEST)
    runtime = Runtime("intake", settings, tables.metadata, tables.runtime, app, [ingest])
    catalogs = load_catalogs(settings.catalog_dir)
    warehouse = warehouse_from(settings.warehouse_url)
    receiver = Receiver(catalogs, WorkCalendar(catalogs.calendar_rules()), runtime.outbox,
                        settings.pseudonym_key.get_secret_value(),
                        reuse_verified=warehouse.checks)
    lifecycle = Lifecycle(receiver)
    systems = load_systems(settings.province_systems_file)
    ingest.on(ProvinceDossierStatus)(IngestHandler(receiver, lifecycle, systems))
    app.state.receiver = receiver
    app.state.lifecycle = lifecycle
    app.state.warehouse = warehouse
    app.include_router(router)
    return runtime
