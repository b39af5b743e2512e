"""Digitization's HTTP API: routes that parse, authorize, call one use case of desk.py and
render its answer; every refusal is a domain error, answered once by the HTTP edge."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from contracts.common import Problem
from services.common.http.auth import Caller, acting, check_agency, require
from services.common.http.edge import ApiError, Problems
from services.digitization.desk import Desk
from services.digitization.uploads import read_pages
from services.product.roles import Permission as P

router = APIRouter(prefix="/api/v1", tags=["digitization"])
DocumentId = Annotated[str, Path(pattern=r"^doc-[0-9a-f]{16}$")]
# Documented here since the routes read their bodies themselves (streamed, size-capped).
UNSUPPORTED = {415: {"model": Problems, "description": "not an image or PDF, judged by "
                     "its content"}}
_BINARY = {"type": "string", "format": "binary"}
SCAN_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "properties": {
        "pages": {"type": "array", "items": _BINARY,
                  "description": "page images (PNG, JPEG, TIFF) in order, or one PDF"},
        "officer": {"type": "string", "description": "optional, and only the caller: the "
                    "key is the token's (another name is refused, officer_not_caller)"}},
    "required": ["pages"]}}}}}
# The bytes are judged by their content, whichever type is declared.
PDF_BODY = {"requestBody": {"required": True, "content": {
    "application/pdf": {"schema": _BINARY}, "application/octet-stream": {"schema": _BINARY}}}}


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _public(request: Request) -> None:
    # Verification is for anyone holding a copy, without an account: limited per client.
    request.app.state.public_verifications.take(
        request.client.host if request.client else "-")


Digitizing = Annotated[Caller, require(P.document_digitize)]


@router.post("/dossiers/{code}/components/{component}/scan", status_code=201,
             responses=UNSUPPORTED, openapi_extra=SCAN_BODY)
async def scan(code: str, component: str, request: Request,
               caller: Digitizing) -> dict[str, Any]:
    """Page images (PNG, JPEG, TIFF) or one PDF, as multipart file parts (any field name):
    one PDF for the component, signed with the key of the token's officer (or their
    office's seal, DIGITIZATION_SCAN_SIGNED_BY)."""
    settings: Any = request.app.state.runtime.settings

    async def pages() -> list[bytes]:
        files, fields = await read_pages(request, settings.image_limits)
        acting(caller, fields.get("officer"))  # the key is the token's, never the form's
        return files

    return await _desk(request).scan(request, caller, code, component, pages)


class DigitizedIn(BaseModel):
    document_ref: str | None = Field(default=None, max_length=200)


@router.post("/dossiers/{code}/components/{component}/digitized")
async def digitized(code: str, component: str, request: Request, caller: Digitizing,
                    body: DigitizedIn | None = None) -> dict[str, Any]:
    """Scanned elsewhere: the document is given by reference."""
    return await _desk(request).digitized(request, caller, code, component,
                                          body.document_ref if body else None)


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
    return await _desk(request).not_digitized(request, caller, code, component,
                                              body.decided_by, body.decision)


