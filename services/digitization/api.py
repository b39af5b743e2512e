"""Digitization's HTTP API: routes of a few lines over the use cases in handlers.py and
documents.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from contracts.common import Problem
from services.common.auth import Caller, require
from services.common.auth import Permission as P
from services.common.http import ApiError, Problems, not_found
from services.common.runtime import Runtime
from services.digitization.documents import Documents, UnknownOfficer
from services.digitization.domain import AlreadyDone, NotFound
from services.digitization.handlers import Digitizer
from services.digitization.pages import BadScan
from services.digitization.uploads import read_pages

router = APIRouter(prefix="/api/v1", tags=["digitization"])
DocumentId = Annotated[str, Path(pattern=r"^doc-[0-9a-f]{16}$")]
SIGN_REASON = "Số hóa thành phần hồ sơ (Quyết định 1333/QĐ-BHXH)"
# Documented here since the routes read their bodies themselves (streamed, size-capped).
UNSUPPORTED = {415: {"model": Problems, "description": "not an image or PDF, judged by "
                     "its content"}}
_BINARY = {"type": "string", "format": "binary"}
SCAN_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {
        "pages": {"type": "array", "items": _BINARY,
                  "description": "page images (PNG, JPEG, TIFF) in order, or one PDF"},
        "officer": {"type": "string", "description": "who signs (an officer id of the keys)"}},
    "required": ["pages"]}}}}}
# The bytes are judged by their content, whichever type is declared.
PDF_BODY = {"requestBody": {"required": True, "content": {
    "application/pdf": {"schema": _BINARY}, "application/octet-stream": {"schema": _BINARY}}}}


def _parts(request: Request) -> tuple[Runtime, Digitizer, Documents]:
    state = request.app.state
    return state.runtime, state.digitizer, state.documents


def _not_found(exc: NotFound) -> ApiError:
    return not_found(f"Không tìm thấy {exc}", f"{exc} not found")


async def _in_scope(request: Request, caller: Caller, code: str) -> None:
    """Another tree's dossier is answered as not found (codes are guessable)."""
    rt, digitizer, _ = _parts(request)
    async with rt.sessions() as s:
        dossier = await digitizer.repo.dossier(s, code)
    if dossier is not None and not caller.sees(dossier["agency_code"]):
        raise _not_found(NotFound(code))


def _public(request: Request) -> None:
    # Verification is for anyone holding a copy, without an account: limited per client.
    request.app.state.public_verifications.take(
        request.client.host if request.client else "-")


Digitizing = Annotated[Caller, require(P.document_digitize)]


def _already(exc: AlreadyDone) -> ApiError:
    return ApiError(409, [Problem.of("already_digitized", "Thành phần đã được số hóa",
                                     f"component {exc} is already digitized")])


def _unknown_officer(exc: UnknownOfficer) -> ApiError:
    return ApiError(422, [Problem.of("unknown_officer",
                                     f"Không có chứng thư số của viên chức {exc}",
                                     f"no signing key for officer {exc}", "officer")])


def _bad_scan(exc: BadScan) -> ApiError:
    return ApiError(422, [Problem.of("unreadable_file", "Không đọc được tệp đã tải lên",
                                     exc.reason, f"pages[{exc.index}]")])


@router.post("/dossiers/{code}/components/{component}/scan", status_code=201,
             responses=UNSUPPORTED, openapi_extra=SCAN_BODY)
async def scan(code: str, component: str, request: Request,
               caller: Digitizing) -> dict[str, Any]:
    """Page images (PNG, JPEG, TIFF) or one PDF, as multipart file parts (any field name;
    `officer` names the signing key): one signed PDF for the component."""
    rt, digitizer, documents = _parts(request)
    settings: Any = rt.settings
    await _in_scope(request, caller, code)
    try:
        async with rt.sessions() as s:  # refused before a byte of the body is read
            await digitizer.open_component(s, code, component)
            declared = await digitizer.declared(s, code)  # the scan is checked against it
        files, fields = await read_pages(request, settings.scan_max_files)
        officer = fields.get("officer") or settings.default_officer
        made = await documents.make(files, officer, "component", SIGN_REASON, component,
                                    rt.clock.now())
        extra = await documents.extract(made.pdf, component, declared)
        async with rt.transaction() as s:
            done = await digitizer.record_scan(s, code, component, made.row, extra)
            await rt.audit.record(s, request, actor=None, action="component.scan",
                                  dossier_code=code, target=component)
        return done
    except NotFound as exc:
        raise _not_found(exc) from exc
    except AlreadyDone as exc:
        raise _already(exc) from exc
    except UnknownOfficer as exc:
        raise _unknown_officer(exc) from exc
    except BadScan as exc:
        raise _bad_scan(exc) from exc


