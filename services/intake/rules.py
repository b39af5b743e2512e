"""Intake's rules, pure: what is wrong with a submission, and the dossier code's shape."""

from __future__ import annotations

from datetime import date, datetime

from contracts.catalog import Agency, Procedure
from contracts.common import ComponentForm, ComponentRef
from services.common.catalog import CatalogIndex
from services.common.http import problem


def dossier_code(agency_code: str, day: date, sequence: int) -> str:
    """Circular 01/2018/TT-VPCP: <agency e-identifier>-<YYMMDD of receipt>-<4-digit seq>."""
    return f"{agency_code}-{day:%y%m%d}-{sequence:04d}"


def check_submission(catalog: CatalogIndex, *, agency_code: str, procedure_code: str,
                     applicant_kind: str, components: list[ComponentRef],
                     received_at: datetime, now: datetime,
                     ) -> tuple[list[dict[str, object]], Agency | None, Procedure | None]:
    """Every problem at once (a person fixes them all in one go), in Vietnamese and English."""
    problems: list[dict[str, object]] = []
    if received_at > now:
        problems.append(problem("received_at_in_future",
                                "Thời điểm tiếp nhận không được ở tương lai",
                                "received_at must not be in the future", "received_at"))
    agency = catalog.agency(agency_code)
    if agency is None:
        problems.append(problem("unknown_agency", f"Không có cơ quan BHXH mã {agency_code}",
                                f"no agency with code {agency_code}", "agency_code"))
    elif catalog.active_agency(agency_code, received_at.date()) is None:
        successor = agency.successor
        problems.append(problem(
            "agency_not_active",
            f"Cơ quan {agency_code} không còn tiếp nhận hồ sơ"
            + (f"; nộp tại cơ quan kế thừa {successor}" if successor else ""),
            f"agency {agency_code} no longer receives dossiers"
            + (f"; submit to its successor {successor}" if successor else ""),
            "agency_code", successor=successor))
    procedure = catalog.procedure(procedure_code)
    if procedure is None:
        problems.append(problem("unknown_procedure", f"Không có thủ tục mã {procedure_code}",
                                f"no procedure with code {procedure_code}", "procedure_code"))
        return problems, agency, None
    if agency is not None and agency.level not in procedure.agency_levels:
        problems.append(problem(
            "agency_does_not_handle", f"Cơ quan {agency_code} không giải quyết thủ tục này",
            f"agency {agency_code} does not handle procedure {procedure_code}", "agency_code"))
    if applicant_kind not in procedure.applicant_kinds:
        problems.append(problem(
            "wrong_applicant_kind", "Loại người nộp không phù hợp với thủ tục",
            f"a {applicant_kind} cannot submit procedure {procedure_code}", "applicant.kind"))
    known = {c.code: c for c in procedure.components}
    given = {c.code for c in components}
    for i, comp in enumerate(components):
        if comp.code not in known:
            problems.append(problem("unknown_component",
                                    f"Thành phần {comp.code} không thuộc thủ tục",
                                    f"component {comp.code} is not part of this procedure",
                                    f"components.{i}.code"))
        if comp.form == ComponentForm.electronic and comp.reused and not comp.document_ref:
            problems.append(problem("reuse_without_reference",
                                    "Thành phần dùng lại dữ liệu phải có mã tài liệu",
                                    "a reused component needs its document_ref",
                                    f"components.{i}.document_ref"))
    for spec in procedure.components:
        if spec.required and spec.code not in given:
            problems.append(problem("missing_component", f"Thiếu thành phần: {spec.name}",
                                    f"missing required component {spec.code}", "components",
                                    component=spec.code))
    return problems, agency, procedure


# Which states each counter action may start from; anything else answers 409.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "request_supplement": frozenset({"received"}),
    "receive_supplement": frozenset({"awaiting_supplement"}),
    "withdraw": frozenset({"received", "awaiting_supplement"}),
}


def still_missing(requested: list[dict[str, object]], given: set[str]) -> list[dict[str, object]]:
    """Items of the one supplement request that the given components do not answer."""
    return [item for item in requested
            if item.get("component_code") and item["component_code"] not in given]
