"""The bench's breakdown of a service's batches, from two scrapes of its /metrics: what is
not SQL, commit, pool or the broker's offset commit is Python; PostgreSQL's round trips
count BEGIN, COMMIT and the three of each liveness ping."""

from __future__ import annotations

import pytest

from bench.breakdown import PgServer, breakdown
from bench.targets import targets


def _s(name: str, value: float, **labels: str) -> tuple[tuple[str, tuple[tuple[str, str],
                                                                        ...]], float]:
    return (name, tuple(sorted(labels.items()))), value


def test_a_batch_is_split_into_sql_commit_pool_offsets_and_python() -> None:
    before = dict([_s("onestop_consumer_batch_seconds_count", 10),
                   _s("onestop_consumer_batch_seconds_sum", 1.0)])
    after = dict([
        _s("onestop_consumer_batch_seconds_count", 14),
        _s("onestop_consumer_batch_seconds_sum", 1.4),  # 4 batches, 100 ms each
        _s("onestop_sql_statement_seconds_total", 0.12, phase="consumer", verb="insert",
           table="inbox"),
        _s("onestop_sql_statements_total", 4, phase="consumer", verb="insert", table="inbox"),
        _s("onestop_sql_parameter_sets_total", 2000, phase="consumer", verb="insert",
           table="inbox"),
        _s("onestop_sql_statement_seconds_total", 0.04, phase="consumer", verb="select",
           table="inbox"),
        _s("onestop_sql_statements_total", 8, phase="consumer", verb="select", table="inbox"),
        _s("onestop_sql_parameter_sets_total", 8, phase="consumer", verb="select",
           table="inbox"),
        _s("onestop_sql_statements_total", 99, phase="relay", verb="select", table="outbox"),
        _s("onestop_sql_compilations_total", 2, phase="consumer", verb="select",
           table="inbox"),
        _s("onestop_sql_compilations_total", 3, phase="relay", verb="select", table="outbox"),
        _s("onestop_sql_commit_seconds_total", 0.02, phase="consumer"),
        _s("onestop_sql_commits_total", 4, phase="consumer"),
        _s("onestop_sql_transactions_total", 4, phase="consumer"),
        _s("onestop_sql_checkout_seconds_total", 0.004, phase="consumer"),
        _s("onestop_sql_ping_seconds_total", 0.004, phase="consumer"),
        _s("onestop_sql_pings_total", 4, phase="consumer"),
        _s("onestop_sql_checkouts_total", 4, phase="consumer"),
        _s("onestop_consumer_batch_part_seconds_total", 0.008, part="offsets"),
        _s("onestop_consumer_batch_part_seconds_total", 0.1, part="parse"),
        _s("onestop_consumer_records_fetched_total", 2000, topic="t"),
        _s("onestop_events_consumed_total", 1000, topic="t", type="x"),
        _s("onestop_events_published_total", 500, topic="u"),
        _s("onestop_gc_seconds_total", 0.05, generation="0"),
        _s("onestop_gc_seconds_total", 0.2, generation="2"),
    ])
    (figures,) = breakdown({"svc": before}, {"svc": after}, dossiers=100,
                           backend="postgres").values()
    ms = figures["ms_per_batch"]
    assert figures["batches"] == 4
    assert ms["wall"] == pytest.approx(100)
    assert ms["sql"] == pytest.approx(40) and ms["commit"] == pytest.approx(5)
    assert ms["pool"] == pytest.approx(2) and ms["offsets"] == pytest.approx(2)
    assert ms["python"] == pytest.approx(100 - 40 - 5 - 2 - 2)
    assert ms["of_which_parse"] == pytest.approx(25)
    assert figures["statements_per_batch"] == 3
    # 3 statements + BEGIN + COMMIT + a ping's BEGIN, query and ROLLBACK
    assert figures["round_trips_per_batch"] == 3 + 1 + 1 + 3
    assert figures["tables"]["insert inbox"] == pytest.approx(
        {"per_batch": 1, "ms_per_batch": 30, "rows_per_statement": 500,
         "compiled_per_batch": 0})
    assert figures["tables"]["select inbox"]["compiled_per_batch"] == 0.5
    assert list(figures["tables"]) == ["insert inbox", "select inbox"]  # most time first
    per_dossier = figures["per_dossier"]
    assert (per_dossier["fetched"], per_dossier["applied"], per_dossier["published"]) == \
        (20, 10, 5)
    assert per_dossier["statements"] == {"consumer": 0.12, "relay": 0.99}
    # Statements compiled anew, not found in SQLAlchemy's cache: half of a batch's.
    assert figures["compilations_per_batch"] == 0.5
    assert figures["compilations_per_dossier"] == {"consumer": 0.02, "relay": 0.03}
    # Garbage collections' time over the load, per generation, in ms per dossier.
    assert figures["gc_ms_per_dossier"] == pytest.approx({"0": 0.5, "1": 0, "2": 2})
    sqlite = breakdown({"svc": before}, {"svc": after}, 100, "sqlite")["svc"]
    assert sqlite["round_trips_per_batch"] == 3 + 1  # BEGIN is a statement there


