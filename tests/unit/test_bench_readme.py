"""`make bench` writes its latest table into bench/README.md between the markers, and
nothing else of the page changes."""

from __future__ import annotations

from pathlib import Path

from bench import readme

RESULT = {
    "at": "2026-12-05T04:00:00+00:00", "machine": "dev-1", "cpus": 2,
    "raw": {"produce_per_s": 60_000.0, "consume_per_s": 200_000.0},
    "pipeline": {"sqlite": {
        "sustained_events_per_s": 2_250.0,
        "cpu_ms_per_dossier": {"intake": 2.0, "reporting": 1.5},
        "latency": [{"received_visible_ms": {"p99": 700.0}},
                    {"received_visible_ms": {"p99": 1_200.0}}],
        "peak_rss_mib": {"intake": 180.0, "reporting": 195.5}}},
    "targets": [{"target": "pipeline events/s, sqlite", "figure": 2_250.0,
                 "goal": ">= 5,000 (goal 10,000)", "holds": False},
                {"target": "peak RSS MiB (largest: reporting), sqlite", "figure": 195.5,
                 "goal": "<= 200", "holds": True}],
}


def test_the_latest_table_replaces_the_last_one_and_nothing_else(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text(f"# Benchmarks\n\nmethod\n\n## Latest run\n\n{readme.BEGIN}\nold table\n"
                    f"{readme.END}\n\nafter\n", "utf-8")
    name = "20261205T040000Z.json"  # a made-up run: only its name is written
    readme.write(RESULT, name, page)
    text = page.read_text("utf-8")
    assert "old table" not in text
    assert text.startswith("# Benchmarks\n\nmethod\n") and text.endswith(f"{readme.END}\n\nafter\n")
    assert f"`bench/results/{name}`" in text
    assert "| sqlite | 2,250 | 3.50 | 700 / 1,200 | 180–196 |" in text
    assert "| pipeline events/s, sqlite | 2,250 | >= 5,000 (goal 10,000) | **not met** |" in text
    assert "| <= 200 | holds |" in text
    readme.write(RESULT, name, page)  # a second run: still one table
    assert page.read_text("utf-8").count("| target | figure |") == 1


def test_the_repositorys_page_has_the_markers() -> None:
    text = readme.README.read_text("utf-8")
    assert text.index(readme.BEGIN) < text.index(readme.END)
