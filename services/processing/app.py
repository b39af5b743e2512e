"""Composition of the processing service: runtime, use cases, routes."""

from __future__ import annotations

from functools import partial
from typing import Any

from contracts.events import (
    ApplicantRecorded,
    DossierDigitized,
    DossierReceived,
    DossierWithdrawn,
    SupplementReceived,
    SupplementRequested,
)
from services.common.clock import Clock
from services.common.http.idempotency import IdempotencyKeys
from services.common.messaging.consumer import Batched
from services.common.runtime import Runtime
from services.law.catalog import AgencyScope, load_catalogs
from services.processing import portal_sync, tables
from services.processing.api import router
from services.processing.case_documents import CaseDocuments
from services.processing.case_events import PROVINCE_EVENTS, CaseEvents
from services.processing.case_reads import CaseReads
from services.processing.case_records import CaseLaw, CaseRecorder
from services.processing.deadline_monitor import DeadlineMonitor
from services.processing.domain import AlertPolicy
from services.processing.domain_metrics import CaseGauges
from services.processing.officer_actions import OfficerActions
from services.processing.officer_writes import OfficerWrites
from services.processing.overdue import ApologyPolicy
from services.processing.result_signer import HttpSigner
from services.processing.settings import ProcessingSettings
from services.product.roles import ROLE_PERMISSIONS


def build(settings: Any = None, clock: Clock | None = None) -> Runtime:
    settings = settings or ProcessingSettings()
    runtime = Runtime.create("processing", settings, tables,
                             "Processing — giải quyết hồ sơ", router, clock,
                             grants=ROLE_PERMISSIONS)
    catalogs = load_catalogs()
    runtime.agency_tree(partial(AgencyScope.of, catalogs))
    law = CaseLaw(catalogs)
    recorder = CaseRecorder(law, runtime.outbox, alerts=AlertPolicy(
        settings.alert_near_days, settings.alert_used_share))
    repo = recorder.repo
    recorder.portal = portal_sync.install(runtime, settings)
    cases = CaseEvents(recorder)
    deadlines = DeadlineMonitor(recorder)
    documents = CaseDocuments(
        law, repo, HttpSigner(settings.sign_url, settings.sign_timeout_seconds,
                              api_key=settings.service_api_key.get_secret_value())
        if settings.sign_url else None)
    actions = OfficerActions(recorder, ApologyPolicy(settings.apology_days_before,
                                                     settings.apology_max_per_dossier),
                             verify_url=settings.verify_url,
                             supplement_within_days=settings.supplement_within_days)
    batch = Batched(cases.apply_batch)
    # Not ComponentDigitized: DossierDigitized carries what OCR flagged, and a type with no
    # handler is passed over by its header, unparsed.
    runtime.handle(dict.fromkeys((DossierReceived, ApplicantRecorded, DossierDigitized,
                                  SupplementRequested, SupplementReceived, DossierWithdrawn,
                                  *PROVINCE_EVENTS, *recorder.portal.events), batch))

    scheduled_old_cases = False

    async def watch_deadlines() -> None:
        nonlocal scheduled_old_cases
        while not scheduled_old_cases:  # once per start-up: cases older than the monitor
            async with runtime.transaction() as s:
                taken = await deadlines.schedule_unscheduled(s, settings.monitor_batch)
            scheduled_old_cases = taken < settings.monitor_batch
        # Batches until none is full: a backlog (after downtime) drains in one tick.
        while True:
            async with runtime.transaction() as s:
                taken = await deadlines.monitor(s, settings.monitor_batch)
            if taken < settings.monitor_batch:
                return

    runtime.periodic.append((settings.monitor_seconds, watch_deadlines))
    gauges = CaseGauges(runtime.metrics.registry, runtime.sessions, repo)
    runtime.periodic.append((settings.metrics_refresh_seconds, gauges.refresh))
    runtime.app.state.case_gauges = gauges
    runtime.app.state.cases = cases
    runtime.app.state.monitor = watch_deadlines
    keys = IdempotencyKeys(repo)
    runtime.app.state.idempotency = keys
    runtime.app.state.writes = OfficerWrites(runtime, actions, documents, keys)
    runtime.app.state.reads = CaseReads(runtime, law, repo, documents)
    return runtime
