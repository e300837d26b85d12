"""What an operator watches of the ERP: requests by outcome, 429s, and since when it has been
unavailable (also in the service's /readyz details)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge


class ErpMetrics:
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        erp: str = "fortnox",
        _of: ErpMetrics | None = None,
    ) -> None:
        self.erp = erp
        self.unavailable_since: float | None = None
        self.requests: Counter
        self.unavailable_since_seconds: Gauge
        # One view per ERP account, kept: what a client records is what /readyz reads.
        self._views: dict[str, ErpMetrics] = {erp: self}
        if _of is not None:
            self.requests = _of.requests
            self.unavailable_since_seconds = _of.unavailable_since_seconds
            return
        self.requests = Counter(
            "ordreflyt_erp_requests",
            "Requests sent to the ERP, by method and outcome (ok, rejected, rate-limited,"
            " unavailable, ambiguous)",
            ["erp", "method", "outcome"],
            registry=registry,
        )
        self.unavailable_since_seconds = Gauge(
            "ordreflyt_erp_unavailable_since",
            "Unix time since which the ERP has not answered usefully (0: it answers)",
            ["erp"],
            registry=registry,
        )

    def for_erp(self, erp: str) -> ErpMetrics:
        """The same metrics for another ERP account (its own `erp` label), the same object
        every time it is asked for."""
        if erp not in self._views:
            self._views[erp] = ErpMetrics(erp=erp, _of=self)
        return self._views[erp]

    def answered(self, method: str, outcome: str) -> None:
        self.requests.labels(self.erp, method, outcome).inc()
        if self.unavailable_since is not None:
            self.unavailable_since = None
            self.unavailable_since_seconds.labels(self.erp).set(0)

    def failed(self, method: str, outcome: str) -> None:
        self.requests.labels(self.erp, method, outcome).inc()
        if self.unavailable_since is None:
            self.unavailable_since = time.time()
            self.unavailable_since_seconds.labels(self.erp).set(self.unavailable_since)

    def describe(self) -> str:
        if self.unavailable_since is None:
            return "available"
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.unavailable_since))
        return f"unavailable since {since} ({time.time() - self.unavailable_since:.0f} s)"
