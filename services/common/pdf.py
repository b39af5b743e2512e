"""Page, fonts, QR code and drawing primitives of the PDFs the services hand to people.

Nothing here knows a form, a service or a state: a caller decides what goes on the page and
gives the heading every document shares (its Stationery: the product's is in
services/product/stationery.py), this module decides how it looks. Text is drawn in DejaVu
Sans, embedded as a TrueType subset, so Vietnamese diacritics survive printing, copying and
text extraction. Times are formatted in the zone the caller passes (the runtime knows no
law, hence no Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import io
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol
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

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"

# QR geometry: level M survives a creased or smudged paper slip; the code is short, so the
# symbol stays small (version 2, 25x25 modules).
QR_BOX_PX = 8
QR_BORDER = 4

PAGE_W, PAGE_H = A4
MARGIN = 18 * mm
# SimpleDocTemplate's frame pads 6 pt on each side; tables wider than that would overhang.
WIDTH = PAGE_W - 2 * MARGIN - 12
QR_SIZE = 30 * mm


# --------------------------------------------------------------------------- fonts

_fonts_ready = False

# reportlab's TrueType subsetter reads a registered font's file through one shared cursor
# (TTFontFile._pos), so two documents written at once in one process's threads corrupt each
# other's glyph tables (IndexError, or another document's glyphs). Every build or save of a
# document that embeds these fonts holds this lock; rendering is CPU-bound under the GIL, so
# holding it costs no parallelism.
FONT_LOCK = threading.Lock()


def register_fonts(font_dir: Path = FONT_DIR) -> None:
    """Register DejaVu Sans (regular, bold); reportlab embeds TTF subsets in every PDF.

    The standard PDF fonts have no Vietnamese glyphs, so a missing file is an error that
    names the path, never a silent fallback to Helvetica.
    """
    files = {FONT_REGULAR: font_dir / "DejaVuSans.ttf", FONT_BOLD: font_dir / "DejaVuSans-Bold.ttf"}
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(f"font file {path} is missing; install fonts-dejavu-core "
                                    f"or set services.common.pdf.FONT_DIR")
    for name, path in files.items():
        pdfmetrics.registerFont(TTFont(name, str(path)))
    # <b> inside a Paragraph must map to the bold TTF, not to Helvetica-Bold.
    pdfmetrics.registerFontFamily(
        FONT_REGULAR, normal=FONT_REGULAR, bold=FONT_BOLD, italic=FONT_REGULAR, boldItalic=FONT_BOLD
    )


def ensure_fonts() -> None:
    """Register the fonts once; call before building any Paragraph (they resolve fonts).
    Under FONT_LOCK: a second registration while another thread builds would hand that
    document two font objects of one name."""
    global _fonts_ready
    if not _fonts_ready:
        with FONT_LOCK:
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


class QrImage(Flowable):
    """Draws the PNG through ImageReader at a fixed printed size."""

    def __init__(self, png: bytes, size: float) -> None:
        super().__init__()
        self._png = png
        self._size = size

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self._size, self._size

    def draw(self) -> None:
        self.canv.drawImage(ImageReader(io.BytesIO(self._png)), 0, 0, self._size, self._size)


# --------------------------------------------------------------------------- text


def _style(name: str, **kw: Any) -> ParagraphStyle:
    base: dict[str, Any] = {"fontName": FONT_REGULAR, "bulletFontName": FONT_REGULAR,
                            "fontSize": 10.5, "leading": 14.5}
    base.update(kw)
    return ParagraphStyle(name, **base)


STYLES = {
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


def t(text: str) -> str:
    """Text made safe for a Paragraph."""
    # NFC: DejaVu has precomposed Vietnamese glyphs; escape: Paragraph parses markup.
    return escape(unicodedata.normalize("NFC", text))


def p(text: str, style: str = "body") -> Paragraph:
    """A paragraph of plain text (no markup) in one of STYLES."""
    return Paragraph(t(text), STYLES[style])


def bold_after(label: str, value: str, style: str) -> Paragraph:
    """'label <b>value</b>': a plain label, then the value in bold."""
    return Paragraph(f"{t(label)} <b>{t(value)}</b>", STYLES[style])


def vn_date(day: date) -> str:
    """'ngày 02 tháng 3 năm 2026'.

    Decree 30/2020/NĐ-CP, Appendix I (dates in administrative documents): days below 10
    and months below 3 take a leading zero, so 'tháng 02' but 'tháng 3'.
    """
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def vn_datetime(at: datetime, tz: tzinfo) -> str:
    """'08 giờ 15 phút, ngày 02 tháng 3 năm 2026', in `tz`."""
    # A naive time is ambiguous (server UTC vs Vietnam); refuse rather than guess.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("a printed time must be timezone-aware")
    at_local = at.astimezone(tz)
    return f"{at_local:%H} giờ {at_local:%M} phút, {vn_date(at_local.date())}"


# --------------------------------------------------------------------------- blocks


def plain_table(valign: str = "TOP") -> TableStyle:
    """No padding, no rules: a table used only to place blocks side by side."""
    return TableStyle([
        # Table sets a cell font even for flowable cells; the default would pull in Helvetica.
        ("FONTNAME", (0, 0), (-1, -1), FONT_REGULAR),
        ("VALIGN", (0, 0), (-1, -1), valign),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 0),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
    ])


def grid_table(rows: list[list[Any]], col_widths: list[float]) -> Table:
    """A ruled table with a grey heading row, repeated on every page it runs onto."""
    table = Table(rows, colWidths=col_widths, repeatRows=1)
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
    return table


class Issuer(Protocol):
    """The agency a document comes from; parent_name is printed above it, as on the forms."""

    @property
    def name(self) -> str: ...

    @property
    def parent_name(self) -> str | None: ...


class Stationery(Protocol):
    """What every document of a product prints the same way, given by the product: the
    heading at the top right (each line bold and centred) and the system named as the
    PDF's creator."""

    @property
    def heading(self) -> Sequence[str]: ...

    @property
    def creator(self) -> str: ...


