"""Composition of the digitization service: runtime, use cases, routes."""

from __future__ import annotations

from typing import Any

from contracts.events import DossierReceived
from services.common.runtime import Runtime
from services.digitization import tables
from services.digitization.api import router
from services.digitization.handlers import Digitizer
from services.digitization.settings import DigitizationSettings


def build(settings: Any = None) -> Runtime:
    runtime = Runtime.create("digitization", settings or DigitizationSettings(), tables,
                             "Digitization — số hóa hồ sơ", router)
    digitizer = Digitizer(runtime.outbox)
    runtime.handle({DossierReceived: digitizer.on_received})
    runtime.app.state.digitizer = digitizer
    return runtime
