"""The control slip as a PDF: the same ControlSlip the API answers, as a table.

Pure rendering: a ControlSlip in, PDF bytes out (DejaVu Sans, Vietnamese).
"""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer

from services.common import pdf
from services.processing.documents.control_slip import (
    AgencyRequest,
    ControlSlip,
    Handover,
    Party,
)
from services.processing.documents.form_sets import form_set_for
from services.processing.documents.wording import (
    NOTE_VI,
    OUTCOME_VI,
    STATUS_VI,
    short_time,
    vn_datetime,
)
from services.product.stationery import STATIONERY

_HEAD = ("TT", "Giao – Nhận", "Thời gian giao", "Thời gian nhận", "Hạn xử lý",
         "Kết quả (trước hạn / đúng hạn / quá hạn)", "Ghi chú")
_WIDTHS = [8 * mm, 40 * mm, 22 * mm, 22 * mm, 22 * mm, 20 * mm, pdf.WIDTH - 134 * mm]
# The requests to other agencies (liên thông), each with its sub-deadline.
_OTHER_TITLE = "Phối hợp với cơ quan, đơn vị khác (liên thông)"
_OTHER_HEAD = ("TT", "Cơ quan được đề nghị", "Thời gian gửi", "Hạn trả lời",
               "Thời gian trả lời", "Kết quả (trước hạn / đúng hạn / quá hạn)", "Ghi chú")
OVERRUN_VI = "Quá thời hạn trả lời"


def _party(party: Party | None) -> str:
    if party is None:
        return ""
    return f"{party.unit} ({party.officer})" if party.officer else party.unit


def _time_cell(at_pair: tuple[str, str]) -> Paragraph:
    # Time above date: a cell too narrow for both on a line never splits a date.
    return Paragraph("<br/>".join(pdf.t(x) for x in at_pair), pdf.STYLES["cell_c"])


def _row(no: int, r: Handover, slip: ControlSlip) -> list[Flowable]:
    cutoff = slip.cutoff.strftime("%H:%M")
    notes = [NOTE_VI[n].format(cutoff=cutoff) for n in r.notes]
    if STATUS_VI[r.status]:
        notes.insert(0, STATUS_VI[r.status])
    parties = Paragraph(f"Giao: {pdf.t(_party(r.giver))}<br/>Nhận: {pdf.t(_party(r.taker))}",
                        pdf.STYLES["cell"])
    return [pdf.p(str(no), "cell_c"), parties, _time_cell(short_time(r.handed_at)),
            _time_cell(short_time(r.received_at)), _time_cell(short_time(r.due_at)),
            pdf.p(OUTCOME_VI[r.outcome] if r.outcome else "", "cell_c"),
            pdf.p("; ".join(notes), "cell")]


def _request_row(no: int, r: AgencyRequest) -> list[Flowable]:
    note = OVERRUN_VI if r.overrun else ("Chưa trả lời" if r.answered_at is None else "")
    return [pdf.p(str(no), "cell_c"), pdf.p(r.agency, "cell"),
            _time_cell(short_time(r.requested_at)), _time_cell(short_time(r.sub_due_at)),
            _time_cell(short_time(r.answered_at)),
            pdf.p(OUTCOME_VI[r.outcome] if r.outcome else "", "cell_c"), pdf.p(note, "cell")]


def control_slip_pdf(slip: ControlSlip, agency: pdf.Issuer, *,
                     procedure_name: str | None = None) -> bytes:
    """Mẫu số 05: phiếu kiểm soát quá trình giải quyết hồ sơ, every row of `slip`."""
    pdf.ensure_fonts()  # before any Paragraph: they resolve fonts when built
    forms = form_set_for(slip.received_at)
    facts = [("Thủ tục hành chính:", procedure_name or slip.procedure_code or ""),
             ("Thời gian tiếp nhận:", vn_datetime(slip.received_at)),
             ("Hình thức:", "Hồ sơ giấy, nộp trực tiếp" if slip.paper else "Hồ sơ điện tử")]
    if slip.due_at:
        facts.append(("Hẹn trả kết quả:", vn_datetime(slip.due_at)))
    table = [[pdf.p(h, "head") for h in _HEAD]]
    table += [_row(i, r, slip) for i, r in enumerate(slip.rows, start=1)]
    body: list[Flowable] = [pdf.label_value_table(facts), Spacer(1, 3 * mm),
                            pdf.grid_table(table, _WIDTHS)]
    if slip.other_agencies:
        others = [[pdf.p(h, "head") for h in _OTHER_HEAD]]
        others += [_request_row(i, r) for i, r in enumerate(slip.other_agencies, start=1)]
        body += [Spacer(1, 3 * mm), pdf.p(_OTHER_TITLE, "section"),
                 pdf.grid_table(others, _WIDTHS)]
    if slip.outcome:
        body.append(pdf.bold_after("Kết quả giải quyết hồ sơ:", OUTCOME_VI[slip.outcome],
                                   "item"))
    head = pdf.header(STATIONERY, agency, slip.dossier_code,
                      f"({forms.control_form}, {forms.legal_basis})", forms.control_title)
    return pdf.build_pdf(head + body, stationery=STATIONERY, dossier_code=slip.dossier_code,
                         title=forms.control_title, author=agency.name)
