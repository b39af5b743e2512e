from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from contracts.common import (
    ComponentForm,
    ComponentRef,
    IndividualApplicant,
    OrganizationApplicant,
)
from services.intake.rules import (
    check_components,
    check_submission,
    dossier_code,
    personal_numbers,
)
from services.law.catalog import CatalogError, CatalogSet, load_catalog, load_catalogs
from services.law.workdays import WorkCalendar

CATALOG = load_catalog()
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def test_dossier_code_has_the_legal_shape() -> None:
    assert dossier_code("000.00.12.H62", date(2020, 11, 5), 4) == "000.00.12.H62-201105-0004"


def _check(**overrides: object) -> list[str]:
    args: dict[str, object] = {
        "agency_code": "000.01.01.H26", "procedure_code": "BHXH.NH.03",
        "applicant_kind": "individual",
        "components": [ComponentRef(code="GKS", form=ComponentForm.paper)],
        "received_at": NOW, "now": NOW}
    args.update(overrides)
    problems, _, _ = check_submission(CATALOG, **args)  # type: ignore[arg-type]
    return [p.code for p in problems]


def test_a_complete_submission_has_no_problem() -> None:
    assert _check() == []


def test_every_problem_is_listed_at_once() -> None:
    codes = _check(agency_code="000.00.00.H99", applicant_kind="individual",
                   procedure_code="BHXH.NH.02",
                   components=[ComponentRef(code="XYZ", form=ComponentForm.paper)],
                   received_at=NOW + timedelta(hours=1))
    assert set(codes) == {"received_at_in_future", "agency_does_not_handle",
                          "wrong_applicant_kind", "unknown_component", "missing_component"}


def test_a_merged_agency_names_its_successor() -> None:
    problems, _, _ = check_submission(
        CATALOG, agency_code="000.99.01.H26", procedure_code="BHXH.NH.03",
        applicant_kind="individual", components=[ComponentRef(code="GKS", form="paper")],
        received_at=NOW, now=NOW)
    assert problems[0].code == "agency_not_active"
    # A fact of its own, beside the Reason's fields: HTTP answers show it.
    assert problems[0].model_dump()["successor"] == "000.01.01.H26"
    assert "000.01.01.H26" in problems[0].message_vi


def test_unknown_codes_are_reported_in_both_languages() -> None:
    problems, _, _ = check_submission(
        CATALOG, agency_code="nope", procedure_code="nope", applicant_kind="individual",
        components=[], received_at=NOW, now=NOW)
    assert {p.code for p in problems} == {"unknown_agency", "unknown_procedure"}
    assert all(p.message_vi and p.message_en for p in problems)


def test_maternity_legal_time_depends_on_who_submits() -> None:
    maternity = CATALOG.procedure("BHXH.NH.03")
    assert maternity is not None
    assert CATALOG.legal_time(maternity, "organization").value == 7
    assert CATALOG.legal_time(maternity, "individual").value == 5


def test_pension_is_counted_in_days_excluding_holidays() -> None:
    pension = CATALOG.procedure("BHXH.DH.01")
    assert pension is not None
    assert pension.legal_time.unit == "days_excluding_holidays"
    assert pension.legal_time.value == 20


def test_a_bad_catalogue_names_file_line_and_field(tmp_path) -> None:
    text = (CATALOG.path.read_text(encoding="utf-8")
            .replace("legal_time: {value: 10, unit: working_days}",
                     "legal_time: {value: 10, unit: fortnights}", 1))
    bad = tmp_path / "catalog.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_catalog(bad)
    line = next(i + 1 for i, t in enumerate(text.splitlines()) if "fortnights" in t)
    assert f"{bad}:{line}:" in str(err.value)
    assert "legal_time.unit" in str(err.value)


def test_an_agency_closure_moves_the_appointment() -> None:
    from contracts.catalog import Agency
    from contracts.common import LegalTime
    from services.common.clock import FixedClock
    from services.common.messaging.outbox import OutboxWriter
    from services.intake import tables
    from services.intake.handlers import Intake as Receiver
    from services.law.workdays import TZ, WorkCalendar

    receiver = Receiver(CatalogSet([CATALOG]), WorkCalendar(),
                        OutboxWriter("intake", tables.runtime, FixedClock(NOW)), "k")
    base = CATALOG.agency("000.01.01.H26")
    assert base is not None
    closed = base.model_copy(update={"code": "000.01.09.H26", "closures": [date(2026, 3, 4)]})
    assert isinstance(closed, Agency)
    received = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)  # Monday
    five = LegalTime(value=5, unit="working_days")
    assert receiver.calendar_for(base).due_at(received, five).date() == date(2026, 3, 9)
    # Wednesday 4/3 closed: the fifth working day moves one day later.
    assert receiver.calendar_for(closed).due_at(received, five).date() == date(2026, 3, 10)


