"""Composition of the processing service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from contracts.events import ApplicantRecorded, DossierDigitized, DossierReceived
from services.common.runtime import Runtime
from services.law.catalog import load_catalogs
from services.processing import tables
from services.processing.api import router
from services.processing.handlers import CaseOpener
from services.processing.settings import ProcessingSettings


def build(settings: Any = None) -> Runtime:
    settings = settings or ProcessingSettings()
    app = FastAPI(title="Processing — giải quyết hồ sơ", version="1.0.0")
    runtime = Runtime("processing", settings, tables.metadata, tables.runtime, app)
    opener = CaseOpener(load_catalogs(), runtime.outbox)
    runtime.handle({DossierReceived: opener.on_received, ApplicantRecorded: opener.on_applicant,
                    DossierDigitized: opener.on_digitized})
    app.state.cases = opener
    app.include_router(router)
    return runtime
