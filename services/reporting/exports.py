"""The quarterly report as a spreadsheet (openpyxl) and a PDF (reportlab, DejaVu fonts), in
Vietnamese, with exactly the figures of the JSON answer: one row per agency of the tree,
indented by level."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from services.common.pdf import FONT_BOLD, FONT_REGULAR, ensure_fonts, grid_table, p, t, vn_date

TITLE = "BÁO CÁO TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
COLUMNS = (
    ("Đơn vị", None), ("Mã đơn vị", None),
    ("Tổng số hồ sơ nhận", ("received", "total")), ("Trực tuyến", ("received", "online")),
    ("Trực tiếp, bưu chính", ("received", "direct_or_postal")),
    ("Kỳ trước chuyển qua", ("received", "carried_over")),
    ("Đã giải quyết", ("resolved", "total")), ("Trước hạn", ("resolved", "early")),
    ("Đúng hạn", ("resolved", "on_time")), ("Quá hạn", ("resolved", "late")),
    ("Đang giải quyết", ("pending", "total")), ("Trong hạn", ("pending", "within_time")),
    ("Quá hạn (đang giải quyết)", ("pending", "overdue")),
    ("Từ chối tiếp nhận", ("refused",)), ("Rút hồ sơ", ("withdrawn",)),
)
# Fifteen columns on a landscape A4 page: smaller than the slips' cells.
SMALL = ParagraphStyle("quarterly", fontName=FONT_REGULAR, fontSize=7.5, leading=9)
SMALL_BOLD = ParagraphStyle("quarterly_b", fontName=FONT_BOLD, fontSize=7.5, leading=9)


def rows(report: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(depth, node) of the tree, parents before their children."""
    out: list[tuple[int, dict[str, Any]]] = []
    stack = [(0, report)]
    while stack:
        depth, node = stack.pop()
        out.append((depth, node))
        stack.extend((depth + 1, c) for c in reversed(node["children"]))
    return out


def _figure(indicators: dict[str, Any], path: tuple[str, ...]) -> int:
    value: Any = indicators
    for key in path:
        value = value[key]
    return int(value)


def _line(depth: int, node: dict[str, Any]) -> list[Any]:
    return ["    " * depth + node["name"], node["agency"],
            *(_figure(node["indicators"], path) for _, path in COLUMNS[2:] if path)]


def subtitle(report: dict[str, Any]) -> str:
    period = report["period"]
    text = (f"Quý {period['quarter']} năm {period['year']}: từ 00 giờ "
            f"{vn_date(date.fromisoformat(period['from']))} đến 24 giờ "
            f"{vn_date(date.fromisoformat(period['to']))}")
    if report.get("as_of"):
        text += f" (số liệu tại thời điểm {report['as_of']})"
    return text


def xlsx(report: dict[str, Any]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = f"Quy {report['period']['quarter']}-{report['period']['year']}"
    ws.append([TITLE])
    ws.append([subtitle(report)])
    ws.append([name for name, _ in COLUMNS])
    for cell in ws[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for depth, node in rows(report):
        ws.append(_line(depth, node))
    ws.column_dimensions["A"].width = 48
    ws.column_dimensions["B"].width = 16
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pdf(report: dict[str, Any]) -> bytes:
    ensure_fonts()
    page = landscape(A4)
    margin = 10 * mm
    width = page[0] - 2 * margin - 12
    head = [Paragraph(t(name), SMALL_BOLD) for name, _ in COLUMNS]
    body = [[Paragraph(t(str(v)), SMALL) if i < 2 else str(v)
             for i, v in enumerate(_line(depth, node))] for depth, node in rows(report)]
    first, code = 0.2 * width, 0.1 * width
    rest = (width - first - code) / (len(COLUMNS) - 2)
    table = grid_table([head, *body], [first, code, *([rest] * (len(COLUMNS) - 2))])
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=page, leftMargin=margin, rightMargin=margin,
                            topMargin=12 * mm, bottomMargin=12 * mm, title=TITLE,
                            author="BHXH Việt Nam", lang="vi-VN", invariant=True,
                            initialFontName=FONT_REGULAR)
    doc.build([p(TITLE, "title"), p(subtitle(report), "center"), Spacer(1, 4 * mm), table])
    return buf.getvalue()

