"""The applicant's slips (docs/law.md#slips-and-their-contents): render real PDFs, read them back
as text and as PDF objects, and check every required field with its Vietnamese diacritics."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import qrcode
from PIL import Image
from pypdf import PdfReader
from qrcode.constants import ERROR_CORRECT_M

from services.intake.slips import (
    FONT_DIR,
    ORG_ID_LABEL,
    PERSONAL_ID_LABEL,
    QR_BORDER,
    QR_BOX_PX,
    RULE_SETS,
    FormSetError,
    SlipAgency,
    SlipApplicant,
    SlipComponent,
    SlipContext,
    SlipProblem,
    load_form_sets,
    qr_png,
    receipt_slip,
    refusal_slip,
    register_fonts,
    rule_set_for,
    supplement_request,
    vn_date,
    vn_datetime,
)
from services.intake.slips.form_sets import DEFAULT_FILE as FORMS_FILE
from services.law.workdays import TZ

PDFTOTEXT = Path("/usr/bin/pdftotext")
CODE = "000.00.12.H62-260302-0004"
RULES_2018, RULES_2025 = RULE_SETS

AGENCY = SlipAgency("000.00.12.H62", "Phòng Chế độ BHXH", "Bảo hiểm xã hội thành phố Hà Nội")
HOA = SlipApplicant(
    name="Nguyễn Thị Hoa",
    id_label=PERSONAL_ID_LABEL,
    id_value="001190012345",
    address="Số 12 ngõ 45 phố Đội Cấn, phường Ba Đình, thành phố Hà Nội",
    phone="0912 345 678",
    email="hoa.nguyen@example.vn",
)
PROCEDURE = "Giải quyết hưởng chế độ thai sản"

COMPONENTS = [
    SlipComponent("Giấy chứng nhận nghỉ việc hưởng bảo hiểm xã hội (mẫu C65-HD)"),
    SlipComponent("Bản sao giấy khai sinh của con", original=False, count=2),
    SlipComponent("Sổ bảo hiểm xã hội", form="electronic", reused=True),
    SlipComponent("Giấy ra viện của người mẹ", form="electronic"),
]
PROBLEMS = [
    SlipProblem(
        "Thiếu giấy ra viện bản chính hoặc bản sao có chứng thực của con khi sinh tại cơ sở "
        "khám bệnh, chữa bệnh; đề nghị bổ sung để xác định thời gian hưởng chế độ thai sản.",
        "Khoản 1 Điều 101 Luật Bảo hiểm xã hội số 41/2024/QH15",
    ),
    SlipProblem("Số định danh cá nhân trên tờ khai không khớp Cơ sở dữ liệu quốc gia về dân cư"),
]
CLOCK_RULE = (
    "Thời hạn giải quyết được tính lại kể từ ngày nhận đủ hồ sơ; thời gian trước khi bổ sung "
    "không được tính."
)
REASONS = [
    SlipProblem("Hồ sơ không thuộc thẩm quyền giải quyết của Phòng Chế độ BHXH",
                "Nghị định 118/2025/NĐ-CP"),
    SlipProblem("Người lao động đã hưởng trợ cấp một lần cho thời gian đóng này",
                "Điều 70 Luật Bảo hiểm xã hội số 41/2024/QH15"),
]
DUE = datetime(2026, 3, 9, 16, 0, tzinfo=TZ)


def ctx(received_at: datetime = datetime(2026, 3, 2, 8, 15, tzinfo=TZ), **kw: object,
        ) -> SlipContext:
    base = SlipContext(dossier_code=CODE, agency=AGENCY, applicant=HOA,
                       procedure_name=PROCEDURE, received_at=received_at,
                       officer="Trần Văn Bình", channel="counter")
    return replace(base, **kw)  # type: ignore[arg-type]


def flat(text: str) -> str:
    """NFC, one space between words: wrapping and cell breaks must not hide a field."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text))


