"""What the responsible office owes for a late dossier (docs/law.md#explanation-and-apology-letter):
a specific explanation of the cause once it is overdue, and the apology and re-appointment
letter, issued before the due time when the delay is foreseen. Pure: a case
(case_record.CaseRecord) in, its changed fields and the event out, or the problems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.common import Problem
from contracts.events import ApologyIssued, OverdueExplained
from services.common.errors import Conflict, Invalid
from services.law.workdays import WorkCalendar
from services.processing import domain, legal_clock
from services.processing.case_record import CaseChanges, CaseRecord


@dataclass(frozen=True)
class ApologyPolicy:
    """docs/law.md#explanation-and-apology-letter, both marked (confirm): at least
    `days_before` working days before the due date, at most `max_per_dossier` letters."""

    days_before: int = 1
    max_per_dossier: int = 1


class NotLate(Conflict):
    """An explanation for a dossier that is not overdue: nothing to explain (409)."""

    def __init__(self, code: str) -> None:
        super().__init__([Problem.of(
            "not_overdue", f"Hồ sơ {code} không quá hạn: không cần giải trình",
            f"case {code} is not overdue: there is nothing to explain", "code")])


class Refused(Conflict):
    """The letter fits the case, but not again, or not before the case has a due time (409)."""


class NotLater(Invalid):
    """The letter's new appointment is not after the original one (422)."""


def is_overdue(row: CaseRecord) -> bool:
    """Late once a DossierOverdue fired for it, whatever happened since (a late dossier
    stays late: the report judges the original due time)."""
    return any(k.startswith("overdue") for k in domain.fired_alerts(row))


def explain(row: CaseRecord, by: str, cause: str, officer: str | None,
            now: datetime) -> tuple[CaseChanges, OverdueExplained]:
    """The office's explanation; a later one adds to the record (the first time stays
    when the centre's list stops showing it)."""
    if not is_overdue(row):
        raise NotLate(row.code)
    given = list((row.explanation or {}).get("items", []))
    given.append({"at": now.isoformat(), "by": by, "officer": officer, "cause": cause})
    values: CaseChanges = {"explanation": {"items": given},
              "explained_at": row.explained_at or now, "updated_at": now}
    return values, OverdueExplained(dossier_code=row.code, explained_at=now,
                                    explained_by=by, cause=cause)


def apologise(row: CaseRecord, calendar: WorkCalendar, *, reason: str,
              new_due_at: datetime, department: str | None, signed_by: str,
              now: datetime, policy: ApologyPolicy) -> tuple[CaseChanges, ApologyIssued]:
    """The letter's facts and ApologyIssued. Refused when repeated, NotLater when the new
    date is not later; one issued later than the rule wants (overdue, or under `days_before`) is
    still owed to the applicant, so it is issued and marked `in_time: false` for the
    centre to see."""
    due = row.due_at
    if due is None:
        raise Refused([Problem.of("no_due_time", "Hồ sơ chưa có thời hạn giải quyết",
                                       "the case has no due time yet", "code")])
    earlier = 1 if row.apology else 0
    problems = legal_clock.apology_problems(calendar, now, due, new_due_at, earlier,
                                      policy.days_before, policy.max_per_dossier)
    if "apology_repeated" in problems:
        raise Refused([Problem.of(
            "apology_repeated", "Hồ sơ đã có văn bản xin lỗi và hẹn lại",
            f"at most {policy.max_per_dossier} apology letter per dossier", "code")])
    if "reappointment_not_later" in problems:
        raise NotLater([Problem.of(
            "reappointment_not_later", "Ngày hẹn mới phải sau ngày hẹn trả kết quả ban đầu",
            "the new date must be after the original due time", "new_due_at")])
    department = department or row.department or domain.LEADERSHIP
    event = ApologyIssued(dossier_code=row.code, issued_at=now, original_due_at=due,
                          new_due_at=new_due_at, reason=reason, department=department,
                          signed_by=signed_by)
    letter = event.model_dump(mode="json") | {"in_time": "apology_too_late" not in problems}
    return {"apology": letter, "updated_at": now}, event


def apology_event(row: CaseRecord) -> ApologyIssued | None:
    """The letter as issued (for rendering it again)."""
    letter = row.apology
    if not letter:
        return None
    return ApologyIssued.model_validate({k: v for k, v in letter.items() if k != "in_time"})
