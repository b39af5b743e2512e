"""Digitization's HTTP API: routes of a few lines over the use cases in handlers.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from contracts.common import Problem
from services.common.http import ApiError, not_found
from services.common.runtime import Runtime
from services.digitization.domain import AlreadyDone, NotFound

router = APIRouter(prefix="/api/v1", tags=["digitization"])


class DigitizedIn(BaseModel):
    document_ref: str | None = None


@router.post("/dossiers/{code}/components/{component}/digitized")
async def digitized(code: str, component: str, request: Request,
                    body: DigitizedIn | None = None) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    try:
        async with rt.transaction() as s:
            return await request.app.state.digitizer.mark_paper_digitized(
                s, code, component, body.document_ref if body else None)
    except NotFound as exc:
        raise not_found(f"Không tìm thấy {exc}", f"{exc} not found") from exc
    except AlreadyDone as exc:
        raise ApiError(409, [Problem.of("already_digitized", "Thành phần đã được số hóa",
                                        f"component {exc} is already digitized")]) from exc


class HeldIn(BaseModel):
    document_ref: str = Field(min_length=1, max_length=200)
    source: str = Field(default="national-database", min_length=1, max_length=64)


@router.get("/warehouse/documents")
async def lookup(request: Request,
                 applicant_ref: Annotated[str, Query(min_length=1, max_length=128)],
                 document_ref: Annotated[str, Query(min_length=1, max_length=200)],
                 ) -> dict[str, Any]:
    """Is this document held for this applicant? Intake asks before accepting a reuse. The
    references are query data, matched exactly: no path segment of them is ever resolved.
    The answer names both, so the asker can tell it is about the document it asked for."""
    rt: Runtime = request.app.state.runtime
    async with rt.sessions() as s:
        found = await request.app.state.digitizer.held(s, applicant_ref, document_ref)
    if found is None:
        raise not_found(f"Không tìm thấy tài liệu {document_ref}",
                        f"document {document_ref} not found", "document_ref")
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
        raise not_found(f"Không tìm thấy {exc}", f"{exc} not found") from exc
