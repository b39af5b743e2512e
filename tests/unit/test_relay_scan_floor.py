"""Where the relay's scan for pending rows starts (ScanFloor): above what earlier passes
settled once a late commit can no longer land below it, from the start at fixed
intervals, and from the start again after anything made old rows pending."""

from __future__ import annotations

from services.common.messaging.relay import ScanFloor


def test_the_floor_rises_to_a_settled_pass_only_after_the_late_commit_window() -> None:
    floor = ScanFloor(late_commit_seconds=5.0, full_scan_seconds=60.0)
    assert floor.start(0.0) == 0  # the first pass reads from the start
    floor.passed(0.0, 100)
    assert floor.start(4.9) == 0  # a transaction that took seq 90 may still commit
    floor.passed(4.9, 180)
    assert floor.start(5.0) == 100
    assert floor.start(9.8) == 100
    assert floor.start(9.9) == 180
    floor.passed(10.0, 150)  # a full scan settled a late row: the floor never falls
    assert floor.start(15.0) == 180


def test_a_full_scan_comes_back_at_its_interval_and_after_a_reset() -> None:
    floor = ScanFloor(late_commit_seconds=1.0, full_scan_seconds=10.0)
    assert floor.start(0.0) == 0
    floor.passed(0.0, 50)
    assert floor.start(2.0) == 50
    assert floor.start(10.0) == 0  # whatever committed later still is read now
    assert floor.start(11.0) == 50
    floor.reset()  # rows stayed pending, or a broker reset made old rows pending again
    assert floor.start(11.5) == 0 and floor.seq == 0
    assert floor.start(12.0) == 0  # nothing settled since the reset
