"""The quarterly report on a hand-made history whose figures are counted by hand: across the
cut-off (a receipt after closing on the 14th, one at 00:30 on a Sunday the 15th), across a
merged office (000.99.01.H26 ceased 30/06/2025, successor 000.01.01.H26), and as the log
stood at a past moment. The integration test publishes the same history to the broker."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest

from bench.rebuild import lifecycle
from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, LegalTime, ReturnChannel
from contracts.envelope import Envelope
from contracts.events import (
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    Event,
    SupplementRequested,
)
from contracts.topics import Topic
from services.law.catalog import load_catalogs
from services.law.workdays import TZ, WorkCalendar, timeliness
from services.reporting import quarterly
from services.reporting.calendars import Calendars
from services.reporting.facts import Recorded, fold
from services.reporting.handlers import Projection

A, B, M, PROVINCE, NATION = ("000.01.01.H26", "000.01.02.H26", "000.99.01.H26",
                             "000.00.01.H26", "000.00.00.H99")
LEGAL = LegalTime(value=5, unit="working_days")
CAL = WorkCalendar()
CATALOGS = load_catalogs()


def at(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def _env(event: Event, agency: str, recorded: datetime) -> Envelope:
    return Envelope(id=uuid.uuid4(), type=event.event_type, source="onestop/test",
                    subject=event.dossier_code, time=recorded, agencycode=agency,
                    data=event.model_dump(mode="json"))


def dossier(code: str, agency: str, received: datetime, channel: Channel = Channel.counter,
            resolved: datetime | None = None, withdrawn: datetime | None = None,
            recorded: datetime | None = None) -> list[tuple[Topic, Envelope]]:
    due = CAL.due_at(received, LEGAL)
    applicant = ApplicantRef(kind="individual", ref=f"p1_ref_{code}")
    out = [(topics.INTAKE, _env(DossierReceived(
        dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=channel, return_channel=ReturnChannel.counter,
        received_at=received, due_at=due, legal_time=LEGAL, applicant=applicant,
        components=[ComponentRef(code="GKS", form="paper")]), agency, recorded or received))]
    if resolved:
        out.append((topics.PROCESSING, _env(DossierResolved(
            dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03",
            applicant=applicant, resolved_at=resolved, decision="approved", due_at=due,
            timeliness=timeliness(resolved, due)), agency, resolved)))
    if withdrawn:
        out.append((topics.INTAKE, _env(DossierWithdrawn(dossier_code=code,
                                                         withdrawn_at=withdrawn),
                                        agency, withdrawn)))
    return out


def refused(code: str, agency: str, when: datetime) -> list[tuple[Topic, Envelope]]:
    return [(topics.INTAKE, _env(DossierRejected(
        dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03",
        applicant=ApplicantRef(kind="individual", ref="p1_refused"), rejected_at=when,
        reasons=[{"code": "incomplete", "message_vi": "Thiếu thành phần",
                  "message_en": "missing component"}]), agency, when))]


def history(prefix: str) -> list[tuple[Topic, Envelope]]:
    p = prefix
    return [
        # Q2 2026 receipts; d01 is still open at Q3's start (carried over), resolved late
        *dossier(f"{p}-d01", A, at(2026, 5, 20, 10), resolved=at(2026, 7, 1)),
        *dossier(f"{p}-d09", A, at(2026, 6, 10), resolved=at(2026, 6, 12)),
        # Q3 2026
        *dossier(f"{p}-d02", A, at(2026, 7, 6), Channel.online, resolved=at(2026, 7, 8, 10)),
        # Monday 14/09 17:30, after closing: received 15/09 07:30, in Q4
        *dossier(f"{p}-d03", A, at(2026, 9, 14, 17, 30)),
        # Monday 14/09 16:00, postal: Q3, pending within time at the cut-off
        *dossier(f"{p}-d04", A, at(2026, 9, 14, 16), Channel.postal),
        # online 03/08, never resolved: overdue at the cut-off; recorded only on 20/09
        *dossier(f"{p}-d05", B, at(2026, 8, 3), Channel.online, recorded=at(2026, 9, 20)),
        # resolved on its due day, before closing: on time
        *dossier(f"{p}-d06", B, at(2026, 7, 10), resolved=at(2026, 7, 17, 16)),
        *refused(f"{p}-d07", B, at(2026, 7, 15)),
        *dossier(f"{p}-d08", A, at(2026, 7, 20), withdrawn=at(2026, 7, 21)),
        # received in Q3, resolved after the cut-off: pending within time in Q3
        *dossier(f"{p}-d10", A, at(2026, 9, 10), resolved=at(2026, 9, 15, 8)),
        # Sunday 15/03/2026 00:30 and Friday 13/03 17:30: both received Monday 16/03 (Q2)
        *dossier(f"{p}-d11", A, at(2026, 3, 15, 0, 30), Channel.online,
                 resolved=at(2026, 3, 18)),
        *dossier(f"{p}-d12", A, at(2026, 3, 13, 17, 30), resolved=at(2026, 3, 18)),
        # the merged office: m1 before the merger (pending), m2 under its old code after it
        *dossier(f"{p}-m1", M, at(2025, 6, 20), resolved=at(2025, 10, 1)),
        *dossier(f"{p}-m2", M, at(2025, 7, 10), resolved=at(2025, 7, 11)),
    ]


def ind(online: int = 0, direct: int = 0, carried: int = 0, early: int = 0, on_time: int = 0,
        late: int = 0, within: int = 0, overdue: int = 0, refused: int = 0,
        withdrawn: int = 0, postal: int = 0, supplement: int = 0) -> dict[str, Any]:
    """`direct`: direct or postal, `postal` of them by post; `supplement`: returned for
    supplement."""
    return {"received": {"total": online + direct + carried, "online": online,
                         "direct_or_postal": direct, "carried_over": carried,
                         "direct": direct - postal, "postal": postal},
            "resolved": {"total": early + on_time + late, "early": early, "on_time": on_time,
                         "late": late},
            "pending": {"total": within + overdue, "within_time": within, "overdue": overdue},
            "refused": refused, "withdrawn": withdrawn, "returned_for_supplement": supplement}


# Counted by hand from the history above (see each dossier's comment).
EXPECTED: dict[tuple[int, int], dict[str, dict[str, Any]]] = {
    (2026, 1): {A: ind(), PROVINCE: ind()},
    # d11 online, d12/d01/d09 direct; d11, d12, d09 early; d01 overdue at 15/06
    (2026, 2): {A: ind(online=1, direct=3, early=3, overdue=1), B: ind()},
    # A: d02 online; d04, d08, d10 direct; d01 carried; d02 early, d01 late; d04, d10 within;
    #    d08 withdrawn. B: d05 online, d06 direct; d06 on time; d05 overdue; d07 refused.
    (2026, 3): {A: ind(online=1, direct=3, postal=1, carried=1, early=1, late=1, within=2,
                       withdrawn=1),
                B: ind(online=1, direct=1, on_time=1, overdue=1, refused=1),
                PROVINCE: ind(online=2, direct=4, postal=1, carried=1, early=1, on_time=1,
                              late=1, within=2, overdue=1, refused=1, withdrawn=1)},
    # d03 direct; d04, d10, d05 carried; d10 early (due 17/09); d03, d04 within? no: their
    # appointments (22/09, 21/09) passed before 15/12: overdue; d05 overdue.
    (2026, 4): {A: ind(direct=1, carried=2, early=1, overdue=2),
                B: ind(carried=1, overdue=1)},
    # m1 under the old office (received before the merger), m2 under its successor
    (2025, 3): {M: ind(direct=1, overdue=1), A: ind(direct=1, early=1)},
    # m1 carried over under the successor from the merger on, resolved late there
    (2025, 4): {A: ind(carried=1, late=1)},
}
# Q3 2026 as the log stood at the cut-off: d05 was recorded only on 20/09.
AS_OF_Q3_2026 = {B: ind(direct=1, on_time=1, refused=1)}


def nodes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out, stack = {}, [report]
    while stack:
        node = stack.pop()
        out[node["agency"]] = node
        stack.extend(node["children"])
    return out


def facts_of(records: list[tuple[Topic, Envelope]], until: datetime | None = None) -> list:
    by_code: dict[str, list[Recorded]] = {}
    for _, env in records:
        if until is None or env.time <= until:
            by_code.setdefault(env.subject, []).append(Recorded.parsed(env))
    cals = Calendars(CATALOGS)
    return [fold(code, evs, cals)[0] for code, evs in by_code.items()]


def test_hand_counted_figures_per_quarter_and_agency() -> None:
    facts = facts_of(history("T"))
    for (year, q), expected in EXPECTED.items():
        report = quarterly.report(facts, CATALOGS, year, q, None)
        found = nodes(report)
        assert report["agency"] == NATION
        for code, figures in expected.items():
            assert found[code]["indicators"] == figures, (year, q, code)


def test_merged_office_is_a_child_only_in_the_quarter_it_existed() -> None:
    facts = facts_of(history("T"))
    q3 = nodes(quarterly.report(facts, CATALOGS, 2025, 3, PROVINCE))
    q4 = nodes(quarterly.report(facts, CATALOGS, 2025, 4, PROVINCE))
    assert M in q3 and M not in q4
    assert q3[PROVINCE]["indicators"]["received"]["total"] == 2


def test_as_of_the_cut_off_leaves_out_what_was_recorded_later() -> None:
    p = quarterly.period(2026, 3)
    report = quarterly.report(facts_of(history("T"), until=p.end), CATALOGS, 2026, 3, None)
    assert nodes(report)[B]["indicators"] == AS_OF_Q3_2026[B]
    assert nodes(report)[A]["indicators"] == EXPECTED[(2026, 3)][A]


def test_periods() -> None:
    p = quarterly.period(2026, 4)
    assert p.json()["from"] == "2026-09-15" and p.json()["to"] == "2026-12-14"
    q1 = quarterly.period(2027, 1)
    assert q1.start == at(2026, 12, 15, 0) and q1.end == at(2027, 3, 15, 0)
    assert quarterly.period_holding(at(2026, 12, 14, 23, 59)) == p
    assert quarterly.period_holding(at(2026, 12, 15, 0)) == q1
    assert quarterly.last_closed(at(2026, 12, 15, 1)) == p
    assert quarterly.last_closed(at(2027, 1, 2)) == p


def test_a_dossier_awaiting_a_supplement_at_the_cut_off_is_not_overdue() -> None:
    records = dossier("T-s1", A, at(2026, 8, 3))  # due 10/08, long before the cut-off
    asked = SupplementRequested(dossier_code="T-s1", requested_at=at(2026, 8, 5),
                                stage="processing", requested_by="cb.an",
                                items=[{"problem_vi": "Thiếu giấy ra viện"}])
    records.append((topics.PROCESSING, _env(asked, A, at(2026, 8, 5))))
    report = quarterly.report(facts_of(records), CATALOGS, 2026, 3, None)
    assert nodes(report)[A]["indicators"]["pending"] == {"total": 1, "within_time": 1,
                                                         "overdue": 0}
    without = quarterly.report(facts_of(records[:1]), CATALOGS, 2026, 3, None)
    assert nodes(without)[A]["indicators"]["pending"]["overdue"] == 1


def test_the_events_the_report_reads_give_the_figures_all_events_give() -> None:
    """What an as_of report folds (quarterly.EVENTS_READ) against every event."""
    records = history("T") + [r for i in range(30) for r in lifecycle(i, at(2026, 6, 1))]
    read = [r for r in records if r[1].type in quarterly.EVENTS_READ]
    for year, q in [(2026, 2), (2026, 3), (2026, 4)]:
        assert quarterly.report(facts_of(read), CATALOGS, year, q, None) == \
            quarterly.report(facts_of(records), CATALOGS, year, q, None)


def test_an_unknown_access_scope_stops_the_service_at_start() -> None:
    with pytest.raises(ValueError, match=r"REPORTING_SCOPE_AGENCY 000\.00\.01\.X00"):
        Projection(CATALOGS, scope="000.00.01.X00")
    scoped = Projection(CATALOGS, scope=PROVINCE).scope
    assert scoped.allows(A) and scoped.allows(M) and not scoped.allows(NATION)
    assert not scoped.allows("000.79.01.H29") and scoped.root(None) == PROVINCE