def pypdf_text(pdf: bytes) -> str:
    return flat(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


def pdftotext(pdf: bytes, tmp_path: Path, *args: str) -> str:
    if not PDFTOTEXT.exists():
        pytest.skip(f"{PDFTOTEXT} is not installed (poppler-utils)")
    src = tmp_path / "slip.pdf"
    src.write_bytes(pdf)
    out = subprocess.run([str(PDFTOTEXT), *args, "-enc", "UTF-8", str(src), "-"],
                         check=True, capture_output=True)
    return unicodedata.normalize("NFC", out.stdout.decode("utf-8"))


def common_fields(rules_title: str) -> list[str]:
    return [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
        "BẢO HIỂM XÃ HỘI THÀNH PHỐ HÀ NỘI", "PHÒNG CHẾ ĐỘ BHXH", rules_title,
        f"Mã hồ sơ: {CODE}", "Nguyễn Thị Hoa", "Số định danh cá nhân: 001190012345",
        HOA.address or "", "0912 345 678", "hoa.nguyen@example.vn", PROCEDURE,
        "08 giờ 15 phút, ngày 02 tháng 3 năm 2026", "Trần Văn Bình",
        "Phòng Chế độ BHXH tiếp nhận hồ sơ của",
    ]


def render_receipt(c: SlipContext | None = None) -> bytes:
    return receipt_slip(c or ctx(), COMPONENTS, DUE, "counter",
                        "Bộ phận Một cửa, số 1 Đội Cấn, phường Ba Đình")


# --- the three slips, read back as text ------------------------------------------------------


def test_receipt_slip_has_every_field_with_diacritics() -> None:
    text = pypdf_text(render_receipt())
    for field in common_fields(RULES_2025.receipt_title):
        assert flat(field) in text, field
    for comp in COMPONENTS:
        assert comp.name in text
    assert "Bản chính (giấy)" in text and "Bản sao (giấy)" in text
    assert "Bản chính (điện tử)" in text
    assert "Hẹn trả kết quả: 16 giờ 00 phút, ngày 09 tháng 3 năm 2026" in text
    assert "Nhận trực tiếp tại Bộ phận Một cửa" in text
    assert "số 1 Đội Cấn, phường Ba Đình" in text
    assert "Thông tư 03/2025/TT-VPCP" in text and "01/2018" not in text
    # At the counter the applicant signs as well as the officer.
    assert "NGƯỜI NỘP HỒ SƠ" in text and "NGƯỜI TIẾP NHẬN HỒ SƠ" in text


def test_receipt_slip_marks_only_the_reused_component() -> None:
    text = pypdf_text(render_receipt())
    assert text.count("dùng lại dữ liệu đã có") == 1
    row = text[text.index("Sổ bảo hiểm xã hội"):text.index("Giấy ra viện của người mẹ")]
    assert "dùng lại dữ liệu đã có" in row
    assert "—" in row  # nothing re-submitted, so no count


def test_receipt_slip_rows_via_pdftotext_layout(tmp_path: Path) -> None:
    layout = pdftotext(render_receipt(), tmp_path, "-layout")
    lines = layout.splitlines()
    reused = [ln for ln in lines if "Sổ bảo hiểm xã hội" in ln]
    assert reused and "dùng lại dữ liệu đã có" in reused[0]
    copy = [ln for ln in lines if "Bản sao giấy khai sinh của con" in ln]
    assert copy and re.search(r"Bản sao \(giấy\)\s+2\b", copy[0])
    plain = flat(pdftotext(render_receipt(), tmp_path))
    for field in common_fields(RULES_2025.receipt_title):
        assert flat(field) in plain, field
    assert "16 giờ 00 phút, ngày 09 tháng 3 năm 2026" in plain


def test_supplement_request_lists_every_problem_with_legal_basis(tmp_path: Path) -> None:
    pdf = supplement_request(ctx(), PROBLEMS, CLOCK_RULE)
    for text in (pypdf_text(pdf), flat(pdftotext(pdf, tmp_path))):
        for field in common_fields(RULES_2025.supplement_title):
            assert flat(field) in text, field
        first, second = (text.index(flat(p.text_vi)) for p in PROBLEMS)
        assert text[first - 3:first].strip() == "1."
        assert text[second - 3:second].strip() == "2."
        assert "Căn cứ pháp lý: Khoản 1 Điều 101 Luật Bảo hiểm xã hội số 41/2024/QH15" in text
        assert flat(CLOCK_RULE) in text
        assert "NGƯỜI HƯỚNG DẪN" in text
        assert "NGƯỜI NỘP HỒ SƠ" not in text
        assert RULES_2025.receipt_title not in text


def test_refusal_slip_lists_every_reason_with_legal_basis(tmp_path: Path) -> None:
    pdf = refusal_slip(ctx(), REASONS)
    for text in (pypdf_text(pdf), flat(pdftotext(pdf, tmp_path))):
        for field in common_fields(RULES_2025.refusal_title):
            assert flat(field) in text, field
        for i, reason in enumerate(REASONS, start=1):
            at = text.index(reason.text_vi)
            assert text[at - 3:at].strip() == f"{i}."
            assert f"Căn cứ pháp lý: {reason.legal_basis}" in text
        assert "từ chối tiếp nhận giải quyết hồ sơ này" in text


# --- dated rule sets -------------------------------------------------------------------------


def test_rule_set_for_uses_the_vietnamese_calendar_day() -> None:
    assert rule_set_for(datetime(2025, 6, 30, 10, 0, tzinfo=TZ)) is RULES_2018
    assert rule_set_for(datetime(2025, 6, 30, 16, 59, tzinfo=UTC)) is RULES_2018  # 23:59 VN
    assert rule_set_for(datetime(2025, 6, 30, 17, 30, tzinfo=UTC)) is RULES_2025  # 00:30 01/07
    assert rule_set_for(datetime(2025, 7, 1, 0, 0, tzinfo=TZ)) is RULES_2025
    assert RULES_2018.legal_basis.endswith("Thông tư 01/2018/TT-VPCP")
    assert "Nghị định 118/2025/NĐ-CP" in RULES_2025.legal_basis
    assert (RULES_2018.personal_id_on_slip, RULES_2025.personal_id_on_slip) == (False, True)
    with pytest.raises(ValueError, match="no slip rule set"):
        rule_set_for(datetime(2018, 12, 31, 10, 0, tzinfo=TZ))
    with pytest.raises(ValueError, match="timezone-aware"):
        rule_set_for(datetime(2025, 7, 1, 10, 0))


def test_receipt_before_july_2025_prints_the_2018_forms() -> None:
    received = datetime(2025, 6, 30, 16, 59, tzinfo=UTC)
    text = pypdf_text(receipt_slip(ctx(received), COMPONENTS,
                                   datetime(2025, 7, 7, 9, 0, tzinfo=TZ), "postal"))
    assert "Mẫu số 01, Nghị định 61/2018/NĐ-CP, Thông tư 01/2018/TT-VPCP" in text
    assert "03/2025" not in text and "118/2025" not in text
    assert "23 giờ 59 phút, ngày 30 tháng 6 năm 2025" in text
    assert "Nhận qua dịch vụ bưu chính công ích" in text


def test_personal_id_is_mandatory_only_under_the_2025_forms() -> None:
    anonymous = replace(HOA, id_value="")
    with pytest.raises(ValueError, match="Số định danh cá nhân"):
        refusal_slip(ctx(applicant=anonymous), REASONS)
    text = pypdf_text(refusal_slip(
        ctx(datetime(2024, 5, 6, 9, 0, tzinfo=TZ), applicant=anonymous), REASONS))
    assert "Nguyễn Thị Hoa" in text and PERSONAL_ID_LABEL not in text


def test_employer_unit_is_named_as_a_unit() -> None:
    unit = SlipApplicant("Công ty TNHH Đầu tư Phát triển Hồng Hà", ORG_ID_LABEL, "TA0123456A")
    text = pypdf_text(refusal_slip(ctx(applicant=unit), REASONS))
    assert "Tên đơn vị: Công ty TNHH Đầu tư Phát triển Hồng Hà" in text
    assert "Mã số đơn vị: TA0123456A" in text
    assert "Họ và tên" not in text and "Địa chỉ" not in text  # absent fields are not printed


# --- times in Asia/Ho_Chi_Minh ---------------------------------------------------------------


def test_vietnamese_date_format() -> None:
    # Decree 30/2020: leading zero for days < 10 and months < 3 only.
    assert vn_date(date(2026, 2, 5)) == "ngày 05 tháng 02 năm 2026"
    assert vn_date(date(2026, 3, 2)) == "ngày 02 tháng 3 năm 2026"
    assert vn_date(date(2026, 12, 25)) == "ngày 25 tháng 12 năm 2026"
    assert vn_datetime(datetime(2026, 3, 2, 1, 15, tzinfo=UTC)) == (
        "08 giờ 15 phút, ngày 02 tháng 3 năm 2026")


def test_utc_inputs_are_printed_in_vietnam_time() -> None:
    received = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)
    due = datetime(2026, 3, 9, 17, 30, tzinfo=UTC)  # 00:30 on 10/03 in Vietnam
    text = pypdf_text(receipt_slip(ctx(received, channel="online"), COMPONENTS, due, "online"))
    assert "08 giờ 15 phút, ngày 02 tháng 3 năm 2026" in text
    assert "Hẹn trả kết quả: 00 giờ 30 phút, ngày 10 tháng 3 năm 2026" in text
    assert "Hình thức nộp: Trực tuyến" in text
    assert "Nhận trực tuyến qua tài khoản dịch vụ công" in text
    assert "NGƯỜI NỘP HỒ SƠ" not in text  # submitted online: nobody at the counter to sign