def test_a_dossier_is_judged_by_the_catalogue_in_force_on_its_day(tmp_path) -> None:
    text = CATALOG.path.read_text(encoding="utf-8")
    (tmp_path / "catalog.v1.yaml").write_text(text, encoding="utf-8")
    # An older rule set (for the test: sickness benefit in 6 working days until 30/06/2025).
    old = (text.replace('version: "2025.07"\nvalid_from: 2025-07-01',
                        'version: "2019.12"\nvalid_from: 2019-12-10')
           .replace("legal_time: {value: 7, unit: working_days}\n    source: Luật BHXH 2024, "
                    "Điều 48 khoản 3", "legal_time: {value: 6, unit: working_days}\n    "
                    "source: Luật BHXH 2014"))
    (tmp_path / "catalog.v0.yaml").write_text(old, encoding="utf-8")
    catalogs = load_catalogs(tmp_path)
    assert catalogs.in_force(date(2025, 6, 30)).version == "2019.12"
    assert catalogs.in_force(date(2025, 7, 1)).version == "2025.07"
    assert catalogs.latest.version == "2025.07"
    sickness_then = catalogs.version("2019.12").procedure("BHXH.NH.01")
    sickness_now = catalogs.version("2025.07").procedure("BHXH.NH.01")
    assert sickness_then is not None and sickness_now is not None
    assert (sickness_then.legal_time.value, sickness_now.legal_time.value) == (6, 7)
    with pytest.raises(CatalogError, match="no catalogue in force"):
        catalogs.in_force(date(2019, 1, 1))


def test_announced_days_in_the_catalogue_reach_the_calendar(tmp_path) -> None:
    text = CATALOG.path.read_text(encoding="utf-8").replace(
        "  extra_days_off: []", "  extra_days_off: [2026-03-04]")
    (tmp_path / "catalog.v1.yaml").write_text(text, encoding="utf-8")
    rules = load_catalogs(tmp_path).calendar_rules()
    assert rules.extra_days_off == frozenset({date(2026, 3, 4)})
    assert not WorkCalendar(rules).is_working_day(date(2026, 3, 4))


def _individual(**more: object) -> IndividualApplicant:
    return IndividualApplicant.model_validate({
        "full_name": "Nguyễn Thị Hoa", "id_number": "001190012345",
        "social_insurance_code": "0112345678", "phone": "+84 912 345 678", **more})


def _problems_at(applicant: IndividualApplicant | OrganizationApplicant,
                 components: list[ComponentRef], procedure: str = "BHXH.NH.03",
                 kind: str = "individual") -> list[tuple[str, str]]:
    problems, _, _ = check_submission(
        CATALOG, agency_code="000.01.01.H26", procedure_code=procedure, applicant_kind=kind,
        components=components, received_at=NOW, now=NOW, applicant=applicant)
    return [(p.code, str(p.field)) for p in problems]


def test_a_component_given_twice_is_refused_at_its_second_place() -> None:
    found = _problems_at(_individual(), [
        ComponentRef(code="GKS", form=ComponentForm.paper),
        ComponentRef(code="GKS", form=ComponentForm.electronic, document_ref="doc-1")])
    assert found == [("duplicate_component", "components.1.code")]
    problems, _, _ = check_submission(
        CATALOG, agency_code="000.01.01.H26", procedure_code="BHXH.NH.03",
        applicant_kind="individual", received_at=NOW, now=NOW,
        components=[ComponentRef(code="GKS", form="paper")] * 3)
    assert [p.field for p in problems] == ["components.1.code", "components.2.code"]
    assert all(p.message_vi and p.message_en for p in problems)


@pytest.mark.parametrize("ref", [
    "kho:001190012345/GKS",        # the contract's old example shape, with the ID number
    "kho/0011-9001-2345/GKS",      # separators do not hide it
    "bhxh-0112345678",             # the social insurance code
    "tel-0912.345.678",            # the phone, written nationally while given as +84
])
def test_a_document_ref_carrying_a_personal_number_is_refused(ref: str) -> None:
    found = _problems_at(_individual(), [ComponentRef(code="GKS", form="electronic",
                                                      document_ref=ref, reused=True)])
    assert found == [("personal_document_ref", "components.0.document_ref")]


def test_personal_problem_does_not_echo_the_number() -> None:
    problems, _, _ = check_submission(
        CATALOG, agency_code="000.01.01.H26", procedure_code="BHXH.NH.03",
        applicant_kind="individual", received_at=NOW, now=NOW, applicant=_individual(),
        components=[ComponentRef(code="GKS", form="electronic",
                                 document_ref="kho:001190012345/GKS")])
    assert problems and "001190012345" not in str(problems)


def test_an_organization_tax_code_and_its_branch_are_personal_too() -> None:
    org = OrganizationApplicant(name="Công ty TNHH Hoa Sen", unit_code="TA1234",
                                tax_code="0101234567-001", phone="024 3825 1234")
    for ref in ("mst-0101234567", "0101234567001/doc", "doc-02438251234"):
        found = _problems_at(org, [ComponentRef(code="GKS", form="paper", document_ref=ref)],
                             kind="organization")
        assert ("personal_document_ref", "components.0.document_ref") in found, ref


def test_opaque_references_and_other_peoples_numbers_pass() -> None:
    assert _problems_at(_individual(), [ComponentRef(
        code="GKS", form="electronic", document_ref="doc-7f3a9c2e5b1d4e60", reused=True)]) == []
    assert _problems_at(_individual(), [ComponentRef(
        code="GKS", form="electronic", document_ref="kho:079190000123/GKS")]) == []
    # Without the applicant (older callers) nothing is compared, nothing is invented.
    assert _check(components=[ComponentRef(code="GKS", form="electronic",
                                           document_ref="kho:001190012345/GKS")]) == []


def test_personal_numbers_ignore_blanks_and_short_values() -> None:
    numbers = personal_numbers(_individual(social_insurance_code=None, phone="113"))
    assert numbers == frozenset({"001190012345"})
    assert personal_numbers(None) == frozenset()
    assert check_components([ComponentRef(code="GKS", form="paper", document_ref="doc-113")],
                            numbers) == []
