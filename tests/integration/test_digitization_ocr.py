"""OCR extraction with the real Tesseract and its Vietnamese model on declaration forms the
test renders itself (TK1-TS and 14-HSB, several applicants), clean and spoiled the way a
careless scan is: quarter turns, a few degrees of skew, grain, salt-and-pepper, blur.

Thresholds: clean forms, every field right; spoiled forms, at least 90 % of the fields read
are right and at least 85 % of all fields are read right (the measured figure is printed;
`python -m services.digitization.ocr.evaluate` measures it on the larger corpus).

Marked integration: it needs Debian's tesseract-ocr and tesseract-ocr-vie, and takes a
minute (3-5 s a page on one core)."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from datetime import date

import img2pdf
import pytest
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from services.digitization.ocr import (
    Declared,
    Extraction,
    FieldName,
    MismatchKind,
    extract,
    missing,
)
from services.digitization.ocr.evaluate import declared_of, field_right
from services.digitization.ocr.synthetic import (
    CLEAN,
    DISTORTIONS,
    FONT_DIR,
    PEOPLE,
    TEMPLATES,
    Sample,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing() is not None, reason=f"OCR unavailable: {missing()}"),
]

FORMS = tuple(TEMPLATES)  # TK1-TS, 14-HSB
MIN_ACCURACY = 0.90  # fields right / fields read, spoiled scans
MIN_RECALL = 0.85  # fields right / all fields, spoiled scans


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()


def score(samples: list[Sample], results: list[Extraction]) -> tuple[int, int, int]:
    right = read = total = 0
    for sample, result in zip(samples, results, strict=True):
        declared = declared_of(sample)
        for name, value in result.fields().items():
            total += 1
            if value.value is not None:
                read += 1
                right += field_right(name, getattr(declared, name.value), value.value)
    return right, read, total


CLEAN_SAMPLES = [Sample(form, person, CLEAN) for form in FORMS for person in PEOPLE[:3]]
# Each distortion once, alternating the forms, on other applicants than the clean ones.
SPOILED_SAMPLES = [
    Sample(FORMS[i % 2], PEOPLE[(i + 3) % len(PEOPLE)], how) for i, how in enumerate(DISTORTIONS)
]


@pytest.fixture(scope="module")
def clean() -> list[Extraction]:
    return [extract(png(s.image()), s.form_code, declared_of(s)) for s in CLEAN_SAMPLES]


@pytest.fixture(scope="module")
def spoiled() -> list[Extraction]:
    return [extract(png(s.image()), s.form_code, declared_of(s)) for s in SPOILED_SAMPLES]


def test_clean_forms_give_every_field_right_and_flag_nothing(clean: list[Extraction]) -> None:
    for sample, result in zip(CLEAN_SAMPLES, clean, strict=True):
        declared = declared_of(sample)
        for name, value in result.fields().items():
            assert field_right(name, getattr(declared, name.value), value.value), (
                sample.form_code, sample.person.full_name, name, value)
            assert value.confidence >= 0.5 and value.page == 1
        assert result.mismatches == (), (sample, result.mismatches)
        assert result.rotation == 0 and result.pages_read == 1
    right, read, total = score(CLEAN_SAMPLES, clean)
    print(f"\nclean: {right}/{read} fields right of {total}")


def test_rotated_skewed_and_noisy_scans_are_read(spoiled: list[Extraction]) -> None:
    for sample, result in zip(SPOILED_SAMPLES, spoiled, strict=True):
        quarter = round(sample.distortion.rotate / 90) * 90 % 360
        assert result.rotation == quarter, (sample.distortion, result.rotation)
        residual = sample.distortion.rotate - round(sample.distortion.rotate / 90) * 90
        assert result.skew == pytest.approx(-residual, abs=0.6), sample.distortion
    right, read, total = score(SPOILED_SAMPLES, spoiled)
    print(f"\nrotated/noisy: {right}/{read} fields right of {read} read, {total} on the forms")
    assert read and right / read >= MIN_ACCURACY, (right, read)
    assert right / total >= MIN_RECALL, (right, total)
    # A wrong value that is read is never flagged as a numbers/dates match by accident:
    # every field read wrong is in the mismatches.
    for sample, result in zip(SPOILED_SAMPLES, spoiled, strict=True):
        declared = declared_of(sample)
        wrong = {name for name, value in result.fields().items()
                 if value.read and not field_right(name, getattr(declared, name.value),
                                                   value.value)}
        assert wrong == {m.field for m in result.mismatches}


def test_a_declaration_that_the_form_contradicts_is_flagged() -> None:
    sample = Sample("TK1-TS", PEOPLE[4], CLEAN)
    honest = declared_of(sample)
    declared = replace(
        honest,
        full_name="Đặng Quốc Vĩ",  # another name
        id_number="048095007789",  # one digit off
        date_of_birth=date(1995, 2, 10),  # day and month swapped
    )
    result = extract(png(sample.image()), "TK1-TS", declared)
    kinds = {m.field: m.kind for m in result.mismatches}
    assert kinds == {
        FieldName.full_name: MismatchKind.differs,
        FieldName.id_number: MismatchKind.differs,
        FieldName.date_of_birth: MismatchKind.differs,
    }
    assert all(m.confidence >= 0.5 for m in result.mismatches)
    # The social insurance code was declared right: not flagged; its value is as read.
    assert result.social_insurance_code.value == honest.social_insurance_code

    weaker = extract(png(sample.image()), "TK1-TS", replace(honest, full_name="Dang Quoc Vu"))
    assert [(m.field, m.kind) for m in weaker.mismatches] == [
        (FieldName.full_name, MismatchKind.diacritics)]


def test_a_scanned_pdf_is_read_from_its_first_page() -> None:
    # The component PDF as scan intake makes it (img2pdf): the form, then an annex page.
    sample = Sample("14-HSB", PEOPLE[2], DISTORTIONS[1])
    blank = Image.new("L", (1240, 1754), 255)
    pdf = img2pdf.convert([png(sample.image()), png(blank)])
    result = extract(pdf, "14-HSB", declared_of(sample))
    assert result.pages_read == 1  # every field read surely on page 1: page 2 not read
    assert result.id_number.value == sample.person.id_number
    assert result.social_insurance_code.value == sample.person.social_insurance_code
    assert result.mismatches == ()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) missing")
def test_a_form_filled_electronically_and_saved_as_pdf_is_rasterised_and_read() -> None:
    person = PEOPLE[0]
    pdfmetrics.registerFont(TTFont("OcrTestSerif", str(FONT_DIR / "DejaVuSerif.ttf")))
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    canvas.setFont("OcrTestSerif", 11)
    y = 780.0
    for _, text in TEMPLATES["TK1-TS"](person):
        canvas.drawString(60, y, text)
        y -= 21
    canvas.save()
    result = extract(out.getvalue(), "TK1-TS", Declared(
        full_name=person.full_name, id_number=person.id_number,
        social_insurance_code=person.social_insurance_code,
        date_of_birth=person.date_of_birth))
    assert result.id_number.value == person.id_number
    assert result.date_of_birth.value == person.date_of_birth
    assert result.social_insurance_code.value == person.social_insurance_code
    assert result.full_name.value is not None
    assert result.full_name.value.casefold() == person.full_name.casefold()
