"""Which form a processing document follows, by the day the dossier was received.

docs/law.md#the-law-as-dated-data: a dossier is judged under the rules in force when it
was received, as intake's slips are. Mẫu 04 (apology) and 05 (control slip) are those of
Circular 01/2018/TT-VPCP; the 2025 set renames Mẫu 04 (docs/law.md#explanation-and-apology-letter)
and otherwise keeps the numbers (confirm: Circular 03/2025 is unread).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.law.workdays import TZ


@dataclass(frozen=True)
class FormSet:
    valid_from: date
    legal_basis: str
    apology_form: str
    apology_title: str
    new_date_label: str  # the apology's new date: a re-appointment, from 2025 an extension
    control_form: str
    control_title: str


_CONTROL = ("Mẫu số 05", "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ")

FORM_SETS: tuple[FormSet, ...] = (
    # Entry into force of Circular 01/2018/TT-VPCP (confirm), as intake's forms.yaml.
    FormSet(date(2019, 1, 8), "Nghị định 61/2018/NĐ-CP, Thông tư 01/2018/TT-VPCP",
            "Mẫu số 04", "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
            "Hẹn lại ngày trả kết quả:", *_CONTROL),
    # Decree 118/2025/NĐ-CP, from 01/07/2025.
    FormSet(date(2025, 7, 1), "Nghị định 118/2025/NĐ-CP, Thông tư 03/2025/TT-VPCP",
            "Mẫu số 04", "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
            "Đề nghị gia hạn, hẹn trả kết quả vào:", *_CONTROL),
)


def form_set_for(received_at: datetime) -> FormSet:
    """The set in force on the Vietnamese calendar day of receipt (an aware time)."""
    if received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    day = received_at.astimezone(TZ).date()
    for form_set in sorted(FORM_SETS, key=lambda f: f.valid_from, reverse=True):
        if form_set.valid_from <= day:
            return form_set
    raise ValueError(f"no processing form set in force on {day.isoformat()}")