@router.post("/sign", status_code=201, responses=UNSUPPORTED, openapi_extra=PDF_BODY)
async def sign(request: Request, caller: Annotated[Caller, require(P.document_sign)],
               officer: Annotated[str | None, Query(
                   max_length=64, description="optional, and only the caller")] = None,
               document_type: Annotated[str | None, Query(max_length=64)] = None,
               dossier_code: Annotated[str | None, Query(
                   min_length=1, max_length=64,
                   description="the dossier the document is for (required of a service)")
               ] = None,
               agency_code: Annotated[str | None, Query(
                   min_length=1, max_length=32,
                   description="the issuing office, when this service does not know the "
                   "dossier")] = None,
               decided_by: Annotated[str | None, Query(
                   min_length=1, max_length=200,
                   description="the leader who decided (a service signing for them)")] = None,
               ) -> dict[str, Any]:
    """Sign a PDF (the request body, `application/pdf`), e.g. a result: the keys stay here
    and follow the caller's token. A leader signs with their own key; a service (processing
    issuing a result a leader decided) with the seal of the dossier's office, naming the
    dossier and the leader in the signature. Answers the document's id and its
    verification link."""
    settings: Any = request.app.state.runtime.settings
    acting(caller, officer)
    pdf = await request.body()
    if not pdf.startswith(b"%PDF-"):
        raise ApiError(415, [Problem.of("not_pdf", "Nội dung không phải tệp PDF",
                                        "the body is not a PDF (judged by its content)",
                                        "body")])
    made = await _desk(request).sign(request, caller, pdf, document_type=document_type,
                                     dossier_code=dossier_code, agency_code=agency_code,
                                     decided_by=decided_by)
    row = made.row
    return {"document_id": row["id"], "sha256": row["sha256"], "pages": row["pages"],
            "size": row["size"], "signer": row["signer"], "signer_office": made.office,
            "signed_at": row["signed_at"].isoformat(),
            "url": f"{settings.public_url}/api/v1/documents/{row['id']}",
            "verification_url": f"{settings.public_url}/api/v1/documents/{row['id']}/verify"}


@router.get("/documents/{document_id}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def document(document_id: DocumentId, request: Request,
                   caller: Annotated[Caller, require(P.document_read)]) -> Response:
    row, pdf = await _desk(request).document(request, caller, document_id)
    return Response(pdf, media_type="application/pdf", headers={
        "ETag": f'"{row["sha256"]}"',
        "Content-Disposition": f'inline; filename="{document_id}.pdf"'})


@router.get("/documents/{document_id}/verify")
async def verify(document_id: DocumentId, request: Request) -> dict[str, Any]:
    """Anyone can check a document (the link printed on it): valid, who signed, when, and
    whether its bytes are the bytes signed. Public, rate-limited per client."""
    _public(request)
    return await _desk(request).verify(document_id)


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
    agency_code: str | None = Field(
        default=None, min_length=1, max_length=32,
        description="whose it is (who sees it): an agency of the caller's tree; by default "
        "the caller's own")


Reading = Annotated[Caller, require(P.warehouse_read)]


@router.get("/warehouse/documents")
async def lookup(request: Request, caller: Reading,
                 applicant_ref: Annotated[str, Query(min_length=1, max_length=128)],
                 document_ref: Annotated[str, Query(min_length=1, max_length=200)],
                 ) -> dict[str, Any]:
    """Is this document held for this applicant (within the caller's tree)? Intake asks
    before accepting a reuse. The references are query data, matched exactly: no path
    segment of them is ever resolved. The answer names both, so the asker can tell it is
    about the document it asked for."""
    return await _desk(request).held(caller, applicant_ref, document_ref)


@router.get("/warehouse/{applicant_ref}/documents")
async def warehouse(applicant_ref: Annotated[str, Path(min_length=1, max_length=128)],
                    request: Request, caller: Reading) -> dict[str, Any]:
    """The applicant's data warehouse (kho dữ liệu) as the caller's tree holds it: every
    document of its dossiers and agencies (or reused by one of its dossiers), signed files
    with their validity, results, and the dossiers of the tree that reused each. Nothing of
    it in the tree: not found, as if there were none."""
    return await _desk(request).warehouse(caller, applicant_ref)


@router.post("/warehouse/{applicant_ref}/documents", status_code=201)
async def hold(applicant_ref: str, body: HeldIn, request: Request,
               caller: Annotated[Caller, require(P.warehouse_write)]) -> dict[str, Any]:
    """Record a document held elsewhere for the applicant, as the agency named (of the
    caller's tree; 403 out_of_scope otherwise) or the caller's own."""
    agency = body.agency_code or caller.agency
    if body.agency_code:
        check_agency(caller, body.agency_code)
    await _desk(request).hold(applicant_ref, body.document_ref, body.source, agency)
    return {"applicant_ref": applicant_ref, "document_ref": body.document_ref,
            "agency_code": agency}


@router.get("/dossiers/{code}")
async def view(code: str, request: Request,
               caller: Annotated[Caller, require(P.dossier_read)]) -> dict[str, Any]:
    return await _desk(request).view(caller, code)
