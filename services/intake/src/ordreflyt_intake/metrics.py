"""Intake's own metrics, registered beside the runtime's in the service's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhooks = Counter(
            "ordreflyt_intake_webhooks",
            "Webhook deliveries by shop and outcome (published, duplicate, not-forwarded, ping, "
            "rejected-<status>)",
            ["shop", "outcome"],
            registry=registry,
        )
