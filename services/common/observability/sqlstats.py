"""Where a service's database time goes, counted on the client: per statement its verb and
table, its wall time and the rows it carried; per transaction its commit; per session
checkout the wait for a pooled connection and the liveness ping. Kept cheap enough for the
hot path (a clock read, a dict lookup and a few additions per statement) and exported on
/metrics, so `python -m bench.pipeline` can show each service's batch broken down.

Counts are grouped by `phase` (`consumer` for the batch loop, `relay` for the outbox relay,
`periodic` for background jobs, `other` for HTTP), set around the work with `sql_phase()`:
contextvars follow SQLAlchemy's greenlets, so a statement is counted where it was asked for.

PostgreSQL's own view (pg_stat_statements) needs the server preloaded with it; these counts
do not, and they see what the server cannot: time spent waiting for a pooled connection.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.engine.default import CACHE_HIT
from sqlalchemy.ext.asyncio import AsyncEngine

_phase: ContextVar[str] = ContextVar("onestop_sql_phase", default="other")
_STARTED = "onestop_sql_started"
_VERB = re.compile(r"\s*(\w+)")
# The table a statement is about: the first one named after INTO, UPDATE, COPY or FROM
# (not unnest, the function a batch's keys are spread with: inbox.py, bulk.py; nor STDIN,
# where bulk.py's COPY reads its rows from).
_TABLE = re.compile(r"\b(?:INTO|UPDATE|COPY|FROM)\s+(?!(?:unnest|STDIN)\b)\"?([\w.]+)",
                    re.IGNORECASE)
_MAX_SHAPES = 5000


@contextlib.contextmanager
def sql_phase(name: str) -> Iterator[None]:
    """Statements, commits and checkouts asked for inside are counted under `name`."""
    token = _phase.set(name)
    try:
        yield
    finally:
        _phase.reset(token)


def shape(statement: str) -> tuple[str, str]:
    """(verb, table) of a SQL statement, e.g. ('insert', 'inbox'); no table for BEGIN,
    PRAGMA, SELECT 1..."""
    verb = _VERB.match(statement)
    table = _TABLE.search(statement)
    return (verb.group(1).lower() if verb else "other"), (table.group(1).lower() if table
                                                           else "")


class SqlStats(Collector):
    """The counts of one engine (`watch`), exported as Prometheus counters."""

    def __init__(self) -> None:
        # (phase, verb, table) -> [statements, seconds, parameter sets]
        self.statements: dict[tuple[str, str, str], list[float]] = {}
        # phase -> [commits, seconds, rollbacks, seconds, transactions begun]
        self.commits: dict[str, list[float]] = {}
        # phase -> [checkouts, seconds waiting for the pool, pings, seconds pinging]
        self.checkouts: dict[str, list[float]] = {}
        self._shapes: dict[str, tuple[str, str]] = {}
        # (phase, verb, table) -> statements SQLAlchemy compiled anew (not found in its
        # cache, or not cacheable): each costs a walk of the statement's whole tree.
        self.compiled: dict[tuple[str, str, str], int] = {}

    @classmethod
    def watch(cls, engine: AsyncEngine, registry: CollectorRegistry | None = None) -> SqlStats:
        stats = cls()
        stats.instrument(engine)
        if registry is not None:
            registry.register(stats)
        return stats

    def instrument(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        event.listen(sync, "begin", self._begun)
        dialect = sync.dialect
        # Neither commits nor pings are cursor executions, and no event follows either:
        # the dialect's own methods are timed (instance attributes, this engine only).
        dialect.do_commit = self._timed(dialect.do_commit, self._committed)  # type: ignore[method-assign]
        dialect.do_rollback = self._timed(dialect.do_rollback, self._rolled_back)  # type: ignore[method-assign]
        dialect.do_ping = self._timed(dialect.do_ping, self._pinged)  # type: ignore[method-assign]
        pool = sync.pool
        pool._do_get = self._timed(pool._do_get, self._checked_out)  # type: ignore[method-assign]

    @staticmethod
    def _timed(fn: Callable[..., Any], done: Callable[[float], None]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                done(time.perf_counter() - started)
        return timed

    def _before(self, conn: Any, _cursor: Any, _statement: str, _parameters: Any,
                _context: Any, _executemany: bool) -> None:
        # Per connection: statements of several sessions interleave on the event loop.
        conn.info[_STARTED] = time.perf_counter()

    def _after(self, conn: Any, _cursor: Any, statement: str, parameters: Any,
               context: Any, executemany: bool) -> None:
        elapsed = time.perf_counter() - conn.info.pop(_STARTED, time.perf_counter())
        found = self._shapes.get(statement)
        if found is None:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            found = self._shapes[statement] = shape(statement)
        key = (_phase.get(), *found)
        counts = self.statements.get(key)
        if counts is None:
            counts = self.statements[key] = [0, 0.0, 0]
        counts[0] += 1
        counts[1] += elapsed
        # An executemany's rows; or, for one statement of arrays (bulk.py's unnest), their length.
        counts[2] += len(parameters) if executemany else len(parameters[0]) \
            if type(parameters) is tuple and parameters and type(parameters[0]) is list else 1
        # Driver SQL (bulk.py) has no compiled form; a Core statement's is found or made.
        if context is not None and context.compiled is not None and \
                context.cache_hit is not CACHE_HIT:
            self.compiled[key] = self.compiled.get(key, 0) + 1

    def _begun(self, _conn: Any) -> None:
        # On PostgreSQL a BEGIN round trip, said with the transaction's first statement.
        self.commits.setdefault(_phase.get(), [0, 0.0, 0, 0.0, 0])[4] += 1

    def _committed(self, seconds: float) -> None:
        counts = self.commits.setdefault(_phase.get(), [0, 0.0, 0, 0.0, 0])
        counts[0] += 1
        counts[1] += seconds

    def _rolled_back(self, seconds: float) -> None:
        # Also a read-only session's end, and a pooled connection's reset.
        counts = self.commits.setdefault(_phase.get(), [0, 0.0, 0, 0.0, 0])
        counts[2] += 1
        counts[3] += seconds

    def _checked_out(self, seconds: float) -> None:
        counts = self.checkouts.setdefault(_phase.get(), [0, 0.0, 0, 0.0])
        counts[0] += 1
        counts[1] += seconds

    def _pinged(self, seconds: float) -> None:
        counts = self.checkouts.setdefault(_phase.get(), [0, 0.0, 0, 0.0])
        counts[2] += 1
        counts[3] += seconds

    def distinct_statements(self) -> int:
        """Different statement texts seen (each is prepared once per connection)."""
        return len(self._shapes)

    def describe(self) -> Iterator[CounterMetricFamily]:
        return iter(())  # collected on demand; nothing to check at registration

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        labels = ["phase", "verb", "table"]
        statements = CounterMetricFamily("onestop_sql_statements", "SQL statements executed",
                                         labels=labels)
        seconds = CounterMetricFamily("onestop_sql_statement_seconds",
                                      "wall time of SQL statements, as the client waited",
                                      labels=labels)
        rows = CounterMetricFamily("onestop_sql_parameter_sets",
                                   "parameter sets sent (rows of an executemany)",
                                   labels=labels)
        for key, (n, s, r) in self.statements.items():
            statements.add_metric(list(key), n)
            seconds.add_metric(list(key), s)
            rows.add_metric(list(key), r)
        commits = CounterMetricFamily("onestop_sql_commits", "transactions committed",
                                      labels=["phase"])
        commit_seconds = CounterMetricFamily("onestop_sql_commit_seconds",
                                             "wall time of commits", labels=["phase"])
        rollbacks = CounterMetricFamily("onestop_sql_rollbacks",
                                        "transactions rolled back (read-only sessions too)",
                                        labels=["phase"])
        rollback_seconds = CounterMetricFamily("onestop_sql_rollback_seconds",
                                               "wall time of rollbacks", labels=["phase"])
        begins = CounterMetricFamily("onestop_sql_transactions", "transactions begun",
                                     labels=["phase"])
        for phase, (n, s, r, rs, b) in self.commits.items():
            begins.add_metric([phase], b)
            commits.add_metric([phase], n)
            commit_seconds.add_metric([phase], s)
            rollbacks.add_metric([phase], r)
            rollback_seconds.add_metric([phase], rs)
        checkouts = CounterMetricFamily("onestop_sql_checkouts",
                                        "connections taken from the pool", labels=["phase"])
        waits = CounterMetricFamily("onestop_sql_checkout_seconds",
                                    "wall time taking a connection from the pool (waits and "
                                    "new connections)", labels=["phase"])
        pings = CounterMetricFamily("onestop_sql_pings", "liveness pings of pooled connections",
                                    labels=["phase"])
        ping_seconds = CounterMetricFamily("onestop_sql_ping_seconds", "wall time of pings",
                                           labels=["phase"])
        for phase, (n, s, p, ps) in self.checkouts.items():
            checkouts.add_metric([phase], n)
            waits.add_metric([phase], s)
            pings.add_metric([phase], p)
            ping_seconds.add_metric([phase], ps)
        compiled = CounterMetricFamily(
            "onestop_sql_compilations", "statements SQLAlchemy compiled anew (a miss of its "
            "compiled cache, or a statement it cannot cache)", labels=labels)
        for key, n in self.compiled.items():
            compiled.add_metric(list(key), n)
        distinct = GaugeMetricFamily("onestop_sql_distinct_statements",
                                     "different statement texts seen")
        distinct.add_metric([], len(self._shapes))
        yield from (statements, seconds, rows, begins, commits, commit_seconds, rollbacks,
                    rollback_seconds, checkouts, waits, pings, ping_seconds, compiled,
                    distinct)
