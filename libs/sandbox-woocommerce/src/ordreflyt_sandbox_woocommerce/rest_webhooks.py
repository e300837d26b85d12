"""`/wp-json/wc/v3/webhooks`: list, create (with the ping), read, update, delete."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from ordreflyt_sandbox_woocommerce.errors import WooError, invalid_param
from ordreflyt_sandbox_woocommerce.models import Webhook
from ordreflyt_sandbox_woocommerce.render import webhook_json
from ordreflyt_sandbox_woocommerce.rest import (
    API_PREFIX,
    bool_param,
    dispatcher_key,
    json_body,
    paginate,
    path_id,
    respond,
    site_key,
    store_key,
)
from ordreflyt_sandbox_woocommerce.store import Store
from ordreflyt_sandbox_woocommerce.webhooks import VALID_TOPICS

WEBHOOK_STATUSES = ("active", "paused", "disabled")


def _webhook(store: Store, webhook_id: int) -> Webhook:
    webhook = store.webhooks.get(webhook_id)
    if webhook is None:
        raise WooError(404, "woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.")
    return webhook


def _topic(raw: Any) -> str:
    if not isinstance(raw, str) or raw.lower() not in VALID_TOPICS:
        raise WooError(
            400,
            "woocommerce_rest_shop_webhook_invalid_topic",
            "Webhook topic is required and must be valid.",
        )
    return raw.lower()


def _delivery_url(raw: Any) -> str:
    parts = urlsplit(raw) if isinstance(raw, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise WooError(
            400,
            "woocommerce_rest_shop_webhook_invalid_delivery_url",
            "Webhook delivery URL must be a valid URL starting with http:// or https://.",
        )
    return str(raw)


def _status(raw: Any) -> str:
    if raw not in WEBHOOK_STATUSES:
        raise invalid_param("status", f"status is not one of {', '.join(WEBHOOK_STATUSES)}.")
    return str(raw)


async def list_webhooks(request: web.Request) -> web.Response:
    store = request.app[store_key]
    status = request.query.get("status", "all")
    found = [w for w in store.webhooks.values() if status in ("all", w.status)]
    found.sort(key=lambda w: w.id, reverse=True)
    page, headers = paginate(request, found, "/webhooks")
    site = request.app[site_key]
    return respond([webhook_json(w, site) for w in page], headers=headers)


async def get_webhook(request: web.Request) -> web.Response:
    webhook = _webhook(request.app[store_key], path_id(request))
    return respond(webhook_json(webhook, request.app[site_key]))


async def create_webhook(request: web.Request) -> web.Response:
    store = request.app[store_key]
    body = await json_body(request)
    topic = _topic(body.get("topic"))
    url = _delivery_url(body.get("delivery_url"))
    status = _status(body.get("status", "active"))
    now = store.now()
    webhook = Webhook(
        id=store.next_webhook_id(),
        name=str(body.get("name") or f"Webhook created on {now:%b %d, %Y @ %I:%M %p}"),
        status=status,
        topic=topic,
        delivery_url=url,
        secret=str(body.get("secret") or secrets.token_urlsafe(36)),
        date_created=now,
        date_modified=now,
    )
    if status == "active":
        # Refuses to save the webhook unless the receiver answers the ping with 200.
        await request.app[dispatcher_key].ping(webhook)
    store.webhooks[webhook.id] = webhook
    return respond(webhook_json(webhook, request.app[site_key]), 201)


async def update_webhook(request: web.Request) -> web.Response:
    store = request.app[store_key]
    webhook = _webhook(store, path_id(request))
    body = await json_body(request)
    if "topic" in body:
        webhook.topic = _topic(body["topic"])
    if "delivery_url" in body:
        webhook.delivery_url = _delivery_url(body["delivery_url"])
    if "name" in body:
        webhook.name = str(body["name"])
    if body.get("secret"):
        webhook.secret = str(body["secret"])
    if "status" in body:
        status = _status(body["status"])
        if status == "active" and webhook.status != "active":
            # Re-enabling starts a fresh count, otherwise one failure would disable it again.
            webhook.failure_count = 0
        webhook.status = status
    webhook.date_modified = store.now()
    return respond(webhook_json(webhook, request.app[site_key]))


async def delete_webhook(request: web.Request) -> web.Response:
    store = request.app[store_key]
    webhook = _webhook(store, path_id(request))
    if not bool_param(request, "force", False):
        raise WooError(
            501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing."
        )
    data = webhook_json(webhook, request.app[site_key])
    del store.webhooks[webhook.id]
    return respond(data)


def add_routes(app: web.Application) -> None:
    base = f"{API_PREFIX}/webhooks"
    one = base + r"/{id:\d+}"
    app.router.add_get(base, list_webhooks)
    app.router.add_post(base, create_webhook)
    app.router.add_get(one, get_webhook)
    for method in ("PUT", "PATCH", "POST"):
        app.router.add_route(method, one, update_webhook)
    app.router.add_delete(one, delete_webhook)