# --- text safety -----------------------------------------------------------------------------


def test_markup_characters_and_decomposed_input_print_literally() -> None:
    nfd_name = unicodedata.normalize("NFD", "Lê Thị Ngọc Ánh")
    assert nfd_name != "Lê Thị Ngọc Ánh"
    c = ctx(procedure_name="Hưởng chế độ ốm đau & thai sản <đợt 1>",
            applicant=replace(HOA, name=nfd_name))
    text = pypdf_text(supplement_request(c, PROBLEMS, CLOCK_RULE))
    assert "Hưởng chế độ ốm đau & thai sản <đợt 1>" in text
    assert "Lê Thị Ngọc Ánh" in text  # NFC: one glyph per letter, no loose accents


def test_long_component_list_flows_onto_more_pages_with_the_code() -> None:
    many = [SlipComponent(f"Giấy tờ chứng minh số {i} của người lao động") for i in range(1, 46)]
    reader = PdfReader(io.BytesIO(receipt_slip(ctx(), many, DUE, "counter")))
    assert len(reader.pages) >= 2
    last = flat(reader.pages[-1].extract_text())
    assert f"Mã hồ sơ: {CODE}" in last and "Tên giấy tờ" in last  # footer, repeated head
    everything = pypdf_text(receipt_slip(ctx(), many, DUE, "counter"))
    assert all(f"Giấy tờ chứng minh số {i} của người lao động" in everything
               for i in range(1, 46))


