"""The webhook watchdog, and registering a shop's order webhooks with a fresh secret.

WooCommerce disables a webhook after about five failed deliveries in a row (an intake restart
or a short database outage is enough) and says nothing. Every `watchdog_interval` seconds, and
at start, intake reads the shop's webhooks and, for each of the four order topics, finds the
one that delivers to this shop's intake URL (`webhook_url` in `[shops.<id>]`; without it, any
webhook whose delivery URL ends in `/webhooks/woocommerce/<id>`):

- paused or disabled: set active again (WooCommerce starts a fresh failure count);
- missing: created again with the shop's current secret (only when `webhook_url` is set: the
  address must be known);
- each repair is logged as a warning, counted (`ordreflyt_intake_webhook_repairs`), and what
  is still wrong shows in `/readyz` details and `ordreflyt_intake_webhooks_unhealthy`.

Reconciliation then brings the orders the webhook missed meanwhile.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from ordreflyt_intake import store
from ordreflyt_intake.config import IntakeConfig
from ordreflyt_intake.metrics import IntakeMetrics
from ordreflyt_intake.secrets import SecretBook
from ordreflyt_runtime.periodic import Periodic
from ordreflyt_shop import Shop, ShopRejected, ShopUnavailable, WooClient

log = logging.getLogger(__name__)

ORDER_TOPICS = ("order.created", "order.updated", "order.deleted", "order.restored")


@dataclass
class ShopWebhooks:
    """What the last check found, per topic: active, re-enabled, created, or what is wrong."""

    shop_id: str
    checked_at: datetime
    topics: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def unhealthy(self) -> int:
        healthy = ("active", "re-enabled", "created")
        return sum(1 for state in self.topics.values() if not state.startswith(healthy))


def _ours(shop: Shop, hook: dict[str, Any]) -> bool:
    url = str(hook.get("delivery_url", ""))
    if shop.webhook_url:
        return url.rstrip("/") == shop.webhook_url.rstrip("/")
    return url.rstrip("/").endswith(f"/webhooks/woocommerce/{shop.shop_id}")


def _by_topic(shop: Shop, hooks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Our webhook per order topic; with several, an active one first."""
    found: dict[str, dict[str, Any]] = {}
    for hook in hooks:
        topic = hook.get("topic")
        if topic not in ORDER_TOPICS or not _ours(shop, hook):
            continue
        if topic not in found or hook.get("status") == "active":
            found[str(topic)] = hook
    return found


class Watchdog:
    def __init__(
        self,
        config: IntakeConfig,
        metrics: IntakeMetrics,
        http: aiohttp.ClientSession,
        book: SecretBook,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self._http = http
        self._book = book
        self._loop = Periodic("webhook watchdog", config.watchdog_interval, self.check_all)
        self.last: dict[str, ShopWebhooks] = {}

    @property
    def shops(self) -> list[Shop]:
        return [s for s in self.config.shops.values() if s.api is not None]

    def client(self, shop: Shop) -> WooClient:
        assert shop.api is not None
        return WooClient(shop.api, self._http, retries=2, timeout=20.0)

    def start(self) -> None:
        if self.shops:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def check_all(self) -> None:
        for shop in self.shops:
            try:
                await self.check(shop)
            except Exception as exc:  # one shop's trouble does not stop the others
                log.warning("webhook check of %s failed: %r", shop.shop_id, exc)

    async def check(self, shop: Shop) -> ShopWebhooks:
        """Look at the shop's order webhooks and repair what can be repaired."""
        report = ShopWebhooks(shop.shop_id, datetime.now(UTC))
        client = self.client(shop)
        try:
            hooks = [h async for h in client.list_all("/webhooks")]
            found = _by_topic(shop, hooks)
            for topic in ORDER_TOPICS:
                report.topics[topic] = await self._repair(shop, client, topic, found.get(topic))
        except (ShopUnavailable, ShopRejected) as exc:
            report.error = f"the shop's webhooks could not be read or repaired: {exc}"
            log.warning("%s", report.error, extra={"shop_id": shop.shop_id})
        self.last[shop.shop_id] = report
        self.metrics.webhooks_unhealthy.labels(shop.shop_id).set(
            report.unhealthy + (len(ORDER_TOPICS) if report.error else 0)
        )
        return report

    async def _repair(
        self, shop: Shop, client: WooClient, topic: str, hook: dict[str, Any] | None
    ) -> str:
        if hook is None:
            if not shop.webhook_url:
                log.error(
                    "the shop has no %s webhook to intake; set webhook_url in [shops.%s] so it"
                    " can be created, or run `ordreflyt-intake register-webhooks %s`",
                    topic,
                    shop.shop_id,
                    shop.shop_id,
                    extra={"shop_id": shop.shop_id},
                )
                return "missing (webhook_url not set, so it cannot be created)"
            created = await client.post(
                "/webhooks",
                {
                    "name": f"Ordreflyt {topic}",
                    "topic": topic,
                    "delivery_url": shop.webhook_url,
                    "secret": self._book.secrets(shop)[0].decode(),
                    "status": "active",
                },
            )
            self._repaired(shop, topic, "missing", created.get("id"))
            return f"created (webhook {created.get('id')})"
        status = str(hook.get("status"))
        if status == "active":
            return "active"
        await client.put(f"/webhooks/{hook['id']}", {"status": "active"})
        self._repaired(shop, topic, status, hook.get("id"))
        return f"re-enabled (webhook {hook['id']} was {status})"

    def _repaired(self, shop: Shop, topic: str, problem: str, webhook_id: Any) -> None:
        self.metrics.webhook_repairs.labels(shop.shop_id, topic, problem).inc()
        log.warning(
            "webhook %s (%s) was %s; repaired",
            webhook_id,
            topic,
            problem,
            extra={"shop_id": shop.shop_id, "webhook_id": webhook_id, "topic": topic},
        )

    async def register(self, shop: Shop, delivery_url: str) -> dict[str, Any]:
        """Give the shop's four order webhooks a fresh secret and `delivery_url`, creating the
        missing ones; the secret is stored first, so intake accepts it from the first delivery."""
        secret = secrets.token_urlsafe(32)
        await store.add_shop_secret(self._book.pool, shop.shop_id, secret)
        await self._book.refresh(force=True)
        client = self.client(shop)
        hooks = [h async for h in client.list_all("/webhooks")]
        # Ours by the old address or the new one: both get the new address and secret.
        found = _by_topic(shop, hooks) | _by_topic(
            dataclasses.replace(shop, webhook_url=delivery_url), hooks
        )
        done: dict[str, Any] = {}
        for topic in ORDER_TOPICS:
            body = {"secret": secret, "status": "active", "delivery_url": delivery_url}
            hook = found.get(topic)
            if hook is None:
                answer = await client.post(
                    "/webhooks", {**body, "topic": topic, "name": f"Ordreflyt {topic}"}
                )
                done[topic] = {"webhook_id": answer.get("id"), "action": "created"}
            else:
                answer = await client.put(f"/webhooks/{hook['id']}", body)
                done[topic] = {"webhook_id": answer.get("id"), "action": "updated"}
            log.info(
                "webhook %s (%s) registered with a fresh secret",
                answer.get("id"),
                topic,
                extra={"shop_id": shop.shop_id},
            )
        return done
