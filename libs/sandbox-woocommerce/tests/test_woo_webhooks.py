"""Webhook deliveries as WooCommerce sends them: signature, ping, bodies, failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from ordreflyt_sandbox_woocommerce.app import WebhookSpec

SECRET = "whsec-ørn-🦅"


def _spec(url: str, *topics: str) -> list[WebhookSpec]:
    return [WebhookSpec(url, SECRET, topics or ("order.created", "order.updated"))]


async def test_delivery_signature_verifies_independently(shop: Any, h: Any, receiver: Any) -> None:
    client = await shop(webhooks=_spec(receiver.url, "order.created"))
    order = await h.order(client, status="processing", country="NO")
    await h.drain(client)
    (delivery,) = receiver.deliveries()
    expected = base64.b64encode(
        hmac.new(SECRET.encode("utf-8"), delivery.body, hashlib.sha256).digest()
    ).decode()
    assert hmac.compare_digest(delivery.headers["X-WC-Webhook-Signature"], expected)
    assert delivery.headers["X-WC-Webhook-Topic"] == "order.created"
    assert delivery.headers["X-WC-Webhook-Resource"] == "order"
    assert delivery.headers["X-WC-Webhook-Event"] == "created"
    assert delivery.headers["X-WC-Webhook-Source"] == "http://127.0.0.1:8100/"
    assert delivery.headers["X-WC-Webhook-ID"] == "1"
    assert len(delivery.headers["X-WC-Webhook-Delivery-ID"]) == 32
    assert delivery.headers["User-Agent"].startswith("WooCommerce/9.")
    assert delivery.headers["Content-Type"] == "application/json"
    # PHP's encoding: escaped slashes and \u escapes, so re-serialising would break the signature.
    assert b"\\/" in delivery.body
    assert b"\\u00" in delivery.body
    payload = json.loads(delivery.body)
    # Built when sent, not when created: the order was already paid by then.
    assert payload["id"] == order["id"]
    assert payload["status"] == "processing"


async def test_each_save_fires_order_updated_once_per_request(
    shop: Any, h: Any, receiver: Any
) -> None:
    client = await shop(webhooks=_spec(receiver.url))
    order = await h.order(client, status="processing")  # checkout, then payment callback
    await h.drain(client)
    topics = [d.headers["X-WC-Webhook-Topic"] for d in receiver.deliveries()]
    assert topics == ["order.created", "order.updated"]
    # A note does not save the order; a refund does.
    url = f"{h.api}/orders/{order['id']}"
    await client.post(f"{url}/notes", json={"note": "Hei"}, headers=h.auth)
    await client.post(f"{url}/refunds", json={"amount": order["total"]}, headers=h.auth)
    await h.drain(client)
    topics = [d.headers["X-WC-Webhook-Topic"] for d in receiver.deliveries()]
    assert topics == ["order.created", "order.updated", "order.updated"]
    assert json.loads(receiver.deliveries()[-1].body)["status"] == "refunded"


async def test_ping_is_form_encoded_without_woocommerce_headers(
    shop: Any, h: Any, receiver: Any
) -> None:
    client = await shop()
    response = await client.post(
        f"{h.api}/webhooks",
        json={
            "name": "Intake",
            "topic": "order.updated",
            "delivery_url": receiver.url,
            "secret": SECRET,
        },
        headers=h.auth,
    )
    assert response.status == 201
    webhook = await response.json()
    (ping,) = receiver.requests
    assert ping.body == f"webhook_id={webhook['id']}".encode()
    assert ping.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert not [name for name in ping.headers if name.lower().startswith("x-wc-")]
    assert webhook["status"] == "active"
    assert webhook["api_version"] == "wp_api_v3"


async def test_webhook_is_not_saved_when_the_ping_fails(shop: Any, h: Any, receiver: Any) -> None:
    client = await shop()
    receiver.statuses = [500]
    response = await client.post(
        f"{h.api}/webhooks",
        json={"topic": "order.created", "delivery_url": receiver.url, "secret": SECRET},
        headers=h.auth,
    )
    assert response.status == 400
    assert (await response.json())["code"] == "woocommerce_rest_webhook_ping_failed"
    listed = await client.get(f"{h.api}/webhooks", headers=h.auth)
    assert await listed.json() == []


async def test_deleted_body_is_only_the_id(shop: Any, h: Any, receiver: Any) -> None:
    client = await shop(webhooks=_spec(receiver.url, "order.deleted", "order.restored"))
    order = await h.order(client, status="processing")
    await client.delete(f"{h.api}/orders/{order['id']}", headers=h.auth)
    restored = await client.post(f"/_sandbox/orders/{order['id']}/restore")
    assert restored.status == 200
    await h.drain(client)
    deleted, restored_delivery = receiver.deliveries()
    assert deleted.body == f'{{"id":{order["id"]}}}'.encode()
    assert json.loads(restored_delivery.body)["status"] == "processing"


async def test_disabled_after_five_failures_and_never_retried(
    shop: Any, h: Any, receiver: Any
) -> None:
    client = await shop(webhooks=_spec(receiver.url, "order.created"))
    receiver.default_status = 503
    for n in range(1, 6):
        await h.order(client, status="pending")
        await h.drain(client)
        assert len(receiver.deliveries()) == n  # one attempt per event: no retries
    webhook = await (await client.get(f"{h.api}/webhooks/1", headers=h.auth)).json()
    assert webhook["status"] == "disabled"
    assert webhook["failure_count"] == 5
    await h.order(client, status="pending")
    await h.drain(client)
    assert len(receiver.deliveries()) == 5
    state = await (await client.get("/_sandbox/state")).json()
    assert [d["status"] for d in state["deliveries"]] == [503] * 5


async def test_a_success_resets_the_failure_count(shop: Any, h: Any, receiver: Any) -> None:
    client = await shop(webhooks=_spec(receiver.url, "order.created"))
    receiver.statuses = [500, 500, 500, 500, 302]
    for _ in range(5):
        await h.order(client, status="pending")
    await h.drain(client)
    webhook = await (await client.get(f"{h.api}/webhooks/1", headers=h.auth)).json()
    assert webhook["status"] == "active"
    assert webhook["failure_count"] == 0


async def test_product_update_fires_product_updated(shop: Any, h: Any, receiver: Any) -> None:
    client = await shop(webhooks=_spec(receiver.url, "product.updated"))
    products = await (await client.get(f"{h.api}/products", headers=h.auth)).json()
    simple = next(p for p in products if p["type"] == "simple")
    await client.put(f"{h.api}/products/{simple['id']}", json={"name": "Ny"}, headers=h.auth)
    await h.drain(client)
    (delivery,) = receiver.deliveries()
    assert json.loads(delivery.body)["name"] == "Ny"
