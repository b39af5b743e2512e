"""The soak's verdict on each service's memory: its slope after warm-up and its peak."""

from __future__ import annotations

import pytest

from bench.soak import drift, judge


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
