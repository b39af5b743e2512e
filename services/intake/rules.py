"""Intake's rules, pure: what is wrong with a submission, and the dossier code's shape."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from contracts.catalog import Agency, Procedure
from contracts.common import (
    ComponentForm,
    ComponentRef,
    IndividualApplicant,
    OrganizationApplicant,
    Problem,
    Reason,
)
from services.law.catalog import CatalogIndex
from services.law.workdays import TZ


def dossier_code(agency_code: str, day: date, sequence: int) -> str:
    """Circular 01/2018/TT-VPCP: <agency e-identifier>-<YYMMDD of receipt>-<4-digit seq>."""
    return f"{agency_code}-{day:%y%m%d}-{sequence:04d}"


_NON_DIGITS = re.compile(r"[^0-9]")
# Shorter digit runs identify no one and would match innocent references by chance.
_MIN_PERSONAL_DIGITS = 8


def _digits(value: str | None) -> str:
    return _NON_DIGITS.sub("", value or "")


def personal_numbers(applicant: IndividualApplicant | OrganizationApplicant | None
                     ) -> frozenset[str]:
    """The applicant's own numbers, digits only, in every form a reference might carry them:
    a document_ref must never contain one (it travels on broad topics)."""
    if applicant is None:
        return frozenset()
    if isinstance(applicant, IndividualApplicant):
        raw = [applicant.id_number, applicant.social_insurance_code]
    else:
        tax = _digits(applicant.tax_code)
        # A branch's tax code is the enterprise's 10 digits plus "-NNN": both identify it.
        raw = [tax, tax[:10]]
    phone = _digits(applicant.phone)
    # +84 912 345 678 and 0912 345 678 are one phone: compare the national number.
    raw.append(phone[2:] if phone.startswith("84") else phone.lstrip("0"))
    return frozenset(d for d in (_digits(r) for r in raw) if len(d) >= _MIN_PERSONAL_DIGITS)


# Control characters: C0, DEL and C1. None may stand in a code, a name, an identifier or an
# address: a NUL made a dossier unreachable by any route, a CR/LF broke the header of its
# slip's download, an ESC rewrites a terminal showing a log. Text a person writes (a note,
# a reason's messages, its legal basis) may break lines with LF and hold tabs, nothing else:
# a line break is LF alone, not CR LF.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
FREE_TEXT_FIELDS = frozenset({"note", "message_vi", "message_en", "legal_basis"})
# In a record's JSON bytes, whatever may stand for a control character in a text: C0 and
# DEL raw (JSON allows neither unescaped in a string; a writer may still send them), C1 as
# UTF-8, and every escape of one (\b \f \n \r \t, \u0000-\u001f, \u007f-\u009f, hex
# digits in either case). An escaped backslash before n, t... matches too: only a first look.
# Written as one class of the bytes these start with, then what must follow each (told by
# looking behind): so the search skips through the record at the class's speed, four times
# that of the plain alternation.
_CONTROL_IN_JSON = re.compile(
    rb"[\\\x00-\x1f\x7f\xc2](?:(?<=\\)(?:u00[0189]|u007[fF]|[bfnrt])|(?<=\xc2)[\x80-\x9f]"
    rb"|(?<=[\x00-\x1f\x7f]))")


def may_hold_control_characters(raw: bytes) -> bool:
    """A quick look at a record's JSON bytes as received: False when no text in it can hold
    a control character; True when `control_characters` must look field by field. The
    record's bytes, not its event written again: that cost as much as the look itself."""
    return _CONTROL_IN_JSON.search(raw) is not None


def control_characters(value: Any, field: str = "") -> list[Reason]:
    """A problem for each text of `value` (a contract model, a list, a string; `field` its
    path) that holds a control character, naming the field and the character, never the
    text (it may be personal). In FREE_TEXT_FIELDS line feeds and tabs are allowed."""
    problems: list[Reason] = []
    stack: list[tuple[Any, str, bool]] = [(value, field, False)]
    while stack:
        node, path, free = stack.pop()
        if isinstance(node, str):
            found = (_CONTROL_IN_TEXT if free else _CONTROL).search(node)
            if found:
                char = f"U+{ord(found.group()):04X}"
                allowed = " (chỉ cho phép xuống dòng LF và tab)" if free else ""
                problems.append(Problem.of(
                    "control_characters",
                    f"Trường {path} chứa ký tự điều khiển {char}, không được phép{allowed}",
                    f"{path} holds the control character {char}, which is not allowed"
                    + (" (in text only line feeds and tabs are)" if free else ""), path))
        elif isinstance(node, BaseModel):
            stack.extend((getattr(node, name), f"{path}.{name}" if path else name,
                          name in FREE_TEXT_FIELDS)
                         for name in reversed(type(node).model_fields))
        elif isinstance(node, list):
            stack.extend((item, f"{path}.{i}", free) for i, item in reversed(
                list(enumerate(node))))
    return problems


