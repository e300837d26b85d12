"""Prometheus metrics every service exposes at /metrics (one registry per service)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# The `_created` series double every counter for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.consumed = Counter(
            "ordreflyt_messages_consumed", "Messages handled and acked", ["routing_key"], registry=r
        )
        self.duplicates = Counter(
            "ordreflyt_messages_duplicate",
            "Messages recognised by the inbox as already handled",
            ["routing_key"],
            registry=r,
        )
        self.published = Counter(
            "ordreflyt_messages_published",
            "Messages published with a broker confirm",
            ["routing_key"],
            registry=r,
        )
        self.failed = Counter(
            "ordreflyt_messages_failed",
            "Handler failures (sent to retry)",
            ["routing_key"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "ordreflyt_messages_dead_lettered",
            "Messages sent to the service's dead-letter queue",
            ["routing_key", "reason"],
            registry=r,
        )
        self.waiting = Counter(
            "ordreflyt_messages_waiting",
            "Messages sent back to wait because a dependency (ERP, shop, database) was away",
            ["routing_key"],
            registry=r,
        )
        self.held = Counter(
            "ordreflyt_messages_held",
            "Messages whose order was held or parked because its handler failed on its content",
            ["routing_key"],
            registry=r,
        )
        self.handler_seconds = Histogram(
            "ordreflyt_handler_seconds",
            "Time from delivery to ack",
            ["routing_key"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "ordreflyt_outbox_backlog", "Messages in the outbox not yet published", registry=r
        )
        self.dlq_depth = Gauge(
            "ordreflyt_dlq_depth",
            "Messages in the service's dead-letter queue (list and replay them at /dlq)",
            ["queue"],
            registry=r,
        )
        self.unrouted_depth = Gauge(
            "ordreflyt_unrouted_depth",
            "Messages in ordreflyt.unrouted: published with no queue bound for them",
            registry=r,
        )
        self.relay_errors = Counter(
            "ordreflyt_outbox_relay_errors",
            "Failed attempts to publish an outbox batch",
            registry=r,
        )
