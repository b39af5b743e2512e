"""The National Public Service Portal's view of a dossier, decided without I/O: which status
each thing processing hears or does means in the portal's codes, which dossiers the portal
hears of at all, and which status changes go out, numbered, in the order they happened
(docs/portal-sync.md). portal_sync.py records what this decides and delivers it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from contracts.common import Channel
from contracts.events import (
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementReceived,
    SupplementRequested,
)
from contracts.ingest import PortalStatus
from contracts.portal import PORTAL_CHANNEL, PortalStatusUpdate, idempotency_key
from services.processing.case_record import CaseRecord
from services.processing.workflow import State

# A central case's state in the portal's codes. `waiting` (received, not yet digitized) has
# none of its own: its receipt (2) is told from DossierReceived.
STATE_STATUS: dict[str, PortalStatus] = {
    State.in_step: PortalStatus.processing,
    State.waiting_agency: PortalStatus.processing,
    State.deciding: PortalStatus.processing,
    State.waiting_supplement: PortalStatus.supplement_requested,
    State.stopped: PortalStatus.stopped,
    State.approved: PortalStatus.resolved,
    State.denied: PortalStatus.resolved,
    State.result_issued: PortalStatus.resolved,
    State.returned: PortalStatus.returned,
    State.withdrawn: PortalStatus.withdrawn,
}

# Statuses that open a dossier's record with the portal: each is told once per dossier.
FIRST = frozenset({PortalStatus.received, PortalStatus.not_received})


def heard_status(event: Any) -> tuple[PortalStatus, datetime] | None:
    """The status an event processing consumes tells, and since when; None: no change.
    Steps, decisions and returns heard are a province's (processing's own are what it does,
    see STATE_STATUS); a province's "dừng xử lý" reaches us as a denial, so it is told as
    9, not 8."""
    if isinstance(event, DossierReceived):
        return PortalStatus.received, event.received_at
    if isinstance(event, DossierRejected):
        return PortalStatus.not_received, event.rejected_at
    if isinstance(event, StepAssigned):
        return PortalStatus.processing, event.assigned_at
    if isinstance(event, StepCompleted):
        return PortalStatus.processing, event.completed_at
    if isinstance(event, SupplementRequested):
        return PortalStatus.supplement_requested, event.requested_at
    if isinstance(event, SupplementReceived):
        # Still incomplete: the applicant is still asked.
        return (PortalStatus.processing, event.received_at) if event.complete else None
    if isinstance(event, DossierWithdrawn):
        return PortalStatus.withdrawn, event.withdrawn_at
    if isinstance(event, DossierResolved):
        return PortalStatus.resolved, event.resolved_at
    if isinstance(event, ResultReturned):
        return PortalStatus.returned, event.returned_at
    return None


@dataclass(frozen=True)
class Facts:
    """What the portal is told of a dossier besides its status, and what decides whether it
    is told at all."""

    agency_code: str
    procedure_code: str
    channel: str | None
    origin_system: str | None = None

    @classmethod
    def of_case(cls, case: CaseRecord | None) -> Facts | None:
        """A case's facts once its receipt is known; None before."""
        if case is None or case.received_at is None:
            return None
        return cls(case.agency_code or "", case.procedure_code or "", case.channel,
                   case.origin_system)

    @classmethod
    def of_event(cls, event: Any) -> Facts | None:
        """The facts a receipt or a refusal carries itself."""
        if isinstance(event, DossierReceived | DossierRejected):
            channel = event.channel.value if event.channel is not None else None
            return cls(event.agency_code, event.procedure_code, channel, event.origin_system)
        return None


@dataclass(frozen=True)
class Scope:
    """Which dossiers the portal hears of: received through these channels
    (contracts.common.Channel values), except those a listed province system reported (its
    own software tells the portal)."""

    channels: frozenset[str] = frozenset(PORTAL_CHANNEL)
    skip_systems: frozenset[str] = frozenset()

    def covers(self, facts: Facts) -> bool:
        return (facts.channel in self.channels and facts.channel in _CODED
                and facts.origin_system not in self.skip_systems)


_CODED = frozenset(c.value for c in PORTAL_CHANNEL)


@dataclass(frozen=True)
class Note:
    """One status a dossier took, as processing met it in a transaction. `facts` None: the
    dossier's receipt is not known yet (a province's step that overtook it)."""

    code: str
    status: PortalStatus
    at: datetime
    facts: Facts | None

    @property
    def held(self) -> bool:
        """A province's dossier: its statuses reach processing on two topics (intake's, and
        the provincial one) whose order between them is not kept, so they wait and go in
        the order of the times the province reported. A central dossier's go in the order
        processing applied them: their times come from two services' clocks."""
        return self.facts is None or self.facts.origin_system is not None


