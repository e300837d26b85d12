"""Intake's own metrics, registered beside the runtime's in the service's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhooks = Counter(
            "ordreflyt_intake_webhooks",
            "Webhook deliveries by shop and outcome (published, duplicate, not-forwarded, ping, "
            "spooled, rejected-<status>)",
            ["shop", "outcome"],
            registry=registry,
        )
        self.spooled = Counter(
            "ordreflyt_intake_spooled",
            "Deliveries written to the local spool because PostgreSQL did not answer",
            registry=registry,
        )
        self.spool_depth = Gauge(
            "ordreflyt_intake_spool_depth",
            "Spooled deliveries not yet stored in PostgreSQL",
            registry=registry,
        )
        self.reconciled = Counter(
            "ordreflyt_intake_reconciled_states",
            "Order states found by the reconciliation poll that no webhook had brought",
            ["shop"],
            registry=registry,
        )
        self.reconcile_lag = Gauge(
            "ordreflyt_intake_reconcile_lag_seconds",
            "Seconds since the last complete reconciliation pass of the shop",
            ["shop"],
            registry=registry,
        )
        self.webhooks_unhealthy = Gauge(
            "ordreflyt_intake_webhooks_unhealthy",
            "Order webhooks of the shop found missing, paused or disabled at the last check and"
            " not repaired",
            ["shop"],
            registry=registry,
        )
        self.webhook_repairs = Counter(
            "ordreflyt_intake_webhook_repairs",
            "Webhooks re-enabled or re-created by the watchdog",
            ["shop", "topic", "problem"],
            registry=registry,
        )
