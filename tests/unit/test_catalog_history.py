"""The 2025 history as data: the catalogue versions before 01/07/2025 (Decree 61/2018 and
the Law on Social Insurance 2014; the provincial tree, then the 35 regional offices of
01/03/2025), and a dossier judged by the rules of its day. Due dates are counted by hand
against the 2025 calendar: Tết 27/01-01/02 (the break ran 25/01-02/02 with its weekends),
Hùng Kings Monday 07/04, 30/04-01/05, Friday 02/05 swapped with Saturday 26/04."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from contracts.catalog import AgencyLevel
from contracts.common import Channel, ComponentRef, IndividualApplicant, ReturnChannel
from services.intake.domain import IntakeLaw, Rejected, Submission
from services.intake.receipt import judge_receipt
from services.law.catalog import AgencyScope, CatalogError, load_catalogs
from services.law.catalog.loader import DEFAULT_DIR
from services.law.workdays import TZ, WorkCalendar

CATALOGS = load_catalogs()
LAW = IntakeLaw(CATALOGS, WorkCalendar(CATALOGS.calendar_rules()))
NATION = "000.00.00.H99"
HANOI_OLD, BA_DINH_OLD = "000.00.99.H26", "000.99.02.H26"  # ceased 28/02 and 30/06/2025
REGION_I = "000.00.01.H26"  # khu vực I from 01/03/2025, renamed Hà Nội from 01/07/2025
BA_DINH = "000.01.01.H26"  # cơ sở Ba Đình, from 01/07/2025
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII",
         "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX", "XXI", "XXII", "XXIII", "XXIV",
         "XXV", "XXVI", "XXVII", "XXVIII", "XXIX", "XXX", "XXXI", "XXXII", "XXXIII",
         "XXXIV", "XXXV"]


def at(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def submission(agency: str, procedure: str, received: datetime) -> Submission:
    applicant = IndividualApplicant(full_name="Nguyễn Thị Hoa", id_number="001190012345")
    components = {"BHXH.NH.03": ["GKS"], "BHXH.NH.01": ["GCN-NV", "01B-HSB"],
                  "BHXH.DH.01": ["SO-BHXH", "QD-NV"], "BHXH.DH.07": ["SO-BHXH", "14-HSB"]}
    return Submission(agency_code=agency, procedure_code=procedure, channel=Channel.counter,
                      return_channel=ReturnChannel.counter, applicant=applicant,
                      components=[ComponentRef(code=c, form="paper")
                                  for c in components[procedure]],
                      received_at=received)


def judged(agency: str, procedure: str, received: datetime) -> tuple[str, int, str, datetime]:
    verdict = judge_receipt(LAW, submission(agency, procedure, received), at(2026, 12, 1))
    return (verdict.catalog_version, verdict.legal_time.value, verdict.legal_time.unit.value,
            verdict.due_at)


def problems(agency: str, procedure: str, received: datetime) -> list[tuple[str, object]]:
    with pytest.raises(Rejected) as refused:
        judge_receipt(LAW, submission(agency, procedure, received), at(2026, 12, 1))
    return [(p.code, p.model_dump().get("successor")) for p in refused.value.problems]


# --- which version judges which day ------------------------------------------------------


@pytest.mark.parametrize(("day", "version"), [
    (date(2019, 12, 10), "2019.12"), (date(2025, 2, 14), "2019.12"),
    (date(2025, 2, 28), "2019.12"), (date(2025, 3, 1), "2025.03"),
    (date(2025, 6, 30), "2025.03"), (date(2025, 7, 1), "2025.07"),
    (date(2026, 12, 1), "2025.07")])
def test_each_day_is_judged_by_the_version_in_force(day: date, version: str) -> None:
    assert CATALOGS.in_force(day).version == version


def test_nothing_judges_a_day_before_the_first_version() -> None:
    with pytest.raises(CatalogError, match="no catalogue in force on 09/12/2019"):
        CATALOGS.in_force(date(2019, 12, 9))


# --- the trees --------------------------------------------------------------------------


def children(version: str, code: str, on: date) -> list[str]:
    index = CATALOGS.version(version)
    return [a.code for a in index.catalog.agencies
            if a.parent == code and index.active_agency(a.code, on)]


def test_before_march_2025_the_provincial_offices_and_their_districts() -> None:
    assert children("2019.12", NATION, date(2025, 2, 14)) == [
        "000.00.99.H26", "000.00.99.H29", "000.00.99.H62"]
    assert children("2019.12", HANOI_OLD, date(2025, 2, 14)) == [
        "000.99.01.H26", BA_DINH_OLD, "000.99.03.H26"]
    assert CATALOGS.version("2019.12").agencies[HANOI_OLD].name == \
        "Bảo hiểm xã hội thành phố Hà Nội"


def test_from_march_2025_the_35_regional_offices() -> None:
    index = CATALOGS.version("2025.03")
    regions = children("2025.03", NATION, date(2025, 3, 1))
    assert [index.agencies[c].name for c in regions] == [
        f"Bảo hiểm xã hội khu vực {n}" for n in ROMAN]
    assert {index.agencies[c].level for c in regions} == {AgencyLevel.province}
    # The old provincial office ceased the day before, taken over by khu vực I; the
    # district offices go on under it.
    assert index.active_agency(HANOI_OLD, date(2025, 3, 1)) is None
    assert index.agencies[HANOI_OLD].successor == REGION_I
    assert children("2025.03", REGION_I, date(2025, 3, 1)) == [
        "000.99.01.H26", BA_DINH_OLD, "000.99.03.H26"]
    # The law did not change with the tree: the procedures are 2019.12's.
    assert index.procedures == CATALOGS.version("2019.12").procedures


def test_from_july_2025_the_regions_are_provincial_offices_again() -> None:
    index = CATALOGS.version("2025.07")
    assert children("2025.07", NATION, date(2025, 7, 1)) == [
        REGION_I, "000.00.79.H29", "000.00.12.H62"]
    assert index.agencies[REGION_I].name == "Bảo hiểm xã hội thành phố Hà Nội"
    assert index.agencies[BA_DINH_OLD].successor == BA_DINH
    # Every office that ceased is listed under the office that took it over, so a
    # province's system reports its whole history under its one root, and its people see it.
    for code in (HANOI_OLD, BA_DINH_OLD):
        assert REGION_I in index.ancestors(code)
    hanoi = AgencyScope.of(CATALOGS, REGION_I)
    assert hanoi is not None
    assert hanoi.allows(HANOI_OLD) and hanoi.allows(BA_DINH_OLD)
    assert not hanoi.allows("000.00.99.H29") and not hanoi.allows("000.99.01.H29")


def test_every_successor_is_in_force_the_day_after_its_predecessor_ceased() -> None:
    moves = 0
    for index in CATALOGS.indexes:
        for agency in index.catalog.agencies:
            if agency.successor:
                assert agency.valid_to is not None
                after = date.fromordinal(agency.valid_to.toordinal() + 1)
                assert index.active_agency(agency.successor, after) is not None
                moves += 1
    assert moves == 3 + 8  # 2025.03: the old provinces; 2025.07: them and 5 districts


# --- a dossier judged by the rules of its day ------------------------------------------


def test_a_dossier_of_14_february_2025_is_judged_by_the_2014_law() -> None:
    # Friday 14/02/2025 at the old Ba Đình district office, maternity from the employee
    # herself: 3 working days then (5 from 01/07/2025): Mon 17, Tue 18, Wed 19.
    assert judged(BA_DINH_OLD, "BHXH.NH.03", at(2025, 2, 14)) == (
        "2019.12", 3, "working_days", at(2025, 2, 19, 17))
    # The same dossier under today's rules, at today's office: 5 working days.
    assert judged(BA_DINH, "BHXH.NH.03", at(2025, 8, 15)) == (
        "2025.07", 5, "working_days", at(2025, 8, 22, 17))


def test_working_days_skip_tet_2025() -> None:
    # Friday 24/01/2025, sickness: 6 working days. Mon 27 - Fri 31/01 are Tết, Sat 01 and
    # Sun 02/02 the weekend: Mon 03 (1), Tue 04, Wed 05, Thu 06, Fri 07 (5), Mon 10 (6).
    assert judged(BA_DINH_OLD, "BHXH.NH.01", at(2025, 1, 24)) == (
        "2019.12", 6, "working_days", at(2025, 2, 10, 17))


def test_days_excluding_holidays_skip_tet_2025() -> None:
    # Friday 17/01/2025, pension: 20 days that count weekends and skip public holidays:
    # Sat 18 .. Sun 26/01 are days 1-9, 27/01-01/02 holidays, Sun 02/02 day 10, ...,
    # Wed 12/02 day 20, a working day.
    assert judged(BA_DINH_OLD, "BHXH.DH.01", at(2025, 1, 17)) == (
        "2019.12", 20, "days_excluding_holidays", at(2025, 2, 12, 17))


def test_between_march_and_june_2025_the_regional_tree_and_the_2014_law() -> None:
    # Wednesday 05/03/2025 at the district office, now under khu vực I: still 3 working
    # days (the law did not change): Thu 06, Fri 07, Mon 10.
    assert judged(BA_DINH_OLD, "BHXH.NH.03", at(2025, 3, 5)) == (
        "2025.03", 3, "working_days", at(2025, 3, 10, 17))
    # Friday 04/04/2025, sickness: Mon 07/04 is Hùng Kings' day: Tue 08 .. Tue 15 (6).
    assert judged(REGION_I, "BHXH.NH.01", at(2025, 4, 4, 16)) == (
        "2025.03", 6, "working_days", at(2025, 4, 15, 17))


def test_what_did_not_exist_yet_or_any_more_is_refused() -> None:
    # cơ sở Ba Đình did not exist in June 2025; the monthly allowance of the 2024 law
    # (BHXH.DH.07) neither.
    assert problems(BA_DINH, "BHXH.NH.03", at(2025, 6, 20)) == [("unknown_agency", None)]
    assert ("unknown_procedure", None) in problems(BA_DINH_OLD, "BHXH.DH.07",
                                                   at(2025, 6, 20))
    # An office that ceased names the office that took it over.
    assert problems(HANOI_OLD, "BHXH.NH.03", at(2025, 3, 3)) == [
        ("agency_not_active", REGION_I)]
    assert problems(BA_DINH_OLD, "BHXH.NH.03", at(2025, 7, 1)) == [
        ("agency_not_active", BA_DINH)]


def test_the_day_of_receipt_is_the_day_in_vietnam() -> None:
    # 01/07/2025 06:30 in Hanoi is still 30/06 in UTC: the July catalogue judges it, and
    # the office that opened that day receives it. Tue 01/07 before opening: Wed 02 ..
    # Tue 08 (5 working days).
    received = datetime(2025, 6, 30, 23, 30, tzinfo=UTC)
    assert judged(BA_DINH, "BHXH.NH.03", received) == (
        "2025.07", 5, "working_days", at(2025, 7, 8, 17))


# --- mistakes in the files name the file and the line ----------------------------------


def _folder(tmp_path: Path, edit: tuple[str, str, str] | None = None) -> Path:
    for source in sorted(DEFAULT_DIR.glob("catalog.v*.yaml")):
        text = source.read_text(encoding="utf-8")
        if edit and source.name == edit[0]:
            assert edit[1] in text
            text = text.replace(edit[1], edit[2], 1)
        (tmp_path / source.name).write_text(text, encoding="utf-8")
    return tmp_path


def _line(path: Path, start: str) -> int:
    """The last line of the file that starts with `start`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return max(i + 1 for i, t in enumerate(lines) if t.startswith(start))