def test_rendering_is_deterministic() -> None:
    assert render_receipt() == render_receipt()


def test_slips_rendered_at_once_in_threads_are_each_whole() -> None:
    # The counter renders in worker threads (services/intake/counter.py), and reportlab's
    # TrueType subsetter reads the shared font file through one cursor: unguarded, two
    # renders at once broke with IndexError or wrote another slip's glyphs.
    serial = render_receipt()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads trade the GIL often, as on a busy server
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            rendered = list(pool.map(lambda _: render_receipt(), range(36)))
    finally:
        sys.setswitchinterval(switch)
    assert all(pdf == serial for pdf in rendered)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: receipt_slip(ctx(), [], DUE, "counter"), "at least one component"),
        (lambda: receipt_slip(ctx(), COMPONENTS, DUE, "fax"), "return channel"),
        (lambda: receipt_slip(ctx(), COMPONENTS, datetime(2026, 3, 1, tzinfo=TZ), "counter"),
         "before received_at"),
        (lambda: supplement_request(ctx(), [], CLOCK_RULE), "at least one problem"),
        (lambda: refusal_slip(ctx(), []), "at least one reason"),
        (lambda: ctx(datetime(2026, 3, 2, 8, 15)), "timezone-aware"),
        (lambda: ctx(channel="fax"), "channel"),
        (lambda: SlipComponent("Tờ khai", form="fax"), "paper or electronic"),
        (lambda: SlipComponent("Tờ khai", count=0), "at least 1"),
    ],
)
def test_invalid_input_is_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# --- PDF objects: fonts and the QR image -----------------------------------------------------

