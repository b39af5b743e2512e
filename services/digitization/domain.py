"""What digitizing means (Decision 1333/QĐ-BHXH step 3), without I/O: electronic components
are digitized on arrival, paper ones when an officer reports them scanned; the dossier is
digitized when its last component is."""

from __future__ import annotations

from datetime import datetime

from contracts.common import ComponentForm, ComponentRef
from contracts.events import ComponentDigitized, DossierDigitized


class NotFound(Exception):
    pass


class AlreadyDone(Exception):
    pass


def unique_components(components: list[ComponentRef]) -> list[ComponentRef]:
    """One per code, first occurrence: a code repeated by a sender (intake refuses it now,
    older events may carry it) must not fail the receipt and leave the dossier waiting."""
    firsts: dict[str, ComponentRef] = {}
    for comp in components:
        firsts.setdefault(comp.code, comp)
    return list(firsts.values())


def digitized_on_arrival(comp: ComponentRef) -> bool:
    return comp.form == ComponentForm.electronic


def kept_in_warehouse(comp: ComponentRef) -> bool:
    """An electronic document brought with the dossier (not one reused from the warehouse)
    goes into the applicant's warehouse."""
    return digitized_on_arrival(comp) and bool(comp.document_ref) and not comp.reused


def component_digitized(dossier_code: str, component_code: str, form: ComponentForm,
                        at: datetime, document_ref: str | None) -> ComponentDigitized:
    return ComponentDigitized(dossier_code=dossier_code, component_code=component_code,
                              form=form, digitized_at=at, document_ref=document_ref)


def dossier_digitized(dossier_code: str, agency_code: str, procedure_code: str,
                      at: datetime, component_count: int) -> DossierDigitized:
    return DossierDigitized(dossier_code=dossier_code, agency_code=agency_code,
                            procedure_code=procedure_code, digitized_at=at,
                            component_count=component_count)
