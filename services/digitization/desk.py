"""Digitization's use cases as the HTTP API calls them: each opens its transaction, writes its
audit row with its effect and raises domain errors (services/common/errors.py), answered
once by the HTTP edge; the routes (api.py) parse, authorize, call one and render it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from contracts.common import Problem
from services.common.errors import Invalid, missing
from services.common.http.auth import Caller, acting, check_agency
from services.common.runtime import Runtime
from services.digitization.document_set import DocumentSet
from services.digitization.documents import Documents, Made
from services.digitization.handlers import Digitizer, NotFound
from services.digitization.keys import Holder
from services.product.roles import Role

SIGN_REASON = "Số hóa thành phần hồ sơ (Quyết định 1333/QĐ-BHXH)"
RESULT_REASON = "Ký số kết quả giải quyết TTHC"
# The pages of a scan, read from the request only once the component is known to wait.
Pages = Callable[[], Awaitable[list[bytes]]]


def _invalid(code: str, vi: str, en: str, field: str) -> Invalid:
    return Invalid([Problem.of(code, vi, en, field)])


class Desk:
    """Components finished by an officer, PDFs signed for a caller, the signed files and the
    applicant's warehouse, each read or written in one transaction with its audit row;
    `request` says who acted and from where (the audit row's actor and address)."""

    def __init__(self, runtime: Runtime, digitizer: Digitizer, documents: Documents) -> None:
        self.runtime = runtime
        self.digitizer = digitizer
        self.documents = documents

    async def in_scope(self, caller: Caller, code: str) -> DocumentSet | None:
        """The dossier if known here; another tree's dossier is NotFound (codes are
        guessable)."""
        async with self.runtime.sessions() as s:
            dossier = await self.digitizer.repo.dossier(s, code)
        if dossier is not None and not caller.sees(dossier.agency_code):
            raise NotFound(code)
        return dossier

    # --- a component finished by an officer ----------------------------------------------

    async def scan(self, request: Request, caller: Caller, code: str, component: str,
                   pages: Pages) -> dict[str, Any]:
        """The pages (read by `pages`, after the component is known to wait and the signer
        to have a key) into one PDF signed for the component, recorded with its audit row."""
        rt, documents = self.runtime, self.documents
        dossier = await self.in_scope(caller, code)
        async with rt.sessions() as s:  # refused before a byte of the body is read
            await self.digitizer.open_component(s, code, component)
            declared = await self.digitizer.declared(s, code)  # the scan is checked against it
        key = await documents.keys.key(self._scan_signer(caller))
        files = await pages()
        made = await documents.make(
            files, key, "component", SIGN_REASON, component, rt.clock.now(),
            dossier_code=code, agency_code=dossier.agency_code if dossier else None)
        extra = await documents.extract(made.pdf, component, declared)
        async with rt.transaction() as s:
            done = await self.digitizer.record_scan(s, code, component, made.row, extra)
            await rt.audit.record(s, request, actor=None, action="component.scan",
                                  dossier_code=code, target=component)
        return done | {"signer_office": made.office}

    def _scan_signer(self, caller: Caller) -> Holder:
        """Who signs a scanned component: the counter officer, or the seal of their office."""
        keys = self.documents.keys
        settings: Any = self.runtime.settings  # DigitizationSettings
        if settings.scan_signed_by == "office":
            return keys.office(caller.agency)
        return keys.person(caller)

    async def digitized(self, request: Request, caller: Caller, code: str, component: str,
                        document_ref: str | None) -> dict[str, Any]:
        """Scanned elsewhere: the document given by reference (or by none)."""
        await self.in_scope(caller, code)
        async with self.runtime.transaction() as s:
            done = await self.digitizer.mark_paper_digitized(s, code, component, document_ref)
            await self.runtime.audit.record(s, request, actor=None,
                                            action="component.digitized", dossier_code=code,
                                            target=component)
        return done

    async def not_digitized(self, request: Request, caller: Caller, code: str,
                            component: str, decided_by: str, decision: str
                            ) -> dict[str, Any]:
        """The leader's decision not to digitize a fragile original, recorded."""
        await self.in_scope(caller, code)
        async with self.runtime.transaction() as s:
            done = await self.digitizer.not_digitized(s, code, component, decided_by,
                                                      decision)
            await self.runtime.audit.record(s, request, actor=None,
                                            action="component.not_digitized",
                                            dossier_code=code, target=component)
        return done

    async def view(self, caller: Caller, code: str) -> dict[str, Any]:
        await self.in_scope(caller, code)
        async with self.runtime.sessions() as s:
            return await self.digitizer.view(s, code)

    # --- a PDF signed for its caller -------------------------------------------------------

    async def sign(self, request: Request, caller: Caller, pdf: bytes, *,
                   document_type: str | None, dossier_code: str | None,
                   agency_code: str | None, decided_by: str | None) -> Made:
        """A leader signs with their own key; a service with the seal of the dossier's
        office, naming the dossier and the leader in the signature. Held here, verifiable."""
        rt, documents = self.runtime, self.documents
        service = caller.role == Role.internal_service
        agency = await self._issuing_agency(caller, dossier_code, agency_code, service)
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
            await self.digitizer.record_file(s, made.row)
            await rt.audit.record(s, request, actor=None, action="document.sign",
                                  dossier_code=dossier_code, target=made.row["id"])
        return made

    async def _issuing_agency(self, caller: Caller, dossier_code: str | None,
                              agency_code: str | None, service: bool) -> str | None:
        """The agency a signed document belongs to (who may read it): its dossier's when the
        dossier is known here, else the one named, else the signer's own. A service must
        name the dossier; a person only one of their tree."""
        if service and not dossier_code:
            raise _invalid("dossier_required", "Cần ghi hồ sơ được ký kết quả (dossier_code)",
                           "a service signs for a dossier: name it (dossier_code)",
                           "dossier_code")
        dossier = await self.in_scope(caller, dossier_code) if dossier_code else None
        if dossier is not None:
            if agency_code and agency_code != dossier.agency_code:
                raise _invalid(
                    "agency_mismatch", f"Hồ sơ {dossier_code} thuộc đơn vị "
                    f"{dossier.agency_code}, không phải {agency_code}",
                    f"dossier {dossier_code} belongs to {dossier.agency_code}, not "
                    f"{agency_code}", "agency_code")
            return dossier.agency_code
        if agency_code:
            check_agency(caller, agency_code)
            if self.documents.keys.office_names(agency_code) is None:
                raise _invalid(
                    "unknown_agency", f"Đơn vị {agency_code} không có trong danh mục",
                    f"agency {agency_code} is not in the catalogue", "agency_code")
            return agency_code
        if service:
            raise _invalid(
                "agency_required", f"Hồ sơ {dossier_code} chưa có ở đây: cần ghi đơn vị cấp "
                "kết quả (agency_code)", f"dossier {dossier_code} is not known here: name the "
                "issuing office (agency_code)", "agency_code")
        return caller.agency

    # --- the signed files ------------------------------------------------------------------

    async def file(self, document_id: str, caller: Caller | None = None) -> dict[str, Any]:
        """The file row; with a caller, only a file of their tree (another tree's is not
        found, as if it did not exist)."""
        async with self.runtime.sessions() as s:
            row = await self.digitizer.file(s, document_id,
                                            caller.agencies() if caller else None)
        if row is None:
            raise missing(f"Không tìm thấy tài liệu {document_id}",
                          f"document {document_id} not found", "document_id")
        return row

    async def document(self, request: Request, caller: Caller, document_id: str
                       ) -> tuple[dict[str, Any], bytes]:
        """A signed file of the caller's tree and its bytes, the read recorded first."""
        row = await self.file(document_id, caller)
        # A scanned component is the applicant's own papers: a read to record.
        await self.runtime.audit.read(request, action="read.document",
                                      dossier_code=row.get("dossier_code"), target=document_id)
        pdf = await self.documents.content(row)
        if pdf is None:
            raise missing("Tệp của tài liệu không còn trong kho lưu trữ",
                          "the document's bytes are missing from storage", "document_id")
        return row, pdf

    async def verify(self, document_id: str) -> dict[str, Any]:
        """Anyone's check of a stored document: its verdict."""
        return await self.documents.verify_stored(await self.file(document_id))

    # --- the applicant's warehouse ---------------------------------------------------------

    async def held(self, caller: Caller, applicant_ref: str, document_ref: str
                   ) -> dict[str, Any]:
        async with self.runtime.sessions() as s:
            found = await self.digitizer.held(s, applicant_ref, document_ref,
                                              caller.agencies())
        if found is None:
            raise missing(f"Không tìm thấy tài liệu {document_ref}",
                          f"document {document_ref} not found", "document_ref")
        return found

    async def warehouse(self, caller: Caller, applicant_ref: str) -> dict[str, Any]:
        async with self.runtime.sessions() as s:
            rows = await self.digitizer.warehouse(s, applicant_ref, caller.agencies())
        if not rows:
            raise missing(f"Không có tài liệu nào của {applicant_ref}",
                          f"no document of {applicant_ref} found", "applicant_ref")
        return {"applicant_ref": applicant_ref,
                "documents": [await self._listed(r) for r in rows]}

    async def _listed(self, r: dict[str, Any]) -> dict[str, Any]:
        held_here = r["sha256"] is not None
        verdict = (await self.documents.verify_stored({"id": r["document_ref"], **r})
                   if held_here else None)
        return {"document_ref": r["document_ref"], "document_type": r["document_type"],
                "source": r["source"], "dossier_code": r["dossier_code"],
                "component_code": r["component_code"],
                "stored_at": r["stored_at"].isoformat(), "signed_file": held_here,
                "pages": r["pages"], "signer": r["signer"],
                "signed_at": r["signed_at"].isoformat() if r["signed_at"] else None,
                "valid": verdict["valid"] if verdict else None,
                "validity": verdict["reason"] if verdict else "not held as a file here",
                "reused_in": r["reused_in"]}

    async def hold(self, applicant_ref: str, document_ref: str, source: str,
                   agency: str | None) -> None:
        async with self.runtime.transaction() as s:
            await self.digitizer.hold(s, applicant_ref, document_ref, source, agency)


def _result_reason(dossier_code: str | None, decided_by: str | None) -> str:
    """What the signature says it signs: the dossier and, for a seal, the deciding leader."""
    reason = RESULT_REASON + (f", hồ sơ {dossier_code}" if dossier_code else "")
    return reason + (f"; lãnh đạo quyết định: {decided_by}" if decided_by else "")
