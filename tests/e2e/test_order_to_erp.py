"""A paid shop order becomes exactly one correct Fortnox order, through real processes:
sandbox shop and Fortnox, intake, order-mapper and erp-writer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.samples import woo_signature
from ordreflyt_testkit.service_harness import AUTH_HEADERS
from ordreflyt_testkit.stack import E2E_SECRET, Stack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def stack(amqp_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(amqp_url, database_url, tmp_path) as s:
        yield s


async def purchasable_skus(stack: Stack) -> list[str]:
    state = await stack.get("woo", "/_sandbox/state")
    skus = [p["sku"] for p in state["products"] if p["type"] == "simple" and p["sku"]]
    articles = {a["ArticleNumber"] for a in (await stack.fortnox_state())["articles"]}
    return [s for s in skus if s in articles]


async def place(stack: Stack, **pins: Any) -> dict[str, Any]:
    status, order = await stack.post(
        "woo", "/_sandbox/orders", {"country": "SE", "status": "processing", **pins}
    )
    assert status == 201, order
    return dict(order)


async def one_fortnox_order(stack: Stack, order_id: int) -> dict[str, Any]:
    orders = await wait_for(
        lambda: stack.fortnox_orders_for(order_id), timeout=30, what=f"Fortnox order for {order_id}"
    )
    await asyncio.sleep(1.0)  # anything doubled would show up by now
    orders = await stack.fortnox_orders_for(order_id)
    assert len(orders) == 1, orders
    return orders[0]


def d(value: Any) -> Decimal:
    return Decimal(str(value))


async def test_paid_order_gives_one_fortnox_order_checked_field_by_field(stack: Stack) -> None:
    sku_a, sku_b = (await purchasable_skus(stack))[:2]
    shop = await place(
        stack,
        email="Karin.Sjoberg@Example.se",
        lines=[{"sku": sku_a, "quantity": 2}, {"sku": sku_b, "quantity": 1}],
        shipping="flat_rate",
        coupon=None,
        fee=None,
    )
    erp = await one_fortnox_order(stack, shop["id"])

    assert erp["Currency"] == "SEK"
    assert erp["YourOrderNumber"] == shop["number"]
    assert erp["VATIncluded"] is shop["prices_include_tax"]
    assert d(erp["Total"]) == d(shop["total"])
    assert d(erp["TotalVAT"]) == d(shop["total_tax"])
    customer = next(
        c
        for c in (await stack.fortnox_state())["customers"]
        if c["CustomerNumber"] == erp["CustomerNumber"]
    )
    assert customer["Email"] == "karin.sjoberg@example.se"

    rows = erp["OrderRows"]
    article_rows = [r for r in rows if r.get("ArticleNumber")]
    assert [(r["ArticleNumber"], d(r["OrderedQuantity"])) for r in article_rows] == [
        (line["sku"], d(line["quantity"])) for line in shop["line_items"]
    ]
    for row, line in zip(article_rows, shop["line_items"], strict=True):
        net = d(line["total"])
        tax = d(line["total_tax"])
        expected_rate = (tax / net * 100).quantize(Decimal("1")) if net else Decimal(0)
        assert d(row["VAT"]) == expected_rate
        row_total = d(row["Total"])
        assert row_total == (net + tax if erp["VATIncluded"] else net)
    shipping = [
        r
        for r in rows
        if not r.get("ArticleNumber")
        and r["Description"] == shop["shipping_lines"][0]["method_title"][:50]
    ]
    assert len(shipping) == 1
    ship_net, ship_tax = (
        d(shop["shipping_lines"][0]["total"]),
        d(shop["shipping_lines"][0]["total_tax"]),
    )
    assert d(shipping[0]["Total"]) == (ship_net + ship_tax if erp["VATIncluded"] else ship_net)
    assert d(shipping[0]["VAT"]) == (ship_tax / ship_net * 100).quantize(Decimal("1"))

    link = await stack.get("erp-writer-0", f"/links/demo/{shop['id']}")
    assert link["document_number"] == erp["DocumentNumber"]


async def test_two_orders_by_the_same_email_give_one_customer(stack: Stack) -> None:
    sku = (await purchasable_skus(stack))[0]
    first = await place(
        stack, email="per.lindqvist@example.se", lines=[{"sku": sku, "quantity": 1}]
    )
    second = await place(
        stack, email="PER.LINDQVIST@example.se", lines=[{"sku": sku, "quantity": 3}]
    )
    a = await one_fortnox_order(stack, first["id"])
    b = await one_fortnox_order(stack, second["id"])
    assert a["CustomerNumber"] == b["CustomerNumber"]
    customers = [
        c
        for c in (await stack.fortnox_state())["customers"]
        if c["Email"] == "per.lindqvist@example.se"
    ]
    assert len(customers) == 1


async def test_50_concurrent_duplicate_deliveries_give_one_order(stack: Stack) -> None:
    sku = (await purchasable_skus(stack))[0]
    shop = await place(stack, lines=[{"sku": sku, "quantity": 1}])
    await one_fortnox_order(stack, shop["id"])
    # The same delivery again, 50 times at once, as a shop retrying or a replayed webhook would.
    async with aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        async with http.get(
            f"{stack.url('woo')}/wp-json/wc/v3/orders/{shop['id']}",
            headers={
                "Authorization": "Basic " + base64.b64encode(b"ck_sandbox:cs_sandbox").decode()
            },
        ) as r:
            body = await r.read()
        headers = {
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Signature": woo_signature(E2E_SECRET, body),
        }

        async def post() -> int:
            async with http.post(
                f"{stack.url('intake')}/webhooks/woocommerce/demo", data=body, headers=headers
            ) as r:
                return r.status

        statuses = await asyncio.gather(*(post() for _ in range(50)))
    assert statuses == [200] * 50
    await asyncio.sleep(2.0)
    assert len(await stack.fortnox_orders_for(shop["id"])) == 1