@dataclass
class Track:
    """A dossier's record with the portal: the last status told and its time, how many were
    told, how many times each, its facts once known, and its held statuses (since when)."""

    last: int | None = None
    last_at: datetime | None = None
    sequence: int = 0
    occurrences: dict[str, int] = field(default_factory=dict)
    facts: Facts | None = None
    held: list[dict[str, Any]] = field(default_factory=list)
    held_since: datetime | None = None

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Track:
        facts = row.get("facts")
        return cls(row.get("last_status"), row.get("last_at"), row.get("sequence") or 0,
                   dict(row.get("occurrences") or {}), Facts(**facts) if facts else None,
                   list(row.get("held") or []), row.get("held_since"))

    def as_row(self, code: str) -> dict[str, Any]:
        return {"dossier_code": code, "last_status": self.last, "last_at": self.last_at,
                "sequence": self.sequence, "occurrences": self.occurrences,
                "facts": asdict(self.facts) if self.facts else None,
                "held": self.held or None, "held_since": self.held_since}


@dataclass(frozen=True)
class Outgoing:
    """One status change to send: its key, and the body exactly as it will be sent again
    and again until the portal takes it."""

    dossier_code: str
    status: PortalStatus
    idempotency_key: str
    body: str


@dataclass
class Plan:
    outgoing: list[Outgoing] = field(default_factory=list)
    tracks: dict[str, Track] = field(default_factory=dict)  # changed: write back
    forget: set[str] = field(default_factory=set)           # not the portal's: delete
    late: int = 0  # told after a later status of their dossier (they came too late)


def plan(tracks: dict[str, Track], notes: Iterable[Note], scope: Scope,
         now: datetime) -> Plan:
    """What a transaction's notes, in the order processing met them, do: a central
    dossier's status goes out at once unless it is the last one told again (and a receipt
    or refusal goes once); a province's is held on its track (`release`); a dossier outside
    the scope is told nothing, and what was held for it is forgotten. `tracks` (read for
    the notes' dossiers) is updated in place."""
    out = Plan()
    for note in notes:
        known = note.code in tracks
        track = tracks.setdefault(note.code, Track())
        if note.facts is not None and not scope.covers(note.facts):
            if track.sequence == 0:  # nothing told: what was held before its receipt goes
                tracks.pop(note.code)
                out.tracks.pop(note.code, None)
                if known:
                    out.forget.add(note.code)
            continue
        if note.held:
            track.facts = note.facts or track.facts
            track.held.append({"status": int(note.status), "at": note.at.isoformat()})
            track.held_since = track.held_since or now
            out.tracks[note.code] = track
        elif note.facts is not None and _tell(out, note.code, track, note.status, note.at,
                                              note.facts):
            out.tracks[note.code] = track
    out.forget -= set(out.tracks)
    return out


def release(tracks: dict[str, Track], scope: Scope) -> Plan:
    """Held statuses whose wait is over, each dossier's in the order of their times (equal
    times: as they came). A dossier whose receipt is still unknown keeps them until it
    comes (its note sets the wait again)."""
    out = Plan()
    for code, track in tracks.items():
        held, track.held, track.held_since = track.held, [], None
        if track.facts is None:
            track.held = held
        elif scope.covers(track.facts):
            for item in sorted(held, key=lambda h: datetime.fromisoformat(h["at"])):
                at = datetime.fromisoformat(item["at"])
                late = track.last_at is not None and at < track.last_at
                if _tell(out, code, track, PortalStatus(item["status"]), at, track.facts):
                    out.late += late
        out.tracks[code] = track
    return out


def _tell(out: Plan, code: str, track: Track, status: PortalStatus, at: datetime,
          facts: Facts) -> bool:
    seen = track.occurrences.get(str(int(status)), 0)
    if status == track.last or (status in FIRST and seen):
        return False
    track.last, track.last_at, track.sequence = int(status), at, track.sequence + 1
    track.occurrences[str(int(status))] = seen + 1
    body = PortalStatusUpdate(
        dossier_code=code, sequence=track.sequence, status=status,
        channel=PORTAL_CHANNEL[Channel(facts.channel)], at=at,
        agency_code=facts.agency_code, procedure_code=facts.procedure_code)
    out.outgoing.append(Outgoing(code, status, idempotency_key(code, status, seen + 1),
                                 body.model_dump_json()))
    return True


# --- the portal's answers ------------------------------------------------------------------

DELIVERED, RETRY, PARK = "delivered", "retry", "park"


def judge(http_status: int) -> tuple[str, str]:
    """What the portal's answer means for the row (delivered, retry or park) and the
    failure's label in metrics. Taken: 2xx, and 409 (that key was taken before). Refused
    for good, the row's own fault: 400, 413, 415, 422 (parked; the dossier's later statuses
    go on). Anything else says nothing against the row (the portal away or busy, a wrong
    address or credential every row would meet): kept, and sent again later."""
    if 200 <= http_status < 300 or http_status == 409:
        return DELIVERED, ""
    if http_status in (400, 413, 415, 422):
        return PARK, "refused"
    if http_status in (401, 403, 407):
        return RETRY, "unauthorised"
    if http_status in (408, 425, 429) or http_status >= 500:
        return RETRY, "unavailable"
    return RETRY, "misdirected"


def backoff(failures: int, base: float, cap: float) -> timedelta:
    """The wait after the n-th failure in a row: base, doubled each time, at most cap."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, failures - 1)))
