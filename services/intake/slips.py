"""The slips the one-stop unit hands the applicant at receipt (domain.md sections 4, 8, 12).

Pure rendering: frozen dataclasses in, PDF bytes out; no database, no HTTP, no clock. Three
forms, whose wording follows the form set in force on the day of receipt (a dated rule,
domain.md section 1):

- Mẫu số 01, giấy tiếp nhận hồ sơ và hẹn trả kết quả  -> `receipt_slip`
- Mẫu số 02, phiếu yêu cầu bổ sung, hoàn thiện hồ sơ  -> `supplement_request`
- Mẫu số 03, phiếu từ chối tiếp nhận giải quyết hồ sơ -> `refusal_slip`

Every printed time is in Asia/Ho_Chi_Minh. Text is drawn in DejaVu Sans, embedded as a
TrueType subset, so Vietnamese diacritics survive printing, copying and text extraction.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import HRFlowable

from services.law.workdays import TZ

__all__ = [
    "FONT_BOLD",
    "FONT_DIR",
    "FONT_REGULAR",
    "ORG_ID_LABEL",
    "PERSONAL_ID_LABEL",
    "RULE_SETS",
    "SlipAgency",
    "SlipApplicant",
    "SlipComponent",
    "SlipContext",
    "SlipProblem",
    "SlipRuleSet",
    "qr_png",
    "receipt_slip",
    "refusal_slip",
    "register_fonts",
    "rule_set_for",
    "supplement_request",
    "vn_date",
    "vn_datetime",
]

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"

PERSONAL_ID_LABEL = "Số định danh cá nhân"
ORG_ID_LABEL = "Mã số đơn vị"

# QR geometry: level M survives a creased or smudged paper slip; the code is short, so the
# symbol stays small (version 2, 25x25 modules).
QR_BOX_PX = 8
QR_BORDER = 4


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class SlipAgency:
    """The receiving agency; parent_name is printed above it, as in the forms' header."""

    code: str
    name: str
    parent_name: str | None = None


@dataclass(frozen=True)
class SlipApplicant:
    """An individual (id_label PERSONAL_ID_LABEL) or an employer unit (ORG_ID_LABEL)."""

    name: str
    id_label: str
    id_value: str
    address: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class SlipComponent:
    """One line of the receipt slip's table (Mẫu số 01, item 1)."""

    name: str
    original: bool = True  # bản chính / bản sao
    count: int = 1
    form: str = "paper"  # paper | electronic
    reused: bool = False  # held data reused, not re-submitted (seed 002, step 3(2))

    def __post_init__(self) -> None:
        if self.form not in _COMPONENT_FORMS:
            raise ValueError(f"component form must be paper or electronic, not {self.form!r}")
        if self.count < 1:
            raise ValueError(f"component count must be at least 1, not {self.count}")


@dataclass(frozen=True)
class SlipProblem:
    """What is missing or wrong (Mẫu số 02) or why the dossier is refused (Mẫu số 03)."""

    text_vi: str
    legal_basis: str | None = None


@dataclass(frozen=True)
class SlipRuleSet:
    """The form set in force on a receipt date (domain.md section 1: the law is dated data)."""

    name: str
    valid_from: date
    legal_basis: str
    receipt_title: str
    supplement_title: str
    refusal_title: str
    # Decree 118/2025 adds personal identification on slips: the ID line becomes mandatory.
    personal_id_on_slip: bool
    # Both circulars number these forms 01-03; kept as data in case a later set renumbers.
    receipt_form: str = "Mẫu số 01"
    supplement_form: str = "Mẫu số 02"
    refusal_form: str = "Mẫu số 03"


