"""Python's cyclic garbage collector: in a long-running service, what start-up built set
aside once the service is up (`settle`); in a bounded replay, paused (`collections_paused`);
and the time collections take, counted (`CollectionTimer`).

Why: with the collector's defaults, `python -m bench.pipeline` (PostgreSQL) measured
1.9 ms of CPU per dossier in collections, 16% of the five services' 12.2 (7% of
digitization's, 23% of reporting's), most of it in full collections, each walking every
object the process holds (modules, validators, tables, compiled statements). What
start-up built lives as long as the process, so `gc.freeze()` moves it where no
collection looks. A batch's objects live as long as the batch: with a young generation of
700 objects most of them were promoted and walked again by the older generations'
collections before they were freed; a larger young generation lets them die first. With
both, collections took 0.17 ms per dossier.

Reference counting frees everything without a cycle whatever these settings are; they
only decide how often the collector looks for cycles, and among which objects.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter


def settle(young_threshold: int, freeze: bool) -> None:
    """After start-up: what exists now is collected once, then set aside (`freeze`) so no
    later collection walks it; the young generation collected every `young_threshold`
    allocations (0 keeps the interpreter's)."""
    if freeze:
        gc.collect()
        gc.freeze()
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)


@contextlib.contextmanager
def collections_paused() -> Iterator[None]:
    """No collection while it lasts, and what was alive before frozen out of reach: for a
    bounded replay that frees what it allocates by reference count (reporting's rebuild
    makes next to no cyclic garbage: ~5,000 objects after 20,000 or 60,000 events, nearly
    all from start-up). With the collector on, it walked those young objects again and
    again: a third of the replay's time."""
    enabled = gc.isenabled()
    # Objects `settle` froze before stay frozen: only a freeze made here is undone.
    frozen_before = gc.get_freeze_count() > 0
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()
        if enabled:
            gc.enable()


class CollectionTimer:
    """CPU seconds and collections per generation, exported as counters of the service's
    registry (`onestop_gc_seconds_total`, `onestop_gc_collections_total`). The CPU time of
    the collecting thread, not the wall time: on a busy machine a long collection is often
    descheduled, and wall time counted that too (about twice the CPU, measured)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Counter("onestop_gc_seconds", "time in garbage collections",
                               ["generation"], registry=registry)
        self.collections = Counter("onestop_gc_collections", "garbage collections",
                                   ["generation"], registry=registry)
        # Labels looked up once: the callback runs at every collection.
        self._by_generation = [(self.seconds.labels(str(g)), self.collections.labels(str(g)))
                               for g in range(3)]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
            return
        seconds, collections = self._by_generation[info["generation"]]
        seconds.inc(time.thread_time() - self._started)
        collections.inc()

    def install(self) -> Callable[[], None]:
        """Counts every collection from now on; the returned function stops it."""
        gc.callbacks.append(self)
        return lambda: gc.callbacks.remove(self)
