"""Processing's documents (docs/law.md#processing-handovers-and-the-control-slip,
docs/law.md#explanation-and-apology-letter): the control slip as data, row by
row, and the PDFs read back with pdftotext for their Vietnamese text and figures."""

from __future__ import annotations

import io
import re
import subprocess
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from contracts.common import ApplicantRef, Reason, Timeliness
from contracts.events import ApologyIssued, DossierResolved
from services.common.pdf import Letterhead
from services.law.workdays import TZ, CalendarRules, WorkCalendar
from services.processing.documents.control_slip import (
    ONE_STOP,
    ControlSlip,
    Note,
    Party,
    Status,
    build_control_slip,
    control_slip,
    result_handed_at,
)
from services.processing.documents.letters import apology_letter_pdf, result_document_pdf
from services.processing.documents.slip_pdf import control_slip_pdf
from services.processing.domain import LEADERSHIP

PDFTOTEXT = Path("/usr/bin/pdftotext")
CODE = "000.00.12.H62-260302-0004"
AGENCY = Letterhead("Bảo hiểm xã hội tỉnh Lai Châu", "Bảo hiểm xã hội Việt Nam")
PROCEDURE = "Giải quyết hưởng chế độ ốm đau"
CHE_DO, KHTC = "Phòng Chế độ BHXH", "Phòng Kế hoạch - Tài chính"
AN, BINH = "Nguyễn Văn An", "Trần Thị Bình"
# An agency opening at 08:00 (the catalogue's office hours); the default calendar opens 07:30.
CAL = WorkCalendar(CalendarRules(opens=time(8, 0)))


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """2026 in Vietnam: Mon 02/03, Fri 06/03, Mon 09/03, Fri 13/03 (no holiday near)."""
    return datetime(2026, month, day, hour, minute, tzinfo=TZ)


