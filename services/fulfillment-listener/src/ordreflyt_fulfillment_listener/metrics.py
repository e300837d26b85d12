"""fulfillment-listener's own metrics, registered beside the runtime's in the service's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class FulfillmentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.effects = Counter(
            "ordreflyt_fulfillment_effects",
            "Effects on shop orders by kind (shipment, status) and outcome (applied, already, "
            "conflict, failed)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.polls = Counter(
            "ordreflyt_fulfillment_polls",
            "Polls of the ERP by outcome (complete, incomplete, error, skipped)",
            ["outcome"],
            registry=registry,
        )
        self.erp_reads = Counter(
            "ordreflyt_fulfillment_erp_reads",
            "ERP documents read in full by the poll",
            registry=registry,
        )
        self.pushes = Counter(
            "ordreflyt_fulfillment_pushes",
            "Pushed shipment events by outcome (accepted, duplicate, rejected-<status>)",
            ["outcome"],
            registry=registry,
        )
        self.waiting = Gauge(
            "ordreflyt_fulfillment_effects_waiting",
            "Effects a person must look at: conflicts (GET /conflicts) and failed/parked"
            " (GET /parked)",
            ["state"],
            registry=registry,
        )
        self.watermark = Gauge(
            "ordreflyt_fulfillment_watermark_seconds",
            "The poll watermark as a Unix time (how far the ERP's changes have been read)",
            registry=registry,
        )
