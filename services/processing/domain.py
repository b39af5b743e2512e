"""When a case opens, and at which step, without I/O. Intake's and digitization's topics
are not ordered with each other, so a case opens once both "received" and "digitized" are
known, whichever came first, at the first step of the procedure in the catalogue the dossier
was received under."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.catalog import StepSpec
from contracts.events import StepAssigned
from services.law.catalog import CatalogSet

WAITING = "waiting"
PROCESSING = "processing"


def ready_to_open(case: dict[str, Any]) -> bool:
    return case["status"] == WAITING and bool(case["received_at"]) and \
        bool(case["digitized_at"])


def first_step(catalogs: CatalogSet, case: dict[str, Any]) -> StepSpec:
    catalog = catalogs.version(case["catalog_version"] or "")
    procedure = catalog.procedure(case["procedure_code"])
    if procedure is None:
        raise LookupError(f"procedure {case['procedure_code']} not in the catalogue")
    return procedure.steps[0]


def step_assigned(case: dict[str, Any], step_no: int, step: StepSpec,
                  at: datetime) -> StepAssigned:
    return StepAssigned(dossier_code=case["code"], step_no=step_no, step_code=step.code,
                        department=step.department, assigned_at=at,
                        step_due_at=case["due_at"])