def case(received: datetime, due: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {"code": CODE, "agency_code": "000.00.12.H62", "procedure_code": "BHXH.NH.01",
            "received_at": received, "due_at": due or at(13, 17), "state": "in_step",
            **extra}


def step(seq: int, step_no: int, department: str, assigned: datetime,
         assignee: str | None = None, due: datetime | None = None,
         completed: datetime | None = None, outcome: str | None = None) -> dict[str, Any]:
    return {"dossier_code": CODE, "seq": seq, "step_no": step_no, "step_code": f"S{step_no}",
            "department": department, "assignee": assignee, "assigned_at": assigned,
            "due_at": due, "completed_at": completed, "outcome": outcome}


# Online on Monday 10:00: step 1 (due Wed 17:00) done Wed 15:00, step 2 (due Fri 17:00) done
# Thu 11:00, the result back at the one-stop unit Fri 10:00, due Fri 17:00.
ON_TIME_STEPS = [
    step(1, 1, CHE_DO, at(2, 10, 5), due=at(4, 17)),
    step(2, 1, CHE_DO, at(2, 10, 30), AN, at(4, 17), at(4, 15), "on_time"),
    step(3, 2, KHTC, at(4, 15), due=at(6, 17)),
    step(4, 2, KHTC, at(5, 9), BINH, at(6, 17), at(5, 11), "early"),
]


def on_time_slip() -> ControlSlip:
    return build_control_slip(case(at(2, 10), at(6, 17), channel="online"), ON_TIME_STEPS,
                              CAL, result_at=at(6, 10))


# --- the control slip as data -------------------------------------------------------------


def test_on_time_case_every_handover_and_its_outcome() -> None:
    slip = on_time_slip()
    rows = [(r.giver, r.taker, r.handed_at, r.received_at, r.due_at, r.outcome, r.status)
            for r in slip.rows]
    assert rows == [
        (Party(ONE_STOP), Party(CHE_DO, AN), at(2, 10, 5), at(2, 10, 30), at(2, 17),
         Timeliness.on_time, Status.received),
        (Party(CHE_DO, AN), Party(KHTC, BINH), at(4, 15), at(5, 9), at(4, 17),
         Timeliness.on_time, Status.received),
        (Party(KHTC, BINH), Party(LEADERSHIP), at(5, 11), at(5, 11), at(6, 17),
         Timeliness.early, Status.received),
        (Party(LEADERSHIP), Party(ONE_STOP), at(6, 10), at(6, 10), at(6, 17),
         Timeliness.on_time, Status.received),
    ]
    assert [r.step_no for r in slip.rows] == [None, 1, 2, None]
    assert slip.paper is False and slip.outcome is Timeliness.on_time


def test_json_is_the_same_slip_in_vietnam_time() -> None:
    steps = [{**s, "assigned_at": s["assigned_at"].astimezone(UTC).isoformat()}
             for s in ON_TIME_STEPS]  # a JSON row: ISO strings, stored in UTC
    got = control_slip(case(at(2, 10), at(6, 17), channel="online"), steps, CAL,
                       result_at=at(6, 10))
    assert got["dossier_code"] == CODE and got["outcome"] == "on_time"
    assert got["handover_cutoff"] == "15:00" and got["paper"] is False
    first = got["rows"][0]
    assert first == {"no": 1, "from": {"unit": ONE_STOP, "officer": None},
                     "to": {"unit": CHE_DO, "officer": AN},
                     "handed_at": "2026-03-02T10:05:00+07:00",
                     "received_at": "2026-03-02T10:30:00+07:00",
                     "due_at": "2026-03-02T17:00:00+07:00", "outcome": "on_time",
                     "status": "received", "step_no": None, "notes": []}
    assert [r["outcome"] for r in got["rows"]] == ["on_time", "on_time", "early", "on_time"]
    assert got == on_time_slip().to_json()


def test_a_late_step_is_late_recorded_or_judged() -> None:
    late = [step(1, 1, CHE_DO, at(2, 10, 5), AN, at(4, 17), at(5, 9, 30), outcome=None),
            step(2, 2, KHTC, at(5, 9, 30), due=at(6, 17))]
    slip = build_control_slip(case(at(2, 10), at(6, 17)), late, CAL, paper=False)
    row = slip.rows[1]
    assert (row.giver, row.handed_at, row.due_at) == (Party(CHE_DO, AN), at(5, 9, 30), at(4, 17))
    assert row.outcome is Timeliness.late  # judged: the row has no recorded outcome
    recorded = [dict(late[0], outcome="late"), late[1]]
    assert build_control_slip(case(at(2, 10)), recorded, CAL).rows[1].outcome is Timeliness.late


def test_result_after_the_appointment_makes_the_dossier_late() -> None:
    slip = build_control_slip(case(at(2, 10), at(6, 17), channel="online"), ON_TIME_STEPS,
                              CAL, result_at=at(9, 9))
    assert slip.rows[-1].outcome is Timeliness.late and slip.outcome is Timeliness.late


def test_paper_after_the_cutoff_on_friday_goes_over_on_monday_opening() -> None:
    steps = [step(1, 1, CHE_DO, at(6, 16, 30), due=at(11, 12)),  # opened Friday 16:30
             step(2, 1, CHE_DO, at(6, 16, 45), AN, at(11, 12))]   # claimed before it came
    slip = build_control_slip(case(at(6, 16, 10), channel="counter"), steps, CAL)
    first = slip.rows[0]
    assert slip.paper is True
    assert first.handed_at == at(9, 8) == first.received_at  # Monday 08:00, the opening
    assert first.due_at == at(9, 17)
    assert first.outcome is Timeliness.on_time and first.notes == (Note.after_cutoff,)
    # The default calendar opens at 07:30 (CalendarRules.opens).
    default = build_control_slip(case(at(6, 16, 10)), steps, WorkCalendar(), paper=True)
    assert default.rows[0].handed_at == at(9, 7, 30)


def test_paper_before_the_cutoff_and_online_after_it_go_over_the_same_day() -> None:
    steps = [step(1, 1, CHE_DO, at(6, 16, 30), due=at(11, 12))]
    before = build_control_slip(case(at(6, 14, 59)), steps, CAL, paper=True).rows[0]
    assert (before.handed_at, before.due_at, before.notes) == (at(6, 16, 30), at(6, 17), ())
    online = build_control_slip(case(at(6, 16, 10), channel="online"), steps, CAL).rows[0]
    assert (online.handed_at, online.due_at, online.notes) == (at(6, 16, 30), at(6, 17), ())


def test_cutoff_is_configurable() -> None:
    steps = [step(1, 1, CHE_DO, at(6, 16, 30), due=at(11, 12))]
    slip = build_control_slip(case(at(6, 16, 10)), steps, CAL, paper=True,
                              cutoff=time(16, 30))
    assert slip.cutoff == time(16, 30) and slip.rows[0].due_at == at(6, 17)
    assert slip.rows[0].notes == ()


def test_received_on_a_day_off_goes_over_at_the_next_opening() -> None:
    steps = [step(1, 1, CHE_DO, at(7, 11), due=at(11, 12))]  # Saturday
    first = build_control_slip(case(at(7, 10)), steps, CAL, paper=True).rows[0]
    assert (first.handed_at, first.due_at, first.notes) == (at(9, 8), at(9, 17),
                                                            (Note.outside_hours,))


def test_in_progress_step_is_to_be_received_then_blank() -> None:
    steps = [step(1, 1, CHE_DO, at(2, 10, 5), AN, at(4, 17), at(3, 9), "early"),
             step(2, 2, KHTC, at(3, 9), due=at(6, 17))]  # nobody has taken step 2 yet
    slip = build_control_slip(case(at(2, 10), at(6, 17)), steps, CAL, paper=False)
    handed, pending = slip.rows[1], slip.rows[2]
    assert (handed.taker, handed.handed_at, handed.received_at, handed.status) == (
        Party(KHTC), at(3, 9), None, Status.to_be_received)
    assert (pending.giver, pending.taker, pending.handed_at, pending.received_at) == (
        Party(KHTC), None, None, None)
    assert (pending.due_at, pending.outcome, pending.status) == (at(6, 17), None,
                                                                 Status.in_progress)
    assert len(slip.rows) == 3 and slip.outcome is None


def test_not_yet_opened_case_shows_the_one_stop_unit_holding_it() -> None:
    slip = build_control_slip(case(at(6, 16, 10)), [], CAL, paper=True)
    (only,) = slip.rows
    assert (only.giver, only.taker, only.handed_at, only.due_at, only.status) == (
        Party(ONE_STOP), None, None, at(9, 17), Status.in_progress)


def test_a_step_sent_back_then_claimed_then_resumed_after_a_supplement() -> None:
    steps = [step(1, 1, CHE_DO, at(2, 10, 5), AN, at(3, 17), at(3, 9), "early"),
             step(2, 2, KHTC, at(3, 9), BINH, at(4, 17)),
             step(3, 1, CHE_DO, at(3, 14), due=at(3, 17)),   # sent back by KHTC
             step(4, 1, CHE_DO, at(3, 15), AN, at(3, 17)),   # claimed
             step(5, 1, CHE_DO, at(9, 9), AN, at(11, 17))]   # supplement in: due renewed
    rows = build_control_slip(case(at(2, 10)), steps, CAL, paper=False).rows
    back = rows[2]
    assert (back.giver, back.taker, back.handed_at, back.received_at) == (
        Party(KHTC, BINH), Party(CHE_DO, AN), at(3, 14), at(3, 15))
    # Not completed: judged by when it was handed back against KHTC's due (Wed 17:00).
    assert back.notes == (Note.sent_back,) and back.outcome is Timeliness.early
    assert (rows[3].giver, rows[3].due_at, rows[3].status) == (Party(CHE_DO, AN), at(11, 17),
                                                               Status.in_progress)
    assert len(rows) == 4


def test_result_handed_at_reads_the_history() -> None:
    history = [{"at": at(5, 9), "action": "complete_step"},
               {"at": at(5, 10), "action": "approve"},
               {"at": at(6, 10).isoformat(), "action": "issue_result"},
               {"at": at(9, 8), "action": "record_return"}]
    assert result_handed_at(history) == at(6, 10)
    assert result_handed_at(history[:2]) is None
    assert result_handed_at([{"at": at(5, 11), "action": "deny"}]) == at(5, 11)


def test_bad_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_control_slip(case(datetime(2026, 3, 2, 10)), [], CAL)
    with pytest.raises(ValueError, match="given for"):
        build_control_slip(case(at(2, 10)), [dict(ON_TIME_STEPS[0], dossier_code="X-1")], CAL)
    with pytest.raises(ValueError, match="no received_at"):
        build_control_slip({"code": CODE}, [], CAL)


# --- PDFs ---------------------------------------------------------------------------------

needs_pdftotext = pytest.mark.skipif(not PDFTOTEXT.is_file(),
                                     reason="/usr/bin/pdftotext is not installed")


def text_of(data: bytes, tmp_path: Path) -> str:
    assert data.startswith(b"%PDF-")
    src = tmp_path / "doc.pdf"
    src.write_bytes(data)
    out = subprocess.run([str(PDFTOTEXT), "-enc", "UTF-8", str(src), "-"], check=True,
                         capture_output=True, text=True).stdout
    return out


def flat(text: str) -> str:
    """Line breaks of wrapped paragraphs folded, to look for a phrase."""
    return re.sub(r"\s+", " ", text)


def fonts_of(data: bytes) -> set[str]:
    reader = PdfReader(io.BytesIO(data))
    return {str(f.get_object()["/BaseFont"]).split("+")[-1]
            for page in reader.pages for f in page["/Resources"]["/Font"].values()}


def cell_times(row: Mapping[str, Any]) -> list[str]:
    return [datetime.fromisoformat(row[k]).strftime("%H:%M %d/%m/%Y")
            for k in ("handed_at", "received_at", "due_at") if row[k]]


@needs_pdftotext
def test_control_slip_pdf_prints_the_json_figures(tmp_path: Path) -> None:
    steps = [step(1, 1, CHE_DO, at(6, 16, 30), due=at(11, 12)),
             step(2, 1, CHE_DO, at(9, 9), AN, at(11, 12), at(12, 10), "late"),
             step(3, 2, KHTC, at(12, 10), due=at(13, 17))]
    slip = build_control_slip(case(at(6, 16, 10), at(13, 17), channel="counter"), steps, CAL)
    data = control_slip_pdf(slip, AGENCY, procedure_name=PROCEDURE)
    text = text_of(data, tmp_path)
    for phrase in ("PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", f"Mã hồ sơ: {CODE}",
                   "BẢO HIỂM XÃ HỘI TỈNH LAI CHÂU", PROCEDURE, "Mẫu số 05",
                   "16 giờ 10 phút, ngày 06 tháng 3 năm 2026", "Hồ sơ giấy, nộp trực tiếp",
                   f"Giao: {ONE_STOP}", f"Nhận: {CHE_DO} ({AN})", "Hồ sơ giấy nhận sau 15:00",
                   "Chờ nhận", "Đang giải quyết"):
        assert phrase in flat(text), phrase
    # Every time of every row of the JSON, in its cell (time above date), and nothing else.
    rows = slip.to_json()["rows"]
    printed = [f"{hm} {d}" for hm, d in re.findall(r"(\d{2}:\d{2})\n(\d{2}/\d{2}/\d{4})", text)]
    assert Counter(printed) == Counter(t for r in rows for t in cell_times(r))
    assert "08:00 09/03/2026" in printed  # Friday 16:10 paper, handed over Monday 08:00
    labels = {"early": "Trước hạn", "on_time": "Đúng hạn", "late": "Quá hạn"}
    assert re.findall("Trước hạn|Đúng hạn|Quá hạn", text) == [
        labels[r["outcome"]] for r in rows if r["outcome"]] == ["Đúng hạn", "Quá hạn"]
    assert fonts_of(data) == {"DejaVuSans", "DejaVuSans-Bold"}


def apology(**extra: Any) -> ApologyIssued:
    values: dict[str, Any] = {
        "dossier_code": CODE, "issued_at": at(12, 9), "original_due_at": at(13, 17),
        "new_due_at": at(18, 17), "department": CHE_DO, "signed_by": "Lê Văn Cường",
        "reason": "Chờ Bảo hiểm xã hội tỉnh Điện Biên xác nhận thời gian đóng bảo hiểm xã hội."}
    return ApologyIssued(**(values | extra))


@needs_pdftotext
def test_apology_letter_states_reason_and_both_dates(tmp_path: Path) -> None:
    data = apology_letter_pdf(AGENCY, apology(), procedure_name=PROCEDURE,
                              received_at=at(2, 10), applicant_name="Nguyễn Thị Hoa")
    text = flat(text_of(data, tmp_path))
    for phrase in ("VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT", "Mẫu số 04",
                   f"Mã hồ sơ: {CODE}", "BẢO HIỂM XÃ HỘI TỈNH LAI CHÂU", "Ông/Bà Nguyễn Thị Hoa",
                   PROCEDURE, apology().reason, "10 giờ 00 phút, ngày 02 tháng 3 năm 2026",
                   "Hẹn trả kết quả: 17 giờ 00 phút, ngày 13 tháng 3 năm 2026",
                   "hẹn trả kết quả vào: 17 giờ 00 phút, ngày 18 tháng 3 năm 2026",
                   f"{CHE_DO} xin lỗi Ông/Bà", "TRƯỞNG PHÒNG CHẾ ĐỘ BHXH", "Lê Văn Cường",
                   "Ngày lập: ngày 12 tháng 3 năm 2026"):
        assert phrase in text, phrase
    assert "CHƯA KÝ SỐ" not in text


@needs_pdftotext
def test_apology_letter_follows_the_form_in_force_at_receipt(tmp_path: Path) -> None:
    old = apology(issued_at=at(10, 9, month=6), original_due_at=at(11, 17, month=6),
                  new_due_at=at(14, 17, month=6))
    data = apology_letter_pdf(AGENCY, old, procedure_name=PROCEDURE,
                              received_at=datetime(2025, 6, 2, 9, tzinfo=TZ))
    text = flat(text_of(data, tmp_path))
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text
    assert "Thông tư 01/2018/TT-VPCP" in text and "Kính gửi" not in text  # no name given
    assert "Hẹn lại ngày trả kết quả: 17 giờ 00 phút, ngày 14 tháng 6 năm 2026" in text


def test_apology_letter_refuses_a_new_date_not_later() -> None:
    with pytest.raises(ValueError, match="after the original"):
        apology_letter_pdf(AGENCY, apology(new_due_at=at(13, 17)), procedure_name=PROCEDURE,
                           received_at=at(2, 10))


def resolved(decision: str, reasons: list[Reason]) -> DossierResolved:
    return DossierResolved(
        dossier_code=CODE, agency_code="000.00.12.H62", procedure_code="BHXH.NH.01",
        applicant=ApplicantRef(kind="individual", ref="p-7f3a9c2e"), resolved_at=at(5, 15, 30),
        decision=decision, due_at=at(6, 17), timeliness=Timeliness.early, reasons=reasons)


DENIAL = Reason(code="not_eligible", message_vi="Chưa đủ thời gian đóng bảo hiểm xã hội bắt "
                "buộc 6 tháng trong 12 tháng trước khi nghỉ việc.",
                message_en="Not enough contribution time.",
                legal_basis="Khoản 1 Điều 42 Luật Bảo hiểm xã hội số 41/2024/QH15")


@needs_pdftotext
def test_unsigned_denial_with_reasons(tmp_path: Path) -> None:
    data = result_document_pdf(AGENCY, resolved("denied", [DENIAL]), procedure_name=PROCEDURE,
                               received_at=at(2, 10), applicant_name="Nguyễn Thị Hoa")
    raw = text_of(data, tmp_path)
    text = flat(raw)
    for phrase in ("THÔNG BÁO KẾT QUẢ GIẢI QUYẾT HỒ SƠ", f"Mã hồ sơ: {CODE}", PROCEDURE,
                   "Quyết định: KHÔNG CHẤP THUẬN", DENIAL.message_vi,
                   f"Căn cứ pháp lý: {DENIAL.legal_basis}", "Nguyễn Thị Hoa",
                   "10 giờ 00 phút, ngày 02 tháng 3 năm 2026",
                   "Hẹn trả kết quả: 17 giờ 00 phút, ngày 06 tháng 3 năm 2026",
                   "Ngày giải quyết: 15 giờ 30 phút, ngày 05 tháng 3 năm 2026"):
        assert phrase in text, phrase
    assert raw.count("CHƯA KÝ SỐ") == 2  # under the title and in the page's footer


@needs_pdftotext
def test_signed_approval_has_no_unsigned_mark(tmp_path: Path) -> None:
    data = result_document_pdf(AGENCY, resolved("approved", []), procedure_name=PROCEDURE,
                               received_at=at(2, 10), signed=True,
                               result_type="Quyết định hưởng và chi trả trợ cấp",
                               signer_name="Phạm Văn Dũng")
    text = flat(text_of(data, tmp_path))
    assert "Quyết định: CHẤP THUẬN" in text and "KHÔNG CHẤP THUẬN" not in text
    assert "Kết quả: Quyết định hưởng và chi trả trợ cấp" in text and "Phạm Văn Dũng" in text
    assert "CHƯA KÝ SỐ" not in text and "Lý do" not in text
    assert fonts_of(data) == {"DejaVuSans", "DejaVuSans-Bold"}


def test_a_denial_without_reasons_is_refused() -> None:
    with pytest.raises(ValueError, match="reasons"):
        result_document_pdf(AGENCY, resolved("denied", []), procedure_name=PROCEDURE,
                            received_at=at(2, 10))
