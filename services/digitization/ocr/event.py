"""The seam digitization calls in its worker pool after a scanned component is signed:
the extraction as the fields ComponentDigitized carries, without any personal value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.observability.logs import get_logger
from services.digitization.ocr.declaration_forms import supports
from services.digitization.ocr.engine import missing
from services.digitization.ocr.extract import extract
from services.digitization.ocr.model import Declared, Extraction

log = get_logger(__name__)


def declared_from(values: Mapping[str, Any] | None) -> Declared | None:
    """What the applicant declared (full_name, id_number, social_insurance_code; a date of
    birth too when known), or None when nothing was declared to compare with."""
    fields = {k: values.get(k) for k in ("full_name", "date_of_birth", "id_number",
                                         "social_insurance_code")} if values else {}
    fields = {k: v for k, v in fields.items() if v}
    return Declared(**fields) if fields else None


def event_summary(extraction: Extraction, compared: bool) -> dict[str, Any]:
    """`Extraction.summary()` in the shape of the contract's ExtractionSummary: fields as a
    list, and whether a declaration was there to compare (no mismatch means nothing then)."""
    summary = extraction.summary()
    return {"form_code": summary["form_code"],
            "fields": [{"name": name, **value} for name, value in summary["fields"].items()],
            "compared": compared,
            "mismatches": summary["mismatches"]}


def event_fields(pdf: bytes, component_code: str,
                 declared: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """{"extraction": summary} for a supported declaration form, or None (logged why) when
    the form has no OCR layout or Tesseract is not installed. Other failures (an unreadable
    page, Tesseract failing) raise: the caller logs them and digitizes without the fields."""
    if not supports(component_code):
        log.debug("no OCR layout for this component", component=component_code)
        return None
    reason = missing()
    if reason:
        log.info("OCR unavailable; digitized without extracted fields",
                 component=component_code, reason=reason)
        return None
    against = declared_from(declared)
    return {"extraction": event_summary(extract(pdf, component_code, against),
                                        against is not None)}
