"""A message: one (event, recipient, channel), queued, sent and kept as the inbox and the
record; and what its text is rendered from."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime


@dataclass(slots=True)
class Message:
    id: str
    dedup_key: str
    dossier_code: str | None  # None: a digest, about no one dossier
    agency_code: str
    about_event: str
    about_event_id: str
    audience: str
    channel: str
    recipient: str  # officer id or applicant pseudonym
    address: str | None  # e-mail, phone or URL; an applicant's is looked up when sending
    subject: str | None
    body: str
    status: str
    attempts: int
    not_before: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None = None
    read_at: datetime | None = None


# --- what the templates read -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Escalation:
    """The event an escalation is about: notification raises it itself."""

    due_at: datetime | None
    working_days_late: int


@dataclass(frozen=True, slots=True)
class DossierContext:
    """One dossier's event, told to one recipient. `event` is the contract event (or an
    `Escalation`); templates read its fields by name."""

    event: object
    dossier_code: str
    procedure_name: str
    agency_code: str | None
    agency_name: str | None
    due_at: datetime | None
    department: str | None
    assignee: str | None
    other_agency_name: str | None
    recipient_name: str = ""


@dataclass(frozen=True, slots=True)
class DigestItem:
    dossier_code: str
    due_at: datetime | None
    department: str | None
    procedure_name: str


@dataclass(frozen=True, slots=True)
class LeaderDigest:
    """An office leader's morning list: its dossiers near their due time and overdue."""

    day: date
    recipient_name: str
    agency_name: str
    near: list[DigestItem]
    overdue: list[DigestItem]


@dataclass(frozen=True, slots=True)
class OfficeCount:
    agency_code: str
    agency_name: str
    overdue: int
    near: int


@dataclass(frozen=True, slots=True)
class NationalDigest:
    """The national unit's morning list: the offices with the most overdue dossiers."""

    day: date
    recipient_name: str
    offices: list[OfficeCount]


Context = DossierContext | LeaderDigest | NationalDigest


def variables(context: Context) -> dict[str, object]:
    """The template's variables: the context's fields, not copied (unlike `asdict`, which
    would deep-copy the event for every message)."""
    return {f.name: getattr(context, f.name) for f in fields(context)}
