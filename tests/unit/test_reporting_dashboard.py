"""The dashboard's pure parts: provinces of the agency tree, per-province figures and their
ranking, delay attribution and emulation figures on hand-checked cases."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from contracts.events import VerificationAnswered, VerificationRequested
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, WorkCalendar
from services.reporting import attribution, dashboard, emulation
from services.reporting.dashboard import AgencyRows, Org
from services.reporting.domain import TraceEntry
from services.reporting.facts import DossierFact, Recorded, StepFact

CAL = WorkCalendar()  # 07:30–17:00: a working day is 9.5 hours
HOUR = 3600


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=TZ)


def step(idx: int, department: str, assignee: str, start: datetime, end: datetime | None
         ) -> StepFact:
    return StepFact("D1", idx, "000.01.01.H26", idx + 1, "CDBHXH", department, assignee, start,
                    end, None, None, None)


def test_province_is_the_province_level_ancestor() -> None:
    org = Org(load_catalogs())
    assert org.province("000.01.01.H26") == "000.00.01.H26"
    assert org.province("000.00.01.H26") == "000.00.01.H26"
    assert org.province("000.00.00.H99") == "000.00.00.H99"  # central: its own line
    assert org.province("UNKNOWN") == "UNKNOWN"
    assert org.name("000.01.01.H26") == "Bảo hiểm xã hội cơ sở Ba Đình"


def test_provinces_sum_their_offices_and_rank_by_on_time_rate() -> None:
    org = Org(load_catalogs())
    rows = AgencyRows(
        received=[("000.01.01.H26", 3), ("000.01.02.H26", 2), ("000.79.01.H29", 4)],
        resolved=[("000.01.01.H26", 4, 2), ("000.01.02.H26", 6, 6), ("000.79.01.H29", 5, 5)],
        open=[("000.01.01.H26", 7, 1, 2, 3), ("000.79.01.H29", 1, 0, 0, 0)])
    ranked = dashboard.provinces(org, dashboard.per_agency(rows))
    assert [p["code"] for p in ranked] == ["000.00.79.H29", "000.00.01.H26"]
    hanoi = ranked[1]
    assert (hanoi["rank"], hanoi["received_today"], hanoi["in_progress"],
            hanoi["awaiting_supplement"], hanoi["near_due"], hanoi["overdue"]) == (2, 5, 7, 1, 2, 3)
    assert hanoi["on_time_rate"] == 0.8  # (2 + 6) / (4 + 6)
    assert [o["code"] for o in hanoi["offices"]] == ["000.01.01.H26", "000.01.02.H26"]
    assert hanoi["offices"][0]["on_time_rate"] == 0.5
    totals = dashboard.totals(dashboard.per_agency(rows).values())
    assert totals["received_today"] == 9 and totals["on_time_rate"] == 0.8667


def late_fact(resolved: datetime | None) -> DossierFact:
    return DossierFact("D1", agency_code="000.01.01.H26", received_at=at(1, 8),
                       due_at=at(5, 17), resolved_at=resolved, event_count=5)


def test_each_late_working_day_is_held_by_someone() -> None:
    """Due Monday 5/10 17:00, resolved Thursday 8/10 12:00: 2.47 working days late.
    cb.a held it until Tuesday 12:00 (4.5 h late), cb.b from then (5 h Tuesday, 4.5 h
    Thursday), while Wednesday (9.5 h) it waited on a verification by Sở Tư pháp."""
    assert all(CAL.is_working_day(date(2026, 10, d)) for d in (5, 6, 7, 8))
    fact = late_fact(at(8, 12))
    steps = [step(0, "Phòng A", "cb.a", at(1, 9), at(6, 12)),
             step(1, "Phòng B", "cb.b", at(6, 12), at(8, 12))]
    checks = attribution.verifications_of([
        Recorded("e1", at(7, 7, 30), "000.01.01.H26", VerificationRequested(
            dossier_code="HS-D1", request_id="X1", to_agency="Sở Tư pháp",
            requested_at=at(7, 7, 30), question="Xác minh hộ khẩu")),
        Recorded("e2", at(7, 17), "000.01.01.H26", VerificationAnswered(
            dossier_code="HS-D1", request_id="X1", from_agency="Sở Tư pháp",
            answered_at=at(7, 17), answer_summary="Đúng"))])
    row = attribution.attribute(CAL, fact, steps, checks, at(20, 8))
    assert row is not None
    held = {(h["agency_code"], h["assignee"]): h["days"] for h in row["held"]}
    assert held == {("000.01.01.H26", "cb.b"): 1.0, ("Sở Tư pháp", None): 1.0,
                    ("000.01.01.H26", "cb.a"): round(4.5 / 9.5, 2)}
    assert row["late_days"] == round(23.5 / 9.5, 2) and not row["open"]
    offices = attribution.summarise([row])
    assert offices == [{"agency_code": "000.01.01.H26", "overdue_days": 1.47, "dossiers": 1},
                       {"agency_code": "Sở Tư pháp", "overdue_days": 1.0, "dossiers": 1}]


def test_open_supplement_days_are_the_applicants_and_gaps_the_offices() -> None:
    """Still open at Thursday 8/10 17:00: Tuesday with the citizen (a supplement period),
    Wednesday and Thursday with nobody assigned (the office itself)."""
    fact = late_fact(None)
    fact.supplement_periods = [[at(6, 7, 30).isoformat(), at(6, 17).isoformat()]]
    row = attribution.attribute(CAL, fact, [], [], at(8, 17))
    assert row is not None and row["open"]
    assert [(h["agency_code"], h["days"]) for h in row["held"]] == [
        ("000.01.01.H26", 2.0), (attribution.APPLICANT, 1.0)]


def test_a_dossier_resolved_in_time_is_not_late() -> None:
    assert attribution.attribute(CAL, late_fact(at(5, 16)), [], [], at(20, 8)) is None
    no_due = DossierFact("D2", agency_code="A", event_count=1)
    assert attribution.attribute(CAL, no_due, [], [], at(20, 8)) is None


@pytest.mark.parametrize("assignee", ["cb.a", None])
def test_emulation_figures_per_officer_department_and_office(assignee: str | None) -> None:
    day = 9.5 * HOUR
    totals = [emulation.StepTotals("O1", "Phòng A", assignee, 4, 3, int(4 * day)),
              emulation.StepTotals("O1", "Phòng B", "cb.b", 2, 0, int(6 * day))]
    late = [{"dossier_code": "D1", "held": [
        {"agency_code": "O1", "department": "Phòng B", "assignee": "cb.b", "days": 1.5},
        {"agency_code": attribution.APPLICANT, "department": "", "assignee": None,
         "days": 2.0}]}]
    out = emulation.figures(totals, late, {"O1": (2, 4.5)}, day, {"O1": "Cơ sở 1"})
    office = out["offices"][0]
    assert office == {"agency_code": "O1", "name": "Cơ sở 1", "handled": 6,
                      "on_time_rate": 0.5, "avg_days_per_step": round(10 / 6, 2),
                      "overdue_days_caused": 1.5, "ratings": 2, "rating_avg": 4.5}
    departments = {d["department"]: d for d in out["departments"]}
    assert departments["Phòng A"]["avg_days_per_step"] == 1.0
    assert departments["Phòng B"]["overdue_days_caused"] == 1.5
    officers = {o["assignee"]: o for o in out["officers"]}
    assert officers["cb.b"]["on_time_rate"] == 0.0 and officers["cb.b"]["handled"] == 2
    assert ("cb.a" in officers) == (assignee is not None)
    assert out["officers"][0]["assignee"] == ("cb.a" if assignee else "cb.b")


def test_the_path_lists_steps_and_events_in_business_time() -> None:
    org = Org(load_catalogs())
    fact = late_fact(at(8, 12))
    steps = [step(0, "Phòng A", "cb.a", at(1, 9), at(6, 12))]
    steps[0].working_seconds = int(19 * HOUR)
    events = [TraceEntry("e1", "vn.gov.bhxh.onestop.overdue.explained.v1",
                         "onestop/processing", "O1", at(9, 8), "processing",
                         {"explained_at": at(9, 8).isoformat(), "cause": "Quá tải"}),
              TraceEntry("e2", "vn.gov.bhxh.onestop.dossier.received.v1", "onestop/intake",
                         "O1", at(1, 8), "intake", {"received_at": at(1, 8).isoformat()})]
    path = dashboard.timeline(org, fact, steps, events, 9.5 * HOUR, at(20, 8))
    assert [e["label"] for e in path["events"]] == ["Tiếp nhận hồ sơ", "Giải trình quá hạn"]
    assert path["events"][1]["kind"] == "explanation" and path["events"][1]["detail"] == "Quá tải"
    assert path["steps"][0]["working_days"] == 2.0
    assert path["dossier"]["province"] == "000.00.01.H26"
