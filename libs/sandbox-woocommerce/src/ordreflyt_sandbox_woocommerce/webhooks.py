"""Webhook deliveries, sent the way WooCommerce sends them.

- Each webhook hears its topic at most once per resource per unit of work (WooCommerce's
  `is_already_processed` for one PHP request), then the delivery waits in a background queue,
  as Action Scheduler holds it. The body is the resource's REST JSON built when the delivery is
  sent, not when the event happened; for `*.deleted` it is only `{"id": N}`; for a resource
  deleted meanwhile it is the REST error the endpoint would give.
- Headers: `X-WC-Webhook-Source|Topic|Resource|Event|Signature|ID|Delivery-ID`, the signature
  being base64(HMAC-SHA256(secret, exact body bytes)) and the delivery id a hash of the webhook
  id and the current second (so not a stable event id).
- No retries. 200..302 is a success and resets the failure count; anything else (status,
  connection error, timeout) counts, and `max_failures` consecutive failures disable the
  webhook. A delivery already queued still goes out after its webhook is disabled or paused,
  since WooCommerce does not check the status again at send time.
- A new active webhook is pinged with the form body `webhook_id=<N>`, no `X-WC-*` headers; the
  webhook is only saved when the ping gets HTTP 200 (the rule of WooCommerce's admin screen).
- The deliveries still queued can be read (`queued`) and queued again (`requeue`), so a shop
  that keeps its state in a file sends them after a restart, as Action Scheduler would. One
  that was being sent when the shop stopped is not sent again (WooCommerce never retries).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from ordreflyt_sandbox_woocommerce.errors import WooError
from ordreflyt_sandbox_woocommerce.models import DeliveryRecord, Webhook
from ordreflyt_sandbox_woocommerce.render import (
    WC_VERSION,
    WP_VERSION,
    Site,
    order_json,
    php_json,
    product_json,
)
from ordreflyt_sandbox_woocommerce.store import Event, Store

log = logging.getLogger(__name__)

USER_AGENT = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
DEFAULT_TOPICS: tuple[str, ...] = (
    "order.created",
    "order.updated",
    "order.deleted",
    "order.restored",
)
VALID_TOPICS = frozenset(
    f"{resource}.{event}"
    for resource in ("order", "product", "coupon", "customer")
    for event in ("created", "updated", "deleted", "restored")
    if (resource, event) != ("customer", "restored")
)
# The delivery log is for looking at, not an archive: keep the most recent entries.
MAX_LOG_ENTRIES = 5000


def sign(secret: str, body: bytes) -> str:
    """X-WC-Webhook-Signature: base64 of HMAC-SHA256 over the raw body, keyed by the secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class WebhookSpec:
    """A webhook registered when the shop starts (no ping: it is as if saved long ago)."""

    delivery_url: str
    secret: str
    topics: tuple[str, ...] = DEFAULT_TOPICS


@dataclass(frozen=True)
class QueuedDelivery:
    webhook_id: int
    resource_id: int


def build_payload(store: Store, site: Site, webhook: Webhook, resource_id: int) -> Any:
    """WC_Webhook::build_payload: the REST JSON of the resource as it is now."""
    if webhook.event == "deleted":
        return {"id": resource_id}
    try:
        if webhook.resource == "order":
            order = store.order(resource_id)
            return order_json(order, store.refunds_of(order), site)
        if webhook.resource == "product":
            product = store.product(resource_id)
            return product_json(product, store.variations_of(product), site)
    except WooError as exc:
        return exc.body()
    return {}


