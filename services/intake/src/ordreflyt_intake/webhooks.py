"""`POST /webhooks/woocommerce/{shop}`: verify, keep, then answer.

Checks in order, each answered without storing or publishing anything: unknown shop (404),
body over the limit (413) or not received in time (408), the ping WooCommerce sends when a
webhook is saved (200, stored), missing or wrong signature over the raw body (401; the current
and the previous secret are tried, constant-time), not an order or breaking the contract (400
naming the field). An accepted delivery is kept durably before the 2xx answer: committed to
PostgreSQL with the message it causes (200), or, while PostgreSQL does not answer, written to
the local spool (202). When neither can keep it, 503 with the reason. No input gets a 5xx
otherwise.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import msgspec
from aiohttp import web

from ordreflyt_intake.deliveries import CannotStore, Intake, Refused
from ordreflyt_intake.metrics import IntakeMetrics
from ordreflyt_intake.secrets import SecretBook
from ordreflyt_intake.spool import received
from ordreflyt_intake.store import DUPLICATE, SPOOLED
from ordreflyt_runtime.http import (
    BodyTooLarge,
    BodyTooSlow,
    error_response,
    json_response,
    read_body,
)
from ordreflyt_runtime.logs import log_context
from ordreflyt_runtime.signing import signature_ok
from ordreflyt_shop import Shop

log = logging.getLogger(__name__)

_PING_BODY = re.compile(rb"^webhook_id=\d{1,20}$")
# Headers kept with a stored delivery (others, such as cookies, are not needed to replay it),
# each cut to a length no real one reaches.
_KEPT_HEADERS = ("content-type", "user-agent", "x-forwarded-for")
MAX_HEADER_VALUE = 1024
_json = msgspec.json.Encoder()


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
    return error_response(status, reason)


def headers_json(request: web.Request, ping: bool = False) -> str:
    kept = {
        k: v[:MAX_HEADER_VALUE]
        for k, v in request.headers.items()
        if (not ping and k.lower().startswith("x-wc-")) or k.lower() in _KEPT_HEADERS
    }
    return _json.encode(kept).decode()


async def woocommerce_webhook(
    intake: Intake, book: SecretBook, request: web.Request
) -> web.Response:
    """A public route: the signature is checked here."""
    config, metrics = intake.config, intake.metrics
    shop_id = request.match_info["shop"]
    shop = config.shops.get(shop_id)
    if shop is None:
        return _reject(
            metrics, "unknown", 404, f"unknown shop {shop_id!r}: no [shops.{shop_id}] in the config"
        )
    settings = intake.runtime.settings
    try:
        body = await read_body(request, config.max_body_bytes, settings.body_timeout)
    except BodyTooLarge as exc:
        return _reject(metrics, shop_id, 413, str(exc))
    except BodyTooSlow as exc:
        return _reject(metrics, shop_id, 408, str(exc))

    topic = request.headers.get("X-WC-Webhook-Topic")
    signature = request.headers.get("X-WC-Webhook-Signature")
    ping = topic is None and signature is None and bool(_PING_BODY.match(body.strip()))
    if not ping and not await _signed(book, shop, body, signature):
        reason = (
            "missing X-WC-Webhook-Signature"
            if not signature
            else "signature does not match the shop's webhook secret"
        )
        return _reject(metrics, shop_id, 401, reason)
    delivery = received(
        shop_id=shop_id,
        topic=None if ping else topic or "",
        webhook_id=request.headers.get("X-WC-Webhook-ID"),
        wc_delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID"),
        headers_json=headers_json(request, ping),
        body=body,
        received_at=datetime.now(UTC),
    )
    try:
        stored = await intake.keep(delivery)
    except Refused as refused:
        return _reject(metrics, shop_id, 400, refused.reason, refused.order_id)
    except CannotStore as exc:
        return _reject(metrics, shop_id, 503, f"the delivery could not be kept: {exc}")
    metrics.webhooks.labels(shop_id, stored.outcome).inc()
    with log_context(shop_id=shop_id):
        log.info(
            "webhook accepted: %s",
            stored.outcome,
            extra={"delivery_id": str(delivery.id), "topic": delivery.topic},
        )
    return json_response(
        {"delivery_id": str(delivery.id), "outcome": stored.outcome},
        status=202 if stored.outcome == SPOOLED else 200,
    )


async def _signed(book: SecretBook, shop: Shop, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    if signature_ok(body, signature, book.secrets(shop)):
        return True
    # A secret registered moments ago by another intake process: look again (rate-limited).
    return await book.refresh() and signature_ok(body, signature, book.secrets(shop))


__all__ = ["DUPLICATE", "woocommerce_webhook"]