def test_the_servers_cpu_counts_only_what_the_load_spent() -> None:
    before = {"ours": {1: 2.0, 2: 1.0}, "shared": {9: 5.0},
              "counters": dict.fromkeys(PgServer.COUNTERS, 10),
              "tables": {"processing.inbox": 100, "processing.cases": 5}}
    after = {"ours": {1: 3.0, 3: 0.5}, "shared": {9: 5.2},  # 2 ended, 3 began
             "counters": dict.fromkeys(PgServer.COUNTERS, 30),
             "tables": {"processing.inbox": 150, "processing.cases": 505,
                        "reporting.events": 20}}  # a table made during the load
    figures = PgServer.figures(before, after, dossiers=10)
    assert figures["cpu_ms_per_dossier"] == pytest.approx(150)
    assert figures["shared_writers_cpu_ms_per_dossier"] == pytest.approx(20)
    assert figures["per_dossier"]["xact_commit"] == 2
    # The tables that handed out the most rows during the load first, per dossier.
    assert list(figures["rows_read_per_dossier"].items()) == [
        ("processing.cases", 50.0), ("processing.inbox", 5.0), ("reporting.events", 2.0)]


def test_the_servers_statements_are_ranked_by_what_the_load_spent_on_them() -> None:
    def entry(query: str, calls: int, rows: int, ms: float, blocks: int) -> dict[str, object]:
        return {"query": query, "calls": calls, "rows": rows, "ms": ms, "blocks": blocks}
    before = {("intake", 1): entry("SELECT a", 100, 100, 50.0, 400),
              ("reporting", 2): entry("UPDATE b", 10, 10, 1.0, 20),
              ("reporting", 4): entry("SELECT idle", 5, 5, 9.0, 5)}
    after = {("intake", 1): entry("SELECT a", 120, 140, 52.0, 480),  # 2 ms over 20 calls
             ("reporting", 2): entry("UPDATE b", 30, 50, 31.0, 60),  # 30 ms over 20 calls
             ("reporting", 3): entry("INSERT c", 10, 10, 5.0, 30),  # first seen in the load
             ("reporting", 4): entry("SELECT idle", 5, 5, 9.0, 5)}  # not run during it
    top = PgServer.top_statements(before, after, dossiers=10)
    assert top is not None
    assert [(s["service"], s["query"]) for s in top] == [
        ("reporting", "UPDATE b"), ("reporting", "INSERT c"), ("intake", "SELECT a")]
    assert top[0] == {"service": "reporting", "query": "UPDATE b", "calls_per_dossier": 2.0,
                      "ms_per_dossier": 3.0, "rows_per_call": 2.0, "blocks_per_call": 2.0}
    assert top[2]["rows_per_call"] == 2.0 and top[2]["ms_per_dossier"] == 0.2
    # A server that does not preload pg_stat_statements has no statements to rank.
    assert PgServer.top_statements(None, None, dossiers=10) is None


def _pipe(rate: float, p99: float, cpu: dict[str, float], rss: float) -> dict[str, object]:
    per_dossier = {"fetched": 30.0, "published": 10.0}
    return {"sustained_events_per_s": rate, "cpu_ms_per_dossier": cpu,
            "peak_rss_mib": {"intake": rss, "reporting": 150.0},
            "latency": [{"share_of_full_load": 0.25, "received_visible_ms": {"p99": 9.0}},
                        {"share_of_full_load": 0.5, "received_visible_ms": {"p99": p99}}],
            "breakdown": {"intake": {"per_dossier": per_dossier},
                          "reporting": {"per_dossier": per_dossier}}}


def test_every_target_is_printed_beside_its_figure() -> None:
    result = {"raw": {"produce_per_s": 60_000.0},
              "rebuild": {"events_per_s": 21_000.0},
              "pipeline": {"sqlite": _pipe(6_000, 900, {"intake": 2.0, "reporting": 2.0}, 190),
                           "postgres": _pipe(5_500, 1_200, {"intake": 3.0, "reporting": 3.0},
                                             210),
                           "postgres x2": _pipe(9_900, 800, {"intake": 3.0}, 180)}}
    rows = {r["target"]: (r["figure"], r["holds"]) for r in targets(result)}
    assert rows["pipeline events/s, sqlite"] == (6_000, True)
    assert rows["pipeline / raw produce, postgres"] == (pytest.approx(5_500 / 60_000), True)
    # 4 ms of CPU per dossier over 80 records handled (fetched + published, two services)
    assert rows["CPU us per record handled, sqlite"] == (pytest.approx(50), True)
    assert rows["CPU us per record handled, postgres"] == (pytest.approx(75), False)
    assert rows["receipt visible p99 ms at 50%, postgres"] == (1_200, False)
    assert rows["peak RSS MiB (largest: intake), postgres"] == (210, False)
    assert rows["PostgreSQL / SQLite events/s"] == (pytest.approx(5_500 / 6_000), False)
    assert rows["postgres x2 / postgres events/s"] == (pytest.approx(1.8), True)
    assert rows["rebuild events/s"] == (21_000, True)
    # A rebuild in worker processes: named, with the one-process figure of the same run.
    parted = {**result, "rebuild": {"events_per_s": 24_000.0, "workers": 2,
                                    "one_worker_events_per_s": 15_000.0}}
    found = {r["target"]: (r["figure"], r["holds"]) for r in targets(parted)}
    assert found["rebuild events/s (2 processes; in one: 15,000)"] == (24_000, True)
    # The last 30-minute soak (not this run's), named by its file's time: its steepest slope.
    soak = {"file": "20261206T111058Z-soak-postgres.json", "backend": "postgres",
            "minutes": 30, "services": {
                "intake": {"slope_mib_per_10_min": 0.1, "flat": True, "under_limit": True},
                "reporting": {"slope_mib_per_10_min": 2.5, "flat": False,
                              "under_limit": True}}}
    rows = {r["target"]: (r["figure"], r["holds"]) for r in targets({**result, "soak": soak})}
    assert rows["RSS MiB per 10 min, 30-min soak (postgres, 20261206T111058Z)"] == (2.5, False)
