"""How processing's documents word their values in Vietnamese, and print times.

Every printed time is in Asia/Ho_Chi_Minh, whatever zone the row stored it in.
"""

from __future__ import annotations

from datetime import datetime

from contracts.common import Timeliness
from services.common import pdf
from services.law.workdays import TZ
from services.processing.documents.control_slip import Note, Status

OUTCOME_VI = {Timeliness.early: "Trước hạn", Timeliness.on_time: "Đúng hạn",
              Timeliness.late: "Quá hạn"}
STATUS_VI = {Status.received: "", Status.to_be_received: "Chờ nhận",
             Status.in_progress: "Đang giải quyết"}
NOTE_VI = {
    Note.after_cutoff: "Hồ sơ giấy nhận sau {cutoff}: chuyển đầu giờ ngày làm việc tiếp theo",
    Note.outside_hours: "Nhận ngoài giờ hành chính: tính từ đầu ngày làm việc tiếp theo",
    Note.sent_back: "Trả lại bước trước",
}
DECISION_VI = {"approved": "CHẤP THUẬN", "denied": "KHÔNG CHẤP THUẬN"}
UNSIGNED_MARK = "CHƯA KÝ SỐ"


def vn_datetime(at: datetime) -> str:
    """'16 giờ 10 phút, ngày 06 tháng 3 năm 2026', in Asia/Ho_Chi_Minh."""
    return pdf.vn_datetime(at, TZ)


def vn_day(at: datetime) -> str:
    """'ngày 06 tháng 3 năm 2026': the Vietnamese calendar day of `at`."""
    return pdf.vn_date(at.astimezone(TZ).date())


def short_time(at: datetime | None) -> tuple[str, str]:
    """('16:10', '06/03/2026') in Asia/Ho_Chi_Minh, for a table cell; blanks for None."""
    if at is None:
        return "", ""
    local = at.astimezone(TZ)
    return f"{local:%H:%M}", f"{local:%d/%m/%Y}"
