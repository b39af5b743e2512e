"""The soak's verdict on each service's memory: its slope after warm-up and its peak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.soak import cost_per_dossier, drift, judge, latest


def test_a_steady_series_is_flat_and_a_creeping_one_is_not() -> None:
    warm = [120.0, 150.0, 170.0]  # warm-up, left out of the slope
    steady = [*warm, 171.0, 170.5, 171.2, 170.8, 171.0]
    creeping = warm + [171.0 + minute for minute in range(20)]  # 1 MiB a minute
    verdict = judge({"steady": steady, "creeping": creeping}, warmup=3)
    assert verdict["steady"]["flat"] and verdict["steady"]["under_limit"]
    assert verdict["creeping"]["slope_mib_per_10_min"] == pytest.approx(10.0)
    assert not verdict["creeping"]["flat"]
    assert verdict["creeping"]["under_limit"] and verdict["creeping"]["peak_mib"] == 190.0
    # Flat but too large: the peak counts, warm-up included.
    heavy = judge({"heavy": [230.0, 199.0, 199.5, 199.0]}, warmup=1)["heavy"]
    assert heavy["flat"] and not heavy["under_limit"]


def test_drift_reports_where_the_series_stood_once_warm() -> None:
    d = drift([100.0, 140.0, 150.0, 152.0], warmup=2)
    assert (d["warm_mib"], d["last_mib"], d["peak_mib"]) == (150.0, 152.0, 152.0)
    assert d["slope_mib_per_10_min"] == pytest.approx(20.0)
    # Fewer minutes than the warm-up: the last one stands alone, with no slope.
    assert drift([100.0, 140.0], warmup=5)["slope_mib_per_10_min"] == 0.0


class _Cpu:
    """A sampler's CPU seconds so far, as RssSampler.cpu_seconds gives them."""

    def __init__(self, seconds: dict[str, float], broker: float | None = None) -> None:
        self.seconds = seconds
        self.broker = broker

    def cpu_seconds(self) -> dict[str, float]:
        return self.seconds

    def broker_cpu_seconds(self) -> float | None:
        return self.broker


def test_a_minutes_cost_is_each_services_cpu_per_dossier_beside_the_servers() -> None:
    sampler = _Cpu({"intake": 12.5, "reporting": 4.0})
    server = {"cpu_ms_per_dossier": 1.5, "per_dossier": {"blks_hit": 900.0},
              "rows_read_per_dossier": {"processing.cases": 6.0, "intake.outbox": 2.0}}
    cost = cost_per_dossier(sampler, {"intake": 10.0, "reporting": 3.5}, 500,  # type: ignore[arg-type]
                            server)
    assert cost == {"intake": 5.0, "reporting": 1.0, "postgres": 1.5,
                    "postgres_blks_hit": 900.0,
                    "postgres_most_read": ("processing.cases", 6.0)}
    # SQLite: the services alone; a service started during the minute counts from zero.
    assert cost_per_dossier(_Cpu({"intake": 0.2}), {}, 100) == {"intake": 2.0}  # type: ignore[arg-type]
    # The local broker's CPU beside them, when the minute's start read it.
    assert cost_per_dossier(_Cpu({"intake": 0.2}, broker=31.0), {"broker": 30.0}, 100) == \
        {"intake": 2.0, "broker": 10.0}  # type: ignore[arg-type]


def test_make_bench_shows_the_newest_soak_long_enough_at_half_load(tmp_path: Path) -> None:
    def soak(name: str, minutes: int, share: float, slope: float) -> None:
        services = {"intake": {"slope_mib_per_10_min": slope, "peak_mib": 170.0,
                               "flat": slope <= 2.0, "under_limit": True}}
        (tmp_path / name).write_text(json.dumps({
            "at": name[:16], "backend": "postgres", "share": share,
            "minutes": [{}] * minutes, "services": services}))

    assert latest(tmp_path) is None
    soak("20261206T111058Z-soak-postgres.json", 30, 0.5, 0.4)
    soak("20261207T010000Z-soak-postgres-short.json", 10, 0.5, 9.0)  # too short
    soak("20261207T020000Z-soak-postgres-quarter.json", 30, 0.25, 9.0)  # another load
    (tmp_path / "20261207T030000Z-soak-broken.json").write_text("{")  # unreadable
    found = latest(tmp_path)
    assert found is not None
    assert (found["file"], found["minutes"], found["backend"]) == (
        "20261206T111058Z-soak-postgres.json", 30, "postgres")
    soak("20261207T040000Z-soak-postgres.json", 31, 0.5, 3.0)
    newest = latest(tmp_path)
    assert newest is not None and newest["file"] == "20261207T040000Z-soak-postgres.json"
    assert newest["services"]["intake"]["slope_mib_per_10_min"] == 3.0
