"""Wiring and HTTP API of the digitization service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from contracts import topics
from contracts.events import DossierReceived
from services.common.consumer import Subscription
from services.common.http import ApiError, problem
from services.common.runtime import Runtime
from services.common.service_settings import DigitizationSettings
from services.digitization import tables
from services.digitization.work import AlreadyDone, Digitizer, NotFound

router = APIRouter(prefix="/api/v1", tags=["digitization"])


class DigitizedIn(BaseModel):
    document_ref: str | None = None


def _not_found(what: str) -> ApiError:
    return ApiError(404, [problem("not_found", f"Không tìm thấy {what}", f"{what} not found")])


@router.post("/dossiers/{code}/components/{component}/digitized")
async def digitized(code: str, component: str, request: Request,
                    body: DigitizedIn | None = None) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    try:
        async with rt.transaction() as s:
            return await request.app.state.digitizer.mark_paper_digitized(
                s, code, component, body.document_ref if body else None)
    except NotFound as exc:
        raise _not_found(str(exc)) from exc
    except AlreadyDone as exc:
        raise ApiError(409, [problem("already_digitized", "Thành phần đã được số hóa",
                                     f"component {exc} is already digitized")]) from exc


class HeldIn(BaseModel):
    document_ref: str = Field(min_length=1, max_length=200)
    source: str = Field(default="national-database", min_length=1, max_length=64)


@router.get("/warehouse/{applicant_ref}/documents/{document_ref:path}")
async def held(applicant_ref: str, document_ref: str, request: Request) -> dict[str, Any]:
    """Is this document held for this applicant? Intake asks before accepting a reuse."""
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        found = await request.app.state.digitizer.held(s, applicant_ref, document_ref)
    if found is None:
        raise _not_found(f"tài liệu {document_ref}")
    return found


@router.post("/warehouse/{applicant_ref}/documents", status_code=201)
async def hold(applicant_ref: str, body: HeldIn, request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    async with rt.transaction() as s:
        await request.app.state.digitizer.hold(s, applicant_ref, body.document_ref, body.source)
    return {"applicant_ref": applicant_ref, "document_ref": body.document_ref}


@router.get("/dossiers/{code}")
async def view(code: str, request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    try:
        async with rt.sessions() as s:
            return await request.app.state.digitizer.view(s, code)
    except NotFound as exc:
        raise _not_found(str(exc)) from exc


def build(settings: Any = None) -> Runtime:
    settings = settings or DigitizationSettings()
    app = FastAPI(title="Digitization — số hóa hồ sơ", version="1.0.0")
    intake = Subscription(topics.INTAKE)
    runtime = Runtime("digitization", settings, tables.metadata, tables.runtime, app, [intake])
    digitizer = Digitizer(runtime.outbox)
    intake.on(DossierReceived)(digitizer.on_received)
    app.state.digitizer = digitizer
    app.include_router(router)
    return runtime