@dataclass(frozen=True)
class Letterhead:
    """An Issuer by value, for callers with no agency type of their own."""

    name: str
    parent_name: str | None = None


def header(stationery: Stationery, agency: Issuer, dossier_code: str, form_ref: str,
           title: str) -> list[Flowable]:
    """Agency and the stationery's heading side by side, then title, dossier code and QR."""
    left: list[Flowable] = []
    if agency.parent_name:
        left.append(p(agency.parent_name.upper(), "center"))
    left.append(p(agency.name.upper(), "center_b"))
    left.append(HRFlowable(width=30 * mm, thickness=0.6, color=colors.black, spaceBefore=4))
    right: list[Flowable] = [p(line, "center_b") for line in stationery.heading]
    right.append(HRFlowable(width=45 * mm, thickness=0.6, color=colors.black, spaceBefore=4))
    top = Table([[left, right]], colWidths=[WIDTH * 0.42, WIDTH * 0.58])
    top.setStyle(plain_table())
    top.setStyle(TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER")]))  # centres the rules

    title_block: list[Flowable] = [
        p(title, "title"),
        Paragraph(f"Mã hồ sơ: {t(dossier_code)}", STYLES["code"]),
        Spacer(1, 2),
        p(form_ref, "form_ref"),
    ]
    qr = QrImage(qr_png(dossier_code), QR_SIZE)
    mid = Table([[title_block, qr]], colWidths=[WIDTH - QR_SIZE - 4 * mm, QR_SIZE + 4 * mm])
    mid.setStyle(plain_table(valign="MIDDLE"))
    return [top, Spacer(1, 5 * mm), mid, Spacer(1, 4 * mm)]


def label_value_table(rows: list[tuple[str, str]]) -> Table:
    """Labels left, values right; the first value (a name) stands out, as on paper forms."""
    cells = [[p(k, "label"), p(v, "value")] for k, v in rows]
    cells[0][1] = Paragraph(f"<b>{t(rows[0][1])}</b>", STYLES["value"])
    table = Table(cells, colWidths=[42 * mm, WIDTH - 42 * mm])
    style = plain_table()
    style.add("BOTTOMPADDING", (0, 0), (-1, -1), 2.5)
    table.setStyle(style)
    return table


def numbered(items: Sequence[tuple[str, str | None]]) -> list[Flowable]:
    """(text, legal basis or None) as 1., 2., ... each with its basis kept on the same page."""
    out: list[Flowable] = []
    for i, (text, legal_basis) in enumerate(items, start=1):
        if legal_basis:
            out.append(KeepTogether([
                Paragraph(t(text), STYLES["item"], bulletText=f"{i}."),
                p(f"Căn cứ pháp lý: {legal_basis}", "basis"),
            ]))
        else:
            out.append(Paragraph(t(text), STYLES["item"], bulletText=f"{i}."))
    return out


def signatures(officer_title: str, officer_name: str, applicant_name: str | None) -> Flowable:
    """Signature boxes: the officer's right; the applicant's left when applicant_name given."""
    officer = [p(officer_title, "center_b"), p("(Ký và ghi rõ họ tên)", "center"),
               Spacer(1, 16 * mm), Paragraph(f"<b>{t(officer_name)}</b>", STYLES["center"])]
    cells: list[list[Any]]
    if applicant_name is not None:
        applicant = [p("NGƯỜI NỘP HỒ SƠ", "center_b"), p("(Ký và ghi rõ họ tên)", "center"),
                     Spacer(1, 16 * mm),
                     Paragraph(f"<b>{t(applicant_name)}</b>", STYLES["center"])]
        cells = [[applicant, officer]]
    else:
        cells = [["", officer]]
    table = Table(cells, colWidths=[WIDTH / 2, WIDTH / 2])
    table.setStyle(plain_table())
    return KeepTogether([Spacer(1, 6 * mm), table])


# --------------------------------------------------------------------------- document


def build_pdf(flowables: list[Flowable], *, stationery: Stationery, dossier_code: str,
              title: str, author: str, mark: str | None = None) -> bytes:
    """A4 PDF with the dossier code and page number in every page's footer, and `mark`
    (e.g. a draft's or an unsigned document's) in red at its centre."""
    buf = io.BytesIO()
    code = unicodedata.normalize("NFC", dossier_code)

    def footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        # A slip that runs onto a second page must still say which dossier it belongs to.
        canvas.saveState()
        canvas.setFont(FONT_REGULAR, 7.5)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(MARGIN, 10 * mm, f"Mã hồ sơ: {code}")
        canvas.drawRightString(PAGE_W - MARGIN, 10 * mm, f"Trang {doc.page}")
        if mark:
            # On every page: a page printed alone must still say what it is.
            canvas.setFont(FONT_BOLD, 9)
            canvas.setFillColor(colors.HexColor("#B00020"))
            canvas.drawCentredString(PAGE_W / 2, 10 * mm, unicodedata.normalize("NFC", mark))
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=15 * mm,
        bottomMargin=18 * mm, title=f"{title} - {code}", author=author,
        subject=code, creator=stationery.creator, lang="vi-VN",
        # Same input, same bytes: a stored slip can be re-rendered and compared.
        invariant=True, initialFontName=FONT_REGULAR,
    )
    with FONT_LOCK:
        doc.build(flowables, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()