@pytest.mark.parametrize(("edit", "start", "message"), [
    (("catalog.v2025.03.yaml", "    successor: 000.00.01.H26",
      "    successor: 000.00.02.H26"), "    successor: 000.00.02.H26",
     "agencies.36.successor: successor 000.00.02.H26 is not in the catalogue"),
    (("catalog.v2025.03.yaml", "    valid_to: 2025-02-28\n    successor: 000.00.01.H26",
      "    valid_to: 2025-01-31\n    successor: 000.00.01.H26"), "    successor: 000.00.01.H26",
     "successor 000.00.01.H26 is not in force on 01/02/2025, the day after valid_to"),
    (("catalog.v2019.12.yaml", "    parent: 000.00.00.H99\n    valid_from: 2019-12-10\n"
      "  - code: 000.99.01.H26", "    parent: 000.99.02.H26\n    valid_from: 2019-12-10\n"
      "  - code: 000.99.01.H26"), "    parent: 000.99.02.H26",
     "the parents of 000.00.99.H26 loop back to it"),
    (("catalog.v2019.12.yaml", "  - code: 000.99.03.H26", "  - code: 000.99.02.H26"),
     "  - code: 000.99.02.H26", "000.99.02.H26 is listed twice"),
    (("catalog.v2025.03.yaml", 'procedures_from: "2019.12"', 'procedures_from: "2018.06"'),
     "procedures_from", "no earlier version 2018.06 with procedures of its own"),
    (("catalog.v2025.03.yaml", "valid_from: 2025-03-01\nprocedures_from",
      "valid_from: 2019-12-10\nprocedures_from"), "valid_from",
     "is in force from the same day"),
])
def test_a_mistake_in_a_version_names_its_file_and_line(
        tmp_path: Path, edit: tuple[str, str, str], start: str, message: str) -> None:
    folder = _folder(tmp_path, edit)
    with pytest.raises(CatalogError) as err:
        load_catalogs(folder)
    path = folder / edit[0]
    assert f"{path}:{_line(path, start)}:" in str(err.value)
    assert message in str(err.value)


def test_the_shipped_files_load_as_they_are(tmp_path: Path) -> None:
    copied = load_catalogs(_folder(tmp_path))
    assert [i.version for i in copied.indexes] == ["2019.12", "2025.03", "2025.07"]
