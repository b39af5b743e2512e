"""The legal report form on a hand-made history whose figures are counted by hand: Q2 2026
(0:00 15/03/2026 to 24:00 14/06/2026) per procedure and agency across the cut-off of 0:00
on Monday 15/06/2026 (a receipt on Friday 12/06, one submitted online on Sunday 14/06 at
23:00 that the law receives on Monday 15/06 at 07:30, one at the counter that Monday),
with one dossier resolved late, one pending overdue at the cut-off and one returned for
supplement; the spreadsheet read back with openpyxl and the PDF's text read with
pdftotext; and the sub-deadline overruns of the other agencies asked (one answered late,
one on time, one unanswered past its sub-deadline at the cut-off). The integration test
(tests/integration/test_reporting_legal_form.py) publishes the same history to the
broker."""

from __future__ import annotations

import io
import subprocess
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, LegalTime, ReturnChannel
from contracts.envelope import Envelope
from contracts.events import (
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    Event,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
    VerificationAnswered,
    VerificationRequested,
)
from contracts.topics import Topic
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, timeliness
from services.reporting import exports, quarterly, subdeadlines
from services.reporting.facts import Recorded
from tests.unit.test_reporting_quarterly import facts_of, ind, nodes

A, B, PROVINCE, NATION = "000.01.01.H26", "000.01.02.H26", "000.00.01.H26", "000.00.00.H99"
ST, NH = "BHXH.ST.01", "BHXH.NH.03"  # Sổ thẻ, 5 working days; Chế độ ngắn hạn, 7
CATALOGS = load_catalogs()
COURT, HOSPITAL = "Sở Tư pháp thành phố Hà Nội", "Bệnh viện Bạch Mai"


def at(mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=TZ)


def _env(topic: Topic, event: Event, agency: str, recorded: datetime) -> tuple[Topic, Envelope]:
    return topic, Envelope(id=uuid.uuid4(), type=event.event_type, source="onestop/test",
                           subject=event.dossier_code, time=recorded, agencycode=agency,
                           data=event.model_dump(mode="json"))


