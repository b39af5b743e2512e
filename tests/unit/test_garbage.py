"""The collector once a service is up (services/common/garbage.py): start-up's objects set
aside, the young generation as configured, every collection's time counted."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from services.common.garbage import CollectionTimer, collections_paused, settle
from services.common.settings import GC_YOUNG_THRESHOLD, ServiceSettings


@pytest.fixture
def collector() -> Iterator[None]:
    """The interpreter's collector as it was, after the test."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_sets_what_exists_aside_and_sizes_the_young_generation(collector: None) -> None:
    before = gc.get_threshold()
    built_at_start = [[n] for n in range(1000)]  # containers the collector tracks
    settle(young_threshold=12_345, freeze=True)
    assert gc.get_freeze_count() >= len(built_at_start)
    assert gc.get_threshold() == (12_345, *before[1:])  # the older generations untouched


def test_settle_can_leave_the_interpreters_defaults(collector: None) -> None:
    before = gc.get_threshold()
    settle(young_threshold=0, freeze=False)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_a_replay_pauses_the_collector_and_gives_it_back(collector: None) -> None:
    assert gc.isenabled()
    with collections_paused():
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # what was alive before is out of reach
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        with collections_paused():
            pass
        assert not gc.isenabled()  # a collector that was off stays off
    finally:
        gc.enable()


def test_every_collection_is_counted_with_its_time() -> None:
    registry = CollectorRegistry()
    timer = CollectionTimer(registry)
    remove = timer.install()
    try:
        gc.collect(0)
        gc.collect(2)
        gc.collect(2)
    finally:
        remove()
    gc.collect(2)  # not counted: the timer is gone
    value = registry.get_sample_value
    assert value("onestop_gc_collections_total", {"generation": "0"}) == 1
    assert value("onestop_gc_collections_total", {"generation": "2"}) == 2
    assert value("onestop_gc_collections_total", {"generation": "1"}) == 0
    assert value("onestop_gc_seconds_total", {"generation": "2"}) > 0


def test_the_defaults_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ServiceSettings()
    assert settings.gc_freeze is True and settings.gc_young_threshold == GC_YOUNG_THRESHOLD
    monkeypatch.setenv("ONESTOP_GC_FREEZE", "false")
    monkeypatch.setenv("ONESTOP_GC_YOUNG_THRESHOLD", "700")
    settings = ServiceSettings()
    assert settings.gc_freeze is False and settings.gc_young_threshold == 700
