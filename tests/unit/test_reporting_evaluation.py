"""The Art. 30 evaluation on the hand-made history of the report form
(tests/unit/test_reporting_form.py), its indices counted by hand for Ba Đình in Q2 2026
(its on-time share, supplements per dossier, time against the legal time, online share),
and the score the rubric gives them; the dated rubric's file:line errors; the periods the
routes take."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from services.common.http.edge import ApiError
from services.law.workdays import TZ
from services.reporting import attribution, evaluation, rubric
from services.reporting.app import build
from services.reporting.calendars import Calendars
from services.reporting.dashboard_api import period_window
from services.reporting.emulation import StepTotals
from services.reporting.evaluation import Window
from services.reporting.facts import Recorded, fold
from services.reporting.settings import ReportingSettings
from tests.unit.test_reporting_form import (
    CATALOGS,
    CHE_DO,
    HOSPITAL,
    THU,
    A,
    B,
    History,
    at,
    history,
)

HOUR = 3600
CALS = Calendars(CATALOGS)
Q2 = Window.of_quarter(2026, 2)


def folded(h: History) -> tuple[dict, dict]:
    by_code: dict[str, list[Recorded]] = {}
    for _, env in h.items:
        by_code.setdefault(env.subject, []).append(Recorded.parsed(env))
    facts, steps = {}, {}
    for code, events in by_code.items():
        facts[code], steps[code] = fold(code, events, CALS)
    return facts, steps


def late_rows(h: History, now: datetime) -> list[dict]:
    """The delay attribution of every late dossier, cut to Q2."""
    facts, steps = folded(h)
    checks: dict[str, list[Recorded]] = {}
    for _, env in h.items:
        if env.type.startswith("vn.gov.bhxh.onestop.verification."):
            checks.setdefault(env.subject, []).append(Recorded.parsed(env))
    out = []
    for code, f in facts.items():
        row = attribution.attribute(CALS(f.agency_code, f.catalog_version), f, steps[code],
                                    attribution.verifications_of(checks.get(code, [])), now,
                                    (Q2.start, Q2.end))
        if row is not None:
            out.append(row)
    return out


# Ba Đình's steps completed in Q2, counted by hand (office hours 07:30-17:00): cb.thu held
# f01 Mon 04/05 09:30 - Wed 06/05 15:00 (7.5 + 9.5 + 7.5 h, by its step due time) and f02
# Mon 11/05 10:00 - Tue 19/05 09:00 (7 + 4 x 9.5 + 9.5 + 1.5 h, late); cb.chedo held f05
# Mon 08/06 10:00 - Thu 11/06 16:00 (7 + 9.5 + 9.5 + 8.5 h, on time). f07's step was
# completed in Q3.
TOTALS = [StepTotals(A, THU, "cb.thu", 2, 1, int(80.5 * HOUR)),
          StepTotals(A, CHE_DO, "cb.chedo", 1, 1, int(34.5 * HOUR))]
RATINGS = {(A, "citizen"): (2, 4.0), (A, "counter_survey"): (1, 2.0)}


def evaluated() -> dict:
    h = history("E")
    facts, _ = folded(h)
    version = rubric.load_rubrics().in_force(Q2.last_day)
    return evaluation.evaluate(facts.values(), TOTALS, late_rows(h, at(6, 16, 10)), RATINGS,
                               CALS, 9.5 * HOUR, Q2, version, lambda code: code)


def test_ba_dinh_in_q2_2026_counted_by_hand() -> None:
    found = evaluated()
    office = next(o for o in found["offices"] if o["agency_code"] == A)
    x = office["indices"]
    # Resolved in Q2: f11 (late), f01 (early), f02 (late), f05 (early).
    assert x["dossiers_resolved"] == 4 and x["on_time_share"] == 0.5
    # One supplement asked (f05) over four dossiers; contacts: four submissions and it.
    assert x["supplements_per_dossier"] == 0.25 and x["contacts_per_dossier"] == 1.25
    # Received in Q2: f01, f02 (online), f03, f04, f05, f10.
    assert x["dossiers_received"] == 6 and x["online_share"] == round(1 / 6, 4)
    # Office hours used over the legal time's: f11 Tue 10/03 09:00 - Wed 18/03 10:00 is
    # 8 + 3 x 9.5 + 2 x 9.5 + 2.5 = 58 h of 55.5 (to Tue 17/03 17:00); f01 29.5 of 55.5;
    # f02 58 of 55.5; f05 restarted on its complete supplement Mon 08/06 09:00: 8 + 3 x
    # 9.5 + 2.5 = 39 h of 74.5 (to Wed 17/06 17:00).
    assert x["time_ratio"] == round((58 / 55.5 + 29.5 / 55.5 + 58 / 55.5 + 39 / 74.5) / 4, 4)
    assert x["time_ratio"] == 0.7863
    assert (x["ratings_citizen"], x["satisfaction"]) == (2, 4.0)
    assert (x["ratings_counter_survey"], x["satisfaction_counter_survey"]) == (1, 2.0)
    # f11's late 2.5 h (Wed 18/03 07:30-10:00, no step held): the office's own.
    assert x["overdue_days_caused"] == 0.26
    # The rubric of 19/04/2019: on time 0.5 -> 0 points (weight 30); time 0.7863 -> 70
    # (15); supplements 0.25 -> 30 (15); online 0.1667 -> 20 (15, below every band);
    # citizens 4.0 -> 80 (25); the counter surveys are not scored.
    assert office["points"] == {"on_time_share": 0, "time_ratio": 70,
                                "supplements_per_dossier": 30, "online_share": 20,
                                "satisfaction": 80}
    assert office["score"] == (30 * 0 + 15 * 70 + 15 * 30 + 15 * 20 + 25 * 80) / 100 == 38.0
    assert office["grade"] == "Chưa hoàn thành"
    assert found["rubric"]["valid_from"] == "2019-04-19"
    assert found["period"]["from"] == "2026-03-15" and found["period"]["to"] == "2026-06-14"


def test_officers_and_departments() -> None:
    found = evaluated()
    officers = {o["assignee"]: o for o in found["officers"]}
    thu = officers["cb.thu"]
    # f02's late morning (Tue 19/05 07:30-10:00) waited on the hospital's answer, asked
    # and never given: the hospital's, not cb.thu's.
    assert thu["indices"]["steps_handled"] == 2 and thu["indices"]["step_on_time_share"] == 0.5
    assert thu["indices"]["avg_days_per_step"] == round(80.5 / 9.5 / 2, 2)
    assert thu["indices"]["overdue_days_per_step"] == 0
    assert thu["points"] == {"step_on_time_share": 0, "overdue_days_per_step": 100}
    assert thu["score"] == 40.0 and thu["grade"] == "Chưa hoàn thành"
    assert officers["cb.chedo"]["score"] == 100.0
    assert officers["cb.chedo"]["grade"] == "Hoàn thành xuất sắc"
    assert [o["assignee"] for o in found["officers"]] == ["cb.chedo", "cb.thu"]  # best first
    departments = {d["department"]: d for d in found["departments"]}
    assert departments[THU]["indices"]["steps_handled"] == 2
    assert [o["agency_code"] for o in found["offices"]] == [B, A, HOSPITAL]  # best first
    hospital = next(o for o in found["offices"] if o["agency_code"] == HOSPITAL)
    assert hospital["indices"]["overdue_days_caused"] == round(2.5 / 9.5, 2)


def test_another_agency_is_left_out_when_asked() -> None:
    h = history("E")
    facts, _ = folded(h)
    version = rubric.load_rubrics().in_force(Q2.last_day)
    found = evaluation.evaluate(facts.values(), TOTALS, late_rows(h, at(6, 16, 10)), RATINGS,
                                CALS, 9.5 * HOUR, Q2, version, lambda code: code,
                                keep=lambda code: code.startswith("000."))
    assert [o["agency_code"] for o in found["offices"]] == [B, A]


def test_an_index_without_a_value_is_left_out_of_the_score() -> None:
    # Cầu Giấy: f08 on time (100 points); 54.5 h of 55.5 (70); no supplement (100); no
    # dossier online (20); nobody rated it: the weights of the rest make the score.
    cau_giay = next(o for o in evaluated()["offices"] if o["agency_code"] == B)
    assert cau_giay["indices"]["time_ratio"] == round(54.5 / 55.5, 4)
    assert cau_giay["indices"]["satisfaction"] is None and "satisfaction" not in \
        cau_giay["points"]
    assert cau_giay["score"] == (30 * 100 + 15 * 70 + 15 * 100 + 15 * 20) / 75 == 78.0
    assert cau_giay["grade"] == "Hoàn thành tốt"


RUBRIC_OK = """versions:
  - valid_from: 2019-04-19
    source: test
    indices:
      - index: on_time_share
        criterion: đúng hạn
        levels: [office]
        weight: 1
        better: higher
        bands: [{at: 0.9, points: 100}]
    grades: [{from_score: 0, label: Đạt}]
