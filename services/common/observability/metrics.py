"""Prometheus metrics of the runtime, one registry per service process. Services add their
domain metrics to the same registry (`services/<name>/domain_metrics.py`), so `/metrics` serves
both and deploy/prometheus/rules.yml can alert on either."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

_ON_COMMIT = "onestop.metrics.on_commit"


class RuntimeMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service}
        self.consumed = Counter("onestop_events_consumed_total", "records applied",
                                ["topic", "type"], registry=self.registry).labels
        self.duplicates = Counter("onestop_events_duplicate_total", "redelivered, skipped",
                                  ["topic"], registry=self.registry).labels
        self.dead_letters = Counter("onestop_dead_letters_total", "records dead-lettered",
                                    ["topic", "reason"], registry=self.registry).labels
        self.published = Counter("onestop_events_published_total", "outbox rows published",
                                 ["topic"], registry=self.registry).labels
        self.outbox_pending = Gauge("onestop_outbox_pending", "rows not yet published",
                                    registry=self.registry)
        self.outbox_oldest_seconds = Gauge(
            "onestop_outbox_oldest_pending_seconds",
            "age of the oldest row not yet published (0 when none); refreshed periodically",
            registry=self.registry)
        # Parked rows are never retried: each one is an event nobody received.
        self.outbox_parked = Counter("onestop_outbox_parked",
                                     "outbox rows the broker refused for good; alert on any",
                                     ["topic", "reason"], registry=self.registry).labels
        self.relay_stalled = Gauge("onestop_relay_stalled",
                                   "1 while rows are pending and the relay has not moved",
                                   registry=self.registry)
        self.broker_resets = Counter("onestop_broker_resets_total",
                                     "broker log resets seen; outbox republished",
                                     registry=self.registry)
        self.batch_seconds = Histogram("onestop_consumer_batch_seconds",
                                       "time to apply one batch", registry=self.registry)
        # Where a batch's time goes besides SQL (sqlstats.py counts that): parsing its
        # records, publishing dead letters, committing its offsets to the broker.
        self.batch_part_seconds = Counter("onestop_consumer_batch_part_seconds",
                                          "time spent in parts of the batches", ["part"],
                                          registry=self.registry).labels
        # Every record fetched, also those passed over (a type this service does not read).
        self.fetched = Counter("onestop_consumer_records_fetched", "records fetched",
                               ["topic"], registry=self.registry).labels
        self.retries = Counter("onestop_handler_retries_total", "handler attempts retried",
                               ["topic"], registry=self.registry).labels
        # Whole gauge, not `.labels`: each refresh replaces the assigned partitions' set.
        self.consumer_lag = Gauge("onestop_consumer_lag",
                                  "records behind the partition's high watermark",
                                  ["topic", "partition"], registry=self.registry)
        # Replays are made by an operator's command, another process: the service exports
        # the totals its database holds (dead_letter_replay.count_replays).
        self.dead_letters_replayed = StoredTotals(
            "onestop_dead_letters_replayed", "dead letters published again to their topic",
            ["topic", "reason"], self.registry)
        Gauge("onestop_service_info", "service", ["service"],
              registry=self.registry).labels(**labels).set(1)


class StoredTotals(Collector):
    """A counter whose totals are kept in the database, where other processes add to them:
    exported as last read (`set`), never incremented here."""

    def __init__(self, name: str, documentation: str, labels: list[str],
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self._totals: dict[tuple[str, ...], float] = {}
        registry.register(self)

    def set(self, totals: Mapping[tuple[str, ...], float]) -> None:
        self._totals = dict(totals)

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labels)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for values, total in self._totals.items():
            family.add_metric(list(values), total)
        yield family


def on_commit(session: AsyncSession, count: Callable[[], None]) -> None:
    """Run `count` once the session's transaction commits; drop it on rollback. A counter
    moved inside a transaction would count a batch that is rolled back and retried twice."""
    global _listening
    if not _listening:
        # Once, on the class: a listener per session instance costs a quarter millisecond.
        event.listen(Session, "after_commit", _run_pending)
        event.listen(Session, "after_rollback", _drop_pending)
        _listening = True
    session.sync_session.info.setdefault(_ON_COMMIT, []).append(count)


_listening = False


def _run_pending(session: Session) -> None:
    pending = session.info.pop(_ON_COMMIT, None)
    for count in pending or ():
        count()


def _drop_pending(session: Session) -> None:
    session.info.pop(_ON_COMMIT, None)