class DigitizedIn(BaseModel):
    document_ref: str | None = Field(default=None, max_length=200)


@router.post("/dossiers/{code}/components/{component}/digitized")
async def digitized(code: str, component: str, request: Request, caller: Digitizing,
                    body: DigitizedIn | None = None) -> dict[str, Any]:
    """Scanned elsewhere: the document is given by reference."""
    rt, digitizer, _ = _parts(request)
    await _in_scope(request, caller, code)
    try:
        async with rt.transaction() as s:
            done = await digitizer.mark_paper_digitized(
                s, code, component, body.document_ref if body else None)
            await rt.audit.record(s, request, actor=None, action="component.digitized",
                                  dossier_code=code, target=component)
        return done
    except NotFound as exc:
        raise _not_found(exc) from exc
    except AlreadyDone as exc:
        raise _already(exc) from exc


class NotDigitizedIn(BaseModel):
    decided_by: str = Field(min_length=1, max_length=200,
                            description="the office leader who decided")
    decision: str = Field(min_length=1, max_length=2000,
                          description="why: e.g. a fragile original at risk in the scanner")


@router.post("/dossiers/{code}/components/{component}/not-digitized")
async def not_digitized(code: str, component: str, body: NotDigitizedIn,
                        request: Request, caller: Digitizing) -> dict[str, Any]:
    """The leader's decision not to digitize a fragile original (Decision 1333, 3(1)),
    recorded at the counter by the officer the token names."""
    rt, digitizer, _ = _parts(request)
    await _in_scope(request, caller, code)
    try:
        async with rt.transaction() as s:
            done = await digitizer.not_digitized(s, code, component, body.decided_by,
                                                 body.decision)
            await rt.audit.record(s, request, actor=None,
                                  action="component.not_digitized", dossier_code=code,
                                  target=component)
        return done
    except NotFound as exc:
        raise _not_found(exc) from exc
    except AlreadyDone as exc:
        raise _already(exc) from exc


@router.post("/sign", status_code=201, responses=UNSUPPORTED, openapi_extra=PDF_BODY,
             dependencies=[require(P.document_sign)])
async def sign(request: Request,
               officer: Annotated[str | None, Query(max_length=64)] = None,
               document_type: Annotated[str | None, Query(max_length=64)] = None,
               ) -> dict[str, Any]:
    """Sign a PDF (the request body, `application/pdf`) for another service, e.g. a
    result: the keys stay here. Answers the document's id and its verification link."""
    rt, digitizer, documents = _parts(request)
    settings: Any = rt.settings
    pdf = await request.body()
    if not pdf.startswith(b"%PDF-"):
        raise ApiError(415, [Problem.of("not_pdf", "Nội dung không phải tệp PDF",
                                        "the body is not a PDF (judged by its content)",
                                        "body")])
    try:
        made = await documents.make([pdf], officer or settings.result_officer, "signed",
                                    "Ký số kết quả giải quyết TTHC", document_type,
                                    rt.clock.now())
    except UnknownOfficer as exc:
        raise _unknown_officer(exc) from exc
    except BadScan as exc:
        raise _bad_scan(exc) from exc
    async with rt.transaction() as s:
        await digitizer.record_file(s, made.row)
        await rt.audit.record(s, request, actor=officer or settings.result_officer,
                              action="document.sign", target=made.row["id"])
    row = made.row
    return {"document_id": row["id"], "sha256": row["sha256"], "pages": row["pages"],
            "size": row["size"], "signer": row["signer"],
            "signed_at": row["signed_at"].isoformat(),
            "url": f"{settings.public_url}/api/v1/documents/{row['id']}",
            "verification_url": f"{settings.public_url}/api/v1/documents/{row['id']}/verify"}


async def _file(request: Request, document_id: str) -> dict[str, Any]:
    rt, digitizer, _ = _parts(request)
    async with rt.sessions() as s:
        row = await digitizer.file(s, document_id)
    if row is None:
        raise not_found(f"Không tìm thấy tài liệu {document_id}",
                        f"document {document_id} not found", "document_id")
    return row


@router.get("/documents/{document_id}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}},
            dependencies=[require(P.document_read)])
