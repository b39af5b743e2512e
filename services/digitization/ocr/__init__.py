"""OCR data extraction (bóc tách dữ liệu, Decision 1333 Art. 9) from scanned declaration
forms: Tesseract with its Vietnamese model, Pillow for the clean-up.

    from services.digitization.ocr import Declared, extract, supports

    if supports(component_code):
        result = extract(pdf_bytes, component_code, Declared(full_name=..., id_number=...))
        result.id_number.value, result.id_number.confidence, result.mismatches
        result.summary()  # without personal values, for an event

`extract` is synchronous and CPU-bound (about 1-3 s a page): run it in a process pool.
`event_fields(pdf, component_code, declared)` is digitization's seam: the summary that
ComponentDigitized carries (`{"extraction": ...}`), or None for a form OCR cannot read.
"""

from services.digitization.ocr.declaration_forms import FORMS, UnsupportedForm, supports
from services.digitization.ocr.engine import OcrFailed, OcrUnavailable, missing
from services.digitization.ocr.event import event_fields, event_summary
from services.digitization.ocr.extract import extract
from services.digitization.ocr.model import (
    Declared,
    Extraction,
    FieldName,
    FieldValue,
    Mismatch,
    MismatchKind,
)
from services.digitization.ocr.page_images import UnreadableDocument

__all__ = [
    "FORMS",
    "Declared",
    "Extraction",
    "FieldName",
    "FieldValue",
    "Mismatch",
    "MismatchKind",
    "OcrFailed",
    "OcrUnavailable",
    "UnreadableDocument",
    "UnsupportedForm",
    "event_fields",
    "event_summary",
    "extract",
    "missing",
    "supports",
]
