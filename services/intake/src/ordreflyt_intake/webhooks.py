"""`POST /webhooks/woocommerce/{shop}`: verify, store, then answer; publish new paid states.

Checks in order, each answered without storing or publishing anything: unknown shop (404),
body over the limit (413), the ping WooCommerce sends when a webhook is saved (200, stored),
missing or wrong signature over the raw body (401; the current and the previous secret are
tried, constant-time), not JSON or not an order (400 with the reason). An accepted delivery is
committed to PostgreSQL, together with the message it causes, before the 2xx answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid

import msgspec
from aiohttp import web

from ordreflyt_contracts import (
    OrderDeleted,
    OrderReceived,
    OrderRestored,
    WooOrder,
    decode_deleted,
    decode_order,
    new_event_fields,
)
from ordreflyt_contracts.events import Event
from ordreflyt_intake.config import IntakeConfig, Shop
from ordreflyt_intake.metrics import IntakeMetrics
from ordreflyt_intake.store import (
    DUPLICATE,
    NOT_FORWARDED,
    PING,
    PUBLISHED,
    Delivery,
    store_delivery,
)
from ordreflyt_runtime.http import json_response, public
from ordreflyt_runtime.logs import log_context
from ordreflyt_runtime.outbox import OutboxRow, outbox_row
from ordreflyt_runtime.service import Runtime, runtime_key

log = logging.getLogger(__name__)

config_key = web.AppKey("intake_config", IntakeConfig)
metrics_key = web.AppKey("intake_metrics", IntakeMetrics)

_PING_BODY = re.compile(rb"^webhook_id=\d{1,20}$")
# Headers kept with a stored delivery (others, such as cookies, are not needed to replay it).
_KEPT_HEADERS = ("content-type", "user-agent", "x-forwarded-for")
_ORDER_EVENTS = {"created", "updated", "deleted", "restored"}


def signature_ok(body: bytes, header: str | None, secrets: tuple[bytes, ...]) -> bool:
    if not header:
        return False
    given = header.strip().encode()
    ok = False
    for secret in secrets:
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        # Check every secret (no early exit) so timing does not tell which one matched.
        ok |= hmac.compare_digest(expected, given)
    return ok


def _reject(
    metrics: IntakeMetrics, shop_id: str, status: int, reason: str, order_id: int | None = None
) -> web.Response:
    metrics.webhooks.labels(shop_id, f"rejected-{status}").inc()
    log.warning(
        "webhook rejected (%d): %s",
        status,
        reason,
        extra={"shop_id": shop_id, "shop_order_id": order_id, "http_status": status},
    )
    return json_response({"error": reason, "status": status}, status=status)


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The raw body, or None when it is over `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


_json = msgspec.json.Encoder()


def _headers_json(request: web.Request) -> str:
    kept = {
        k: v
        for k, v in request.headers.items()
        if k.lower().startswith("x-wc-") or k.lower() in _KEPT_HEADERS
    }
    return _json.encode(kept).decode()


def _order_id_hint(body: bytes) -> int | None:
    """Best effort: the `id` of a JSON body that failed validation, for the log line."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    value = doc.get("id") if isinstance(doc, dict) else None
    return value if isinstance(value, int) else None


@public  # signed: the signature is checked here
async def woocommerce_webhook(request: web.Request) -> web.Response:
    config = request.app[config_key]
    metrics = request.app[metrics_key]
    runtime = request.app[runtime_key]
    shop_id = request.match_info["shop"]
    shop = config.shops.get(shop_id)
    if shop is None:
        return _reject(
            metrics, "unknown", 404, f"unknown shop {shop_id!r}: no [shops.{shop_id}] in the config"
        )
    body = await _read_body(request, config.max_body_bytes)
    if body is None:
        return _reject(metrics, shop_id, 413, f"body larger than {config.max_body_bytes} bytes")

    topic = request.headers.get("X-WC-Webhook-Topic")
    signature = request.headers.get("X-WC-Webhook-Signature")
    if topic is None and signature is None and _PING_BODY.match(body.strip()):
        return await _accept_ping(request, runtime, metrics, shop, body)

    if not signature_ok(body, signature, shop.secrets):
        reason = (
            "missing X-WC-Webhook-Signature"
            if not signature
            else "signature does not match the shop's webhook secret"
        )
        return _reject(metrics, shop_id, 401, reason)

    resource, _, event = (topic or "").partition(".")
    if resource != "order" or event not in _ORDER_EVENTS:
        return _reject(
            metrics,
            shop_id,
            400,
            f"not an order: topic {topic!r}; this endpoint takes order.created, order.updated, "
            "order.deleted and order.restored",
            _order_id_hint(body),
        )
    try:
        if event == "deleted":
            deleted = decode_deleted(body)
            return await _accept_deleted(
                request, runtime, metrics, shop, body, topic or "", deleted.id
            )
        order = decode_order(body)
    except msgspec.DecodeError as exc:
        return _reject(metrics, shop_id, 400, f"body is not JSON: {exc}")
    except msgspec.ValidationError as exc:
        return _reject(metrics, shop_id, 400, f"not an order: {exc}", _order_id_hint(body))
    return await _accept_order(
        request, runtime, config, metrics, shop, body, topic or "", event, order
    )


