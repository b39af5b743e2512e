"""Composition of the processing service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from contracts.events import (
    ApplicantRecorded,
    DossierDigitized,
    DossierReceived,
    DossierWithdrawn,
    SupplementReceived,
)
from services.common.runtime import Runtime
from services.law.catalog import load_catalogs
from services.processing import tables
from services.processing.api import router
from services.processing.handlers import Cases, IdempotencyKeys
from services.processing.settings import ProcessingSettings


def build(settings: Any = None) -> Runtime:
    runtime = Runtime.create("processing", settings or ProcessingSettings(), tables,
                             "Processing — giải quyết hồ sơ", router)
    cases = Cases(load_catalogs(), runtime.outbox)
    runtime.handle({DossierReceived: cases.on_received, ApplicantRecorded: cases.on_applicant,
                    DossierDigitized: cases.on_digitized,
                    SupplementReceived: cases.on_supplement,
                    DossierWithdrawn: cases.on_withdrawn})
    runtime.app.state.cases = cases
    runtime.app.state.idempotency = IdempotencyKeys(cases.repo)
    return runtime
