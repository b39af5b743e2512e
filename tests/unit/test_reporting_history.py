"""Quarters of 2025 report by their own tree: Q4 2024 by the provincial offices, Q1 and Q2
2025 by the 35 regional offices of 01/03/2025 (the old provincial office, ceased 28/02, is
still a child in Q1 and its open dossiers move to its successor after), Q3 2025 by the
offices of 01/07/2025. A hand-made history; every due date and figure is counted by hand
(2025: Hùng Kings Monday 07/04, 30/04-01/05 and Friday 02/05 off)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, LegalTime, ReturnChannel
from contracts.envelope import Envelope
from contracts.events import (
    DossierReceived,
    DossierRejected,
    DossierResolved,
    DossierWithdrawn,
    Event,
)
from contracts.topics import Topic
from services.law.catalog import load_catalogs
from services.law.workdays import TZ
from services.reporting import quarterly
from tests.unit.test_reporting_quarterly import facts_of, ind, nodes

CATALOGS = load_catalogs()
NATION = "000.00.00.H99"
HANOI_OLD = "000.00.99.H26"  # BHXH thành phố Hà Nội until 28/02/2025
REGION_I = "000.00.01.H26"  # khu vực I from 01/03/2025; BHXH thành phố Hà Nội from 01/07
REGION_II, REGION_IV = "000.00.79.H29", "000.00.12.H62"
BA_DINH, CAU_GIAY = "000.99.02.H26", "000.99.03.H26"  # district offices until 30/06/2025
QUAN_1 = "000.99.01.H29"
WD3, WD6 = LegalTime(value=3, unit="working_days"), LegalTime(value=6, unit="working_days")


def at(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def _env(event: Event, agency: str, when: datetime) -> tuple[Topic, Envelope]:
    topic = topics.PROCESSING if isinstance(event, DossierResolved) else topics.INTAKE
    return topic, Envelope(id=uuid.uuid4(), type=event.event_type, source="onestop/test",
                           subject=event.dossier_code, time=when, agencycode=agency,
                           data=event.model_dump(mode="json"))


def dossier(code: str, agency: str, version: str, received: datetime, legal: LegalTime,
            due: datetime, channel: Channel = Channel.counter, resolved: datetime | None = None,
            withdrawn: datetime | None = None) -> list[tuple[Topic, Envelope]]:
    """A dossier as intake judged it (`version`, `due`: counted by hand) and its end."""
    applicant = ApplicantRef(kind="individual", ref=f"p1_ref_{code}")
    out = [_env(DossierReceived(
        dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03",
        catalog_version=version, channel=channel, return_channel=ReturnChannel.counter,
        received_at=received, due_at=due, legal_time=legal, applicant=applicant,
        components=[ComponentRef(code="GKS", form="paper")]), agency, received)]
    if resolved:
        out.append(_env(DossierResolved(
            dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03",
            applicant=applicant, resolved_at=resolved, decision="approved", due_at=due,
            timeliness="late" if resolved > due else "on_time"), agency, resolved))
    if withdrawn:
        out.append(_env(DossierWithdrawn(dossier_code=code, withdrawn_at=withdrawn),
                        agency, withdrawn))
    return out


def history(prefix: str) -> list[tuple[Topic, Envelope]]:
    p = prefix
    return [
        # Mon 09/12/2024, 6 working days: Tue 10 .. Tue 17/12. Resolved Mon 16/12: early, in
        # Q1 2025 (carried over from Q4 2024, where it was pending within time).
        *dossier(f"{p}-h0", HANOI_OLD, "2019.12", at(2024, 12, 9), WD6, at(2024, 12, 17, 17),
                 resolved=at(2024, 12, 16)),
        # Thu 20/02/2025, 3 working days: Fri 21, Mon 24, Tue 25. Still open at the Q1 cut-off
        # (overdue there); carried over into Q2 under khu vực I, resolved Mon 17/03: late.
        *dossier(f"{p}-h1", HANOI_OLD, "2019.12", at(2025, 2, 20, 10), WD3, at(2025, 2, 25, 17),
                 resolved=at(2025, 3, 17)),
        # Mon 17/03 online: Tue 18, Wed 19, Thu 20. Resolved Wed 19: early.
        *dossier(f"{p}-h2", BA_DINH, "2025.03", at(2025, 3, 17), WD3, at(2025, 3, 20, 17),
                 Channel.online, resolved=at(2025, 3, 19, 10)),
        # Fri 04/04 16:00, 6 working days over Hùng Kings' day: Tue 08 .. Tue 15/04. Resolved
        # Tue 15/04 16:30: on time.
        *dossier(f"{p}-h3", BA_DINH, "2025.03", at(2025, 4, 4, 16), WD6, at(2025, 4, 15, 17),
                 resolved=at(2025, 4, 15, 16, 30)),
        # Tue 29/04 by post, over 30/04, 01/05 and the swapped 02/05: Mon 05, Tue 06, Wed 07/05.
        # Resolved Fri 09/05: late.
        *dossier(f"{p}-h4", CAU_GIAY, "2025.03", at(2025, 4, 29, 10), WD3, at(2025, 5, 7, 17),
                 Channel.postal, resolved=at(2025, 5, 9)),
        # Fri 13/06 17:30, after closing: received Mon 16/06 07:30, in Q3 (from 15/06): Tue 17,
        # Wed 18, Thu 19. Never resolved.
        *dossier(f"{p}-h5", CAU_GIAY, "2025.03", at(2025, 6, 13, 17, 30), WD3, at(2025, 6, 19, 17)),
        # Tue 10/06 at khu vực I's own counter: Wed 11, Thu 12, Fri 13. Open at the cut-off.
        *dossier(f"{p}-h6", REGION_I, "2025.03", at(2025, 6, 10), WD3, at(2025, 6, 13, 17)),
        # Mon 12/05 online in Hồ Chí Minh City (khu vực II), withdrawn Wed 14/05.
        *dossier(f"{p}-h7", QUAN_1, "2025.03", at(2025, 5, 12), WD6, at(2025, 5, 20, 17),
                 Channel.online, withdrawn=at(2025, 5, 14)),
        # Fri 13/06 10:00: Mon 16, Tue 17, Wed 18. Open at the cut-off, its appointment after it.
        *dossier(f"{p}-h9", BA_DINH, "2025.03", at(2025, 6, 13, 10), WD3, at(2025, 6, 18, 17)),
        # Refused at khu vực IV (Lai Châu) on Wed 02/04.
        _env(DossierRejected(
            dossier_code=f"{p}-h8", agency_code=REGION_IV, procedure_code="BHXH.NH.03",
            applicant=ApplicantRef(kind="individual", ref="p1_refused"), rejected_at=at(2025, 4, 2),
            reasons=[{"code": "incomplete", "message_vi": "Thiếu thành phần",
                      "message_en": "missing component"}]), REGION_IV, at(2025, 4, 2)),
    ]


def report(year: int, quarter: int) -> dict[str, dict[str, Any]]:
    found = quarterly.report(facts_of(history("Y")), CATALOGS, year, quarter, None)
    assert found["agency"] == NATION
    return nodes(found)


def kids(node: dict[str, Any]) -> list[str]:
    return [c["agency"] for c in node["children"]]


def test_q2_2025_reports_by_the_35_regional_offices() -> None:
    q2 = report(2025, 2)
    regions = q2[NATION]["children"]
    assert len(regions) == 35
    assert {r["level"] for r in regions} == {"province"}
    assert all(r["name"].startswith("Bảo hiểm xã hội khu vực ") for r in regions)
    assert HANOI_OLD not in q2  # ceased before the period
    assert kids(q2[REGION_I]) == ["000.99.01.H26", BA_DINH, CAU_GIAY]
    assert q2[REGION_I]["name"] == "Bảo hiểm xã hội khu vực I"
    # Ba Đình: h2 online and early; h3 and h9 direct, h3 on time, h9 within time.
    assert q2[BA_DINH]["indicators"] == ind(online=1, direct=2, early=1, on_time=1, within=1)
    # Cầu Giấy: h4 by post, late; h5 belongs to Q3.
    assert q2[CAU_GIAY]["indicators"] == ind(direct=1, postal=1, late=1)
    # Khu vực I with its offices: h1 carried over from the old office and late; h6 direct,
    # overdue at the cut-off.
    assert q2[REGION_I]["indicators"] == ind(online=1, direct=4, postal=1, carried=1,
                                             early=1, on_time=1, late=2, within=1, overdue=1)
    assert q2[QUAN_1]["indicators"] == ind(online=1, withdrawn=1)
    assert q2[REGION_II]["indicators"] == ind(online=1, withdrawn=1)
    assert q2[REGION_IV]["indicators"] == ind(refused=1)
    assert q2[NATION]["indicators"] == ind(online=2, direct=4, postal=1, carried=1, early=1,
                                           on_time=1, late=2, within=1, overdue=1, refused=1,
                                           withdrawn=1)


def test_q1_2025_has_the_old_office_under_its_successor() -> None:
    # 15/12/2024 - 14/03/2025, by the tree in force at its end (01/03/2025's): the old
    # office ceased within the period, its dossiers stay its own, under khu vực I.
    q1 = report(2025, 1)
    assert len(q1[NATION]["children"]) == 35
    assert HANOI_OLD in kids(q1[REGION_I])
    # h0 carried over and early; h1 received, overdue at the cut-off (due 25/02).
    assert q1[HANOI_OLD]["indicators"] == ind(direct=1, carried=1, early=1, overdue=1)
    assert q1[REGION_I]["indicators"] == q1[HANOI_OLD]["indicators"]


def test_q4_2024_reports_by_the_provincial_offices() -> None:
    q4 = report(2024, 4)
    assert kids(q4[NATION]) == [HANOI_OLD, "000.00.99.H29", "000.00.99.H62"]
    assert q4[HANOI_OLD]["name"] == "Bảo hiểm xã hội thành phố Hà Nội"
    # h0: received 09/12, due 17/12, after the cut-off of 15/12: pending within time.
    assert q4[HANOI_OLD]["indicators"] == ind(direct=1, within=1)


def test_q3_2025_reports_by_the_offices_of_july() -> None:
    q3 = report(2025, 3)
    assert q3[REGION_I]["name"] == "Bảo hiểm xã hội thành phố Hà Nội"
    # The district offices, active until 30/06, are children for the part of the period
    # they existed: h5 received 16/06 at Cầu Giấy, overdue at 15/09; h9 carried over at
    # Ba Đình, overdue; h6 carried over at the provincial office, overdue.
    assert q3[CAU_GIAY]["indicators"] == ind(direct=1, overdue=1)
    assert q3[BA_DINH]["indicators"] == ind(carried=1, overdue=1)
    assert q3[REGION_I]["indicators"] == ind(direct=1, carried=2, overdue=3)