RULE_SETS: tuple[SlipRuleSet, ...] = (
    # Decree 61/2018/NĐ-CP with Circular 01/2018/TT-VPCP, Mẫu 01-03. valid_from is the
    # circular's entry into force, 08/01/2019 (confirm); earlier receipts are not rendered.
    SlipRuleSet(
        name="TT01/2018",
        valid_from=date(2019, 1, 8),
        legal_basis="Nghị định 61/2018/NĐ-CP, Thông tư 01/2018/TT-VPCP",
        receipt_title="GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        supplement_title="PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
        refusal_title="PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
        personal_id_on_slip=False,
    ),
    # Decree 118/2025/NĐ-CP (from 01/07/2025) with Circular 03/2025/TT-VPCP, Appendix I,
    # Mẫu 01-03, same titles as 2018 (confirm: domain.md marks the circular unread). The
    # circular seems to date from 15/09/2025; the set starts with the decree regardless.
    SlipRuleSet(
        name="NĐ118/2025",
        valid_from=date(2025, 7, 1),
        legal_basis="Nghị định 118/2025/NĐ-CP, Thông tư 03/2025/TT-VPCP",
        receipt_title="GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
        supplement_title="PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
        refusal_title="PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
        personal_id_on_slip=True,
    ),
)


def rule_set_for(received_at: datetime) -> SlipRuleSet:
    """The form set in force on the Vietnamese calendar day of receipt."""
    day = _local(received_at, "received_at").date()
    in_force = [r for r in RULE_SETS if r.valid_from <= day]
    if not in_force:
        raise ValueError(f"no slip rule set in force on {day.isoformat()}")
    return max(in_force, key=lambda r: r.valid_from)


@dataclass(frozen=True)
class SlipContext:
    """What every slip prints (domain.md section 12)."""

    dossier_code: str
    agency: SlipAgency
    applicant: SlipApplicant
    procedure_name: str
    received_at: datetime  # timezone-aware; printed in Asia/Ho_Chi_Minh
    officer: str
    channel: str  # counter | postal | online | provincial

    def __post_init__(self) -> None:
        _local(self.received_at, "received_at")
        if self.channel not in _CHANNELS_IN:
            raise ValueError(f"unknown channel of receipt {self.channel!r}")
        if not self.dossier_code.strip():
            raise ValueError("dossier_code is empty")


# --------------------------------------------------------------------------- wording

_COMPONENT_FORMS = {"paper": "giấy", "electronic": "điện tử"}

# domain.md section 3: channels of receipt and of return are recorded separately.
_CHANNELS_IN = {
    "counter": "Trực tiếp tại Bộ phận Một cửa",
    "postal": "Qua dịch vụ bưu chính công ích",
    "online": "Trực tuyến (Cổng Dịch vụ công quốc gia, Cổng dịch vụ công BHXH, VssID, I-VAN)",
    "provincial": "Qua phần mềm tiếp nhận hồ sơ của BHXH địa phương",
}
_CHANNELS_OUT = {
    "counter": "Nhận trực tiếp tại Bộ phận Một cửa",
    "postal": "Nhận qua dịch vụ bưu chính công ích",
    "online": "Nhận trực tuyến qua tài khoản dịch vụ công",
}

_REUSED_MARK = "dùng lại dữ liệu đã có"


def vn_date(day: date) -> str:
    """'ngày 02 tháng 3 năm 2026'.

    Decree 30/2020/NĐ-CP, Appendix I (dates in administrative documents): days below 10
    and months below 3 take a leading zero, so 'tháng 02' but 'tháng 3'.
    """
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def vn_datetime(at: datetime) -> str:
    """'08 giờ 15 phút, ngày 02 tháng 3 năm 2026', in Asia/Ho_Chi_Minh."""
    local = _local(at, "datetime")
    return f"{local:%H} giờ {local:%M} phút, {vn_date(local.date())}"


def _local(at: datetime, what: str) -> datetime:
    # A naive time is ambiguous (server UTC vs Vietnam); refuse rather than guess.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return at.astimezone(TZ)


# --------------------------------------------------------------------------- fonts

_fonts_ready = False


