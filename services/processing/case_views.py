"""What processing's API shows of a case: the case view, the list's summary, an officer's
action's answer. Presentation: JSON-ready dicts built from the stored case
(case_record.CaseRecord) and the workflow's and the clock's values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.processing import agency_requests, domain, legal_clock
from services.processing.case_record import FIELDS, CaseRecord
from services.processing.workflow import Action, Case, Transition


def as_mapping(record: CaseRecord) -> dict[str, Any]:
    """The record by column name, for what reads a case as a mapping (the control slip)."""
    return {name: getattr(record, name) for name in FIELDS}


def amount(value: legal_clock.Amount) -> dict[str, Any]:
    return {"value": round(value.value, 4), "unit": value.unit}


def allowed_for_officers(allowed: list[Action]) -> list[str]:
    return [a.value for a in allowed if a not in domain.EVENT_ACTIONS]


def view(record: CaseRecord, case: Case | None, state: legal_clock.ClockState | None,
         allowed: list[Action], history: list[dict[str, Any]], steps: list[dict[str, Any]],
         now: datetime) -> dict[str, Any]:
    step = case.step if case else None
    return {
        "dossier_code": record.code, "state": record.state,
        "agency_code": record.agency_code, "procedure_code": record.procedure_code,
        "current_step": record.current_step,
        "step": None if step is None else {"code": step.code, "name": step.name,
                                           "department": step.department},
        "department": record.department, "holder": record.holder,
        "received_at": record.received_at, "clock_start": record.clock_start,
        "due_at": record.due_at,
        "step_due_at": case.step_dues[case.current_step - 1]
        if case and case.current_step and len(case.step_dues) >= case.current_step else None,
        "clock_running": legal_clock.is_running(state, now) if state else False,
        "working_time_used": amount(legal_clock.working_time_used(state, now)) if state else None,
        "working_time_left": amount(legal_clock.working_time_left(state, now)) if state else None,
        # Who held it and for how long (docs/law.md#other-agencies-and-delay-attribution):
        # departments and officers, other agencies, and the applicant's supplement wait.
        "attribution": attribution(state, now) if state else [],
        # Each request to another agency with its sub-deadline, and whether it was overrun
        # (docs/law.md#other-agencies-and-delay-attribution).
        "agency_requests": agency_requests.shown(record.agency_requests, now),
        "allowed_actions": allowed_for_officers(allowed),
        "deadline": record.deadline, "alerts_fired": sorted(domain.fired_alerts(record)),
        "processed_by_province": record.origin_system,
        "explained_at": record.explained_at,
        "explanations": (record.explanation or {}).get("items", []),
        "apology": record.apology, "result": record.result,
        # The channel chosen at receipt (or at the return), and once returned, where to:
        # {"returned_at", "return_channel", "reference"} (tracking number or account).
        "return_channel": record.return_channel,
        "returned": (record.result or {}).get("returned"),
        # OCR of the scanned declaration forms, per component, and whether any contradicts
        # the declaration: the officer compares the scan with the applicant's record.
        "extraction": record.extraction_flags or {},
        "declaration_mismatch": domain.declaration_mismatch(record),
        "history": [{k: h[k] for k in ("at", "action", "officer", "from_state", "to_state",
                                       "step", "note")} for h in history],
        "steps": [{k: s[k] for k in ("seq", "step_no", "step_code", "department", "assignee",
                                     "assigned_at", "due_at", "completed_at", "outcome")}
                  for s in steps],
    }


def attribution(state: legal_clock.ClockState, now: datetime) -> list[dict[str, Any]]:
    return [{"holder": legal_clock.responsible_party(h) or
             ("applicant" if h.kind == legal_clock.SUPPLEMENT else "receiving unit"),
             "kind": h.kind, "department": h.department, "officer": h.officer,
             "working_time": amount(a)}
            for h, a in legal_clock.attributed_time(state, now).items()]


def applicant_name(applicant: dict[str, Any] | None) -> str | None:
    """The name a letter is addressed to: a person's full name or an organisation's name."""
    if not applicant:
        return None
    return applicant.get("full_name") or applicant.get("name")


def summary(record: CaseRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in ("code", "agency_code", "procedure_code", "state",
                                    "current_step", "department", "holder", "received_at",
                                    "due_at", "deadline", "explained_at")}


def action_answer(record: CaseRecord, done: Transition) -> dict[str, Any]:
    """What an officer's action answers (GET .../cases/{code} shows the whole case)."""
    case = done.case
    return {"dossier_code": record.code, "state": case.state.value,
            "current_step": case.current_step, "holder": case.holder,
            "department": domain.department(case), "due_at": case.due_at,
            "events": [type(e).__name__ for e in done.events],
            "history": {k: done.history[k] for k in ("at", "action", "officer", "from_state",
                                                     "to_state", "step", "note")}}
