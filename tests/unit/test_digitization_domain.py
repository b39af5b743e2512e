"""Digitization's rules without I/O: what is finished on arrival, what the warehouse keeps,
what a leader's decision does to the dossier, and the shape of a document's id."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

from contracts.common import ComponentRef
from services.digitization import domain
from services.digitization.document_set import DocumentSet

NOW = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)
CODE = "000.01.02.H26-260302-0001"
DOSSIER = DocumentSet(code=CODE, agency_code="000.01.02.H26", procedure_code="BHXH.NH.03",
                      component_count=0, received_at=NOW)


def test_arrival_links_electronic_and_reused_and_waits_for_paper() -> None:
    electronic = ComponentRef(code="GKS", form="electronic", document_ref="doc-a")
    reused = ComponentRef(code="SO", form="electronic", document_ref="doc-b", reused=True)
    paper = ComponentRef(code="TK1", form="paper")
    rows = [domain.on_arrival(CODE, c, NOW) for c in (electronic, reused, paper)]
    assert [(r.source, r.digitized_at) for r in rows] == [
        ("electronic", NOW), ("reused", NOW), (None, None)]
    # Brought electronically: kept; reused: held already, linked not copied; paper: later.
    assert [domain.kept_in_warehouse(c) for c in (electronic, reused, paper)] == [
        True, False, False]
    assert not domain.all_finished(rows)
    assert domain.all_finished([])  # nothing to digitize: digitized


def test_a_leaders_decision_finishes_without_a_file_and_is_named() -> None:
    rows = [domain.on_arrival(CODE, ComponentRef(code=c, form="paper"), NOW)
            for c in ("GKS", "BAN-GOC")]
    rows[0] = replace(rows[0], digitized_at=NOW, source="scanned", sha256="ab" * 32, pages=2,
                      signer="Nguyễn Thị Lan", document_ref="doc-abababababababab")
    assert not domain.all_finished(rows)
    rows[1] = replace(rows[1], not_digitized_at=NOW, decided_by="ld.le", decision="dễ rách")
    assert domain.all_finished(rows)
    dossier = DOSSIER
    event = domain.dossier_digitized(dossier, rows, NOW)
    assert event.component_count == 2 and event.not_digitized == ["BAN-GOC"]
    scanned = domain.component_digitized(CODE, rows[0])
    assert scanned.signed and scanned.pages == 2 and scanned.source == "scanned"
    assert scanned.sha256 == "ab" * 32


def test_document_ids_have_the_shape_of_every_document_reference() -> None:
    data = b"%PDF-1.7 signed"
    digest = hashlib.sha256(data).hexdigest()
    assert domain.document_id(digest) == f"doc-{digest[:16]}"
    assert len(domain.document_id(digest)) == 20  # "doc-" + 16 hex: processing's shape too


def test_the_dossier_digitized_carries_each_scanned_forms_extraction() -> None:
    summary = {"form_code": "TK1-TS", "fields": [{"name": "id_number", "read": True,
                                                  "confidence": 0.9}],
               "compared": True, "mismatches": [{"field": "id_number", "kind": "differs",
                                                 "confidence": 0.9}]}
    rows = [domain.on_arrival(CODE, ComponentRef(code=c, form="paper"), NOW)
            for c in ("TK1-TS", "GKS", "14-HSB")]
    for row in rows:
        row.digitized_at, row.source = NOW, "scanned"
    rows[0].extraction = summary
    rows[2].extraction = {**summary, "form_code": "14-HSB", "mismatches": []}
    dossier = DOSSIER
    event = domain.dossier_digitized(dossier, rows, NOW)
    assert [e.form_code for e in event.extractions or []] == ["14-HSB", "TK1-TS"]
    assert event.extractions[1].model_dump(mode="json") == summary  # type: ignore[index]
    # Nothing read: an empty list (said), not None (an event from before the field).
    plain = [domain.on_arrival(CODE, ComponentRef(code="GKS", form="electronic"), NOW)]
    assert domain.dossier_digitized(dossier, plain, NOW).extractions == []
