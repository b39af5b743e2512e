"""The plans PostgreSQL chose for the services' own statements during a bench run, as
`EXPLAIN (ANALYZE, BUFFERS)` shows them, with the services' real parameters.

pg_stat_statements needs the server restarted with it preloaded; auto_explain does not: a
superuser sets, per database, `session_preload_libraries = 'auto_explain'` and a sample
rate, so every new connection of the run's databases (and only those) explains a sample of
its statements, analyzed and with buffers, into the server's log. After the load the new
part of that log is read, the plans of the run's databases are grouped by statement text,
and the statements that took most time are shown with their plan's shape: the node types,
any sequential scan (and of which table, over how many rows), and the buffers touched.

    python -m bench.pipeline --backend postgres --explain
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench.monitor import PG_ADMIN

SAMPLE_RATE = 0.02  # of the run's statements; analyzing each costs the server a little
SETTINGS = {"session_preload_libraries": "auto_explain", "auto_explain.log_min_duration": "0",
            "auto_explain.log_analyze": "on", "auto_explain.log_buffers": "on",
            "auto_explain.log_format": "json", "auto_explain.sample_rate": str(SAMPLE_RATE)}
_ENTRY = re.compile(r"^\S+ \S+ \S+ \[\d+\] \S*@(?P<db>\S*) LOG:  duration: (?P<ms>[\d.]+) ms"
                    r"  plan:$")


async def enable(databases: list[str]) -> Path:
    """Sample plans of new connections to `databases`; returns the server's data directory."""
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        for db in databases:
            for name, value in SETTINGS.items():
                await conn.execute(f'ALTER DATABASE "{db}" SET {name} = \'{value}\'')
        return Path(await conn.fetchval("SHOW data_directory"))
    finally:
        await conn.close()


def server_log(data_directory: Path) -> Path:
    """The server's stderr, where the plans go (Debian's pg_ctlcluster points it at a file)."""
    pid = (data_directory / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    return Path(f"/proc/{pid}/fd/2").resolve()


@dataclass
class Statement:
    text: str
    samples: int = 0
    total_ms: float = 0.0
    slowest_ms: float = 0.0
    plan: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        nodes = list(_nodes(self.plan))
        scans = [f"{n.get('Relation Name')} ({n.get('Actual Rows', 0) * n.get('Actual Loops', 1)}"
                 " rows)" for n in nodes if n.get("Node Type") == "Seq Scan"]
        return {"statement": " ".join(self.text.split())[:240], "samples": self.samples,
                "mean_ms": round(self.total_ms / self.samples, 3),
                "slowest_ms": round(self.slowest_ms, 3),
                "nodes": sorted({str(n.get("Node Type")) for n in nodes}),
                "seq_scans": scans,
                "shared_hit": self.plan.get("Shared Hit Blocks", 0),
                "shared_read": self.plan.get("Shared Read Blocks", 0)}


def _nodes(plan: dict[str, Any]) -> Any:
    if plan:
        yield plan
        for child in plan.get("Plans", ()):
            yield from _nodes(child)


def read_plans(log: Path, offset: int, databases: list[str]) -> list[dict[str, Any]]:
    """The plans logged since `offset` for `databases`, by statement, most time first."""
    statements: dict[str, Statement] = {}
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode("utf-8", "replace").splitlines()
    i = 0
    while i < len(lines):
        match = _ENTRY.match(lines[i])
        i += 1
        if match is None or match.group("db") not in databases:
            continue
        body = []
        while i < len(lines) and lines[i].startswith("\t"):
            body.append(lines[i][1:])
            i += 1
        try:
            explained = json.loads("\n".join(body))
        except ValueError:
            continue
        text = explained.get("Query Text", "")
        ms = float(match.group("ms"))
        s = statements.setdefault(text, Statement(text))
        s.samples += 1
        s.total_ms += ms
        if ms >= s.slowest_ms:
            s.slowest_ms, s.plan = ms, explained.get("Plan", {})
    ranked = sorted(statements.values(), key=lambda s: -s.total_ms)
    return [s.summary() for s in ranked]


def print_plans(plans: list[dict[str, Any]], top: int = 12) -> None:
    print(f"-- PostgreSQL plans of the statements that took most time (auto_explain, "
          f"{SAMPLE_RATE:.0%} of statements, analyzed) --")
    for p in plans[:top]:
        scans = f"; SEQ SCAN {', '.join(p['seq_scans'])}" if p["seq_scans"] else ""
        print(f"  {p['samples']:>5} x {p['mean_ms']:.3f} ms (slowest {p['slowest_ms']:.3f}) "
              f"{'/'.join(p['nodes'])}, buffers hit {p['shared_hit']} read "
              f"{p['shared_read']}{scans}")
        print(f"        {p['statement'][:160]}")
