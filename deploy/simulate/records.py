"""What the simulator is given and what it gives: provinces, the traffic's mix, records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Province:
    """A provincial system and the agencies its dossiers are received in."""

    system_id: str
    agencies: tuple[str, ...]


@dataclass(frozen=True)
class Mix:
    """Shares of the traffic (0 to 1). Outcomes are shares of the dossiers; duplicates and
    malformed records are counted against the lifecycle events."""

    duplicates: float = 0.05
    out_of_order: float = 0.10
    malformed: float = 0.02
    refused: float = 0.03
    withdrawn: float = 0.03
    supplement: float = 0.10
    denied: float = 0.08
    # Finished after their legal time: the dashboard's overdue figures. Processing raises
    # deadline alerts for them, which Expectation.reporting_events does not count.
    late: float = 0.0


@dataclass(frozen=True)
class Record:
    """One record as sent: `key` and `value` go to the broker as they are."""

    key: bytes
    value: bytes
    system_id: str
    at: datetime  # the real moment to send it (never before what it reports happened)
    dossier_code: str
    kind: str  # "event", "duplicate", or one of MALFORMED_KINDS
    status: int | None = None  # the portal status of a lifecycle event (and its duplicate)
    components: int = 0  # electronic components, with status 2
    position: int = 0  # its place in the dossier's life (not sent: a province has none)
    forged: bool = False  # to be signed with a key that is not the system's
    # The envelope's id, which intake's answer names; None when intake cannot read one (the
    # answer then names the record's place on the topic).
    event_id: str | None = None

    @property
    def well_formed(self) -> bool:
        return self.kind in ("event", "duplicate")
