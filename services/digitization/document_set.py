"""A dossier's document set as digitization holds it: the dossier (whose papers, how many
components, when the last was finished) and each component's scan (or link, or the
leader's decision not to digitize it). Rows are mapped to these by the repository."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class DocumentSet:
    """One dossier's header; its components are `ComponentScan`s of the same code.
    Mutable: a batch's supplement changes its count and digitized time in place."""

    code: str
    agency_code: str
    procedure_code: str
    component_count: int
    received_at: datetime
    digitized_at: datetime | None = None
    applicant_ref: str | None = None


@dataclass(slots=True)
class ComponentScan:
    """One component: finished when digitized (on arrival, scanned or given by reference)
    or when a leader decided not to digitize a fragile original."""

    dossier_code: str
    code: str
    form: str  # contracts' ComponentForm value
    document_ref: str | None = None
    digitized_at: datetime | None = None
    source: str | None = None  # electronic | reused | scanned | referenced
    sha256: str | None = None
    pages: int | None = None
    signer: str | None = None
    not_digitized_at: datetime | None = None
    decided_by: str | None = None
    decision: str | None = None
    # contracts' ExtractionSummary as JSON (what OCR read of a form, no personal value),
    # validated by the event that carries it.
    extraction: dict[str, object] | None = None

    @property
    def finished(self) -> bool:
        return self.digitized_at is not None or self.not_digitized_at is not None