class Dispatcher:
    def __init__(
        self,
        store: Store,
        site: Site,
        *,
        timeout: float = 5.0,
        max_failures: int = 5,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.site = site
        self.timeout = timeout
        self.max_failures = max_failures
        # Called after each delivery attempt: it changed the webhook and the delivery log.
        self.on_change = on_change
        self._salt = secrets.token_bytes(16)
        self._queue: asyncio.Queue[QueuedDelivery] = asyncio.Queue()
        # What the queue holds, in its order (an asyncio.Queue cannot be read without taking).
        self._waiting: deque[QueuedDelivery] = deque()
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._worker = asyncio.create_task(self._run(), name="webhook-deliveries")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._session is not None:
            await self._session.close()

    def dispatch(self, events: list[Event]) -> None:
        """Queue the deliveries for one unit of work's events."""
        for webhook in list(self.store.webhooks.values()):
            if webhook.status != "active":
                continue
            processed: set[int] = set()
            for event in events:
                if event.topic == webhook.topic and event.resource_id not in processed:
                    processed.add(event.resource_id)
                    self._put(QueuedDelivery(webhook.id, event.resource_id))

    def _put(self, delivery: QueuedDelivery) -> None:
        self._waiting.append(delivery)
        self._queue.put_nowait(delivery)

    def queued(self) -> list[QueuedDelivery]:
        """The deliveries waiting to be sent, oldest first."""
        return list(self._waiting)

    def requeue(self, deliveries: Iterable[QueuedDelivery]) -> None:
        for delivery in deliveries:
            self._put(delivery)

    def clear(self) -> None:
        self._waiting.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def drain(self) -> None:
        """Wait until every queued delivery has been attempted."""
        await self._queue.join()

    async def ping(self, webhook: Webhook) -> None:
        """WC_Webhook::deliver_ping; raises WooError unless the answer is HTTP 200."""
        assert self._session is not None, "the dispatcher is not started"
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        try:
            async with self._session.post(
                webhook.delivery_url,
                data=f"webhook_id={webhook.id}".encode(),
                headers=headers,
                allow_redirects=False,
            ) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WooError(
                400,
                "woocommerce_rest_webhook_ping_failed",
                f"Error: Delivery URL cannot be reached: {exc or type(exc).__name__}",
            ) from exc
        if status != 200:
            raise WooError(
                400,
                "woocommerce_rest_webhook_ping_failed",
                f"Error: Delivery URL returned response code: {status}",
            )

    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            self._waiting.popleft()
            try:
                await self._deliver(delivery)
            except Exception:  # a bug in one delivery must not stop the queue
                log.exception("webhook delivery crashed")
            finally:
                self._queue.task_done()
            self.on_change()

    def _delivery_id(self, webhook_id: int) -> str:
        # wp_hash( id . time() ): an HMAC-MD5 keyed with the site's salt.
        message = f"{webhook_id}{int(time.time())}".encode()
        return hmac.new(self._salt, message, hashlib.md5).hexdigest()

    async def _deliver(self, delivery: QueuedDelivery) -> None:
        webhook = self.store.webhooks.get(delivery.webhook_id)
        if webhook is None or self._session is None:
            return
        body = php_json(build_payload(self.store, self.site, webhook, delivery.resource_id))
        delivery_id = self._delivery_id(webhook.id)
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": self.site.shop_url,
            "X-WC-Webhook-Topic": webhook.topic,
            "X-WC-Webhook-Resource": webhook.resource,
            "X-WC-Webhook-Event": webhook.event,
            "X-WC-Webhook-Signature": sign(webhook.secret, body),
            "X-WC-Webhook-ID": str(webhook.id),
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(
                webhook.delivery_url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            error = f"timed out after {self.timeout:g} s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        success = status is not None and 200 <= status < 303
        if success:
            webhook.failure_count = 0
        else:
            webhook.failure_count += 1
            if webhook.failure_count >= self.max_failures and webhook.status == "active":
                webhook.status = "disabled"
                log.warning("webhook %s disabled after %s failures", webhook.id, self.max_failures)
        record = DeliveryRecord(
            delivery_id=delivery_id,
            webhook_id=webhook.id,
            topic=webhook.topic,
            resource_id=delivery.resource_id,
            delivery_url=webhook.delivery_url,
            at=self.store.now(),
            status=status,
            error=error,
            success=success,
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        self.store.deliveries.append(record)
        del self.store.deliveries[:-MAX_LOG_ENTRIES]
        log.info(
            "delivered %s #%s to webhook %s: %s",
            webhook.topic,
            delivery.resource_id,
            webhook.id,
            status if error is None else error,
        )
