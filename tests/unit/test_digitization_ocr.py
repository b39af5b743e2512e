"""OCR extraction without the engine: label matching and field shapes on word lists shaped
like Tesseract's, the comparison with what was declared, the scan clean-up, and page
loading. The engine's end-to-end reading is in tests/integration/test_digitization_ocr.py."""

from __future__ import annotations

import io
import pickle
from datetime import date
from typing import Any

import pytest
from PIL import Image, ImageDraw

from services.digitization.ocr import (
    Declared,
    Extraction,
    FieldName,
    FieldValue,
    Mismatch,
    MismatchKind,
    UnreadableDocument,
    UnsupportedForm,
    extract,
    supports,
)
from services.digitization.ocr.compare import mismatches
from services.digitization.ocr.declaration_forms import FORMS
from services.digitization.ocr.engine import Word
from services.digitization.ocr.page_images import load_pages
from services.digitization.ocr.parse import read_fields, segments
from services.digitization.ocr.preprocess import binarise, otsu_threshold, skew_angle, turn
from services.digitization.ocr.synthetic import PEOPLE, render
from services.digitization.ocr.text import digits_of, fold

H = 30  # word height in pixels; a gap of three spaces is wider than GAP_FACTOR heights


def words(*lines: str, conf: float = 95.0) -> list[Word]:
    """Words as Tesseract reports them: each line one Tesseract line; within a line a run
    of three or more spaces is a wide gap (two fields side by side)."""
    out: list[Word] = []
    for number, line in enumerate(lines, 1):
        left = 100
        for segment in line.split("   "):
            if not segment.strip():
                left += 4 * H
                continue
            for token in segment.split():
                width = 18 * len(token)
                out.append(Word(token, conf, left, number * 2 * H, width, H, (1, 1, number)))
                left += width + 12
            left += 3 * H
    return out


TK1 = FORMS["TK1-TS"]


def values(found: dict[FieldName, FieldValue[Any]]) -> dict[str, Any]:
    return {name.value: value.value for name, value in found.items()}


def test_fields_are_read_after_their_labels_not_from_the_signature_or_dates() -> None:
    found = read_fields(words(
        "I. Áp dụng đối với người tham gia tra cứu không thấy mã số BHXH",
        "[01]. Họ và tên (viết chữ in hoa): NGUYỄN VĂN AN",
        "[02]. Ngày, tháng, năm sinh: 05/03/1990      [03]. Giới tính: Nam",
        "[07]. Số CCCD/ĐDCN/Hộ chiếu: 001090012345",
        "[08]. Số điện thoại liên hệ: 0912345678",
        "[10]. Mã số BHXH: 0123456789",
        "Hà Nội, ngày 12 tháng 10 năm 2025",
        "(Ký, ghi rõ họ tên)",
        "Nguyễn Văn An",
    ), TK1, page=1)
    assert values(found) == {
        "full_name": "NGUYỄN VĂN AN", "date_of_birth": date(1990, 3, 5),
        "id_number": "001090012345", "social_insurance_code": "0123456789"}
    assert all(v.page == 1 and v.confidence == pytest.approx(0.95) for v in found.values())


def test_labels_are_found_without_diacritics_and_with_ocr_debris() -> None:
    found = read_fields(words(
        "| Ho va ten: Tran Thi Binh",
        "(02) Sinh ngay: 24-12-1985",
        "So dinh danh ca nhan/CCCD: 0791 8500 4321",
        "Ma so BHXH: 7 9 1 2 3 4 5 6 8 0",
    ), TK1, page=2)
    assert values(found) == {
        "full_name": "Tran Thi Binh", "date_of_birth": date(1985, 12, 24),
        "id_number": "079185004321",  # digit groups joined
        "social_insurance_code": "7912345680"}  # letter-spaced digits


def test_two_fields_on_one_line_are_cut_at_the_gap() -> None:
    found = read_fields(words("Họ và tên: Lê Hoàng Đức     Sinh ngày: 19/07/2001"), TK1, 1)
    assert found[FieldName.full_name].value == "Lê Hoàng Đức"
    assert found[FieldName.date_of_birth].value == date(2001, 7, 19)
    assert [len(s) for s in segments(words("a b   c"))] == [2, 1]


def test_a_value_under_its_label_is_taken_from_the_next_segment() -> None:
    found = read_fields(words("Mã số BHXH:", "3820119988"), TK1, 1)
    assert found[FieldName.social_insurance_code].value == "3820119988"


def test_look_alike_letters_are_repaired_at_lower_confidence() -> None:
    found = read_fields(words("Số CCCD: O0109OO12345", "Ngày sinh: O5/O3/199O"), TK1, 1)
    assert found[FieldName.id_number].value == "001090012345"
    assert found[FieldName.id_number].confidence == pytest.approx(0.95 * 0.8)
    assert found[FieldName.date_of_birth].value == date(1990, 3, 5)
    assert found[FieldName.date_of_birth].confidence < 0.95


@pytest.mark.parametrize("lines", [
    ("Số CCCD: 00109001234",),  # 11 digits: neither a citizen ID nor an old identity card
    ("Mã số BHXH: 012345678901",),  # 12 digits is no social insurance code
    ("Ngày sinh: 31/02/1990",),  # no such day
    ("Ngày sinh: 05/03/1850",),  # out of range
    ("Họ và tên: 12345",),  # no name
    ("Người kê khai (Ký, ghi rõ họ tên) Nguyễn Văn An",),  # not at the start of a segment
    ("không thấy mã số BHXH 0123456789",),
])
def test_values_of_the_wrong_shape_or_without_a_label_are_not_read(lines: tuple[str]) -> None:
    assert read_fields(words(*lines), TK1, 1) == {}