def _delivery(
    request: web.Request,
    shop: Shop,
    body: bytes,
    topic: str | None,
    order: WooOrder | None = None,
    order_id: int | None = None,
) -> Delivery:
    return Delivery(
        id=uuid.uuid4(),
        shop_id=shop.shop_id,
        topic=topic,
        webhook_id=request.headers.get("X-WC-Webhook-ID"),
        wc_delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID"),
        headers_json=_headers_json(request),
        body=body,
        order_id=order.id if order is not None else order_id,
        status=order.status if order is not None else None,
        date_modified_gmt=(
            order.date_modified_gmt.isoformat()
            if order is not None and order.date_modified_gmt is not None
            else None
        ),
        content_hash=_content_hash(order) if order is not None else "",
    )


def _content_hash(order: WooOrder) -> str:
    """The order's content as Ordreflyt reads it (known fields only, so noise in fields it
    ignores does not make a repeat look new)."""
    return hashlib.sha256(_json.encode(order)).hexdigest()


async def _accept_ping(
    request: web.Request, runtime: Runtime, metrics: IntakeMetrics, shop: Shop, body: bytes
) -> web.Response:
    delivery = _delivery(request, shop, body, None)
    await store_delivery(runtime.db, delivery, PING, None, dedupe_on_state=False)
    metrics.webhooks.labels(shop.shop_id, PING).inc()
    log.info(
        "webhook ping answered", extra={"shop_id": shop.shop_id, "delivery_id": str(delivery.id)}
    )
    return json_response({"delivery_id": str(delivery.id), "outcome": PING})


async def _accept_deleted(
    request: web.Request,
    runtime: Runtime,
    metrics: IntakeMetrics,
    shop: Shop,
    body: bytes,
    topic: str,
    order_id: int,
) -> web.Response:
    delivery = _delivery(request, shop, body, topic, order_id=order_id)
    event = OrderDeleted(**new_event_fields(shop.shop_id, order_id), delivery_id=delivery.id)
    # A deletion carries no state to deduplicate on; consumers treat a repeat as a no-op.
    message = outbox_row(event)
    outcome = await store_delivery(runtime.db, delivery, PUBLISHED, message, dedupe_on_state=False)
    return _accepted(runtime, metrics, shop, delivery, outcome, order_id, topic, message)


async def _accept_order(
    request: web.Request,
    runtime: Runtime,
    config: IntakeConfig,
    metrics: IntakeMetrics,
    shop: Shop,
    body: bytes,
    topic: str,
    event_name: str,
    order: WooOrder,
) -> web.Response:
    delivery = _delivery(request, shop, body, topic, order)
    message: Event | None = None
    paid = order.status in config.paid_statuses
    if order.status in config.held_statuses:
        outcome = NOT_FORWARDED
    else:
        outcome = PUBLISHED
        fields = new_event_fields(shop.shop_id, order.id)
        if event_name == "restored":
            message = OrderRestored(**fields, delivery_id=delivery.id, paid=paid, order=order)
        else:
            message = OrderReceived(
                **fields, delivery_id=delivery.id, topic=topic, paid=paid, order=order
            )
    outgoing = outbox_row(message) if message else None
    outcome = await store_delivery(runtime.db, delivery, outcome, outgoing, dedupe_on_state=True)
    return _accepted(
        runtime, metrics, shop, delivery, outcome, order.id, topic, outgoing, order.status
    )


def _accepted(
    runtime: Runtime,
    metrics: IntakeMetrics,
    shop: Shop,
    delivery: Delivery,
    outcome: str,
    order_id: int,
    topic: str,
    message: OutboxRow | None,
    status: str | None = None,
) -> web.Response:
    if outcome == PUBLISHED and message is not None:
        runtime.outbox_written([message])
    metrics.webhooks.labels(shop.shop_id, outcome).inc()
    with log_context(shop_id=shop.shop_id, shop_order_id=str(order_id)):
        log.info(
            "webhook accepted: %s",
            outcome,
            extra={"delivery_id": str(delivery.id), "topic": topic, "status": status},
        )
    return json_response({"delivery_id": str(delivery.id), "outcome": outcome})


__all__ = ["DUPLICATE", "config_key", "metrics_key", "signature_ok", "woocommerce_webhook"]
