"""The dossier facts as the tables hold them: a fact or step fact to and from its row, and
the fold's memo to and from the JSON of `dossier_facts.fold_state`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from services.reporting.facts import DossierFact, FoldMemo, OpenHolding, StepFact

FACT_FIELDS = tuple(f.name for f in fields(DossierFact))
STEP_FIELDS = tuple(f.name for f in fields(StepFact))
# A stored memo of another version is not read: the dossier is folded again from its events.
MEMO_VERSION = 3


def fact_row(f: DossierFact) -> dict[str, Any]:
    # Shallow: dataclasses.asdict deep-copies every value, the rebuild's top cost.
    return {name: getattr(f, name) for name in FACT_FIELDS}


def step_row(s: StepFact) -> dict[str, Any]:
    return {name: getattr(s, name) for name in STEP_FIELDS}


def fact_of(row: Mapping[str, Any]) -> DossierFact:
    return DossierFact(*(row[name] for name in FACT_FIELDS))


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def memo_json(m: FoldMemo) -> dict[str, Any]:
    keys = m.keys
    return {
        "v": MEMO_VERSION,
        "keys": {part: list(keys[part]) for part in sorted(keys)},
        "first_agency": m.first_agency,
        "named": [[i, *m.named[i]] for i in sorted(m.named)],
        "return_channels": [m.received_return_channel, m.returned_channel],
        "resolved": [_iso(m.resolved_due), m.resolved_timeliness],
        "supplement_due": _iso(m.supplement_due),
        "open": [[h.step_no, h.idx, h.step_code, h.department, h.assignee, _iso(h.since),
                  _iso(h.step_due_at)] for h in m.open],
    }


def memo_of_json(memo: Mapping[str, Any] | None) -> FoldMemo | None:
    """None when the memo is missing or of another version."""
    if not memo or memo.get("v") != MEMO_VERSION:
        return None
    received_channel, returned_channel = memo["return_channels"]
    due, resolved_timeliness = memo["resolved"]
    return FoldMemo(
        {part: (at, rank, time, event_id)
         for part, (at, rank, time, event_id) in memo["keys"].items()},
        memo["first_agency"],
        {i: (agency, procedure) for i, agency, procedure in memo["named"]},
        received_channel, returned_channel, _at(due), resolved_timeliness,
        _at(memo["supplement_due"]),
        tuple(OpenHolding(no, idx, code, dept, assignee, _at(since), _at(step_due))
              for no, idx, code, dept, assignee, since, step_due in memo["open"]))
