"""Recording a scan against an in-memory repository: the component is finished with its
signed file, told (ComponentDigitized), put in the applicant's warehouse; the last one
finishes the dossier (DossierDigitized, with what OCR read); a second scan of the same
component, or an unknown one, is refused. The database path is
tests/integration/test_digitization_scan.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.events import ComponentDigitized, DossierDigitized
from services.common.clock import FixedClock
from services.digitization.document_set import ComponentScan, DocumentSet
from services.digitization.handlers import AlreadyDone, Digitizer, NotFound
from tests.unit.fake_digitization import (
    NO_SESSION,
    FakeDigitizationRepository,
    RecordingOutbox,
)

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
CODE, AGENCY = "000.01.02.H26-260302-0001", "000.01.02.H26"
APPLICANT = "p1_applicant_x"
SUMMARY = {"form_code": "TK1-TS", "fields": [{"name": "id_number", "read": True,
                                              "confidence": 0.9}],
           "compared": True, "mismatches": []}


def digitizer() -> tuple[Digitizer, RecordingOutbox, FakeDigitizationRepository]:
    repo = FakeDigitizationRepository()
    repo.receive(DocumentSet(code=CODE, agency_code=AGENCY, procedure_code="BHXH.NH.03",
                             component_count=2, received_at=NOW - timedelta(hours=1),
                             applicant_ref=APPLICANT),
                 [ComponentScan(CODE, "GKS", "paper"), ComponentScan(CODE, "TK1-TS", "paper")])
    outbox = RecordingOutbox(FixedClock(NOW))
    return Digitizer(outbox, repository=repo), outbox, repo


def signed_file(n: int) -> dict[str, Any]:
    sha = f"{n:02d}" * 32
    return {"id": f"doc-{sha[:16]}", "sha256": sha, "size": 1000 + n, "pages": n,
            "signer": "Nguyễn Thị Lan", "signed_at": NOW, "kind": "component",
            "document_type": None, "created_at": NOW, "dossier_code": CODE,
            "agency_code": AGENCY}


async def test_each_scan_is_told_and_kept_and_the_last_finishes_the_dossier() -> None:
    use_case, outbox, repo = digitizer()
    gks = signed_file(1)
    done = await use_case.record_scan(NO_SESSION, CODE, "GKS", gks, None)

    assert done["dossier_digitized"] is False and done["document_id"] == gks["id"]
    scan = repo.scans[(CODE, "GKS")]
    assert (scan.digitized_at, scan.source, scan.document_ref, scan.pages) == (
        NOW, "scanned", gks["id"], 1)
    assert gks["id"] in repo.files
    assert [(d["applicant_ref"], d["document_ref"], d["source"]) for d in repo.documents] == [
        (APPLICANT, gks["id"], "scanned")]
    [(topic, event, agency)] = outbox.emitted
    assert topic == "onestop.digitization.v1" and agency == AGENCY
    assert isinstance(event, ComponentDigitized) and event.signed
    assert (event.component_code, event.sha256, event.source) == ("GKS", gks["sha256"],
                                                                  "scanned")
    assert repo.sets[CODE].digitized_at is None

    # The same component again: refused, nothing more told.
    with pytest.raises(AlreadyDone):
        await use_case.record_scan(NO_SESSION, CODE, "GKS", signed_file(3), None)
    assert len(outbox.emitted) == 1

    done = await use_case.record_scan(NO_SESSION, CODE, "TK1-TS", signed_file(2),
                                      {"extraction": SUMMARY})
    assert done["dossier_digitized"] is True and repo.sets[CODE].digitized_at == NOW
    component, dossier = (e for _, e, _ in outbox.emitted[1:])
    assert isinstance(component, ComponentDigitized) and component.extraction is not None
    assert isinstance(dossier, DossierDigitized)
    assert (dossier.component_count, dossier.not_digitized) == (2, [])
    assert [e.model_dump(mode="json") for e in dossier.extractions or []] == [SUMMARY]
    # Kept as the event says it: the dossier's event carries it from the component.
    assert repo.scans[(CODE, "TK1-TS")].extraction == SUMMARY


async def test_an_unknown_dossier_or_component_is_not_found() -> None:
    use_case, outbox, _ = digitizer()
    with pytest.raises(NotFound):
        await use_case.record_scan(NO_SESSION, CODE, "KHONG-CO", signed_file(1), None)
    with pytest.raises(NotFound):
        await use_case.record_scan(NO_SESSION, "000.01.02.H26-260302-9999", "GKS",
                                   signed_file(1), None)
    assert outbox.emitted == []