class History:
    """Events of hand-made dossiers (`prefix` keeps each run's codes apart)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.items: list[tuple[Topic, Envelope]] = []
        self.agency: dict[str, str] = {}

    def code(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def put(self, topic: Topic, event: Event, when: datetime) -> None:
        self.items.append(_env(topic, event, self.agency[event.dossier_code], when))

    def receive(self, name: str, agency: str, procedure: str, received: datetime,
                due: datetime, channel: Channel = Channel.counter) -> None:
        code = self.code(name)
        self.agency[code] = agency
        legal = LegalTime(value=5 if procedure == ST else 7, unit="working_days")
        self.put(topics.INTAKE, DossierReceived(
            dossier_code=code, agency_code=agency, procedure_code=procedure,
            catalog_version="2025.07", channel=channel, return_channel=ReturnChannel.counter,
            received_at=received, due_at=due, legal_time=legal,
            applicant=ApplicantRef(kind="individual", ref=f"p1_ref_{code}"),
            components=[ComponentRef(code="TK1-TS", form="paper")]), received)

    def resolve(self, name: str, procedure: str, when: datetime, due: datetime) -> None:
        code = self.code(name)
        self.put(topics.PROCESSING, DossierResolved(
            dossier_code=code, agency_code=self.agency[code], procedure_code=procedure,
            applicant=ApplicantRef(kind="individual", ref=f"p1_ref_{code}"), resolved_at=when,
            decision="approved", due_at=due, timeliness=timeliness(when, due)), when)

    def step(self, name: str, no: int, department: str, who: str, start: datetime,
             due: datetime, end: datetime | None) -> None:
        code = self.code(name)
        self.put(topics.PROCESSING, StepAssigned(
            dossier_code=code, step_no=no, step_code=f"S{no}", department=department,
            assignee=who, assigned_at=start, step_due_at=due), start)
        if end is not None:
            self.put(topics.PROCESSING, StepCompleted(
                dossier_code=code, step_no=no, step_code=f"S{no}", department=department,
                completed_at=end, outcome=timeliness(end, due)), end)

    def verify(self, name: str, request: str, to: str, asked: datetime, sub_due: datetime,
               answered: datetime | None) -> None:
        code = self.code(name)
        self.put(topics.PROCESSING, VerificationRequested(
            dossier_code=code, request_id=request, to_agency=to, requested_at=asked,
            sub_due_at=sub_due, question="Xác minh thông tin"), asked)
        if answered is not None:
            self.put(topics.PROCESSING, VerificationAnswered(
                dossier_code=code, request_id=request, from_agency=to, answered_at=answered,
                answer_summary="Đúng"), answered)


THU, CHE_DO = "Phòng Quản lý thu - Sổ thẻ", "Phòng Chế độ BHXH"


def history(prefix: str) -> History:
    """Office hours 07:30-17:00; the day of receipt is not counted. Q2 2026's only holiday
    is Friday 01/05."""
    h = History(prefix)
    # f11 (A, Sổ thẻ): Tue 10/03 (Q1): Wed 11, Thu 12, Fri 13, Mon 16, Tue 17/03. Resolved
    # Wed 18/03 10:00: late, in Q2, carried over into it.
    h.receive("f11", A, ST, at(3, 10), at(3, 17, 17))
    h.resolve("f11", ST, at(3, 18, 10), at(3, 17, 17))
    h.verify("f11", "X0", COURT, at(3, 11), at(3, 12, 17), at(3, 13))  # Q1: late there
    # f01 (A, Sổ thẻ, counter): Mon 04/05: Tue 5 .. Fri 8, Mon 11. Resolved Thu 07/05 10:00:
    # early.
    h.receive("f01", A, ST, at(5, 4), at(5, 11, 17))
    h.step("f01", 1, THU, "cb.thu", at(5, 4, 9, 30), at(5, 8, 17), at(5, 6, 15))
    h.resolve("f01", ST, at(5, 7, 10), at(5, 11, 17))
    # f02 (A, Sổ thẻ, online): Mon 11/05: Tue 12 .. Fri 15, Mon 18. Its step late (Tue 19
    # 09:00), resolved Tue 19/05 10:00: late. The hospital asked Tue 12/05, sub-deadline Thu
    # 14/05 17:00, never answers: past it at the cut-off.
    h.receive("f02", A, ST, at(5, 11), at(5, 18, 17), Channel.online)
    h.step("f02", 1, THU, "cb.thu", at(5, 11, 10), at(5, 15, 17), at(5, 19))
    h.verify("f02", "X4", HOSPITAL, at(5, 12), at(5, 14, 17), None)
    h.resolve("f02", ST, at(5, 19, 10), at(5, 18, 17))
    # f03 (A, thai sản, by post): Wed 03/06: Thu 4, Fri 5, Mon 8 .. Fri 12/06. Never
    # resolved: overdue at the cut-off. The court asked Thu 04/06, sub-deadline Mon 08/06
    # 17:00, answered Wed 10/06 10:00: late.
    h.receive("f03", A, NH, at(6, 3, 10), at(6, 12, 17), Channel.postal)
    h.verify("f03", "X1", COURT, at(6, 4), at(6, 8, 17), at(6, 10, 10))
    # f04 (A, thai sản, counter): Fri 12/06 16:00, before the cut-off: Mon 15 .. Fri 19,
    # Mon 22, Tue 23/06. Pending within time. The court asked Fri 12/06 16:30, sub-deadline
    # Wed 17/06 17:00, unanswered: pending within its sub-deadline at the cut-off.
    h.receive("f04", A, NH, at(6, 12, 16), at(6, 23, 17))
    h.verify("f04", "X2", COURT, at(6, 12, 16, 30), at(6, 17, 17), None)
    # f05 (A, thai sản, counter): Tue 02/06, due Thu 11/06. Returned for supplement Thu
    # 04/06 10:00, completed Mon 08/06 09:00: the clock restarts, Tue 9 .. Wed 17/06.
    # Resolved Fri 12/06 10:00: early. The hospital answered on time.
    h.receive("f05", A, NH, at(6, 2), at(6, 11, 17))
    h.put(topics.PROCESSING, SupplementRequested(
        dossier_code=h.code("f05"), requested_at=at(6, 4, 10), stage="processing",
        requested_by="cb.chedo", items=[{"problem_vi": "Thiếu giấy chứng sinh"}]), at(6, 4, 10))
    h.put(topics.INTAKE, SupplementReceived(
        dossier_code=h.code("f05"), received_at=at(6, 8), complete=True,
        components=[{"code": "GCS", "form": "paper"}], due_at=at(6, 17, 17)), at(6, 8))
    h.verify("f05", "X3", HOSPITAL, at(6, 2, 14), at(6, 5, 17), at(6, 5, 11))
    h.step("f05", 1, CHE_DO, "cb.chedo", at(6, 8, 10), at(6, 15, 17), at(6, 11, 16))
    h.resolve("f05", NH, at(6, 12, 10), at(6, 17, 17))
    # f06 (A, thai sản, online): Sunday 14/06 23:00, received Monday 15/06 07:30: Q3.
    h.receive("f06", A, NH, at(6, 14, 23), at(6, 24, 17), Channel.online)
    # f07 (A, thai sản, counter): Monday 15/06 08:00: Q3. Its step completed in Q3.
    h.receive("f07", A, NH, at(6, 15, 8), at(6, 24, 17))
    h.step("f07", 1, CHE_DO, "cb.chedo", at(6, 15, 9), at(6, 22, 17), at(6, 16, 10))
    # f10 (A, thai sản, counter): Tue 26/05, withdrawn Wed 27/05.
    h.receive("f10", A, NH, at(5, 26), at(6, 4, 17))
    h.put(topics.INTAKE, DossierWithdrawn(dossier_code=h.code("f10"),
                                          withdrawn_at=at(5, 27, 10)), at(5, 27, 10))
    # f08 (B, Sổ thẻ, counter): Mon 18/05: Tue 19 .. Fri 22, Mon 25. Resolved Mon 25/05
    # 16:00: on time. The court answered on time.
    h.receive("f08", B, ST, at(5, 18), at(5, 25, 17))
    h.verify("f08", "X5", COURT, at(5, 19), at(5, 21, 17), at(5, 21, 16))
    h.resolve("f08", ST, at(5, 25, 16), at(5, 25, 17))
    # f09 (B, thai sản): refused at the counter Wed 20/05.
    h.agency[h.code("f09")] = B
    h.put(topics.INTAKE, DossierRejected(
        dossier_code=h.code("f09"), agency_code=B, procedure_code=NH,
        applicant=ApplicantRef(kind="individual", ref="p1_refused"), rejected_at=at(5, 20),
        reasons=[{"code": "incomplete", "message_vi": "Thiếu thành phần",
                  "message_en": "missing component"}]), at(5, 20))
    return h


# Counted by hand from the history above, Q2 2026.
# A, Sổ thẻ: f01 counter early, f02 online late, f11 carried over, late.
A_ST = ind(online=1, direct=1, carried=1, early=1, late=2)
# A, thai sản: f03 post (overdue), f04 counter (within), f05 counter (returned for
# supplement, early), f10 counter (withdrawn); f06 and f07 belong to Q3.
A_NH = ind(direct=4, postal=1, early=1, within=1, overdue=1, withdrawn=1, supplement=1)
A_ALL = ind(online=1, direct=5, postal=1, carried=1, early=2, late=2, within=1, overdue=1,
            withdrawn=1, supplement=1)
B_ST, B_NH = ind(direct=1, on_time=1), ind(refused=1)
B_ALL = ind(direct=1, on_time=1, refused=1)
PROVINCE_ALL = ind(online=1, direct=6, postal=1, carried=1, early=2, on_time=1, late=2,
                   within=1, overdue=1, refused=1, withdrawn=1, supplement=1)
# Q2's other agencies: the court: X1 late, X2 pending within, X5 on time (X0 closed in Q1);
# the hospital: X3 on time, X4 unanswered past its sub-deadline.
SUB_DEADLINES_Q2 = [
    {"agency": HOSPITAL, "requested": 2, "answered_on_time": 1, "answered_late": 0,
     "pending_within_time": 0, "pending_overdue": 1, "overruns": 1},
    {"agency": COURT, "requested": 3, "answered_on_time": 1, "answered_late": 1,
     "pending_within_time": 1, "pending_overdue": 0, "overruns": 1}]


def procedures(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["procedure"]: p for p in node["procedures"]}


def report(h: History, year: int = 2026, quarter: int = 2, agency: str | None = None,
           until: datetime | None = None) -> dict[str, Any]:
    found = [Recorded.parsed(env) for _, env in h.items if until is None or env.time <= until]
    return quarterly.report(facts_of(h.items, until), CATALOGS, year, quarter, agency,
                            subdeadlines.verifications(found))


def test_q2_2026_per_procedure_and_agency_across_the_cut_off() -> None:
    q2 = report(history("F"))
    found = nodes(q2)
    assert found[A]["indicators"] == A_ALL
    assert procedures(found[A])[ST]["indicators"] == A_ST
    assert procedures(found[A])[NH]["indicators"] == A_NH
    assert procedures(found[A])[NH]["name"] == "Giải quyết hưởng chế độ thai sản"
    assert procedures(found[A])[NH]["field"] == "Chế độ ngắn hạn"
    assert found[B]["indicators"] == B_ALL
    assert procedures(found[B])[ST]["indicators"] == B_ST
    assert procedures(found[B])[NH]["indicators"] == B_NH
    # Rolled up: the province and the nation per procedure and in all.
    for code in (PROVINCE, NATION):
        assert found[code]["indicators"] == PROVINCE_ALL
        assert procedures(found[code])[ST]["indicators"] == ind(
            online=1, direct=2, carried=1, early=1, on_time=1, late=2)
        assert procedures(found[code])[NH]["indicators"] == ind(
            direct=4, postal=1, early=1, within=1, overdue=1, refused=1, withdrawn=1,
            supplement=1)
    assert procedures(found["000.00.79.H29"]) == {}  # no dossier there


def test_the_dossiers_of_the_15th_belong_to_q3() -> None:
    q3 = nodes(report(history("F"), quarter=3))
    # f06 online (received Mon 15/06 07:30) and f07 at the counter; f03 and f04 carried
    # over (f05 was resolved in Q2); every appointment passed by the cut-off of 15/09.
    assert procedures(q3[A])[NH]["indicators"] == ind(online=1, direct=1, carried=2,
                                                      overdue=4)
    assert ST not in procedures(q3[A])  # nothing of Sổ thẻ open after Q2


def test_sub_deadline_overruns_per_other_agency() -> None:
    h = history("F")
    assert report(h)["sub_deadlines"] == SUB_DEADLINES_Q2
    # Q1: the court's X0 answered a day late.
    assert report(h, quarter=1)["sub_deadlines"] == [
        {"agency": COURT, "requested": 1, "answered_on_time": 0, "answered_late": 1,
         "pending_within_time": 0, "pending_overdue": 0, "overruns": 1}]
    # Q3: X2 and X4 still unanswered, both past their sub-deadline at its cut-off.
    assert {r["agency"]: r["pending_overdue"] for r in report(h, quarter=3)["sub_deadlines"]} \
        == {COURT: 1, HOSPITAL: 1}
    # Cầu Giấy's own report holds its request only.
    assert report(h, agency=B)["sub_deadlines"] == [
        {"agency": COURT, "requested": 1, "answered_on_time": 1, "answered_late": 0,
         "pending_within_time": 0, "pending_overdue": 0, "overruns": 0}]
    # As the log stood on 09/06: X1 not answered yet, past its sub-deadline.
    before = {r["agency"]: r for r in report(h, until=at(6, 9))["sub_deadlines"]}
    assert (before[COURT]["answered_late"], before[COURT]["pending_overdue"]) == (0, 1)


def test_each_verification_on_the_dossier_path() -> None:
    h = history("F")
    found = {v.request_id: v for v in subdeadlines.verifications(
        Recorded.parsed(env) for _, env in h.items)}
    assert found["X1"].json(at(6, 16)) == {
        "request_id": "X1", "to_agency": COURT, "requested_at": "2026-06-04T09:00:00+07:00",
        "sub_due_at": "2026-06-08T17:00:00+07:00", "answered_at": "2026-06-10T10:00:00+07:00",
        "answered_by": COURT, "status": "answered_late", "overrun": True}
    assert found["X3"].json(at(6, 16))["status"] == "answered_on_time"
    assert found["X2"].json(at(6, 16))["status"] == "pending_within_time"
    assert found["X2"].json(at(6, 18))["status"] == "pending_overdue"
    assert found["X2"].json(at(6, 18))["overrun"] is True
    # A request redelivered, or its answer arriving first, changes nothing.
    events = [Recorded.parsed(env) for _, env in reversed(h.items)]
    again = subdeadlines.verifications(events + events[:5])
    assert again == sorted(found.values(), key=lambda v: (v.dossier_code, v.request_id))


def pdf_text(body: bytes, tmp: Path, mode: str = "-layout") -> str:
    """The PDF's text as pdftotext reads it: laid out as printed, or (-raw) in the order
    it was drawn, so a heading wrapped in its cell reads whole once joined by spaces."""
    (tmp / "report.pdf").write_bytes(body)
    return subprocess.run(["pdftotext", mode, str(tmp / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout


FORM_HEADINGS = ["STT", "Lĩnh vực, thủ tục hành chính / Đơn vị", "Số hồ sơ nhận giải quyết",
                 "Tổng số", "Trong kỳ", "Trực tuyến", "Trực tiếp", "Dịch vụ bưu chính",
                 "Từ kỳ trước", "Số hồ sơ đã giải quyết", "Trước hạn", "Đúng hạn", "Quá hạn",
                 "Số hồ sơ đang giải quyết", "Trong hạn", "Số hồ sơ từ chối tiếp nhận",
                 "Số hồ sơ rút theo yêu cầu", "Số hồ sơ yêu cầu bổ sung, hoàn thiện"]


def row_of(figures: dict[str, Any]) -> list[int]:
    """The form's figure columns, in its order, from the JSON's indicators."""
    r, d, p = figures["received"], figures["resolved"], figures["pending"]
    return [r["total"], r["online"], r["direct"], r["postal"], r["carried_over"], d["total"],
            d["early"], d["on_time"], d["late"], p["total"], p["within_time"], p["overdue"],
            figures["refused"], figures["withdrawn"], figures["returned_for_supplement"]]


def test_the_spreadsheet_is_laid_out_as_the_form() -> None:
    q2 = report(history("F"), agency=PROVINCE)
    header = exports.header(q2, CATALOGS, date(2026, 6, 16))
    sheet = load_workbook(io.BytesIO(exports.xlsx(q2, header))).worksheets[0]
    cells = list(sheet.iter_rows(values_only=True))
    texts = [str(c) for row in cells for c in row if c is not None]
    assert "BẢO HIỂM XÃ HỘI VIỆT NAM" in texts and "BẢO HIỂM XÃ HỘI THÀNH PHỐ HÀ NỘI" in texts
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in texts
    assert exports.TITLE in texts
    assert ("Kỳ báo cáo: Quý 2 năm 2026 (từ 00 giờ ngày 15 tháng 3 năm 2026 đến 24 giờ ngày "
            "14 tháng 6 năm 2026)") in texts
    assert "Đơn vị báo cáo: Bảo hiểm xã hội thành phố Hà Nội" in texts
    assert "Đơn vị nhận báo cáo: Bảo hiểm xã hội Việt Nam" in texts
    # The headings in the form's order, left to right and top to bottom.
    heading = next(i for i, row in enumerate(cells) if row[0] == "STT")
    order = [str(c) for j in range(exports.WIDTH) for c in
             (cells[heading][j], cells[heading + 1][j], cells[heading + 2][j]) if c]
    assert [x for x in order if x in FORM_HEADINGS] == [
        "STT", "Lĩnh vực, thủ tục hành chính / Đơn vị", "Số hồ sơ nhận giải quyết", "Tổng số",
        "Trong kỳ", "Trực tuyến", "Trực tiếp", "Dịch vụ bưu chính", "Từ kỳ trước",
        "Số hồ sơ đã giải quyết", "Tổng số", "Trước hạn", "Đúng hạn", "Quá hạn",
        "Số hồ sơ đang giải quyết", "Tổng số", "Trong hạn", "Quá hạn",
        "Số hồ sơ từ chối tiếp nhận", "Số hồ sơ rút theo yêu cầu",
        "Số hồ sơ yêu cầu bổ sung, hoàn thiện"]
    assert cells[heading + 3][:3] == ("(1)", "(2)", "(3)=(4)+(5)+(6)+(7)")
    # Province, then Ba Đình with its fields and procedures, then Cầu Giấy.
    body = [row for row in cells[heading + 4:] if row[0] and row[exports.WIDTH]]
    by_code = {row[exports.WIDTH]: row for row in body}
    assert [row[exports.WIDTH] for row in body][:3] == [PROVINCE, NH, ST]  # the province's
    assert [r[0] for r in body if r[exports.WIDTH] in (PROVINCE, A, B)] == ["1", "1.1", "1.2"]
    assert list(by_code[A][2:exports.WIDTH]) == row_of(A_ALL)
    assert list(by_code[B][2:exports.WIDTH]) == row_of(B_ALL)
    a_rows = [r for r in cells if r[exports.WIDTH] in (ST, NH)]
    # Ba Đình's procedure rows follow its own row (the province's come first).
    after_a = cells[[r[exports.WIDTH] for r in cells].index(A) + 1:]
    assert str(after_a[0][1]).strip() == "Lĩnh vực Chế độ ngắn hạn"
    assert list(after_a[1][2:exports.WIDTH]) == row_of(A_NH)
    assert str(after_a[2][1]).strip() == "Lĩnh vực Sổ thẻ"
    assert list(after_a[3][2:exports.WIDTH]) == row_of(A_ST)
    assert len(a_rows) == 6  # province, Ba Đình and Cầu Giấy each with two procedures
    assert "Hà Nội, ngày 16 tháng 6 năm 2026" in texts
    assert {"NGƯỜI LẬP BIỂU", "THỦ TRƯỞNG ĐƠN VỊ"} <= set(texts)
    overruns = load_workbook(io.BytesIO(exports.xlsx(q2, header)))["Lien thong"]
    rows = list(overruns.iter_rows(values_only=True))
    assert rows[3] == (HOSPITAL, 2, 1, 0, 0, 1, 1)
    assert rows[4] == (COURT, 3, 1, 1, 1, 0, 1)


def test_the_pdf_is_laid_out_as_the_form(tmp_path: Path) -> None:
    q2 = report(history("F"), agency=PROVINCE)
    body = exports.pdf(q2, exports.header(q2, CATALOGS, date(2026, 6, 16)))
    text = pdf_text(body, tmp_path)
    flat = " ".join(pdf_text(body, tmp_path, "-raw").split())
    for words in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", exports.TITLE,
                  "Kỳ báo cáo: Quý 2 năm 2026 (từ 00 giờ ngày 15 tháng 3 năm 2026 đến 24 giờ "
                  "ngày 14 tháng 6 năm 2026)", "Đơn vị báo cáo: Bảo hiểm xã hội thành phố Hà Nội",
                  "Đơn vị nhận báo cáo: Bảo hiểm xã hội Việt Nam", "NGƯỜI LẬP BIỂU",
                  "THỦ TRƯỞNG ĐƠN VỊ", "Hà Nội, ngày 16 tháng 6 năm 2026", *FORM_HEADINGS):
        assert words in flat, words
    line = next(x for x in text.splitlines() if "Bảo hiểm xã hội cơ sở Ba Đình" in x)
    assert [int(v) for v in line.split()[-15:]] == row_of(A_ALL)
    # The annex: the other agencies' overruns.
    assert "Phụ lục: Quá hạn của cơ quan phối hợp giải quyết (liên thông)" in flat
    hospital = next(x for x in text.splitlines() if HOSPITAL in x)
    assert hospital.split()[-6:] == ["2", "1", "0", "0", "1", "1"]


def test_the_place_of_a_unit() -> None:
    assert exports.place_of("Bảo hiểm xã hội Việt Nam") == "Hà Nội"
    assert exports.place_of("Bảo hiểm xã hội tỉnh Lai Châu") == "Lai Châu"
    assert exports.place_of("Bảo hiểm xã hội Thành phố Hồ Chí Minh") == "Hồ Chí Minh"
    assert exports.place_of("Bảo hiểm xã hội cơ sở Ba Đình") == "Ba Đình"
    assert exports.place_of("Bảo hiểm xã hội khu vực I") == "……………"