def register_fonts(font_dir: Path = FONT_DIR) -> None:
    """Register DejaVu Sans (regular, bold); reportlab embeds TTF subsets in every PDF.

    The standard PDF fonts have no Vietnamese glyphs, so a missing file is an error that
    names the path, never a silent fallback to Helvetica.
    """
    files = {FONT_REGULAR: font_dir / "DejaVuSans.ttf", FONT_BOLD: font_dir / "DejaVuSans-Bold.ttf"}
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(
                f"font file {path} is missing; install fonts-dejavu-core or set slips.FONT_DIR"
            )
    for name, path in files.items():
        pdfmetrics.registerFont(TTFont(name, str(path)))
    # <b> inside a Paragraph must map to the bold TTF, not to Helvetica-Bold.
    pdfmetrics.registerFontFamily(
        FONT_REGULAR, normal=FONT_REGULAR, bold=FONT_BOLD, italic=FONT_REGULAR, boldItalic=FONT_BOLD
    )


def _ensure_fonts() -> None:
    global _fonts_ready
    if not _fonts_ready:
        register_fonts(FONT_DIR)
        _fonts_ready = True


# --------------------------------------------------------------------------- QR


def qr_png(code: str) -> bytes:
    """The dossier code as a QR symbol, PNG bytes (QR_BOX_PX pixels per module)."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=QR_BOX_PX, border=QR_BORDER)
    qr.add_data(code)
    qr.make(fit=True)
    buf = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(buf, format="PNG")
    return buf.getvalue()


class _QrImage(Flowable):
    """Draws the PNG through ImageReader at a fixed printed size."""

    def __init__(self, png: bytes, size: float) -> None:
        super().__init__()
        self._png = png
        self._size = size

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self._size, self._size

    def draw(self) -> None:
        self.canv.drawImage(ImageReader(io.BytesIO(self._png)), 0, 0, self._size, self._size)


# --------------------------------------------------------------------------- layout

_PAGE_W, _PAGE_H = A4
_MARGIN = 18 * mm
# SimpleDocTemplate's frame pads 6 pt on each side; tables wider than that would overhang.
_WIDTH = _PAGE_W - 2 * _MARGIN - 12
_QR_SIZE = 30 * mm


def _style(name: str, **kw: Any) -> ParagraphStyle:
    base: dict[str, Any] = {"fontName": FONT_REGULAR, "bulletFontName": FONT_REGULAR,
                            "fontSize": 10.5, "leading": 14.5}
    base.update(kw)
    return ParagraphStyle(name, **base)


_S = {
    "body": _style("body", spaceAfter=3),
    "form_ref": _style("form_ref", fontSize=8, leading=10, alignment=TA_CENTER,
                       textColor=colors.HexColor("#555555")),
    "center": _style("center", alignment=TA_CENTER, fontSize=10, leading=13),
    "center_b": _style("center_b", alignment=TA_CENTER, fontName=FONT_BOLD, fontSize=10,
                       leading=13),
    "title": _style("title", alignment=TA_CENTER, fontName=FONT_BOLD, fontSize=14, leading=18,
                    spaceAfter=4),
    "code": _style("code", alignment=TA_CENTER, fontName=FONT_BOLD, fontSize=12, leading=16),
    "label": _style("label", fontSize=10, leading=13.5),
    "value": _style("value", fontSize=10.5, leading=13.5),
    "cell": _style("cell", fontSize=9, leading=11.5, alignment=TA_LEFT),
    "cell_c": _style("cell_c", fontSize=9, leading=11.5, alignment=TA_CENTER),
    "head": _style("head", fontSize=9, leading=11.5, fontName=FONT_BOLD, alignment=TA_CENTER),
    "item": _style("item", leftIndent=7 * mm, bulletIndent=1 * mm, spaceAfter=4),
    "basis": _style("basis", leftIndent=7 * mm, fontSize=9.5, leading=12.5,
                    textColor=colors.HexColor("#333333"), spaceAfter=5),
    "section": _style("section", fontName=FONT_BOLD, spaceBefore=6, spaceAfter=3),
}


def _t(text: str) -> str:
    # NFC: DejaVu has precomposed Vietnamese glyphs; escape: Paragraph parses markup.
    return escape(unicodedata.normalize("NFC", text))


def _p(text: str, style: str = "body") -> Paragraph:
    return Paragraph(_t(text), _S[style])


def _header(ctx: SlipContext, rules: SlipRuleSet, form: str, title: str) -> list[Flowable]:
    """Agency and national motto side by side, then title, dossier code and QR."""
    left: list[Flowable] = []
    if ctx.agency.parent_name:
        left.append(_p(ctx.agency.parent_name.upper(), "center"))
    left.append(_p(ctx.agency.name.upper(), "center_b"))
    left.append(HRFlowable(width=30 * mm, thickness=0.6, color=colors.black, spaceBefore=4))
    right: list[Flowable] = [
        _p("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "center_b"),
        _p("Độc lập - Tự do - Hạnh phúc", "center_b"),
        HRFlowable(width=45 * mm, thickness=0.6, color=colors.black, spaceBefore=4),
    ]
    top = Table([[left, right]], colWidths=[_WIDTH * 0.42, _WIDTH * 0.58])
    top.setStyle(_plain_table())
    top.setStyle(TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER")]))  # centres the rules

    title_block: list[Flowable] = [
        _p(title, "title"),
        Paragraph(f"Mã hồ sơ: {_t(ctx.dossier_code)}", _S["code"]),
        Spacer(1, 2),
        _p(f"({form}, {rules.legal_basis})", "form_ref"),
    ]
    qr = _QrImage(qr_png(ctx.dossier_code), _QR_SIZE)
    mid = Table([[title_block, qr]], colWidths=[_WIDTH - _QR_SIZE - 4 * mm, _QR_SIZE + 4 * mm])
    mid.setStyle(_plain_table(valign="MIDDLE"))
    return [top, Spacer(1, 5 * mm), mid, Spacer(1, 4 * mm)]


def _plain_table(valign: str = "TOP") -> TableStyle:
    return TableStyle([
        # Table sets a cell font even for flowable cells; the default would pull in Helvetica.
        ("FONTNAME", (0, 0), (-1, -1), FONT_REGULAR),
        ("VALIGN", (0, 0), (-1, -1), valign),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 0),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
    ])


def _applicant_block(ctx: SlipContext, rules: SlipRuleSet, intro: str) -> list[Flowable]:
    """Applicant, procedure, channel and time of receipt (domain.md section 12: every slip)."""
    a = ctx.applicant
    is_unit = a.id_label.strip() == ORG_ID_LABEL
    rows: list[tuple[str, str]] = [("Tên đơn vị:" if is_unit else "Họ và tên:", a.name)]
    if a.id_value.strip():
        rows.append((f"{a.id_label}:", a.id_value))
    elif rules.personal_id_on_slip:
        # Decree 118/2025: personal identification is a field of the 2025 slips.
        raise ValueError(f"{rules.name} slips must show the applicant's {a.id_label}")
    for label, value in (("Địa chỉ:", a.address), ("Số điện thoại:", a.phone),
                         ("Email:", a.email)):
        if value:
            rows.append((label, value))
    rows += [
        ("Thủ tục hành chính:", ctx.procedure_name),
        ("Hình thức nộp:", _CHANNELS_IN[ctx.channel]),
        ("Thời gian tiếp nhận:", vn_datetime(ctx.received_at)),
    ]
    cells = [[_p(k, "label"), _p(v, "value")] for k, v in rows]
    # The applicant's name stands out, as on the paper forms.
    cells[0][1] = Paragraph(f"<b>{_t(a.name)}</b>", _S["value"])
    table = Table(cells, colWidths=[42 * mm, _WIDTH - 42 * mm])
    style = _plain_table()
    style.add("BOTTOMPADDING", (0, 0), (-1, -1), 2.5)
    table.setStyle(style)
    return [_p(intro), table, Spacer(1, 2 * mm)]


def _numbered(items: Sequence[SlipProblem]) -> list[Flowable]:
    out: list[Flowable] = []
    for i, item in enumerate(items, start=1):
        if item.legal_basis:
            out.append(KeepTogether([
                Paragraph(_t(item.text_vi), _S["item"], bulletText=f"{i}."),
                _p(f"Căn cứ pháp lý: {item.legal_basis}", "basis"),
            ]))
        else:
            out.append(Paragraph(_t(item.text_vi), _S["item"], bulletText=f"{i}."))
    return out


def _signatures(ctx: SlipContext, officer_title: str, applicant_signs: bool) -> Flowable:
    """Signature boxes; the applicant signs only when present at the counter."""
    officer = [_p(officer_title, "center_b"), _p("(Ký và ghi rõ họ tên)", "center"),
               Spacer(1, 16 * mm), Paragraph(f"<b>{_t(ctx.officer)}</b>", _S["center"])]
    if applicant_signs:
        applicant = [_p("NGƯỜI NỘP HỒ SƠ", "center_b"), _p("(Ký và ghi rõ họ tên)", "center"),
                     Spacer(1, 16 * mm),
                     Paragraph(f"<b>{_t(ctx.applicant.name)}</b>", _S["center"])]
        cells = [[applicant, officer]]
    else:
        cells = [["", officer]]
    table = Table(cells, colWidths=[_WIDTH / 2, _WIDTH / 2])
    table.setStyle(_plain_table())
    return KeepTogether([Spacer(1, 6 * mm), table])


def _render(ctx: SlipContext, rules: SlipRuleSet, form: str, title: str,
            body: list[Flowable]) -> bytes:
    buf = io.BytesIO()
    code = unicodedata.normalize("NFC", ctx.dossier_code)

    def footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        # A slip that runs onto a second page must still say which dossier it belongs to.
        canvas.saveState()
        canvas.setFont(FONT_REGULAR, 7.5)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(_MARGIN, 10 * mm, f"Mã hồ sơ: {code}")
        canvas.drawRightString(_PAGE_W - _MARGIN, 10 * mm, f"Trang {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=_MARGIN, rightMargin=_MARGIN, topMargin=15 * mm,
        bottomMargin=18 * mm, title=f"{title} - {code}", author=ctx.agency.name,
        subject=code, creator="BHXH một cửa điện tử tập trung", lang="vi-VN",
        # Same input, same bytes: a stored slip can be re-rendered and compared.
        invariant=True, initialFontName=FONT_REGULAR,
    )
    doc.build(_header(ctx, rules, form, title) + body, onFirstPage=footer,
              onLaterPages=footer)
    return buf.getvalue()


# --------------------------------------------------------------------------- slips


def receipt_slip(ctx: SlipContext, components: list[SlipComponent], due_at: datetime,
                 return_channel: str, return_place: str | None = None) -> bytes:
    """Mẫu số 01: giấy tiếp nhận hồ sơ và hẹn trả kết quả (complete dossier)."""
    _ensure_fonts()  # before any Paragraph: they resolve fonts when built
    if not components:
        raise ValueError("a receipt slip lists at least one component")
    if return_channel not in _CHANNELS_OUT:
        raise ValueError(f"unknown return channel {return_channel!r}")
    if _local(due_at, "due_at") < _local(ctx.received_at, "received_at"):
        raise ValueError("due_at is before received_at")
    rules = rule_set_for(ctx.received_at)

    rows: list[list[Any]] = [[_p(h, "head") for h in
                              ("TT", "Tên giấy tờ", "Hình thức", "Số lượng", "Ghi chú")]]
    for i, c in enumerate(components, start=1):
        if c.reused:
            # Seed 002 step 3(2): held data is not re-submitted, so there is no copy to count.
            kind, count, note = "Dữ liệu điện tử", "—", _REUSED_MARK
        else:
            kind = f"{'Bản chính' if c.original else 'Bản sao'} ({_COMPONENT_FORMS[c.form]})"
            count, note = str(c.count), ""
        rows.append([_p(str(i), "cell_c"), _p(c.name, "cell"), _p(kind, "cell_c"),
                     _p(count, "cell_c"), _p(note, "cell_c")])
    table = Table(rows, colWidths=[9 * mm, _WIDTH - 100 * mm, 34 * mm, 19 * mm, 38 * mm],
                  repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT_REGULAR),
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#444444")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E6E6E6")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ]))

    ret = _CHANNELS_OUT[return_channel] + (f". Địa điểm: {return_place}" if return_place else "")
    body: list[Flowable] = [
        *_applicant_block(ctx, rules, f"{ctx.agency.name} tiếp nhận hồ sơ của:"),
        _p("1. Thành phần hồ sơ nộp gồm:", "section"),
        table,
        _p("2. Thời gian hẹn trả kết quả giải quyết hồ sơ:", "section"),
        Paragraph(f"Hẹn trả kết quả: <b>{_t(vn_datetime(due_at))}</b>", _S["item"]),
        _p("3. Nơi và hình thức nhận kết quả:", "section"),
        _p(ret, "item"),
        _p("Khi đến nhận kết quả, vui lòng mang theo giấy này hoặc cung cấp mã hồ sơ.",
           "basis"),
        _signatures(ctx, "NGƯỜI TIẾP NHẬN HỒ SƠ", applicant_signs=ctx.channel == "counter"),
    ]
    return _render(ctx, rules, rules.receipt_form, rules.receipt_title, body)


def supplement_request(ctx: SlipContext, problems: list[SlipProblem],
                       clock_rule_vi: str) -> bytes:
    """Mẫu số 02: phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (one request, everything listed)."""
    _ensure_fonts()  # before any Paragraph: they resolve fonts when built
    if not problems:
        raise ValueError("a supplement request lists at least one problem")
    rules = rule_set_for(ctx.received_at)
    body: list[Flowable] = [
        *_applicant_block(ctx, rules, f"{ctx.agency.name} tiếp nhận hồ sơ của:"),
        _p("Yêu cầu bổ sung, hoàn thiện hồ sơ gồm những nội dung sau:", "section"),
        *_numbered(problems),
        _p("Thời hạn giải quyết:", "section"),
        _p(clock_rule_vi, "item"),
        _p(f"Trong quá trình hoàn thiện hồ sơ, nếu có vướng mắc, ông/bà/đơn vị liên hệ "
           f"{ctx.officer} ({ctx.agency.name}) để được hướng dẫn."),
        _signatures(ctx, "NGƯỜI HƯỚNG DẪN", applicant_signs=False),
    ]
    return _render(ctx, rules, rules.supplement_form, rules.supplement_title, body)


def refusal_slip(ctx: SlipContext, reasons: list[SlipProblem]) -> bytes:
    """Mẫu số 03: phiếu từ chối tiếp nhận giải quyết hồ sơ (with the reasons' legal basis)."""
    _ensure_fonts()  # before any Paragraph: they resolve fonts when built
    if not reasons:
        raise ValueError("a refusal slip states at least one reason")
    rules = rule_set_for(ctx.received_at)
    body: list[Flowable] = [
        *_applicant_block(ctx, rules, f"{ctx.agency.name} tiếp nhận hồ sơ của:"),
        _p(f"Qua nghiên cứu, đối chiếu với quy định, {ctx.agency.name} từ chối tiếp nhận "
           f"giải quyết hồ sơ này với lý do cụ thể như sau:"),
        *_numbered(reasons),
        _p("Xin thông báo để ông/bà/đơn vị được biết và thực hiện./."),
        _signatures(ctx, "NGƯỜI TIẾP NHẬN HỒ SƠ", applicant_signs=False),
    ]
    return _render(ctx, rules, rules.refusal_form, rules.refusal_title, body)
