"""Wiring of the intake service."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from contracts import topics
from contracts.ingest import ProvinceDossierStatus
from services.common.runtime import Runtime
from services.intake import tables
from services.intake.api import router
from services.intake.ingest import IngestHandler, load_systems
from services.intake.lifecycle import Lifecycle
from services.intake.receiving import Receiver
from services.intake.settings import IntakeSettings
from services.intake.warehouse import warehouse_from
from services.law.catalog import load_catalogs
from services.law.workdays import WorkCalendar


def build(settings: IntakeSettings | None = None) -> Runtime:
    settings = settings or IntakeSettings()
    app = FastAPI(title="Intake — tiếp nhận hồ sơ", version="1.0.0")
    runtime = Runtime("intake", settings, tables.metadata, tables.runtime, app)
    catalogs = load_catalogs(settings.catalog_dir)
    warehouse = warehouse_from(settings.warehouse_url)
    receiver = Receiver(catalogs, WorkCalendar(catalogs.calendar_rules()), runtime.outbox,
                        settings.pseudonym_key.get_secret_value(),
                        reuse_verified=warehouse.checks)
    lifecycle = Lifecycle(receiver)
    systems = load_systems(settings.province_systems_file)
    handler = IngestHandler(receiver, lifecycle, systems)
    # Every refused province record is answered on the feedback topic.
    runtime.handle({ProvinceDossierStatus: handler}, answers={topics.INGEST.name: handler.answer})
    expiry = timedelta(hours=settings.parked_expiry_hours)

    async def expire_parked_events() -> None:
        async with runtime.transaction() as s:
            await handler.expire_parked(s, expiry)

    runtime.periodic.append((settings.parked_check_seconds, expire_parked_events))
    app.state.receiver = receiver
    app.state.lifecycle = lifecycle
    app.state.warehouse = warehouse
    app.include_router(router)
    return runtime
