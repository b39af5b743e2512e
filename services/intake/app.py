"""Wiring of the intake service: composition only."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from contracts import topics
from contracts.events import SupplementRequested
from contracts.ingest import ProvinceDossierStatus
from services.common.http.idempotency import IdempotencyKeys
from services.common.http.ratelimit import RateLimit
from services.common.messaging.consumer import Batched, Verify
from services.common.runtime import Runtime
from services.intake import citizen, tables
from services.intake.api import router
from services.intake.counter import Counter
from services.intake.domain_metrics import IntakeMetrics
from services.intake.handlers import Intake
from services.intake.ingest import IngestHandler, SignatureCheck, load_systems
from services.intake.repository import IntakeRepository
from services.intake.settings import IntakeSettings
from services.intake.warehouse import warehouse_from
from services.law.catalog import AgencyScope, load_catalogs
from services.law.workdays import WorkCalendar
from services.product.roles import ROLE_PERMISSIONS


def build(settings: IntakeSettings | None = None) -> Runtime:
    settings = settings or IntakeSettings()
    app = FastAPI(title="Intake — tiếp nhận hồ sơ", version="1.0.0")
    runtime = Runtime("intake", settings, tables.metadata, tables.runtime, app,
                      grants=ROLE_PERMISSIONS)
    catalogs = load_catalogs(settings.catalog_dir)
    runtime.agency_tree(partial(AgencyScope.of, catalogs))
    warehouse = warehouse_from(settings.warehouse_url, settings.service_api_key.get_secret_value())
    repository = IntakeRepository()
    intake = Intake(catalogs, WorkCalendar(catalogs.calendar_rules()), runtime.outbox,
                    settings.pseudonym_key.get_secret_value(),
                    reuse_verified=warehouse.checks, repository=repository,
                    metrics=IntakeMetrics(runtime.metrics.registry))
    systems = load_systems(settings.province_systems_file)
    handler = IngestHandler(intake, systems)
    verifiers: dict[str, Verify] = {}
    if settings.ingest_authentication == "hmac":  # "sasl": the broker knows the writer
        verifiers[topics.INGEST.name] = SignatureCheck(
            settings.province_key_map(list(systems)), runtime.clock, runtime.metrics.registry,
            settings.ingest_signature_max_age_seconds,
            settings.ingest_signature_max_skew_seconds)
    # Every refused province record is answered on the feedback topic.
    runtime.handle({ProvinceDossierStatus: Batched(handler.batch),
                    SupplementRequested: Batched(intake.on_processing_supplements)},
                   answers={topics.INGEST.name: handler.answer}, verifiers=verifiers)
    # And every one taken in, batch by batch: a province resends what heard nothing.
    runtime.subscriptions = [replace(sub, acknowledge=handler.acknowledge)
                             if sub.topic == topics.INGEST else sub
                             for sub in runtime.subscriptions]
    expiry = timedelta(hours=settings.parked_expiry_hours)

    async def expire_parked_events() -> None:
        async with runtime.transaction() as s:
            await handler.expire_parked(s, expiry)

    runtime.periodic.append((settings.parked_check_seconds, expire_parked_events))
    # `receiver` is the name tests and tools have reached the use cases by.
    app.state.intake = intake
    app.state.ingest = handler
    app.state.counter = Counter(runtime, intake, warehouse, IdempotencyKeys(repository))
    app.state.public_lookups = RateLimit(settings.public_lookups_per_minute)
    app.state.citizen = citizen.Sources.from_settings(settings)
    app.include_router(router)
    return runtime
