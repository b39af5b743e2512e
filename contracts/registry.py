"""Every event type the system speaks, by its versioned CloudEvents type."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from contracts import events as ev
from contracts.common import Contract
from contracts.envelope import typed_inbound
from contracts.ingest import IngestAccepted, IngestRejected, ProvinceDossierStatus

EVENT_CLASSES: tuple[type[Contract], ...] = (
    ev.DossierReceived,
    ev.ApplicantRecorded,
    ev.ContactsRecorded,
    ev.DossierRejected,
    ev.DossierWithdrawn,
    ev.SupplementRequested,
    ev.SupplementReceived,
    ev.ComponentDigitized,
    ev.DossierDigitized,
    ev.StepAssigned,
    ev.StepCompleted,
    ev.VerificationRequested,
    ev.VerificationAnswered,
    ev.DeadlineApproaching,
    ev.DossierOverdue,
    ev.OverdueExplained,
    ev.ApologyIssued,
    ev.DossierResolved,
    ev.ResultIssued,
    ev.ResultReturned,
    ev.NotificationSent,
    ev.NotificationFailed,
    ev.QuarterlyReportClosed,
    ev.DossierRated,
    ProvinceDossierStatus,
    IngestRejected,
    IngestAccepted,
)

EVENT_TYPES: dict[str, type[Contract]] = {cls.event_type: cls for cls in EVENT_CLASSES}  # type: ignore[attr-defined]


def short_name(event_type: str) -> str:
    """`vn.gov.bhxh.onestop.dossier.received.v1` -> `dossier.received.v1` (file names)."""
    return event_type.removeprefix("vn.gov.bhxh.onestop.")


@functools.cache
def inbound(event_types: frozenset[str]) -> TypeAdapter[Any]:
    """One validator of the records of these types (every one in EVENT_TYPES): bytes in, the
    envelope out with its `data` the typed event, the model chosen by the record's `type`
    (a discriminated union). A record of another type fails it like an invalid one."""
    models = [typed_inbound(EVENT_TYPES[t]) for t in sorted(event_types)]
    if len(models) == 1:
        return TypeAdapter(models[0])
    union: Any = Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)
