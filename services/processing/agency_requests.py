"""The requests a case made to other agencies (liên thông,
docs/law.md#other-agencies-and-delay-attribution), kept on the case (`agency_requests`):
which agency was asked, when, by which sub-deadline, and when it answered; the deadline
monitor's thresholds of the open one, the alerts it fires, and whether each was overrun.
Pure: the kept requests and moments in, values out.

An overrun is an answer after the sub-deadline, or no answer once it has passed; a request
without a sub-deadline never is (reporting counts them the same way:
services/reporting/subdeadlines.py). The time the other agency holds the dossier stays
attributed to it on the dossier's clock (legal_clock.pause_for_agency); these alerts add the
warning, not another attribution."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.events import (
    DeadlineApproaching,
    DossierOverdue,
    Event,
    VerificationAnswered,
    VerificationRequested,
)
from services.law.workdays import WorkCalendar
from services.processing import legal_clock

# A request's status at a moment, in reporting's words; the last two are overruns.
ANSWERED_ON_TIME, ANSWERED_LATE = "answered_on_time", "answered_late"
PENDING_WITHIN_TIME, PENDING_OVERDUE = "pending_within_time", "pending_overdue"
OVERRUN = frozenset({ANSWERED_LATE, PENDING_OVERDUE})


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def recorded(kept: list[dict[str, Any]] | None,
             event: VerificationRequested | VerificationAnswered) -> list[dict[str, Any]]:
    """The case's requests after one of its verification events (JSON-ready)."""
    requests = [dict(r) for r in kept or ()]
    if isinstance(event, VerificationRequested):
        return [*requests, {
            "request_id": event.request_id, "agency": event.to_agency,
            "requested_at": event.requested_at.isoformat(),
            "sub_due_at": event.sub_due_at.isoformat() if event.sub_due_at else None,
            "answered_at": None, "answered_by": None}]
    for request in requests:
        if request["request_id"] == event.request_id and request["answered_at"] is None:
            request |= {"answered_at": event.answered_at.isoformat(),
                        "answered_by": event.from_agency}
    return requests


def open_request(kept: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The request an agency has yet to answer (a case waits on one at a time)."""
    return next((r for r in reversed(kept or ())
                 if r.get("answered_at") is None), None)


def status(request: dict[str, Any], now: datetime) -> str:
    """answered_on_time / answered_late once answered (by `now`), else pending_within_time
    / pending_overdue at `now`."""
    due, answered = _when(request.get("sub_due_at")), _when(request.get("answered_at"))
    if answered is not None and answered <= now:
        return ANSWERED_LATE if due is not None and answered > due else ANSWERED_ON_TIME
    return PENDING_OVERDUE if due is not None and due < now else PENDING_WITHIN_TIME


def shown(kept: list[dict[str, Any]] | None, now: datetime) -> list[dict[str, Any]]:
    """Each request as the case view shows it: its facts, its status now and whether the
    other agency overran its sub-deadline."""
    out = []
    for request in kept or ():
        found = status(request, now)
        out.append({**{k: _when(v) if k.endswith("_at") else v for k, v in request.items()},
                    "status": found, "overrun": found in OVERRUN})
    return out


# --- the deadline monitor ----------------------------------------------------------------------


def thresholds(kept: list[dict[str, Any]] | None, calendar: WorkCalendar,
               near_days: float | None, used_share: float | None) -> list[legal_clock.Alert]:
    """The open request's thresholds ([] without one, or without a sub-deadline)."""
    request = open_request(kept)
    if request is None or not request.get("sub_due_at"):
        return []
    return legal_clock.sub_deadline_thresholds(
        calendar, request["request_id"], _when(request["requested_at"]),  # type: ignore[arg-type]
        _when(request["sub_due_at"]), near_days, used_share)  # type: ignore[arg-type]


def due_alerts(alerts: list[legal_clock.Alert], fired: set[str], now: datetime
               ) -> list[legal_clock.Alert]:
    """The request's thresholds to fire now, each once (a stale one skipped)."""
    out: list[legal_clock.Alert] = []
    seen = set(fired)
    while (alert := legal_clock.next_sub_deadline_alert(alerts, seen, now)) is not None and \
            alert.at <= now:
        out.append(alert)
        seen.add(alert.kind)
    return out


def alert_event(code: str, kept: list[dict[str, Any]] | None, alert: legal_clock.Alert,
                now: datetime) -> Event:
    """DeadlineApproaching or DossierOverdue of the open request's sub-deadline, naming the
    other agency and the request; the overdue names the other agency as responsible, since
    it holds the dossier (docs/law.md#other-agencies-and-delay-attribution)."""
    request = open_request(kept)
    assert request is not None and request.get("sub_due_at")  # thresholds() had one
    due = _when(request["sub_due_at"])
    agency, request_id = request["agency"], request["request_id"]
    if alert.event == legal_clock.OVERDUE:
        return DossierOverdue(dossier_code=code, due_at=due, detected_at=now,
                              responsible_department=agency, other_agency=agency,
                              request_id=request_id)
    return DeadlineApproaching(dossier_code=code, due_at=due, warned_at=now,
                               other_agency=agency, request_id=request_id)
