"""The quarterly report laid out as the government's form on the results of handling
administrative procedures (docs/law.md#the-report-form): a spreadsheet (openpyxl) and a PDF
(reportlab, DejaVu fonts), in Vietnamese, with exactly the figures of the JSON answer.

The form: the reporting unit and the national motto, the title, the period (from 0:00 on
the 15th to 24:00 on the 14th), who reports to whom; the figure columns in the form's order
under their grouped headings and a row of column numbers; one row per agency of the tree
(national, then provincial, then local), each followed by its procedures grouped by field
(lĩnh vực); the signature block (người lập biểu, thủ trưởng đơn vị, place and date). The
spreadsheet adds the agency or procedure code in a last column, and a sheet of the other
agencies' sub-deadline overruns; the PDF has them on an annex page."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from services.common.pdf import (
    FONT_BOLD,
    FONT_LOCK,
    FONT_REGULAR,
    ensure_fonts,
    p,
    plain_table,
    t,
    vn_date,
)
from services.law.catalog import CatalogSet
from services.product.stationery import STATIONERY

TITLE = "BÁO CÁO TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
# The form's number is not read from the circular (docs/law.md#values-to-confirm).
FORM_REFERENCE = "Biểu mẫu kèm theo Thông tư số 01/2018/TT-VPCP"
# Who receives the national report: Vụ Pháp chế reports to the government.
GOVERNMENT = "Văn phòng Chính phủ"
UNIT = "Đơn vị tính: hồ sơ"
NAME_HEADING = "Lĩnh vực, thủ tục hành chính / Đơn vị"


@dataclass(frozen=True)
class Column:
    group: str
    sub: str | None  # a heading under the group spanning several leaves ("Trong kỳ")
    leaf: str | None  # None: the group heading is the column's only one
    path: tuple[str, ...]  # into a node's indicators
    sums: tuple[int, ...] = ()  # the column numbers this total is the sum of


_RECEIVED, _RESOLVED, _PENDING = ("Số hồ sơ nhận giải quyết", "Số hồ sơ đã giải quyết",
                                  "Số hồ sơ đang giải quyết")
# The figure columns in the form's order; they are numbered from (3) after STT and name.
FIGURES: tuple[Column, ...] = (
    Column(_RECEIVED, None, "Tổng số", ("received", "total"), (4, 5, 6, 7)),
    Column(_RECEIVED, "Trong kỳ", "Trực tuyến", ("received", "online")),
    Column(_RECEIVED, "Trong kỳ", "Trực tiếp", ("received", "direct")),
    Column(_RECEIVED, "Trong kỳ", "Dịch vụ bưu chính", ("received", "postal")),
    Column(_RECEIVED, None, "Từ kỳ trước", ("received", "carried_over")),
    Column(_RESOLVED, None, "Tổng số", ("resolved", "total"), (9, 10, 11)),
    Column(_RESOLVED, None, "Trước hạn", ("resolved", "early")),
    Column(_RESOLVED, None, "Đúng hạn", ("resolved", "on_time")),
    Column(_RESOLVED, None, "Quá hạn", ("resolved", "late")),
    Column(_PENDING, None, "Tổng số", ("pending", "total"), (13, 14)),
    Column(_PENDING, None, "Trong hạn", ("pending", "within_time")),
    Column(_PENDING, None, "Quá hạn", ("pending", "overdue")),
    Column("Số hồ sơ từ chối tiếp nhận", None, None, ("refused",)),
    Column("Số hồ sơ rút theo yêu cầu", None, None, ("withdrawn",)),
    Column("Số hồ sơ yêu cầu bổ sung, hoàn thiện", None, None, ("returned_for_supplement",)),
)
LEAD = 2  # STT and the name come before the figures
WIDTH = LEAD + len(FIGURES)
SUB_DEADLINE_COLUMNS = (
    ("Cơ quan phối hợp (liên thông)", "agency"), ("Số yêu cầu", "requested"),
    ("Trả lời đúng hạn", "answered_on_time"), ("Trả lời quá hạn", "answered_late"),
    ("Chưa trả lời, trong hạn", "pending_within_time"),
    ("Chưa trả lời, quá hạn", "pending_overdue"), ("Tổng số lần quá hạn", "overruns"))
SUB_DEADLINE_TITLE = "Phụ lục: Quá hạn của cơ quan phối hợp giải quyết (liên thông)"


@dataclass(frozen=True)
class Header:
    """Who reports, to whom, where and when (the form's top and its signature block)."""

    unit: str
    parent: str | None  # the unit's parent, printed above it
    receiver: str
    place: str
    made_on: date


def place_of(name: str) -> str:
    """The place a unit signs at, from its name ("Bảo hiểm xã hội tỉnh Lai Châu": Lai
    Châu; the national office: Hà Nội); dots to fill in when its name does not say."""
    rest = name.replace("(cũ)", "").strip().removeprefix("Bảo hiểm xã hội").strip()
    if rest == "Việt Nam":
        return "Hà Nội"
    for kind in ("thành phố ", "Thành phố ", "tỉnh ", "cơ sở ", "huyện ", "quận "):
        if rest.startswith(kind):
            return rest.removeprefix(kind).strip()
    return "……………"


def header(report: dict[str, Any], catalogs: CatalogSet, made_on: date) -> Header:
    """The header of `report` (its root agency as the latest catalogue naming it does)."""
    index = next((i for i in reversed(catalogs.indexes) if i.agency(report["agency"])), None)
    agency = index.agency(report["agency"]) if index else None
    parent = index.agency(agency.parent) if index and agency and agency.parent else None
    return Header(report["name"], parent.name if parent else None,
                  parent.name if parent else GOVERNMENT, place_of(report["name"]), made_on)


@dataclass(frozen=True)
class Line:
    kind: str  # agency / field / procedure
    number: str  # STT
    name: str
    code: str
    depth: int
    figures: tuple[int, ...]


def _figure(indicators: dict[str, Any], path: tuple[str, ...]) -> int:
    value: Any = indicators
    for key in path:
        value = value[key]
    return int(value)


def figures(indicators: dict[str, Any]) -> tuple[int, ...]:
    return tuple(_figure(indicators, c.path) for c in FIGURES)


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"),
                           (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"),
                           (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + letters, n - value
    return out


def lines(report: dict[str, Any]) -> list[Line]:
    """The form's rows: each agency (parents first, numbered 1, 1.1, 1.1.1, ...), then its
    procedures grouped by field (fields I, II, ...; their procedures marked -)."""
    out: list[Line] = []
    stack: list[tuple[int, str, dict[str, Any]]] = [(0, "1", report)]
    while stack:
        depth, number, node = stack.pop()
        out.append(Line("agency", number, node["name"], node["agency"], depth,
                        figures(node["indicators"])))
        fields: dict[str, list[dict[str, Any]]] = {}
        for proc in node.get("procedures", []):
            fields.setdefault(proc["field"] or "", []).append(proc)
        for i, name in enumerate(sorted(fields), start=1):
            procs = fields[name]
            total = tuple(sum(col) for col in zip(*(figures(x["indicators"]) for x in procs),
                                                   strict=True))
            out.append(Line("field", _roman(i), f"Lĩnh vực {name}" if name else "Lĩnh vực khác",
                            "", depth + 1, total))
            out.extend(Line("procedure", "-", x["name"], x["procedure"], depth + 2,
                            figures(x["indicators"])) for x in procs)
        children = node["children"]
        stack.extend((depth + 1, f"{number}.{i}", c)
                     for i, c in reversed(list(enumerate(children, start=1))))
    return out


def period_line(report: dict[str, Any]) -> str:
    period = report["period"]
    text = (f"Kỳ báo cáo: Quý {period['quarter']} năm {period['year']} (từ 00 giờ "
            f"{vn_date(date.fromisoformat(period['from']))} đến 24 giờ "
            f"{vn_date(date.fromisoformat(period['to']))})")
    if report.get("as_of"):
        text += f"; số liệu tại thời điểm {report['as_of']}"
    return text


def numbers() -> list[str]:
    """The row of column numbers: (1), (2), (3)=(4)+(5)+(6)+(7), ..."""
    out = ["(1)", "(2)"]
    for i, c in enumerate(FIGURES, start=LEAD + 1):
        out.append(f"({i})=" + "+".join(f"({n})" for n in c.sums) if c.sums else f"({i})")
    return out


def heading_cells() -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """The three heading rows as texts, and their merged cells (first column, first row,
    last column, last row; 0-based) over all WIDTH columns."""
    rows = [["STT", NAME_HEADING] + [""] * len(FIGURES), [""] * WIDTH, [""] * WIDTH]
    spans = [(0, 0, 0, 2), (1, 0, 1, 2)]
    j = LEAD
    while j < WIDTH:
        c = FIGURES[j - LEAD]
        run = j
        while run + 1 < WIDTH and FIGURES[run + 1 - LEAD].group == c.group:
            run += 1
        rows[0][j] = c.group
        if c.leaf is None:
            spans.append((j, 0, j, 2))
        else:
            if run > j:
                spans.append((j, 0, run, 0))
            k = j
            while k <= run:
                col = FIGURES[k - LEAD]
                if col.sub is None:
                    rows[1][k] = col.leaf or ""
                    spans.append((k, 1, k, 2))
                    k += 1
                    continue
                end = k
                while end + 1 <= run and FIGURES[end + 1 - LEAD].sub == col.sub:
                    end += 1
                rows[1][k] = col.sub
                if end > k:
                    spans.append((k, 1, end, 1))
                for m in range(k, end + 1):
                    rows[2][m] = FIGURES[m - LEAD].leaf or ""
                k = end + 1
        j = run + 1
    return rows, spans


def signature_lines(h: Header) -> tuple[list[str], list[str]]:
    """(left, right) of the signature block."""
    return (["", "NGƯỜI LẬP BIỂU", "(Ký, ghi rõ họ tên)"],
            [f"{h.place}, {vn_date(h.made_on)}", "THỦ TRƯỞNG ĐƠN VỊ",
             "(Ký tên, đóng dấu)"])


# --------------------------------------------------------------------------- xlsx

_THIN = Side(style="thin", color="444444")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _merge(ws: Worksheet, row: int, first: int, last: int, text: str, bold: bool = False,
           align: str = "center") -> None:
    cell = ws.cell(row=row, column=first, value=text)
    cell.font = Font(bold=bold)
    cell.alignment = Alignment(horizontal=align, vertical="center", wrap_text=True)
    if last > first:
        ws.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)


def xlsx(report: dict[str, Any], h: Header) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = f"Quy {report['period']['quarter']}-{report['period']['year']}"
    half = WIDTH // 2
    if h.parent:
        _merge(ws, 1, 1, half - 2, h.parent.upper())
    _merge(ws, 2, 1, half - 2, h.unit.upper(), bold=True)
    for row, line in enumerate(STATIONERY.heading, start=1):
        _merge(ws, row, half, WIDTH, line, bold=True)
    _merge(ws, 3, half, WIDTH, FORM_REFERENCE)
    _merge(ws, 5, 1, WIDTH, TITLE, bold=True)
    _merge(ws, 6, 1, WIDTH, period_line(report))
    _merge(ws, 7, 1, WIDTH, f"Đơn vị báo cáo: {h.unit}", align="left")
    _merge(ws, 8, 1, WIDTH, f"Đơn vị nhận báo cáo: {h.receiver}", align="left")
    _merge(ws, 9, 1, WIDTH, UNIT, align="right")
    top = 10
    rows, spans = heading_cells()
    rows = [[*r, ""] for r in rows]
    rows[0][WIDTH] = "Mã đơn vị, mã thủ tục"
    spans.append((WIDTH, 0, WIDTH, 2))
    for i, texts in enumerate([*rows, [*numbers(), ""]]):
        for j, text in enumerate(texts):
            cell = ws.cell(row=top + i, column=j + 1, value=text or None)
            cell.font = Font(bold=i < 3)
            cell.alignment = _CENTER
            cell.border = _BOX
    for c0, r0, c1, r1 in spans:
        if (c0, r0) != (c1, r1):
            ws.merge_cells(start_row=top + r0, start_column=c0 + 1, end_row=top + r1,
                           end_column=c1 + 1)
    row = top + 4
    for line in lines(report):
        values = [line.number, "    " * line.depth + line.name, *line.figures, line.code]
        for j, value in enumerate(values, start=1):
            cell = ws.cell(row=row, column=j, value=value)
            cell.border = _BOX
            cell.font = Font(bold=line.kind == "agency", italic=line.kind == "field")
            if j == 2:
                cell.alignment = Alignment(wrap_text=True, vertical="center")
        row += 1
    left, right = signature_lines(h)
    for i, (a, b) in enumerate(zip(left, right, strict=True)):
        _merge(ws, row + 1 + i, 1, half - 2, a, bold=i == 1)
        _merge(ws, row + 1 + i, half, WIDTH, b, bold=i == 1)
    ws.column_dimensions["A"].width = 8
    ws.column_dimensions["B"].width = 48
    for j in range(LEAD + 1, WIDTH + 1):
        ws.column_dimensions[get_column_letter(j)].width = 11
    ws.column_dimensions[get_column_letter(WIDTH + 1)].width = 16
    _sub_deadline_sheet(wb.create_sheet("Lien thong"), report)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sub_deadline_sheet(ws: Worksheet, report: dict[str, Any]) -> None:
    ws.append([SUB_DEADLINE_TITLE])
    ws.append([period_line(report)])
    ws.append([name for name, _ in SUB_DEADLINE_COLUMNS])
    for cell in ws[3]:
        cell.font = Font(bold=True)
        cell.alignment = _CENTER
    for entry in report.get("sub_deadlines", []):
        ws.append([entry[key] for _, key in SUB_DEADLINE_COLUMNS])
    ws.column_dimensions["A"].width = 40


# --------------------------------------------------------------------------- pdf

SMALL = ParagraphStyle("quarterly", fontName=FONT_REGULAR, fontSize=7, leading=8.5)
SMALL_BOLD = ParagraphStyle("quarterly_b", fontName=FONT_BOLD, fontSize=7, leading=8.5)
SMALL_HEAD = ParagraphStyle("quarterly_h", fontName=FONT_BOLD, fontSize=6.5, leading=8,
                            alignment=1)


def _cells(texts: Iterable[str], style: ParagraphStyle) -> list[Any]:
    return [Paragraph(t(x), style) if x else "" for x in texts]


def _form_table(report: dict[str, Any], width: float) -> Table:
    heading, spans = heading_cells()
    body: list[list[Any]] = []
    bold_rows = []
    for i, line in enumerate(lines(report)):
        name = line.name if line.kind != "procedure" else f"{line.code} {line.name}"
        style = SMALL_BOLD if line.kind == "agency" else SMALL
        indent = "\u00a0" * (3 * line.depth)
        body.append([line.number, Paragraph(indent + t(name), style),
                     *(str(v) for v in line.figures)])
        if line.kind == "agency":
            bold_rows.append(4 + i)
    rows = [*(_cells(r, SMALL_HEAD) for r in heading), _cells(numbers(), SMALL_HEAD), *body]
    first, name = 0.035 * width, 0.22 * width
    rest = (width - first - name) / len(FIGURES)
    table = Table(rows, colWidths=[first, name, *([rest] * len(FIGURES))], repeatRows=4)
    style = [("FONTNAME", (0, 0), (-1, -1), FONT_REGULAR), ("FONTSIZE", (0, 0), (-1, -1), 7),
             ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#444444")),
             ("BACKGROUND", (0, 0), (-1, 3), colors.HexColor("#E6E6E6")),
             ("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("ALIGN", (2, 4), (-1, -1), "RIGHT"),
             ("ALIGN", (0, 0), (0, -1), "CENTER"),
             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
             ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2)]
    style += [("SPAN", (c0, r0), (c1, r1)) for c0, r0, c1, r1 in spans]
    style += [("FONTNAME", (0, r), (-1, r), FONT_BOLD) for r in bold_rows]
    table.setStyle(TableStyle(style))
    return table


def _two_blocks(left: list[Flowable], right: list[Flowable], width: float) -> Table:
    table = Table([[left, right]], colWidths=[width * 0.4, width * 0.6])
    table.setStyle(plain_table())
    return table


def pdf(report: dict[str, Any], h: Header) -> bytes:
    ensure_fonts()
    page = landscape(A4)
    margin = 10 * mm
    width = page[0] - 2 * margin - 12
    top_left = ([p(h.parent.upper(), "center")] if h.parent else []) + \
        [p(h.unit.upper(), "center_b")]
    top_right = [*(p(line, "center_b") for line in STATIONERY.heading),
                 p(FORM_REFERENCE, "form_ref")]
    left, right = signature_lines(h)
    signature = _two_blocks([p(x, "center_b" if i == 1 else "center")
                             for i, x in enumerate(left)],
                            [p(x, "center_b" if i == 1 else "center")
                             for i, x in enumerate(right)], width)
    story: list[Flowable] = [
        _two_blocks(top_left, top_right, width), Spacer(1, 4 * mm), p(TITLE, "title"),
        p(period_line(report), "center"), Spacer(1, 2 * mm),
        p(f"Đơn vị báo cáo: {h.unit}", "body"), p(f"Đơn vị nhận báo cáo: {h.receiver}", "body"),
        Paragraph(t(UNIT), ParagraphStyle("unit", fontName=FONT_REGULAR, fontSize=8,
                                          alignment=2)),
        _form_table(report, width),
        KeepTogether([Spacer(1, 6 * mm), signature])]
    if report.get("sub_deadlines"):
        head = _cells([name for name, _ in SUB_DEADLINE_COLUMNS], SMALL_HEAD)
        body = [[Paragraph(t(str(e["agency"])), SMALL),
                 *(str(e[key]) for _, key in SUB_DEADLINE_COLUMNS[1:])]
                for e in report["sub_deadlines"]]
        annex = Table([head, *body], colWidths=[0.34 * width, *([0.11 * width] * 6)],
                      repeatRows=1)
        annex.setStyle(TableStyle([
            ("FONTNAME", (0, 0), (-1, -1), FONT_REGULAR), ("FONTSIZE", (0, 0), (-1, -1), 7),
            ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#444444")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E6E6E6")),
            ("ALIGN", (1, 1), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
        story += [PageBreak(), p(SUB_DEADLINE_TITLE, "title"), p(period_line(report), "center"),
                  Spacer(1, 3 * mm), annex]
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=page, leftMargin=margin, rightMargin=margin,
                            topMargin=10 * mm, bottomMargin=10 * mm, title=TITLE,
                            author=h.unit, lang="vi-VN", invariant=True,
                            initialFontName=FONT_REGULAR)
    with FONT_LOCK:
        doc.build(story)
    return buf.getvalue()
