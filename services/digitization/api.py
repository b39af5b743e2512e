"""Digitization's HTTP API: routes of a few lines over the use cases in handlers.py and
documents.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from contracts.common import Problem
from services.common.auth import Caller, acting, check_agency, require
from services.common.http import ApiError, Problems, not_found
from services.common.runtime import Runtime
from services.digitization.documents import Documents
from services.digitization.handlers import Digitizer, NotFound
from services.digitization.keys import Holder, Keyring
from services.digitization.uploads import read_pages
from services.product.roles import Permission as P
from services.product.roles import Role

router = APIRouter(prefix="/api/v1", tags=["digitization"])
DocumentId = Annotated[str, Path(pattern=r"^doc-[0-9a-f]{16}$")]
SIGN_REASON = "Số hóa thành phần hồ sơ (Quyết định 1333/QĐ-BHXH)"
RESULT_REASON = "Ký số kết quả giải quyết TTHC"
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


def _parts(request: Request) -> tuple[Runtime, Digitizer, Documents]:
    state = request.app.state
    return state.runtime, state.digitizer, state.documents


async def _in_scope(request: Request, caller: Caller, code: str) -> dict[str, Any] | None:
    """The dossier if known here; another tree's dossier is answered as not found (codes
    are guessable)."""
    rt, digitizer, _ = _parts(request)
    async with rt.sessions() as s:
        dossier = await digitizer.repo.dossier(s, code)
    if dossier is not None and not caller.sees(dossier["agency_code"]):
        raise NotFound(code)
    return dossier


def _keys(request: Request) -> Keyring:
    return request.app.state.documents.keys


def _public(request: Request) -> None:
    # Verification is for anyone holding a copy, without an account: limited per client.
    request.app.state.public_verifications.take(
        request.client.host if request.client else "-")


Digitizing = Annotated[Caller, require(P.document_digitize)]


def _scan_signer(request: Request, caller: Caller) -> Holder:
    """Who signs a scanned component: the counter officer, or the seal of their office."""
    keys, settings = _keys(request), request.app.state.runtime.settings
    if settings.scan_signed_by == "office":
        return keys.office(caller.agency)
    return keys.person(caller)


@router.post("/dossiers/{code}/components/{component}/scan", status_code=201,
             responses=UNSUPPORTED, openapi_extra=SCAN_BODY)
async def scan(code: str, component: str, request: Request,
               caller: Digitizing) -> dict[str, Any]:
    """Page images (PNG, JPEG, TIFF) or one PDF, as multipart file parts (any field name):
    one PDF for the component, signed with the key of the token's officer (or their
    office's seal, DIGITIZATION_SCAN_SIGNED_BY)."""
    rt, digitizer, documents = _parts(request)
    settings: Any = rt.settings
    dossier = await _in_scope(request, caller, code)
    async with rt.sessions() as s:  # refused before a byte of the body is read
        await digitizer.open_component(s, code, component)
        declared = await digitizer.declared(s, code)  # the scan is checked against it
    key = await documents.keys.key(_scan_signer(request, caller))
    files, fields = await read_pages(request, settings.image_limits)
    acting(caller, fields.get("officer"))  # the key is the token's, never the form's
    made = await documents.make(
        files, key, "component", SIGN_REASON, component, rt.clock.now(),
        dossier_code=code, agency_code=dossier["agency_code"] if dossier else None)
    extra = await documents.extract(made.pdf, component, declared)
    async with rt.transaction() as s:
        done = await digitizer.record_scan(s, code, component, made.row, extra)
        await rt.audit.record(s, request, actor=None, action="component.scan",
                              dossier_code=code, target=component)
    return done | {"signer_office": made.office}


class DigitizedIn(BaseModel):
    document_ref: str | None = Field(default=None, max_length=200)


@router.post("/dossiers/{code}/components/{component}/digitized")
async def digitized(code: str, component: str, request: Request, caller: Digitizing,
                    body: DigitizedIn | None = None) -> dict[str, Any]:
    """Scanned elsewhere: the document is given by reference."""
    rt, digitizer, _ = _parts(request)
    await _in_scope(request, caller, code)
    async with rt.transaction() as s:
        done = await digitizer.mark_paper_digitized(
            s, code, component, body.document_ref if body else None)
        await rt.audit.record(s, request, actor=None, action="component.digitized",
                              dossier_code=code, target=component)
    return done


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
    async with rt.transaction() as s:
        done = await digitizer.not_digitized(s, code, component, body.decided_by,
                                             body.decision)
        await rt.audit.record(s, request, actor=None, action="component.not_digitized",
                              dossier_code=code, target=component)
    return done


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
    rt, digitizer, documents = _parts(request)
    settings: Any = rt.settings
    acting(caller, officer)
    pdf = await request.body()
    if not pdf.startswith(b"%PDF-"):
        raise ApiError(415, [Problem.of("not_pdf", "Nội dung không phải tệp PDF",
                                        "the body is not a PDF (judged by its content)",
                                        "body")])
    service = caller.role == Role.internal_service
    agency = await _issuing_agency(request, caller, dossier_code, agency_code, service)
    if service:
        holder = documents.keys.office(agency)
        reason = _result_reason(dossier_code, decided_by)
    else:
        if decided_by:
            acting(caller, decided_by)  # a person signs what they decided themselves
        holder = documents.keys.person(caller)
        reason = _result_reason(dossier_code, None)
    made = await documents.make([pdf], await documents.keys.key(holder), "signed", reason,
                                document_type, rt.clock.now(), dossier_code=dossier_code,
                                agency_code=agency, field="body")
    async with rt.transaction() as s:
        await digitizer.record_file(s, made.row)
        await rt.audit.record(s, request, actor=None, action="document.sign",
                              dossier_code=dossier_code, target=made.row["id"])
    row = made.row
    return {"document_id": row["id"], "sha256": row["sha256"], "pages": row["pages"],
            "size": row["size"], "signer": row["signer"], "signer_office": made.office,
            "signed_at": row["signed_at"].isoformat(),
            "url": f"{settings.public_url}/api/v1/documents/{row['id']}",
            "verification_url": f"{settings.public_url}/api/v1/documents/{row['id']}/verify"}


