"""Composition of the processing service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from contracts.events import ApplicantRecorded, DossierDigitized, DossierReceived
from services.common.runtime import Runtime
from services.law.catalog import load_catalogs
from services.processing import tables
from services.processing.api import router
from services.processing.handlers import CaseOpener
from services.processing.settings import ProcessingSettings


def build(settings: Any = None) -> Runtime:
    runtime = Runtime.create("processing", settings or ProcessingSettings(), tables,
                             "Processing — giải quyết hồ sơ", router)
    opener = CaseOpener(load_catalogs(), runtime.outbox)
    runtime.handle({DossierReceived: opener.on_received, ApplicantRecorded: opener.on_applicant,
                    DossierDigitized: opener.on_digitized})
    runtime.app.state.cases = opener
    return runtime
