"""The letters processing sends the applicant through the one-stop unit, as PDFs.

- apology_letter_pdf: phiếu xin lỗi và hẹn lại ngày trả kết quả
  (docs/law.md#explanation-and-apology-letter), from the ApologyIssued event it goes with,
  so both say the same dates;
- result_document_pdf: the decision (approved, or denied with its reasons), from the
  DossierResolved event. Digital signing comes later from digitization: `signed=False`
  prints "CHƯA KÝ SỐ" under the title and on every page.

Pure rendering: values in, PDF bytes out. Whether an apology is allowed (in time, once)
is the law's clock's question (clock.apology_problems), not the letter's.
"""

from __future__ import annotations

from datetime import datetime

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer

from contracts.events import ApologyIssued, DossierResolved
from services.common import pdf
from services.processing.documents.form_sets import form_set_for
from services.processing.documents.wording import (
    DECISION_VI,
    UNSIGNED_MARK,
    vn_datetime,
    vn_day,
)
from services.product.stationery import STATIONERY

RESULT_TITLE = "THÔNG BÁO KẾT QUẢ GIẢI QUYẾT HỒ SƠ"
RESULT_FORM = "Kết quả giải quyết thủ tục hành chính"
RESULT_SIGNER = "THỦ TRƯỞNG CƠ QUAN"


def _facts(applicant_name: str | None, procedure_name: str,
           received_at: datetime) -> list[tuple[str, str]]:
    rows = [("Kính gửi:", f"Ông/Bà {applicant_name}")] if applicant_name else []
    return [*rows, ("Thủ tục hành chính:", procedure_name),
            ("Thời gian tiếp nhận:", vn_datetime(received_at))]


def apology_letter_pdf(agency: pdf.Issuer, apology: ApologyIssued, *, procedure_name: str,
                       received_at: datetime, applicant_name: str | None = None,
                       signer_title: str | None = None) -> bytes:
    """Mẫu số 04 of the form set in force on the day of receipt: the original appointment,
    the reason for the delay, the new date, the responsible department, signed by its head
    (`signer_title`, default "TRƯỞNG " + the department)."""
    pdf.ensure_fonts()  # before any Paragraph: they resolve fonts when built
    if apology.new_due_at <= apology.original_due_at:
        raise ValueError("the new appointment must be after the original one")
    if not apology.reason.strip():
        raise ValueError("an apology states the reason for the delay")
    forms = form_set_for(received_at)
    dept = apology.department
    facts = _facts(applicant_name, procedure_name, received_at)
    facts.append(("Hẹn trả kết quả:", vn_datetime(apology.original_due_at)))
    body: list[Flowable] = [
        pdf.p(f"Ngày lập: {vn_day(apology.issued_at)}", "center"), Spacer(1, 3 * mm),
        pdf.label_value_table(facts),
        pdf.p(f"Tuy nhiên đến nay, {dept} chưa trả kết quả giải quyết hồ sơ.", "body"),
        pdf.p("Lý do chậm trễ:", "section"), pdf.p(apology.reason, "item"),
        pdf.p(f"Sự chậm trễ này đã gây phiền hà cho Ông/Bà. {dept} xin lỗi Ông/Bà và "
              f"hẹn lại thời gian trả kết quả:", "body"),
        pdf.bold_after(forms.new_date_label, vn_datetime(apology.new_due_at), "item"),
        pdf.p("Rất mong nhận được sự thông cảm của Ông/Bà.", "body"),
        pdf.signatures(signer_title or f"TRƯỞNG {dept.upper()}", apology.signed_by, None),
    ]
    head = pdf.header(STATIONERY, agency, apology.dossier_code,
                      f"({forms.apology_form}, {forms.legal_basis})", forms.apology_title)
    return pdf.build_pdf(head + body, stationery=STATIONERY, dossier_code=apology.dossier_code,
                         title=forms.apology_title, author=agency.name)


def result_document_pdf(agency: pdf.Issuer, resolved: DossierResolved, *,
                        procedure_name: str, received_at: datetime, signed: bool = False,
                        applicant_name: str | None = None, result_type: str | None = None,
                        signer_name: str = "", signer_title: str = RESULT_SIGNER) -> bytes:
    """The decision on the dossier: approved (with the catalogue's `result_type`), or
    denied with every reason and its legal basis (Decision 1333/QĐ-BHXH, step 4).
    `signed=False` until digitization has signed it: the unsigned mark is printed."""
    pdf.ensure_fonts()
    if resolved.decision == "denied" and not resolved.reasons:
        raise ValueError("a denial states its reasons")
    facts = _facts(applicant_name, procedure_name, received_at)
    facts += [("Hẹn trả kết quả:", vn_datetime(resolved.due_at)),
              ("Ngày giải quyết:", vn_datetime(resolved.resolved_at))]
    if resolved.decision == "approved" and result_type:
        facts.append(("Kết quả:", result_type))
    body: list[Flowable] = []
    if not signed:
        body.append(Paragraph(f'<font color="#B00020">{pdf.t(UNSIGNED_MARK)}</font>',
                              pdf.STYLES["code"]))
    body += [pdf.p(f"Ngày lập: {vn_day(resolved.resolved_at)}", "center"), Spacer(1, 3 * mm),
             pdf.label_value_table(facts),
             pdf.bold_after("Quyết định:", DECISION_VI[resolved.decision], "section")]
    if resolved.reasons:
        body.append(pdf.p("Lý do:", "section"))
        body += pdf.numbered([(r.message_vi, r.legal_basis) for r in resolved.reasons])
    body.append(pdf.signatures(signer_title, signer_name, None))
    head = pdf.header(STATIONERY, agency, resolved.dossier_code, f"({RESULT_FORM})",
                      RESULT_TITLE)
    return pdf.build_pdf(head + body, stationery=STATIONERY, dossier_code=resolved.dossier_code,
                         title=RESULT_TITLE, author=agency.name,
                         mark=None if signed else UNSIGNED_MARK)