async def document(document_id: DocumentId, request: Request) -> Response:
    row = await _file(request, document_id)
    # A scanned component is the applicant's own papers: a read to record.
    await request.app.state.runtime.audit.read(request, action="read.document",
                                               dossier_code=None, target=document_id)
    pdf = await request.app.state.documents.content(row)
    if pdf is None:
        raise not_found("Tệp của tài liệu không còn trong kho lưu trữ",
                        "the document's bytes are missing from storage", "document_id")
    return Response(pdf, media_type="application/pdf", headers={
        "ETag": f'"{row["sha256"]}"',
        "Content-Disposition": f'inline; filename="{document_id}.pdf"'})


@router.get("/documents/{document_id}/verify")
async def verify(document_id: DocumentId, request: Request) -> dict[str, Any]:
    """Anyone can check a document (the link printed on it): valid, who signed, when, and
    whether its bytes are the bytes signed. Public, rate-limited per client."""
    _public(request)
    row = await _file(request, document_id)
    return await request.app.state.documents.verify_stored(row)


@router.post("/documents/verify", openapi_extra=PDF_BODY)
async def verify_upload(request: Request) -> dict[str, Any]:
    """Check a PDF one holds (the request body): the same verdict, for any copy. Public,
    rate-limited per client."""
    _public(request)
    pdf = await request.body()
    if not pdf:
        raise ApiError(422, [Problem.of("empty_body", "Chưa gửi tệp PDF",
                                        "no PDF in the body", "body")])
    verdict = await request.app.state.documents.verify_bytes(pdf)
    return verdict.as_dict()


class HeldIn(BaseModel):
    document_ref: str = Field(min_length=1, max_length=200)
    source: str = Field(default="national-database", min_length=1, max_length=64)


@router.get("/warehouse/documents", dependencies=[require(P.warehouse_read)])
async def lookup(request: Request,
                 applicant_ref: Annotated[str, Query(min_length=1, max_length=128)],
                 document_ref: Annotated[str, Query(min_length=1, max_length=200)],
                 ) -> dict[str, Any]:
    """Is this document held for this applicant? Intake asks before accepting a reuse. The
    references are query data, matched exactly: no path segment of them is ever resolved.
    The answer names both, so the asker can tell it is about the document it asked for."""
    rt, digitizer, _ = _parts(request)
    async with rt.sessions() as s:
        found = await digitizer.held(s, applicant_ref, document_ref)
    if found is None:
        raise not_found(f"Không tìm thấy tài liệu {document_ref}",
                        f"document {document_ref} not found", "document_ref")
    return found


@router.get("/warehouse/{applicant_ref}/documents", dependencies=[require(P.warehouse_read)])
async def warehouse(applicant_ref: Annotated[str, Path(min_length=1, max_length=128)],
                    request: Request) -> dict[str, Any]:
    """The applicant's data warehouse (kho dữ liệu): every document held, signed files with
    their validity, results, and the dossiers that reused each."""
    rt, digitizer, documents = _parts(request)
    async with rt.sessions() as s:
        rows = await digitizer.warehouse(s, applicant_ref)
    return {"applicant_ref": applicant_ref,
            "documents": [await _listed(documents, r) for r in rows]}


async def _listed(documents: Documents, r: dict[str, Any]) -> dict[str, Any]:
    held_here = r["sha256"] is not None
    verdict = (await documents.verify_stored({"id": r["document_ref"], **r})
               if held_here else None)
    return {"document_ref": r["document_ref"], "document_type": r["document_type"],
            "source": r["source"], "dossier_code": r["dossier_code"],
            "component_code": r["component_code"], "stored_at": r["stored_at"].isoformat(),
            "signed_file": held_here, "pages": r["pages"], "signer": r["signer"],
            "signed_at": r["signed_at"].isoformat() if r["signed_at"] else None,
            "valid": verdict["valid"] if verdict else None,
            "validity": verdict["reason"] if verdict else "not held as a file here",
            "reused_in": r["reused_in"]}


@router.post("/warehouse/{applicant_ref}/documents", status_code=201,
             dependencies=[require(P.warehouse_write)])
async def hold(applicant_ref: str, body: HeldIn, request: Request) -> dict[str, Any]:
    rt, digitizer, _ = _parts(request)
    async with rt.transaction() as s:
        await digitizer.hold(s, applicant_ref, body.document_ref, body.source)
    return {"applicant_ref": applicant_ref, "document_ref": body.document_ref}


@router.get("/dossiers/{code}")
async def view(code: str, request: Request,
               caller: Annotated[Caller, require(P.dossier_read)]) -> dict[str, Any]:
    rt, digitizer, _ = _parts(request)
    await _in_scope(request, caller, code)
    try:
        async with rt.sessions() as s:
            return await digitizer.view(s, code)
    except NotFound as exc:
        raise _not_found(exc) from exc
