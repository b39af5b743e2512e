"""What digitizing means (Decision 1333/QĐ-BHXH step 3), without I/O: electronic components
are digitized on arrival (reused ones linked to what the warehouse holds), paper ones when
scanned into their own signed file or given by reference; a fragile original the leader
decides not to digitize is finished without a file; the dossier is digitized when its last
component is finished. A supplement opens its components the same way."""

from __future__ import annotations

from datetime import datetime

from contracts.common import ComponentForm, ComponentRef
from contracts.events import ComponentDigitized, DossierDigitized
from services.digitization.document_set import ComponentScan, DocumentSet


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


def on_arrival(dossier_code: str, comp: ComponentRef, now: datetime) -> ComponentScan:
    """A component as it arrives: finished if electronic, else waiting for its scan."""
    done = digitized_on_arrival(comp)
    return ComponentScan(dossier_code=dossier_code, code=comp.code, form=comp.form.value,
                         document_ref=comp.document_ref, digitized_at=now if done else None,
                         source=arrival_source(comp))


def finished(component: ComponentScan) -> bool:
    return component.finished


def all_finished(components: list[ComponentScan]) -> bool:
    return all(c.finished for c in components)


def component_digitized(dossier_code: str, component: ComponentScan) -> ComponentDigitized:
    c = component
    return ComponentDigitized(
        dossier_code=dossier_code, component_code=c.code, form=ComponentForm(c.form),
        digitized_at=c.digitized_at, document_ref=c.document_ref,
        signed=c.signer is not None, sha256=c.sha256, pages=c.pages, signer=c.signer,
        source=c.source)


def dossier_digitized(dossier: DocumentSet, components: list[ComponentScan],
                      at: datetime) -> DossierDigitized:
    return DossierDigitized(
        dossier_code=dossier.code, agency_code=dossier.agency_code,
        procedure_code=dossier.procedure_code, digitized_at=at,
        component_count=len(components),
        not_digitized=sorted(c.code for c in components if c.not_digitized_at is not None),
        extractions=[c.extraction for c in sorted(components, key=lambda c: c.code)
                     if c.extraction is not None])
