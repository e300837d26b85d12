"""The orders REST API: auth, paging, filters, create, update, trash, notes and refunds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest


async def test_requests_without_credentials_are_rejected(shop: Any, h: Any) -> None:
    client = await shop()
    response = await client.get(f"{h.api}/orders")
    assert response.status == 401
    assert await response.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    wrong_secret = {"Authorization": "Basic Y2tfc2FuZGJveDpub3BlX25vcGU="}  # ck_sandbox:nope_nope
    wrong = await client.get(f"{h.api}/orders", headers=wrong_secret)
    assert wrong.status == 401
    assert (await wrong.json())["message"] == "Consumer secret is invalid."
    by_query = await client.get(
        f"{h.api}/orders", params={"consumer_key": "ck_sandbox", "consumer_secret": "cs_sandbox"}
    )
    assert by_query.status == 200
    assert (await client.get(f"{h.api}/nothing", headers=h.auth)).status == 404


async def test_orders_are_paged_with_wordpress_headers(shop: Any, h: Any) -> None:
    client = await shop()
    for _ in range(5):
        await h.order(client, status="processing")
        h.clock(client).tick()
    response = await client.get(
        f"{h.api}/orders", params={"per_page": "2", "page": "2"}, headers=h.auth
    )
    assert response.status == 200
    assert response.headers["X-WP-Total"] == "5"
    assert response.headers["X-WP-TotalPages"] == "3"
    link = response.headers["Link"]
    assert 'per_page=2&page=1>; rel="prev"' in link
    assert 'per_page=2&page=3>; rel="next"' in link
    assert link.startswith("<http://127.0.0.1:8100/wp-json/wc/v3/orders?")
    page = await response.json()
    assert len(page) == 2
    assert page[0]["id"] > page[1]["id"]
    too_many = await client.get(f"{h.api}/orders", params={"per_page": "101"}, headers=h.auth)
    assert too_many.status == 400
    assert (await too_many.json())["code"] == "rest_invalid_param"


async def test_modified_after_is_strict_and_follows_every_save(shop: Any, h: Any) -> None:
    client = await shop()
    clock = h.clock(client)
    first = await h.order(client, status="processing")
    clock.tick(60)
    second = await h.order(client, status="processing")
    watermark = second["date_modified_gmt"]
    clock.tick(60)
    # Touching the first order moves its date_modified past the watermark.
    update = await client.put(
        f"{h.api}/orders/{first['id']}", json={"status": "completed"}, headers=h.auth
    )
    assert update.status == 200
    response = await client.get(
        f"{h.api}/orders",
        params={"modified_after": watermark, "dates_are_gmt": "true"},
        headers=h.auth,
    )
    ids = [o["id"] for o in await response.json()]
    assert ids == [first["id"]]  # the second, modified exactly at the watermark, is not after it
    local = await client.get(
        f"{h.api}/orders", params={"modified_after": second["date_modified"]}, headers=h.auth
    )
    assert [o["id"] for o in await local.json()] == [first["id"]]


async def test_order_json_has_woocommerce_shapes(shop: Any, h: Any) -> None:
    client = await shop()
    order = await h.order(client, status="processing", country="NO", coupon="velkommen10")
    assert isinstance(order["number"], str)
    assert order["number"] == str(order["id"])
    assert order["currency"] == "NOK"
    assert order["tax_lines"][0]["rate_code"] == "NO-MVA-1"
    assert len(order["date_created"]) == 19
    assert order["date_created"] != order["date_created_gmt"]
    line = order["line_items"][0]
    assert isinstance(line["price"], float)
    assert Decimal(line["total"]).as_tuple().exponent == -2
    rate = await client.get(f"{h.api}/taxes/{line['taxes'][0]['id']}", headers=h.auth)
    assert (await rate.json())["rate"] in {"25.0000", "15.0000", "12.0000", "0.0000"}
    missing = await client.get(f"{h.api}/orders/999999", headers=h.auth)
    assert missing.status == 404
    assert (await missing.json())["code"] == "woocommerce_rest_shop_order_invalid_id"


async def test_create_order_over_rest_computes_totals(shop: Any, h: Any) -> None:
    client = await shop()
    products = await (
        await client.get(f"{h.api}/products", params={"sku": "ULL-SOKK-1001"}, headers=h.auth)
    ).json()
    body = {
        "payment_method": "vipps",
        "set_paid": True,
        "transaction_id": "1234567890",
        "billing": {"first_name": "Åse", "country": "NO", "email": "ase@example.no"},
        "line_items": [{"product_id": products[0]["id"], "quantity": 2}],
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Bring", "total": "79.20"}],
    }
    response = await client.post(f"{h.api}/orders", json=body, headers=h.auth)
    assert response.status == 201
    order = await response.json()
    assert order["status"] == "processing"
    assert order["created_via"] == "rest-api"
    # 2 x 149.00 + 25 % and shipping 79.20 + 25 %.
    assert order["total"] == "471.50"
    assert order["shipping_tax"] == "19.80"
    assert order["date_paid"] is not None
    bad = await client.post(
        f"{h.api}/orders", json={**body, "coupon_lines": [{"code": "nope"}]}, headers=h.auth
    )
    assert bad.status == 400
    assert (await bad.json())["code"] == "woocommerce_rest_invalid_coupon"


async def test_refund_amount_signs_and_limits(shop: Any, h: Any) -> None:
    client = await shop()
    order = await h.order(client, status="processing", payment_method="klarna")
    url = f"{h.api}/orders/{order['id']}/refunds"
    first_line = order["line_items"][0]
    response = await client.post(
        url,
        json={
            "amount": "10.00",
            "reason": "Skadet vare",
            "line_items": [
                {
                    "id": first_line["id"],
                    "quantity": 1,
                    "refund_total": 8,
                    "refund_tax": [{"id": first_line["taxes"][0]["id"], "refund_total": 2}],
                }
            ],
        },
        headers=h.auth,
    )
    assert response.status == 201
    refund = await response.json()
    assert refund["amount"] == "10.00"  # positive on the refund
    assert refund["line_items"][0]["total"] == "-8.00"
    after = await (await client.get(f"{h.api}/orders/{order['id']}", headers=h.auth)).json()
    assert after["refunds"] == [{"id": refund["id"], "reason": "Skadet vare", "total": "-10.00"}]
    assert after["status"] == "processing"
    rest = Decimal(order["total"]) - Decimal("10.00")
    too_much = await client.post(url, json={"amount": str(rest + Decimal("0.01"))}, headers=h.auth)
    # WooCommerce wraps wc_create_refund's "Invalid refund amount." in a 500.
    assert too_much.status == 500
    assert (await too_much.json())["message"] == "Invalid refund amount."
    negative = await client.post(url, json={"amount": "-1.00"}, headers=h.auth)
    assert negative.status == 400
    full = await client.post(url, json={"amount": str(rest), "api_refund": False}, headers=h.auth)
    assert full.status == 201
    final = await (await client.get(f"{h.api}/orders/{order['id']}", headers=h.auth)).json()
    assert final["status"] == "refunded"
    assert sum(Decimal(r["total"]) for r in final["refunds"]) == -Decimal(order["total"])


async def test_notes_and_status_changes(shop: Any, h: Any) -> None:
    client = await shop()
    order = await h.order(client, status="pending")
    url = f"{h.api}/orders/{order['id']}"
    note = await client.post(
        f"{url}/notes", json={"note": "Pakket", "customer_note": True}, headers=h.auth
    )
    assert note.status == 201
    unchanged = await (await client.get(url, headers=h.auth)).json()
    assert unchanged["date_modified"] == order["date_modified"]  # a note does not save the order
    h.clock(client).tick()
    await client.put(url, json={"status": "cancelled"}, headers=h.auth)
    notes = await (await client.get(f"{url}/notes", headers=h.auth)).json()
    assert notes[0]["note"] == "Order status changed from Pending payment to Cancelled."
    assert notes[1]["note"] == "Pakket"
    assert notes[1]["customer_note"] is True
    missing = await client.post(f"{url}/notes", json={}, headers=h.auth)
    assert missing.status == 400


@pytest.mark.parametrize("force", [False, True])
async def test_delete_trashes_unless_forced(shop: Any, h: Any, force: bool) -> None:
    client = await shop()
    order = await h.order(client, status="processing")
    url = f"{h.api}/orders/{order['id']}"
    response = await client.delete(url, params={"force": str(force).lower()}, headers=h.auth)
    assert response.status == 200
    after = await client.get(url, headers=h.auth)
    if force:
        assert after.status == 404
    else:
        assert (await after.json())["status"] == "trash"
        listed = await (await client.get(f"{h.api}/orders", headers=h.auth)).json()
        assert order["id"] not in [o["id"] for o in listed]