"""


def write(tmp: Path, text: str) -> Path:
    path = tmp / "rubric.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_rubric_loads_and_dates_its_versions(tmp_path: Path) -> None:
    shipped = rubric.load_rubrics()
    assert shipped.in_force(date(2026, 6, 14)).valid_from == date(2019, 4, 19)
    with pytest.raises(rubric.RubricError, match="no evaluation rubric in force on 18/04/2019"):
        shipped.in_force(date(2019, 4, 18))
    two = RUBRIC_OK + RUBRIC_OK.replace("versions:\n", "").replace("2019-04-19", "2026-01-01") \
        .replace("points: 100", "points: 50")
    rubrics = rubric.load_rubrics(write(tmp_path, two))
    assert rubrics.in_force(date(2025, 12, 31)).rules("office")[0].points(0.95) == 100
    assert rubrics.in_force(date(2026, 1, 1)).rules("office")[0].points(0.95) == 50


@pytest.mark.parametrize(("edit", "line", "message"), [
    (("weight: 1", "weight: -1"), 8, "versions.0.indices.0.weight: Input should be greater"),
    (("better: higher", "better: more"), 9, "versions.0.indices.0.better: Input should be"),
    (("criterion: đúng hạn", "criterion: đúng hạn\n        colour: red"), 7,
     "versions.0.indices.0.colour: Extra inputs are not permitted"),
    (("levels: [office]", "levels: [officer]"), 7,
     "versions.0.indices.0.levels.0: on_time_share is not measured per officer"),
    (("bands: [{at: 0.9, points: 100}]", "bands: [{at: 0.8, points: 50}, {at: 0.9, points: 100}]"),
     10, "versions.0.indices.0.bands: bands go from the best value down"),
    (("from_score: 0", "from_score: 10"), 11, "versions.0.grades: grades go from the highest"),
])
def test_a_mistake_names_its_file_and_line(tmp_path: Path, edit: tuple[str, str], line: int,
                                           message: str) -> None:
    path = write(tmp_path, RUBRIC_OK.replace(*edit))
    with pytest.raises(rubric.RubricError) as found:
        rubric.load_rubrics(path)
    assert f"{path}:{line}: {message}" in str(found.value), str(found.value)


def test_an_index_listed_twice_and_versions_out_of_order(tmp_path: Path) -> None:
    twice = RUBRIC_OK.replace("    grades:", """      - index: on_time_share
        criterion: again
        levels: [office]
        weight: 1
        better: higher
        bands: [{at: 0.5, points: 10}]
    grades:""")
    with pytest.raises(rubric.RubricError, match=r"rubric.yaml:11: versions\.0\.indices\.1\."
                                                 r"index: on_time_share is listed twice"):
        rubric.load_rubrics(write(tmp_path, twice))
    backwards = RUBRIC_OK + RUBRIC_OK.replace("versions:\n", "").replace("2019-04-19",
                                                                          "2018-01-01")
    with pytest.raises(rubric.RubricError, match=r"rubric.yaml:12: versions\.1\.valid_from: "
                                                 r"01/01/2018 is not after"):
        rubric.load_rubrics(write(tmp_path, backwards))


def test_the_periods_the_routes_take() -> None:
    q2 = period_window(2026, 2, None, None)
    assert q2 == Q2 and q2.start == datetime(2026, 3, 15, tzinfo=TZ)
    days = period_window(None, None, date(2026, 4, 1), date(2026, 6, 30))
    assert days is not None and days.end == datetime(2026, 7, 1, tzinfo=TZ)
    assert days.last_day == date(2026, 6, 30)
    assert period_window(None, None, None, None) is None
    for args, code, field in [((2026, None, None, None), "period_incomplete", "quarter"),
                              ((None, None, date(2026, 4, 1), None), "period_incomplete", "to"),
                              ((2026, 2, date(2026, 4, 1), date(2026, 4, 2)),
                               "period_ambiguous", "from"),
                              ((None, None, date(2026, 4, 2), date(2026, 4, 1)),
                               "period_reversed", "to")]:
        with pytest.raises(ApiError) as found:
            period_window(*args)
        problem = found.value.problems[0]
        assert (found.value.status, problem.code, problem.field) == (422, code, field)
        assert problem.message_vi and problem.message_en


def test_a_bad_rubric_stops_the_service_at_start(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_VAR_DIR", str(tmp_path))
    bad = write(tmp_path, RUBRIC_OK.replace("weight: 1", "weight: 0"))
    with pytest.raises(rubric.RubricError, match=f"{bad}:8: versions.0.indices.0.weight"):
        build(ReportingSettings(evaluation_rubric=bad))
    assert build(ReportingSettings()).app.state.monitor.rubrics is not None
