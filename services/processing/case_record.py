"""The stored case as processing's aggregate: one `cases` row (tables.py) with its columns
typed, the law's clock as its periods and restarts, and each JSON column as the value it
holds. The repository maps rows to it and back (repository.py); domain.py decides on it.
Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from contracts.common import ApplicantRef, LegalTime
from services.processing.legal_clock import Period


@dataclass(frozen=True, slots=True)
class StoredClock:
    """The law's clock as kept on the case: what legal_clock.ClockState adds to the receipt
    and the legal time (the calendar is the agency's, not stored)."""

    periods: tuple[Period, ...] = ()
    restarts: tuple[datetime, ...] = ()


@dataclass(slots=True)
class CaseRecord:
    """A case as stored. `state` is a workflow.State value. JSON columns that are records
    of what happened (the result, the requests to other agencies, OCR's flags, the
    explanation and the apology) keep their JSON form: they are shown and published as
    they are.

    Never changed in place: `changed` gives a new record (a move keeps the case as it was
    beside the case as it leaves it). Not frozen only because a frozen copy costs a few
    times more, and the batch handler copies a case at every move."""

    code: str
    state: str
    agency_code: str | None = None
    procedure_code: str | None = None
    catalog_version: str | None = None
    received_at: datetime | None = None
    due_at: datetime | None = None
    digitized_at: datetime | None = None
    opened_at: datetime | None = None
    current_step: int | None = None
    department: str | None = None
    holder: str | None = None
    legal_time: LegalTime | None = None
    clock_start: datetime | None = None
    clock: StoredClock | None = None
    step_dues: tuple[datetime, ...] = ()
    applicant: ApplicantRef | None = None
    return_channel: str | None = None
    proposal: str | None = None
    supplement_rounds: int = 0
    verifications: int = 0
    open_request: str | None = None
    asked_agency: str | None = None
    stop_notice: str | None = None
    assignments: int = 0
    updated_at: datetime | None = None
    next_alert_at: datetime | None = None
    # None: never scheduled (opened before the deadline monitor existed).
    alerts_fired: tuple[str, ...] | None = None
    deadline: str | None = None
    origin_system: str | None = None
    explained_at: datetime | None = None
    explanation: dict[str, Any] | None = None
    apology: dict[str, Any] | None = None
    channel: str | None = None
    result: dict[str, Any] | None = None
    extraction_flags: dict[str, Any] | None = None
    agency_requests: list[dict[str, Any]] | None = None
    published_results: tuple[str, ...] = ()

    def changed(self, values: CaseChanges) -> CaseRecord:
        """A new record with these fields replaced (this one when there are none)."""
        if not values:
            return self
        new = CaseRecord(*_values(self))
        for name, value in values.items():
            setattr(new, name, value)
        return new


# A change of some of a record's fields, by field name (= column name): what a move writes.
CaseChanges = dict[str, object]

FIELDS = tuple(f.name for f in fields(CaseRecord))
_values = attrgetter(*FIELDS)  # every field, in the constructor's order