def test_the_best_supported_candidate_wins() -> None:
    found = read_fields(
        words("Mã số BHXH: 1111111111") + [
            Word(w.text, 99.0, w.left, 500, w.width, w.height, (9, 9, 9))
            for w in words("Mã số BHXH: 2222222222")],
        TK1, 1)
    assert found[FieldName.social_insurance_code] == FieldValue("2222222222", 0.99, 1)


def test_digits_of_and_fold() -> None:
    assert digits_of("0123.456.789") == ("0123456789", False)
    assert digits_of("O12") == ("012", True)
    assert digits_of("Nam") is None
    assert fold("  TRẦN  Thị ĐỨC ") == "tran thi duc"


def read(**values: object) -> dict[FieldName, FieldValue[object]]:
    return {FieldName(k): FieldValue(v, 0.9, 1) for k, v in values.items()}


def test_case_and_spacing_of_a_name_are_no_mismatch() -> None:
    assert mismatches(read(full_name="NGUYỄN  VĂN AN"), Declared(full_name="Nguyễn Văn An")) == ()


def test_a_name_differing_in_diacritics_only_is_the_weaker_signal() -> None:
    got = mismatches(read(full_name="NGUYÊN VĂN AN"), Declared(full_name="Nguyễn Văn An"))
    assert got == (Mismatch(FieldName.full_name, MismatchKind.diacritics, 0.9),)


def test_another_name_number_or_date_differs() -> None:
    got = mismatches(
        read(full_name="Nguyễn Văn Anh", id_number="001090012346",
             social_insurance_code="0123456789", date_of_birth=date(1990, 3, 6)),
        Declared("Nguyễn Văn An", date(1990, 3, 5), "001090012345", "0123456789"))
    assert {(m.field, m.kind) for m in got} == {
        (FieldName.full_name, MismatchKind.differs),
        (FieldName.id_number, MismatchKind.differs),
        (FieldName.date_of_birth, MismatchKind.differs),
    }


def test_fields_not_declared_or_not_read_are_not_compared() -> None:
    assert mismatches(read(id_number="001090012346"), Declared(full_name="X Y")) == ()
    assert mismatches({}, Declared("Nguyễn Văn An", None, "001090012345")) == ()


def test_summary_carries_no_personal_values_and_extractions_pickle() -> None:
    extraction = Extraction(
        form_code="TK1-TS",
        id_number=FieldValue("001090012345", 0.93, 1),
        full_name=FieldValue("NGUYỄN VĂN AN", 0.81, 1),
        mismatches=(Mismatch(FieldName.id_number, MismatchKind.differs, 0.93),),
    )
    summary = extraction.summary()
    text = repr(summary)
    assert "001090012345" not in text and "NGUY" not in text
    assert summary["fields"]["id_number"] == {"read": True, "confidence": 0.93}
    assert summary["mismatches"] == [
        {"field": "id_number", "kind": "differs", "confidence": 0.93}]
    assert set(extraction.missing) == {FieldName.date_of_birth, FieldName.social_insurance_code}
    # Results cross a process pool.
    assert pickle.loads(pickle.dumps(extraction)) == extraction


def test_unknown_forms_and_non_documents_are_refused_before_any_ocr() -> None:
    assert supports("TK1-TS") and supports("14-HSB") and not supports("GKS")
    with pytest.raises(UnsupportedForm, match="GKS"):
        extract(b"%PDF-1.4", "GKS", Declared())
    with pytest.raises(UnreadableDocument, match="neither a PDF nor an image"):
        extract(b"hello, world", "TK1-TS", Declared())
    with pytest.raises(UnreadableDocument, match="empty"):
        extract(b"", "TK1-TS", Declared())
    with pytest.raises(UnreadableDocument, match="not a readable PDF"):
        extract(b"%PDF-1.4 broken", "TK1-TS", Declared())


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_pages_come_from_pdf_images_tiff_frames_and_lists() -> None:
    a, b = Image.new("L", (300, 400), 255), Image.new("L", (320, 410), 200)
    pdf = io.BytesIO()
    a.save(pdf, format="PDF", save_all=True, append_images=[b], resolution=100)
    assert [p.size for p in load_pages(pdf.getvalue(), limit=5)] == [(300, 400), (320, 410)]
    assert len(load_pages(pdf.getvalue(), limit=1)) == 1
    tiff = io.BytesIO()
    Image.new("L", (50, 60), 255).save(tiff, format="TIFF", save_all=True,
                                      append_images=[Image.new("L", (50, 60), 0)] * 2)
    assert len(load_pages(tiff.getvalue(), limit=2)) == 2
    assert [p.size for p in load_pages([_png(a), _png(b)], limit=5)] == [(300, 400), (320, 410)]


def test_otsu_separates_ink_from_paper() -> None:
    page = Image.new("L", (100, 100), 230)
    ImageDraw.Draw(page).rectangle((10, 10, 40, 90), fill=40)
    level = otsu_threshold(page)
    assert 40 <= level < 230
    assert set(binarise(page).tobytes()) == {0, 255}


@pytest.mark.parametrize("skew", [-4.0, -1.5, 2.5])
def test_skew_is_measured_on_a_rendered_form(skew: float) -> None:
    page = binarise(render("TK1-TS", PEOPLE[0], dpi=100))
    assert skew_angle(turn(page, skew)) == pytest.approx(-skew, abs=0.3)
