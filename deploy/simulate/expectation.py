"""What the well-formed part of a simulated traffic should leave in the pipeline."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from deploy.simulate.records import Record


@dataclass
class Expectation:
    """What the well-formed part of a traffic should leave behind once absorbed."""

    dossiers: int = 0  # well-formed dossiers (received or refused)
    received: int = 0
    refused: int = 0
    lifecycle_events: int = 0  # distinct well-formed records
    duplicates: int = 0
    out_of_order: int = 0  # dossiers with an event sent after a later one
    malformed: int = 0
    # The national events intake emits for them, by short type (onestop.intake.v1 and
    # onestop.provincial.v1), each once whatever the duplicates and the order.
    intake_events: Counter[str] = field(default_factory=Counter)
    # Events reporting's projection ends up with: intake's, plus digitization's (each
    # electronic component, then the dossier) and notification's (one inbox message for a
    # receipt, a refusal and a supplement request; SMS and e-mail not configured, as under
    # `make up` and the bench). Exact only without deadline alerts: Mix.late = 0 and the
    # traffic ending now (traffic() does both by default).
    reporting_events: int = 0


# What intake emits for each portal status (services/intake/province_status.py,
# province_news), and what reporting then holds beyond it (digitization, notification), per
# event.
_NATIONAL = {2: "dossier.received.v1", 3: "dossier.rejected.v1",
             5: "supplement.requested.v1", 7: "dossier.withdrawn.v1",
             9: "dossier.resolved.v1", 10: "result.returned.v1"}
_NOTIFIED = {2, 3, 5}


def expectation(records: Sequence[Record]) -> Expectation:
    out = Expectation()
    codes: set[str] = set()
    late_order: set[str] = set()
    seen_at: dict[str, int] = {}
    for rec in records:
        if not rec.well_formed:
            out.malformed += 1
            continue
        if rec.kind == "duplicate":
            out.duplicates += 1
            continue
        codes.add(rec.dossier_code)
        out.lifecycle_events += 1
        status = rec.status or 0
        out.received += status == 2
        out.refused += status == 3
        # A record whose lifecycle position is before one already sent: out of order.
        if rec.position < seen_at.get(rec.dossier_code, -1):
            late_order.add(rec.dossier_code)
        seen_at[rec.dossier_code] = max(seen_at.get(rec.dossier_code, -1), rec.position)
        kind = _national(rec)
        out.intake_events[kind] += 1
        out.reporting_events += 1
        if status == 2:
            out.reporting_events += rec.components + 1  # components, then the dossier
        if status in _NOTIFIED:
            out.reporting_events += 1
    out.dossiers = len(codes)
    out.out_of_order = len(late_order)
    return out


def _national(rec: Record) -> str:
    if rec.status == 4:
        step = json.loads(rec.value)["data"]["step"]
        return "step.completed.v1" if step["completed"] else "step.assigned.v1"
    return _NATIONAL[rec.status or 0]
