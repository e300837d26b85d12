"""Products and batches: limits, per-item errors, stock rules."""

from __future__ import annotations

from typing import Any


async def _simple(client: Any, h: Any) -> list[dict[str, Any]]:
    response = await client.get(f"{h.api}/products", params={"per_page": "100"}, headers=h.auth)
    return [p for p in await response.json() if p["type"] == "simple"]


async def test_batch_of_101_is_too_large(shop: Any, h: Any) -> None:
    client = await shop()
    products = await _simple(client, h)
    body = {"update": [{"id": products[0]["id"], "stock_quantity": n} for n in range(101)]}
    response = await client.post(f"{h.api}/products/batch", json=body, headers=h.auth)
    assert response.status == 413
    assert (await response.json())["code"] == "woocommerce_rest_request_entity_too_large"


async def test_batch_applies_good_items_and_reports_bad_ones(shop: Any, h: Any) -> None:
    client = await shop()
    first, second, third = (await _simple(client, h))[:3]
    body = {
        "update": [
            {"id": first["id"], "manage_stock": True, "stock_quantity": 7},
            {"id": 987654, "stock_quantity": 1},
            {"id": second["id"], "stock_quantity": -3},
            {"id": third["id"], "sku": first["sku"]},
        ]
    }
    response = await client.post(f"{h.api}/products/batch", json=body, headers=h.auth)
    assert response.status == 200
    results = (await response.json())["update"]
    assert results[0]["stock_quantity"] == 7
    assert results[0]["stock_status"] == "instock"
    assert results[1] == {
        "id": 987654,
        "error": {
            "code": "woocommerce_rest_product_invalid_id",
            "message": "Invalid ID.",
            "data": {"status": 400},
        },
    }
    assert results[2]["error"]["code"] == "rest_invalid_param"
    assert results[3]["error"]["code"] == "product_invalid_sku"
    unchanged = await (await client.get(f"{h.api}/products/{third['id']}", headers=h.auth)).json()
    assert unchanged["sku"] == third["sku"]


async def test_stock_quantity_needs_manage_stock(shop: Any, h: Any) -> None:
    client = await shop()
    product = (await _simple(client, h))[0]
    url = f"{h.api}/products/{product['id']}"
    off = await client.put(url, json={"manage_stock": False, "stock_quantity": 5}, headers=h.auth)
    assert (await off.json())["stock_quantity"] is None
    on = await client.put(url, json={"manage_stock": True, "stock_quantity": 0}, headers=h.auth)
    data = await on.json()
    assert data["stock_quantity"] == 0
    assert data["stock_status"] in ("outofstock", "onbackorder")


async def test_variations_batch_and_sku_filter(shop: Any, h: Any) -> None:
    client = await shop()
    response = await client.get(f"{h.api}/products", params={"type": "variable"}, headers=h.auth)
    variable = (await response.json())[0]
    vid = variable["variations"][0]
    body = {"update": [{"id": vid, "stock_quantity": 3}, {"id": 1, "stock_quantity": 3}]}
    result = await client.post(
        f"{h.api}/products/{variable['id']}/variations/batch", json=body, headers=h.auth
    )
    updates = (await result.json())["update"]
    assert updates[0]["stock_quantity"] == 3
    assert "error" in updates[1]
    variation = await (
        await client.get(f"{h.api}/products/{variable['id']}/variations/{vid}", headers=h.auth)
    ).json()
    by_sku = await client.get(f"{h.api}/products", params={"sku": variable["sku"]}, headers=h.auth)
    assert [p["id"] for p in await by_sku.json()] == [variable["id"]]
    assert variation["stock_quantity"] == 3


async def test_paid_order_reduces_stock_without_product_webhook(shop: Any, h: Any) -> None:
    client = await shop()
    product = (await _simple(client, h))[0]
    url = f"{h.api}/products/{product['id']}"
    await client.put(url, json={"manage_stock": True, "stock_quantity": 10}, headers=h.auth)
    before = await (await client.get(url, headers=h.auth)).json()
    await h.order(client, status="processing", lines=[{"sku": product["sku"], "quantity": 2}])
    after = await (await client.get(url, headers=h.auth)).json()
    assert after["stock_quantity"] == 8
    assert after["date_modified"] == before["date_modified"]


async def test_item_fault_rejects_one_batch_item_and_requests_are_counted(
    shop: Any, h: Any
) -> None:
    client = await shop()
    first, second = (await _simple(client, h))[:2]
    assert (await client.delete("/_sandbox/requests")).status == 200
    fault = {"sku": second["sku"], "code": "sandbox_locked", "message": "Locked.", "count": 1}
    assert (await client.post("/_sandbox/item-faults", json=fault)).status == 201
    body = {
        "update": [
            {"id": first["id"], "stock_quantity": 4},
            {"id": second["id"], "stock_quantity": 5},
        ]
    }
    results = (
        await (await client.post(f"{h.api}/products/batch", json=body, headers=h.auth)).json()
    )["update"]
    assert results[0]["stock_quantity"] == 4
    assert results[1] == {
        "id": second["id"],
        "error": {"code": "sandbox_locked", "message": "Locked.", "data": {"status": 400}},
    }
    again = await client.post(f"{h.api}/products/batch", json=body, headers=h.auth)
    assert [r["stock_quantity"] for r in (await again.json())["update"]] == [4, 5]
    counted = await (await client.get("/_sandbox/requests")).json()
    assert counted["by_route"] == {"POST /wp-json/wc/v3/products/batch": 2}
    assert counted["total"] == 2
    assert [b["update"] for b in counted["batches"]] == [[first["id"], second["id"]]] * 2
    assert (await (await client.get("/_sandbox/item-faults")).json()) == {"item_faults": []}
