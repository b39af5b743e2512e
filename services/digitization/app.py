"""Composition of the digitization service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from contracts.events import DossierReceived
from services.common.runtime import Runtime
from services.digitization import tables
from services.digitization.api import router
from services.digitization.handlers import Digitizer
from services.digitization.settings import DigitizationSettings


def build(settings: Any = None) -> Runtime:
    settings = settings or DigitizationSettings()
    app = FastAPI(title="Digitization — số hóa hồ sơ", version="1.0.0")
    runtime = Runtime("digitization", settings, tables.metadata, tables.runtime, app)
    digitizer = Digitizer(runtime.outbox)
    runtime.handle({DossierReceived: digitizer.on_received})
    app.state.digitizer = digitizer
    app.include_router(router)
    return runtime
