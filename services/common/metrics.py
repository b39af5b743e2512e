"""Prometheus metrics of the runtime, one registry per service process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.retries = Counter("onestop_handler_retries_total", "handler attempts retried",
                               ["topic"], registry=self.registry).labels
        Gauge("onestop_service_info", "service", ["service"],
              registry=self.registry).labels(**labels).set(1)
