"""Wiring and HTTP API of the processing service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import select

from contracts.events import ApplicantRecorded, DossierDigitized, DossierReceived
from services.common.http import not_found
from services.common.runtime import Runtime
from services.law.catalog import load_catalogs
from services.processing import tables
from services.processing.cases import CaseOpener
from services.processing.settings import ProcessingSettings

router = APIRouter(prefix="/api/v1", tags=["processing"])


@router.get("/cases/{code}")
async def case(code: str, request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        row = (await s.execute(select(tables.cases).where(tables.cases.c.code == code))
               ).mappings().first()
        steps = (await s.execute(select(tables.steps).where(tables.steps.c.dossier_code == code)
                                 .order_by(tables.steps.c.step_no))).mappings().all()
    if row is None:
        raise not_found(f"Không tìm thấy hồ sơ {code}", f"no case {code}")
    return {"dossier_code": code, "status": row["status"], "current_step": row["current_step"],
            "steps": [{"step_no": s["step_no"], "step_code": s["step_code"],
                       "department": s["department"]} for s in steps]}


def build(settings: Any = None) -> Runtime:
    settings = settings or ProcessingSettings()
    app = FastAPI(title="Processing — giải quyết hồ sơ", version="1.0.0")
    runtime = Runtime("processing", settings, tables.metadata, tables.runtime, app)
    opener = CaseOpener(load_catalogs(), runtime.outbox)
    runtime.handle({DossierReceived: opener.on_received, ApplicantRecorded: opener.on_applicant,
                    DossierDigitized: opener.on_digitized})
    app.include_router(router)
    return runtime
