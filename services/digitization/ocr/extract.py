"""The use case: one scanned component in, its declared fields read and compared out.

CPU-bound and synchronous on purpose: the caller runs it in a process pool, off the event
loop. The only I/O is the `tesseract` process (and `pdftoppm` for a PDF page that holds no
scanned image)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from services.digitization.ocr import engine, preprocess
from services.digitization.ocr.compare import mismatches
from services.digitization.ocr.declaration_forms import spec_for
from services.digitization.ocr.model import Declared, Extraction, FieldName, FieldValue
from services.digitization.ocr.page_images import load_pages
from services.digitization.ocr.parse import read_fields

MAX_PAGES = 2  # the personal data of every supported form is on its first page
# Orientation needs shapes of letters, not detail: a page ~1200 px high halves its time.
OSD_SIDE = 1200
# A turn whose words Tesseract reads at this mean confidence (0-100) is taken at once.
GOOD_READ = 70.0
# Stop reading further pages once every field is read at least this surely.
ENOUGH = 0.6


@dataclass(frozen=True)
class PageRead:
    words: list[engine.Word]
    rotation: int  # degrees clockwise
    skew: float  # degrees counter-clockwise


def _quality(words: list[engine.Word]) -> float:
    # Mean confidence of real words: a wrong turn reads few, short, unsure ones.
    real = [w.conf for w in words if sum(c.isalnum() for c in w.text) >= 2]
    return sum(real) / len(real) if len(real) >= 10 else 0.0


def read_page(page: Image.Image) -> PageRead:
    """The words of one page after clean-up, turned upright and deskewed."""
    binary = preprocess.binarise(preprocess.greyscale(page))
    osd = engine.orientation(preprocess.small(binary, OSD_SIDE))
    # OSD's answer goes first even when it is unsure: a wrong turn reads badly, and the
    # others are then tried in turn.
    turns = [0, 90, 180, 270]
    if osd is not None and osd.rotate in turns:
        turns.remove(osd.rotate)
        turns.insert(0, osd.rotate)
    best: PageRead | None = None
    best_quality = -1.0
    for clockwise in turns:
        upright = preprocess.turn(binary, -clockwise)
        skew = preprocess.skew_angle(upright)
        words = engine.words(preprocess.turn(upright, skew))
        quality = _quality(words)
        if quality > best_quality:
            best, best_quality = PageRead(words, clockwise, skew), quality
        if quality >= GOOD_READ:
            break
    assert best is not None
    return best


def extract(
    document: bytes | Sequence[bytes],
    form_code: str,
    declared: Declared | None = None,
    *,
    max_pages: int = MAX_PAGES,
) -> Extraction:
    """Read full name, date of birth, ID number and social insurance code from a scanned
    declaration form and compare them with what the applicant declared.

    `document`: a PDF (scanned pages as images, or vector pages), one image (PNG, JPEG,
    multi-page TIFF) or a list of page images. `form_code`: the catalogue's component code
    (see `forms.FORMS`). Raises `UnsupportedForm` for a form without a layout,
    `UnreadableDocument` for bytes that are no document, `OcrUnavailable` when Tesseract or
    its Vietnamese model is missing, `OcrFailed` when Tesseract fails on a page.
    """
    spec = spec_for(form_code)
    pages = load_pages(document, max_pages)
    best: dict[FieldName, FieldValue[Any]] = {}
    first: PageRead | None = None
    pages_read = 0
    for number, page in enumerate(pages, 1):
        read = read_page(page)
        first, pages_read = first or read, number
        for name, value in read_fields(read.words, spec, number).items():
            if name not in best or value.confidence > best[name].confidence:
                best[name] = value
        if len(best) == len(FieldName) and min(v.confidence for v in best.values()) >= ENOUGH:
            break
    return Extraction(
        form_code=form_code,
        **{name.value: value for name, value in best.items()},
        mismatches=mismatches(best, declared or Declared()),
        pages_read=pages_read,
        rotation=first.rotation if first else 0,
        skew=first.skew if first else 0.0,
    )