async def _issuing_agency(request: Request, caller: Caller, dossier_code: str | None,
                          agency_code: str | None, service: bool) -> str | None:
    """The agency a signed document belongs to (who may read it): its dossier's when the
    dossier is known here, else the one named, else the signer's own. A service must name
    the dossier; a person only one of their tree."""
    if service and not dossier_code:
        raise ApiError(422, [Problem.of(
            "dossier_required", "Cần ghi hồ sơ được ký kết quả (dossier_code)",
            "a service signs for a dossier: name it (dossier_code)", "dossier_code")])
    dossier = await _in_scope(request, caller, dossier_code) if dossier_code else None
    if dossier is not None:
        if agency_code and agency_code != dossier["agency_code"]:
            raise ApiError(422, [Problem.of(
                "agency_mismatch", f"Hồ sơ {dossier_code} thuộc đơn vị "
                f"{dossier['agency_code']}, không phải {agency_code}",
                f"dossier {dossier_code} belongs to {dossier['agency_code']}, not "
                f"{agency_code}", "agency_code")])
        return str(dossier["agency_code"])
    if agency_code:
        check_agency(caller, agency_code)
        if _keys(request).office_names(agency_code) is None:
            raise ApiError(422, [Problem.of(
                "unknown_agency", f"Đơn vị {agency_code} không có trong danh mục",
                f"agency {agency_code} is not in the catalogue", "agency_code")])
        return agency_code
    if service:
        raise ApiError(422, [Problem.of(
            "agency_required", f"Hồ sơ {dossier_code} chưa có ở đây: cần ghi đơn vị cấp "
            "kết quả (agency_code)", f"dossier {dossier_code} is not known here: name the "
            "issuing office (agency_code)", "agency_code")])
    return caller.agency


def _result_reason(dossier_code: str | None, decided_by: str | None) -> str:
    """What the signature says it signs: the dossier and, for a seal, the deciding leader."""
    reason = RESULT_REASON + (f", hồ sơ {dossier_code}" if dossier_code else "")
    return reason + (f"; lãnh đạo quyết định: {decided_by}" if decided_by else "")


async def _file(request: Request, document_id: str,
                caller: Caller | None = None) -> dict[str, Any]:
    """The file row; with a caller, only a file of their tree (another tree's is not
    found, as if it did not exist)."""
    rt, digitizer, _ = _parts(request)
    async with rt.sessions() as s:
        row = await digitizer.file(s, document_id, caller.agencies() if caller else None)
    if row is None:
        raise not_found(f"Không tìm thấy tài liệu {document_id}",
                        f"document {document_id} not found", "document_id")
    return row


@router.get("/documents/{document_id}", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def document(document_id: DocumentId, request: Request,
                   caller: Annotated[Caller, require(P.document_read)]) -> Response:
    row = await _file(request, document_id, caller)
    # A scanned component is the applicant's own papers: a read to record.
    await request.app.state.runtime.audit.read(request, action="read.document",
                                               dossier_code=row.get("dossier_code"),
                                               target=document_id)
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
    rt, digitizer, _ = _parts(request)
    async with rt.sessions() as s:
        found = await digitizer.held(s, applicant_ref, document_ref, caller.agencies())
    if found is None:
        raise not_found(f"Không tìm thấy tài liệu {document_ref}",
                        f"document {document_ref} not found", "document_ref")
    return found


@router.get("/warehouse/{applicant_ref}/documents")
async def warehouse(applicant_ref: Annotated[str, Path(min_length=1, max_length=128)],
                    request: Request, caller: Reading) -> dict[str, Any]:
    """The applicant's data warehouse (kho dữ liệu) as the caller's tree holds it: every
    document of its dossiers and agencies (or reused by one of its dossiers), signed files
    with their validity, results, and the dossiers of the tree that reused each. Nothing of
    it in the tree: not found, as if there were none."""
    rt, digitizer, documents = _parts(request)
    async with rt.sessions() as s:
        rows = await digitizer.warehouse(s, applicant_ref, caller.agencies())
    if not rows:
        raise not_found(f"Không có tài liệu nào của {applicant_ref}",
                        f"no document of {applicant_ref} found", "applicant_ref")
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


@router.post("/warehouse/{applicant_ref}/documents", status_code=201)
async def hold(applicant_ref: str, body: HeldIn, request: Request,
               caller: Annotated[Caller, require(P.warehouse_write)]) -> dict[str, Any]:
    """Record a document held elsewhere for the applicant, as the agency named (of the
    caller's tree; 403 out_of_scope otherwise) or the caller's own."""
    rt, digitizer, _ = _parts(request)
    agency = body.agency_code or caller.agency
    if body.agency_code:
        check_agency(caller, body.agency_code)
    async with rt.transaction() as s:
        await digitizer.hold(s, applicant_ref, body.document_ref, body.source, agency)
    return {"applicant_ref": applicant_ref, "document_ref": body.document_ref,
            "agency_code": agency}


@router.get("/dossiers/{code}")
async def view(code: str, request: Request,
               caller: Annotated[Caller, require(P.dossier_read)]) -> dict[str, Any]:
    rt, digitizer, _ = _parts(request)
    await _in_scope(request, caller, code)
    async with rt.sessions() as s:
        return await digitizer.view(s, code)