def printable(text: str) -> str:
    """`text` with each control character replaced (U+FFFD): for a key or a subject that
    echoes what a client sent."""
    return _CONTROL.sub("\ufffd", text)


def check_components(components: list[ComponentRef], personal: Iterable[str] = ()
                     ) -> list[Reason]:
    """Problems of the component list itself, whatever the procedure: a code given twice
    (digitization keeps one row per code) and a document_ref built from a personal number."""
    problems: list[Reason] = []
    numbers = [n for n in personal if n]
    seen: set[str] = set()
    for i, comp in enumerate(components):
        if comp.code in seen:
            problems.append(Problem.of("duplicate_component",
                                       f"Thành phần {comp.code} được khai nhiều lần",
                                       f"component {comp.code} is given more than once",
                                       f"components.{i}.code"))
        seen.add(comp.code)
        ref_digits = _digits(comp.document_ref)
        if ref_digits and any(n in ref_digits for n in numbers):
            # The message does not echo the number: problems are logged and sent back.
            problems.append(Problem.of(
                "personal_document_ref",
                "Mã tài liệu không được chứa số định danh, mã số BHXH, mã số thuế hay số "
                "điện thoại của người nộp",
                "a document_ref must not contain the applicant's ID number, social insurance "
                "code, tax code or phone", f"components.{i}.document_ref"))
    return problems


def check_submission(catalog: CatalogIndex, *, agency_code: str, procedure_code: str,
                     applicant_kind: str, components: list[ComponentRef],
                     received_at: datetime, now: datetime,
                     applicant: IndividualApplicant | OrganizationApplicant | None = None,
                     ) -> tuple[list[Reason], Agency | None, Procedure | None]:
    """Every problem at once (a person fixes them all in one go), in Vietnamese and English.
    `applicant` (the full one, with its numbers) lets document_refs be checked for them."""
    problems = check_components(components, personal_numbers(applicant))
    problems += control_characters(agency_code, "agency_code") + control_characters(
        procedure_code, "procedure_code") + control_characters(applicant, "applicant") + \
        control_characters(components, "components")
    if received_at > now:
        problems.append(Problem.of("received_at_in_future",
                                   "Thời điểm tiếp nhận không được ở tương lai",
                                   "received_at must not be in the future", "received_at"))
    agency = catalog.agency(agency_code)
    if agency is None:
        problems.append(Problem.of("unknown_agency", f"Không có cơ quan BHXH mã {agency_code}",
                                   f"no agency with code {agency_code}", "agency_code"))
    elif catalog.active_agency(agency_code, received_at.astimezone(TZ).date()) is None:
        successor = agency.successor
        problems.append(Problem.of(
            "agency_not_active",
            f"Cơ quan {agency_code} không còn tiếp nhận hồ sơ"
            + (f"; nộp tại cơ quan kế thừa {successor}" if successor else ""),
            f"agency {agency_code} no longer receives dossiers"
            + (f"; submit to its successor {successor}" if successor else ""),
            "agency_code", successor=successor))
    procedure = catalog.procedure(procedure_code)
    if procedure is None:
        problems.append(Problem.of(
            "unknown_procedure", f"Không có thủ tục mã {procedure_code}",
            f"no procedure with code {procedure_code}", "procedure_code"))
        return problems, agency, None
    if agency is not None and agency.level not in procedure.agency_levels:
        problems.append(Problem.of(
            "agency_does_not_handle", f"Cơ quan {agency_code} không giải quyết thủ tục này",
            f"agency {agency_code} does not handle procedure {procedure_code}", "agency_code"))
    if applicant_kind not in procedure.applicant_kinds:
        problems.append(Problem.of(
            "wrong_applicant_kind", "Loại người nộp không phù hợp với thủ tục",
            f"a {applicant_kind} cannot submit procedure {procedure_code}", "applicant.kind"))
    known = {c.code: c for c in procedure.components}
    given = {c.code for c in components}
    for i, comp in enumerate(components):
        if comp.code not in known:
            problems.append(Problem.of("unknown_component",
                                       f"Thành phần {comp.code} không thuộc thủ tục",
                                       f"component {comp.code} is not part of this procedure",
                                       f"components.{i}.code"))
        if comp.form == ComponentForm.electronic and comp.reused and not comp.document_ref:
            problems.append(Problem.of("reuse_without_reference",
                                       "Thành phần dùng lại dữ liệu phải có mã tài liệu",
                                       "a reused component needs its document_ref",
                                       f"components.{i}.document_ref"))
    for spec in procedure.components:
        if spec.required and spec.code not in given:
            problems.append(Problem.of("missing_component", f"Thiếu thành phần: {spec.name}",
                                       f"missing required component {spec.code}",
                                       "components", component=spec.code))
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
