"""`make bench` writes its latest table into bench/README.md (between the markers of the
"Latest run" section), so the page always shows the last full run, its date and machine,
and every target beside its figure; past runs stay in bench/results/ and git history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
BEGIN, END = "<!-- written by `make bench` -->", "<!-- end -->"


def _number(value: float) -> str:
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def table(result: dict[str, Any], json_name: str) -> str:
    """The run as markdown: where and when, the raw ceiling, each pipeline, the targets."""
    raw = result["raw"]
    lines = [f"`make bench` of {result['at'][:16].replace('T', ' ')} UTC on {result['machine']} "
             f"({result['cpus']} CPUs), `bench/results/{json_name}`.", "",
             f"Raw ceiling: aiokafka produces {raw['produce_per_s']:,.0f} and consumes "
             f"{raw['consume_per_s']:,.0f} real-size events/s.", "",
             "| pipeline | events/s | CPU ms per dossier | receipt visible p99 ms at 25/50/75% "
             "| peak RSS MiB |", "| --- | --- | --- | --- | --- |"]
    for label, pipe in result["pipeline"].items():
        p99 = " / ".join(f"{level['received_visible_ms']['p99']:,.0f}"
                         for level in pipe.get("latency", []))
        rss = pipe.get("peak_rss_mib") or {}
        lines.append(f"| {label} | {pipe['sustained_events_per_s']:,.0f} | "
                     f"{sum(pipe['cpu_ms_per_dossier'].values()):.2f} | {p99} | "
                     f"{min(rss.values(), default=0):.0f}–{max(rss.values(), default=0):.0f} |")
    lines += ["", "| target | figure | goal | |", "| --- | --- | --- | --- |"]
    for row in result.get("targets", []):
        verdict = {True: "holds", False: "**not met**", None: ""}[row["holds"]]
        lines.append(f"| {row['target']} | {_number(row['figure'])} | {row['goal']} | "
                     f"{verdict} |")
    return "\n".join(lines)


def write(result: dict[str, Any], json_name: str, path: Path = README) -> None:
    text = path.read_text("utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    path.write_text(text[:start] + "\n" + table(result, json_name) + "\n" + text[end:],
                    "utf-8")
