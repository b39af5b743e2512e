"""`make bench` itself cannot rot: its measurements run here with tiny counts (raw ceiling,
the pipeline on SQLite and on PostgreSQL with one latency level under the simulator's load,
and once under the uniform receipts; rebuild, monitor tick) and must produce consistent
figures. No timing is asserted: figures are the bench's business."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import monitor, pipeline, rebuild, relay_rows
from contracts.topics import SERVICES
from deploy.simulate import expectation, traffic

pytestmark = pytest.mark.e2e
DOSSIERS = 30


def expected_events(load: str) -> tuple[int, int]:
    """Reporting's events and the ingest records of the bench's full load, counted apart
    from the bench's own arithmetic."""
    if load == "receipts":
        return DOSSIERS * pipeline.PER_DOSSIER, DOSSIERS
    records = traffic(seed=pipeline.SEED, provinces=pipeline.PROVINCES, dossiers=DOSSIERS)
    return expectation(records).reporting_events, len(records)


@pytest.mark.parametrize(("backend", "load"), [("sqlite", "simulated"), ("postgres", "simulated"),
                                               ("sqlite", "receipts")])
def test_the_raw_ceiling_and_the_pipeline_with_one_latency_level(backend: str, load: str,
                                                                 tmp_path: Path) -> None:
    with pipeline.local_broker(tmp_path) as bootstrap:
        raw = asyncio.run(pipeline.raw_ceiling(bootstrap, 500))
        pipe = pipeline.pipeline(bootstrap, tmp_path, DOSSIERS, backend=backend,
                                 levels=(0.5,), level_seconds=2.0, load=load)
    assert raw["events"] == 500 and raw["produce_per_s"] > 0 and raw["consume_per_s"] > 0
    assert pipe["backend"] == backend and pipe["load"] == load
    events, records = expected_events(load)
    assert pipe["events_in_reporting"] == events and pipe["ingest_records"] == records
    assert pipe["sustained_events_per_s"] > 0
    assert pipe["sustained_dossiers_per_s"] == pytest.approx(
        pipe["sustained_events_per_s"] * DOSSIERS / events)
    assert set(pipe["peak_rss_mib"]) == set(SERVICES)
    assert all(v > 0 for v in pipe["peak_rss_mib"].values())
    assert set(pipe["cpu_ms_per_dossier"]) == set(SERVICES)
    # Where each service's batches went, from its /metrics (bench/breakdown.py).
    assert set(pipe["breakdown"]) == set(SERVICES)
    intake = pipe["breakdown"]["intake"]
    assert intake["batches"] > 0 and intake["statements_per_batch"] > 0
    assert intake["per_dossier"]["published"] > 0
    # The inbox's rows: a COPY on PostgreSQL (bulk.py), an INSERT on SQLite.
    inbox = "copy inbox" if backend == "postgres" else "insert inbox"
    assert inbox in intake["tables"] or inbox in pipe["breakdown"]["reporting"]["tables"]
    assert ("postgres_server" in pipe) == (backend == "postgres")
    # The local broker's CPU and memory beside the services' (bench.broker_cpu --growth).
    assert pipe["broker"]["cpu_ms_per_dossier"] > 0 and pipe["broker"]["rss_mib"] > 0
    (level,) = pipe["latency"]
    assert level["share_of_full_load"] == 0.5 and level["dossiers"] >= 2
    assert level["broker_cpu_ms_per_dossier"] >= 0
    assert level["offered_records_per_s"] == pytest.approx(
        0.5 * pipe["sustained_events_per_s"] * records / events)
    received, lifecycle = level["received_visible_ms"], level["lifecycle_visible_ms"]
    for ms in (received, lifecycle):
        assert 0 < ms["p50"] <= ms["p95"] <= ms["p99"] <= ms["max"]
    if load == "receipts":  # the receipt is the dossier's last record: its last event is
        assert all(lifecycle[p] >= received[p] for p in received)  # no sooner visible
    pipeline.print_pipelines(raw, {backend: pipe})  # the table prints from these figures


def test_the_rebuild_rate_and_a_monitor_tick(tmp_path: Path) -> None:
    figures = rebuild.measure(300, tmp_path)
    assert figures["events_applied"] == figures["events_published"]
    assert figures["events_per_s"] > 0  # type: ignore[operator]
    ticks = monitor.measure_ticks(2_000, 20, ("sqlite",))
    tick = ticks["sqlite"]
    assert tick["cases"] == 2_000 and tick["taken"] == 20 and tick["tick_seconds"] > 0
    monitor.print_table(ticks)


def test_the_relays_cpu_per_row(tmp_path: Path) -> None:
    figures = relay_rows.measure(rows=40, passes=2, backend="sqlite", var=tmp_path)
    assert figures["published"] == 80 and figures["cpu_us_per_row"] > 0
    parts = figures["parts_us_per_row"]
    assert {"_pending", "_send_batches", "_settle"} <= set(parts)
    assert all(v >= 0 for v in parts.values())