SLIPS: dict[str, Callable[[], bytes]] = {
    "receipt": render_receipt,
    "supplement": lambda: supplement_request(ctx(), PROBLEMS, CLOCK_RULE),
    "refusal": lambda: refusal_slip(ctx(), REASONS),
}


@pytest.mark.parametrize("slip", SLIPS)
def test_only_embedded_dejavu_fonts(slip: str) -> None:
    reader = PdfReader(io.BytesIO(SLIPS[slip]()))
    names: set[str] = set()
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            name = str(font["/BaseFont"])
            # A subset tag (ABCDEF+) and a FontFile2 stream: the TTF is embedded, not named.
            assert re.fullmatch(r"/[A-Z]{6}\+DejaVuSans(-Bold)?", name), name
            assert "/FontFile2" in font["/FontDescriptor"].get_object()
            names.add(name.split("+")[1])
    assert names == {"DejaVuSans", "DejaVuSans-Bold"}


def test_missing_font_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "DejaVuSans.ttf"))):
        register_fonts(tmp_path)
    register_fonts(FONT_DIR)  # the real directory still registers


def modules(img: Image.Image) -> list[list[bool]]:
    """Dark modules sampled at each module's centre (True = dark), quiet zone dropped."""
    gray = img.convert("L")
    n = gray.width // QR_BOX_PX - 2 * QR_BORDER
    half = QR_BOX_PX // 2
    return [[gray.getpixel(((QR_BORDER + x) * QR_BOX_PX + half,
                            (QR_BORDER + y) * QR_BOX_PX + half)) < 128 for x in range(n)]
            for y in range(n)]


def expected_modules(code: str) -> list[list[bool]]:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(code)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


def test_qr_png_round_trip() -> None:
    img = Image.open(io.BytesIO(qr_png(CODE)))
    want = expected_modules(CODE)
    assert img.size == ((len(want) + 2 * QR_BORDER) * QR_BOX_PX,) * 2
    assert modules(img) == want
    assert modules(Image.open(io.BytesIO(qr_png(CODE.replace("0004", "0005"))))) != want


@pytest.mark.parametrize("slip", SLIPS)
def test_the_qr_drawn_on_the_slip_encodes_the_dossier_code(slip: str) -> None:
    page = PdfReader(io.BytesIO(SLIPS[slip]())).pages[0]
    images = list(page.images)
    assert len(images) == 1
    assert modules(images[0].image) == expected_modules(CODE)


# --- form sets are data ----------------------------------------------------------------------

# A later set, as someone would append it to forms.yaml: new legal basis and titles, a receipt
# without the e-mail line and with an extra note, and nothing else changed.
NEW_SET = """
  - name: "NĐ999/2027"
    valid_from: 2027-01-01
    legal_basis: "Nghị định 999/2026/NĐ-CP, Thông tư 09/2026/TT-VPCP"
    personal_id_on_slip: true
    slips:
      receipt:
        form: "Mẫu số 1a"
        title: "GIẤY BIÊN NHẬN HỒ SƠ ĐIỆN TỬ"
        body:
          - kind: applicant
            intro: "{agency} đã nhận hồ sơ của:"
            fields: [id, procedure, channel, received_at]
          - {kind: heading, text: "Giấy tờ đã nhận:"}
          - {kind: components}
          - {kind: due, label: "Ngày trả kết quả:"}
          - {kind: return}
          - {kind: note, text: "Tra cứu hồ sơ bằng mã QR; người tiếp nhận: {officer}."}
          - {kind: signatures, officer: "CÁN BỘ TIẾP NHẬN", applicant_signs: never}
      supplement: *slips_2018_supplement
      refusal: *slips_2018_refusal
"""


def form_sets_with(tmp_path: Path, extra: str, base: str | None = None) -> Path:
    """forms.yaml as shipped (anchors for reuse added) plus `extra`, in a file of its own."""
    text = base if base is not None else FORMS_FILE.read_text("utf-8")
    text = text.replace("      supplement:\n", "      supplement: &slips_2018_supplement\n", 1)
    text = text.replace("      refusal:\n", "      refusal: &slips_2018_refusal\n", 1)
    path = tmp_path / "forms.yaml"
    path.write_text(text + extra, "utf-8")
    return path


