"""OCR's way to the processing officer, without the applicant's values: the summary
digitization puts on ComponentDigitized (the contract's shape, no personal value) and, for
every scanned form of the dossier, on DossierDigitized, the declaration it compares
against, and what processing keeps and shows on the case."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from contracts.common import ComponentForm, IndividualApplicant, OrganizationApplicant
from contracts.events import (
    ApplicantRecorded,
    ComponentDigitized,
    DossierDigitized,
    ExtractionSummary,
)
from services.digitization import handlers as digitization
from services.digitization.ocr import (
    Declared,
    Extraction,
    FieldName,
    FieldValue,
    Mismatch,
    MismatchKind,
    event_fields,
    event_summary,
)
from services.digitization.ocr import event as ocr_event
from services.digitization.ocr.event import declared_from
from services.processing import case_views, domain
from services.processing.case_record import CaseRecord

AT = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)
READ_ID, DECLARED_ID, SOCIAL = "001090012345", "001090099999", "0123456789"
NAME = "Nguyễn Văn An"


def extraction() -> Extraction:
    return Extraction(
        form_code="14-HSB",
        full_name=FieldValue(NAME, 0.91, 1),
        date_of_birth=FieldValue(date(1990, 3, 5), 0.884, 1),
        id_number=FieldValue(READ_ID, 0.9349, 1),
        social_insurance_code=FieldValue(None, 0.0),
        mismatches=(Mismatch(FieldName.id_number, MismatchKind.differs, 0.9349),),
    )


def event(summary: dict | None, component: str = "14-HSB") -> ComponentDigitized:
    return ComponentDigitized(
        dossier_code="000.01.01.H26-260302-0007", component_code=component,
        form=ComponentForm.paper, digitized_at=AT, source="scanned",
        extraction=None if summary is None else ExtractionSummary.model_validate(summary))


def test_the_summary_has_the_contracts_shape_and_no_personal_value() -> None:
    summary = event_summary(extraction(), compared=True)
    assert ExtractionSummary.model_validate(summary).model_dump(mode="json") == summary
    assert summary["form_code"] == "14-HSB" and summary["compared"] is True
    assert [f["name"] for f in summary["fields"]] == [n.value for n in FieldName]
    fields = {f["name"]: f for f in summary["fields"]}
    assert fields["id_number"] == {"name": "id_number", "read": True, "confidence": 0.935}
    assert fields["social_insurance_code"]["read"] is False
    assert summary["mismatches"] == [{"field": "id_number", "kind": "differs",
                                      "confidence": 0.935}]
    text = json.dumps(event(summary).model_dump(mode="json"), ensure_ascii=False)
    for value in (READ_ID, NAME, "1990-03-05", "05/03/1990"):
        assert value not in text


def test_a_declaration_is_compared_only_when_something_was_declared() -> None:
    assert declared_from(None) is None
    assert declared_from({"full_name": None, "id_number": "", "social_insurance_code": None}) \
        is None
    assert declared_from({"full_name": NAME, "id_number": DECLARED_ID,
                          "social_insurance_code": None}) == \
        Declared(full_name=NAME, id_number=DECLARED_ID)


def test_no_fields_for_a_form_without_layout_or_without_tesseract(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert event_fields(b"%PDF-1.7", "GKS", {"id_number": DECLARED_ID}) is None
    monkeypatch.setattr(ocr_event, "missing", lambda: "tesseract is not installed")
    assert event_fields(b"%PDF-1.7", "14-HSB", {"id_number": DECLARED_ID}) is None


def test_digitization_keeps_one_declaration_per_dossier_and_none_for_organisations() -> None:
    person = IndividualApplicant(full_name=NAME, id_number=DECLARED_ID,
                                 social_insurance_code=SOCIAL)
    rows = digitization._declarations([
        ApplicantRecorded(dossier_code="D-2", applicant_ref="p1_x",
                          applicant=person.model_copy(update={"id_number": "001090000000"})),
        ApplicantRecorded(dossier_code="D-2", applicant_ref="p1_x", applicant=person),
        ApplicantRecorded(dossier_code="D-1", applicant_ref="p1_y", applicant=OrganizationApplicant(
            name="Công ty A", unit_code="TA0001")),
    ], AT)
    assert rows == [{"dossier_code": "D-2", "full_name": NAME, "id_number": DECLARED_ID,
                     "social_insurance_code": SOCIAL, "recorded_at": AT}]


def test_extracted_fields_the_contract_refuses_are_left_off_not_fatal() -> None:
    plain = event(None)
    kept = digitization._with_extra(plain, {"extraction": event_summary(extraction(), True)})
    assert kept.extraction is not None and kept.extraction.mismatches[0].field == "id_number"
    bad = {"extraction": {"form_code": "14-HSB", "mismatches": [
        {"field": "id_number", "kind": "invented", "confidence": 2}]}}
    assert digitization._with_extra(plain, bad) == plain


def _view(record: CaseRecord) -> dict:
    return case_views.view(record, None, None, [], [], [], AT)


def digitized(*summaries: dict) -> DossierDigitized:
    return DossierDigitized(
        dossier_code="000.01.01.H26-260302-0007", agency_code="000.01.01.H26",
        procedure_code="BHXH.NH.03", digitized_at=AT, component_count=3,
        extractions=[ExtractionSummary.model_validate(s) for s in summaries])


def test_processing_keeps_each_forms_latest_extraction_and_shows_the_mismatch() -> None:
    flagged = event_summary(extraction(), compared=True)
    clean = {**flagged, "mismatches": []}
    other = {**clean, "form_code": "TK1-TS"}
    row = CaseRecord(code="D-1", state="waiting")
    assert _view(row)["declaration_mismatch"] is False and _view(row)["extraction"] == {}

    row = domain.with_extractions(row, digitized(flagged, other))
    assert _view(row)["declaration_mismatch"] is True
    assert _view(row)["extraction"]["14-HSB"]["mismatches"][0]["field"] == "id_number"
    assert set(_view(row)["extraction"]) == {"14-HSB", "TK1-TS"}
    assert domain.with_extractions(row, digitized(flagged, other)) is row  # redelivered
    # The corrected form of a supplement, scanned again: the mismatch is gone.
    row = domain.with_extractions(row, digitized(clean, other))
    assert _view(row)["declaration_mismatch"] is False
    # Scanned again without extraction: its old summary no longer stands.
    row = domain.with_extractions(row, digitized(other))
    assert set(_view(row)["extraction"]) == {"TK1-TS"}
    row = domain.with_extractions(row, digitized())
    assert row.extraction_flags is None and _view(row)["extraction"] == {}
    # An event written before DossierDigitized carried them says nothing: nothing changes.
    row = domain.with_extractions(row, digitized(flagged))
    old = digitized().model_copy(update={"extractions": None})
    assert domain.with_extractions(row, old) is row
