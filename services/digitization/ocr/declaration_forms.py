"""The declaration forms OCR knows, by the component code of the catalogue
(services/law/catalog), and the printed labels that announce each field on them.

Labels are matched on folded text (no diacritics, lower case) at the start of a segment of a
line, after any numbering such as "[07]." - so "mã số BHXH" inside a sentence, or the
"(Ký, ghi rõ họ tên)" under the signature, is never taken for a label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.digitization.ocr.model import FieldName

_NAME = r"ho\s*(?:va|,)?\s*ten"
_BIRTH = r"(?:ngay\s*,?\s*thang\s*,?\s*nam\s*sinh|ngay\s*(?:,\s*)?sinh|sinh\s*ngay|nam\s*sinh)"
_ID = (r"(?:so\s*)?(?:cccd|can\s*cuoc(?:\s*cong\s*dan)?|dinh\s*danh(?:\s*ca\s*nhan)?|ddcn"
       r"|cmnd|chung\s*minh\s*nhan\s*dan)")
_SOCIAL = r"(?:ma\s*so\s*(?:bhxh|bao\s*hiem\s*xa\s*hoi)|ma\s*bhxh|so\s*so\s*bhxh)"


@dataclass(frozen=True)
class FormSpec:
    code: str
    title: str
    labels: dict[FieldName, re.Pattern[str]]


def _labels(**patterns: str) -> dict[FieldName, re.Pattern[str]]:
    return {FieldName(name): re.compile(pattern) for name, pattern in patterns.items()}


# The personal header is the same on the applications of the long-term regimes (13-, 14-,
# 16-HSB) and on TK1-TS; the forms differ in title and numbering, which the matcher skips.
_PERSONAL = _labels(full_name=_NAME, date_of_birth=_BIRTH, id_number=_ID,
                    social_insurance_code=_SOCIAL)

FORMS: dict[str, FormSpec] = {
    spec.code: spec
    for spec in (
        FormSpec("TK1-TS", "Tờ khai tham gia, điều chỉnh thông tin BHXH, BHYT", _PERSONAL),
        FormSpec("13-HSB", "Đơn đề nghị thay đổi hình thức, nơi nhận lương hưu", _PERSONAL),
        FormSpec("14-HSB", "Đơn đề nghị hưởng lương hưu, BHXH một lần, trợ cấp", _PERSONAL),
        FormSpec("16-HSB", "Đơn đề nghị hưởng tiếp lương hưu", _PERSONAL),
    )
}


class UnsupportedForm(ValueError):
    def __init__(self, form_code: str) -> None:
        super().__init__(f"no OCR layout for form {form_code!r}; known: {', '.join(FORMS)}")
        self.form_code = form_code


def supports(form_code: str) -> bool:
    """Whether `extract` can read a component of this catalogue code."""
    return form_code in FORMS


def spec_for(form_code: str) -> FormSpec:
    try:
        return FORMS[form_code]
    except KeyError:
        raise UnsupportedForm(form_code) from None