def test_the_shipped_form_sets_are_the_data_file() -> None:
    assert load_form_sets() == RULE_SETS
    assert [r.name for r in RULE_SETS] == ["TT01/2018", "NĐ118/2025"]
    assert RULES_2025.slips == RULES_2018.slips  # same forms, new legal basis (confirm)
    assert (RULES_2025.receipt_form, RULES_2025.refusal_form) == ("Mẫu số 01", "Mẫu số 03")


def test_a_new_dated_form_set_is_data_only(tmp_path: Path) -> None:
    sets = load_form_sets(form_sets_with(tmp_path, NEW_SET))
    assert [r.name for r in sets] == ["TT01/2018", "NĐ118/2025", "NĐ999/2027"]
    received = datetime(2027, 1, 4, 8, 0, tzinfo=TZ)
    new = rule_set_for(received, sets)
    assert new.name == "NĐ999/2027"
    text = pypdf_text(receipt_slip(ctx(received), COMPONENTS,
                                   datetime(2027, 1, 8, 16, 0, tzinfo=TZ), "counter",
                                   form_sets=sets))
    assert "GIẤY BIÊN NHẬN HỒ SƠ ĐIỆN TỬ" in text
    assert "(Mẫu số 1a, Nghị định 999/2026/NĐ-CP, Thông tư 09/2026/TT-VPCP)" in text
    assert "Phòng Chế độ BHXH đã nhận hồ sơ của" in text
    assert "Ngày trả kết quả: 16 giờ 00 phút, ngày 08 tháng 01 năm 2027" in text
    assert "người tiếp nhận: Trần Văn Bình." in text
    assert "Số định danh cá nhân: 001190012345" in text
    assert "hoa.nguyen@example.vn" not in text and "Địa chỉ" not in text  # fields left out
    assert "NGƯỜI NỘP HỒ SƠ" not in text and "CÁN BỘ TIẾP NHẬN" in text
    # The slips it did not change are the 2018 ones; earlier receipts keep their own set.
    assert RULES_2025.supplement_title in pypdf_text(
        supplement_request(ctx(received), PROBLEMS, CLOCK_RULE, form_sets=sets))
    assert receipt_slip(ctx(), COMPONENTS, DUE, "counter",
                        "Bộ phận Một cửa, số 1 Đội Cấn, phường Ba Đình", form_sets=sets) == \
        render_receipt()  # same set, same bytes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('          - {kind: due, label: "Ngày trả kết quả:"}\n', ""),
         r":\d+: form_sets\.2\.slips: .*receipt must print due"),
        (("{officer}.", "{officr}."), r":\d+: form_sets\.2\.slips\.receipt\.body\.5\.text: .*"
         r"unknown placeholder \{officr\}"),
        (("kind: heading", "kind: title"), r":\d+: form_sets\.2\.slips\.receipt\.body\.1: .*"
         r"'title'"),
        (("fields: [id, ", "fields: ["), r"form_sets\.2: .*leave out id"),
        (("applicant_signs: never}", "applicant_signs: sometimes}"),
         r"applicant_signs: .*'never' or 'at_counter'"),
        (("2027-01-01", "2025-07-01"), r"two form sets share a valid_from: 2025-07-01"),
    ],
)
def test_a_bad_form_set_is_refused_naming_file_line_and_field(
        tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in NEW_SET
    path = form_sets_with(tmp_path, NEW_SET.replace(*change, 1))
    with pytest.raises(FormSetError, match=re.escape(str(path)) + ".*" + message):
        load_form_sets(path)


def test_a_form_set_error_points_at_the_line(tmp_path: Path) -> None:
    path = form_sets_with(tmp_path, NEW_SET.replace("{officer}.", "{officr}."))
    with pytest.raises(FormSetError) as err:
        load_form_sets(path)
    line = int(re.search(rf"{re.escape(str(path))}:(\d+):", str(err.value)).group(1))  # type: ignore[union-attr]
    assert "{officr}" in path.read_text("utf-8").splitlines()[line - 1]
