"""What digitizing means (Decision 1333/QĐ-BHXH step 3), without I/O: electronic components
are digitized on arrival (reused ones linked to what the warehouse holds), paper ones when
scanned into their own signed file or given by reference; a fragile original the leader
decides not to digitize is finished without a file; the dossier is digitized when its last
component is finished. A supplement opens its components the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.common import ComponentForm, ComponentRef
from contracts.events import ComponentDigitized, DossierDigitized


def document_id(digest: str) -> str:
    """A stored file's id: "doc-" and the first 16 hex digits of its SHA-256, the shape of
    every document reference (processing's results too), so a verification link works for
    any file this service signed."""
    return f"doc-{digest[:16]}"


def unique_components(components: list[ComponentRef]) -> list[ComponentRef]:
    """One per code, first occurrence: a code repeated by a sender (intake refuses it now,
    older events may carry it) must not fail the receipt and leave the dossier waiting."""
    firsts: dict[str, ComponentRef] = {}
    for comp in components:
        firsts.setdefault(comp.code, comp)
    return list(firsts.values())


def digitized_on_arrival(comp: ComponentRef) -> bool:
    return comp.form == ComponentForm.electronic


def arrival_source(comp: ComponentRef) -> str | None:
    if not digitized_on_arrival(comp):
        return None
    return "reused" if comp.reused else "electronic"


def kept_in_warehouse(comp: ComponentRef) -> bool:
    """An electronic document brought with the dossier goes into the applicant's warehouse;
    a reused one is there already: linked, not copied."""
    return digitized_on_arrival(comp) and bool(comp.document_ref) and not comp.reused


def component_row(dossier_code: str, comp: ComponentRef, now: datetime) -> dict[str, Any]:
    done = digitized_on_arrival(comp)
    return {"dossier_code": dossier_code, "code": comp.code, "form": comp.form.value,
            "document_ref": comp.document_ref, "digitized_at": now if done else None,
            "source": arrival_source(comp), "sha256": None, "pages": None, "signer": None,
            "not_digitized_at": None, "decided_by": None, "decision": None,
            "extraction": None}


def finished(row: dict[str, Any]) -> bool:
    return row["digitized_at"] is not None or row["not_digitized_at"] is not None


def all_finished(rows: list[dict[str, Any]]) -> bool:
    return all(finished(r) for r in rows)


def component_digitized(dossier_code: str, row: dict[str, Any]) -> ComponentDigitized:
    return ComponentDigitized(
        dossier_code=dossier_code, component_code=row["code"], form=ComponentForm(row["form"]),
        digitized_at=row["digitized_at"], document_ref=row["document_ref"],
        signed=row.get("signer") is not None, sha256=row.get("sha256"),
        pages=row.get("pages"), signer=row.get("signer"), source=row.get("source"))


def dossier_digitized(dossier: dict[str, Any], rows: list[dict[str, Any]],
                      at: datetime) -> DossierDigitized:
    return DossierDigitized(
        dossier_code=dossier["code"], agency_code=dossier["agency_code"],
        procedure_code=dossier["procedure_code"], digitized_at=at, component_count=len(rows),
        not_digitized=sorted(r["code"] for r in rows if r["not_digitized_at"] is not None),
        extractions=[r["extraction"] for r in sorted(rows, key=lambda r: r["code"])
                     if r.get("extraction") is not None])
