"""ERP stock and prices reach the shop through stock-syncer, as real processes against the
sandbox shop and Fortnox (with intake, order-mapper and erp-writer for the ERP's signal)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.service_harness import AUTH_HEADERS
from ordreflyt_testkit.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

FORTNOX_AUTH = {"Authorization": "Bearer sandbox-token"}
WOO_AUTH = {"Authorization": "Basic Y2tfc2FuZGJveDpjc19zYW5kYm94"}  # ck_sandbox:cs_sandbox
BATCH_ROUTE = "POST /wp-json/wc/v3/products/batch"


@pytest.fixture(scope="module")
async def stack(
    amqp_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """400 products (enough simple ones for 250 changes), two of three stock points, prices
    off; Fortnox orders leave stock at once, so the ERP counts an order when it has it."""
    async with running_stack(
        amqp_url,
        database_url,
        tmp_path_factory.mktemp("stock"),
        fortnox_args=("--products", "400"),
        woo_args=("--products", "400"),
        order_mapper_extra='delivery_state = "delivery"',
        stock=True,
        stock_extra='interval = 3600\ndebounce = 0.5\nstock_points = ["HUVUD", "BUTIK"]',
    ) as s:
        yield s


async def sync(stack: Stack, expect: int = 200) -> dict[str, Any]:
    status, summary = await stack.post("stock-syncer", "/sync")
    assert status == expect, summary
    return dict(summary)


async def shop_products(stack: Stack) -> dict[str, dict[str, Any]]:
    state = await stack.get("woo", "/_sandbox/state")
    return {p["sku"]: p for p in state["products"] if p["sku"]}


async def simple_stock_skus(stack: Stack) -> list[str]:
    """Simple shop products with managed stock whose SKU is a Fortnox stock article."""
    articles = {
        a["ArticleNumber"] for a in (await stack.fortnox_state())["articles"] if a["StockGoods"]
    }
    return [
        sku
        for sku, p in (await shop_products(stack)).items()
        if p["type"] == "simple" and p["manage_stock"] and sku in articles
    ]


async def set_fortnox_stock(stack: Stack, sku: str, point: str, quantity: int) -> None:
    status, body = await stack.post(
        "fortnox",
        "/_sandbox/stock",
        {"ArticleNumber": sku, "StockPointCode": point, "InStock": quantity},
    )
    assert status == 200, body


async def fortnox(stack: Stack, method: str, path: str, body: Any) -> Any:
    async with (
        aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
        http.request(
            method, stack.url("fortnox") + path, json=body, headers=FORTNOX_AUTH
        ) as response,
    ):
        assert response.status < 300, await response.text()
        return await response.json()


async def requests_log(stack: Stack) -> dict[str, Any]:
    return dict(await stack.get("woo", "/_sandbox/requests"))


async def clear_requests(stack: Stack) -> None:
    async with (
        aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
        http.delete(stack.url("woo") + "/_sandbox/requests"),
    ):
        pass


async def test_shop_gets_the_sum_of_the_two_selected_stock_points(stack: Stack) -> None:
    sku = (await simple_stock_skus(stack))[0]
    await set_fortnox_stock(stack, sku, "HUVUD", 7)
    await set_fortnox_stock(stack, sku, "BUTIK", 5)
    await set_fortnox_stock(stack, sku, "RESERV", 100)
    await sync(stack)
    assert (await shop_products(stack))[sku]["stock_quantity"] == 12
    assert (await stack.get("stock-syncer", "/status"))["last_pass"]["erp"]["stock_points"] == [
        "HUVUD",
        "BUTIK",
    ]


async def test_250_changes_take_three_batch_calls_and_a_rejected_item_is_retried_alone(
    stack: Stack,
) -> None:
    await sync(stack)  # everything as the ERP has it
    skus = (await simple_stock_skus(stack))[1:251]
    assert len(skus) == 250
    before = await shop_products(stack)
    for n, sku in enumerate(skus):
        await set_fortnox_stock(stack, sku, "HUVUD", 1000 + n)
    balances = {
        (b["ArticleNumber"], b["StockPointCode"]): Decimal(str(b["AvailableStock"]))
        for b in (await stack.fortnox_state())["balances"]
    }
    expected = {s: int(balances[s, "HUVUD"] + balances[s, "BUTIK"]) for s in skus}
    refused = skus[17]
    status, _ = await stack.post(
        "woo",
        "/_sandbox/item-faults",
        {"sku": refused, "code": "sandbox_locked", "message": "Product is locked.", "count": 1},
    )
    assert status == 201
    await clear_requests(stack)

    summary = await sync(stack)

    assert [e["kind"] for e in summary["errors"]] == ["rejected"]
    shop = summary["shops"]["demo"]
    assert (shop["batch_calls"], shop["pushed"], shop["rejected"]) == (3, 249, 1)
    log = await requests_log(stack)
    assert log["by_route"][BATCH_ROUTE] == 3
    sent = [b["update"] for b in log["batches"]]
    assert sorted(len(ids) for ids in sent) == [50, 100, 100]
    assert sorted(i for ids in sent for i in ids) == sorted(before[s]["id"] for s in skus)
    after = await shop_products(stack)
    assert {s: after[s]["stock_quantity"] for s in skus if s != refused} == {
        s: v for s, v in expected.items() if s != refused
    }
    assert after[refused]["stock_quantity"] == before[refused]["stock_quantity"]
    report = await stack.get("stock-syncer", "/report?shop=demo")
    assert [(r["sku"], r["code"], r["message"], r["attempts"]) for r in report["rejected"]] == [
        (refused, "sandbox_locked", "Product is locked.", 1)
    ]

    await clear_requests(stack)
    summary = await sync(stack)  # the refused item alone, again
    assert summary["shops"]["demo"]["batch_calls"] == 1
    assert [b["update"] for b in (await requests_log(stack))["batches"]] == [
        [before[refused]["id"]]
    ]
    assert (await shop_products(stack))[refused]["stock_quantity"] == expected[refused]
    assert (await stack.get("stock-syncer", "/report?shop=demo"))["rejected"] == []

    await clear_requests(stack)
    summary = await sync(stack)  # nothing changed: nothing sent
    assert summary["shops"]["demo"]["batch_calls"] == 0
    assert BATCH_ROUTE not in (await requests_log(stack))["by_route"]


async def test_price_is_left_alone_when_its_switch_is_off(stack: Stack) -> None:
    sku = (await simple_stock_skus(stack))[260]
    price = (await shop_products(stack))[sku]["regular_price"]
    await fortnox(stack, "PUT", f"/3/articles/{sku}", {"Article": {"SalesPrice": 555.5}})
    await sync(stack)
    assert (await shop_products(stack))[sku]["regular_price"] == price


async def test_an_order_in_the_erp_triggers_a_pass(stack: Stack) -> None:
    sku = (await simple_stock_skus(stack))[270]
    await sync(stack)
    status, order = await stack.post(
        "woo",
        "/_sandbox/orders",
        {"country": "SE", "status": "processing", "lines": [{"sku": sku, "quantity": 2}]},
    )
    assert status == 201, order
    await wait_for(
        lambda: stack.fortnox_orders_for(order["id"]), timeout=30, what="the Fortnox order"
    )

    async def triggered() -> bool:
        last = (await stack.get("stock-syncer", "/status"))["last_pass"]
        return bool(last and last["trigger"] == "erp-order.created")

    await wait_for(triggered, timeout=15, what="a pass triggered by erp-order.created")
    balances = {
        b["StockPointCode"]: Decimal(str(b["AvailableStock"]))
        for b in (await stack.fortnox_state())["balances"]
        if b["ArticleNumber"] == sku
    }
    shop = (await shop_products(stack))[sku]
    assert shop["stock_quantity"] == int(balances["HUVUD"] + balances["BUTIK"])


async def test_products_in_one_system_only_are_reported_not_created(stack: Stack) -> None:
    async with (
        aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
        http.post(
            stack.url("woo") + "/wp-json/wc/v3/products",
            json={"name": "Bare i butikken", "sku": "BARE-I-BUTIKKEN", "manage_stock": True},
            headers=WOO_AUTH,
        ) as response,
    ):
        assert response.status == 201
    await fortnox(
        stack,
        "POST",
        "/3/articles",
        {
            "Article": {
                "ArticleNumber": "BARE-I-ERP",
                "Description": "Bara i ERP",
                "StockGoods": True,
            }
        },
    )
    await sync(stack)
    report = await stack.get("stock-syncer", "/report?shop=demo")
    assert "BARE-I-BUTIKKEN" in report["only_in_shop"]
    assert "BARE-I-ERP" in report["only_in_erp"]
    assert "BARE-I-ERP" not in await shop_products(stack)


@pytest.fixture(scope="module")
async def price_stack(
    amqp_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Prices on, in a shop whose prices are entered with tax."""
    async with running_stack(
        amqp_url,
        database_url,
        tmp_path_factory.mktemp("stock-price"),
        woo_args=("--prices-include-tax", "true"),
        stock=True,
        stock_extra="interval = 3600\nsync_price = true\nshop_prices_include_tax = true",
    ) as s:
        yield s


async def test_price_follows_the_erp_when_its_switch_is_on(price_stack: Stack) -> None:
    stack = price_stack
    sku = (await simple_stock_skus(stack))[0]
    await sync(stack)
    await fortnox(stack, "PUT", f"/3/articles/{sku}", {"Article": {"SalesPrice": 555.5}})
    summary = await sync(stack)
    assert summary["shops"]["demo"]["fields"] == {"regular_price": 1}
    # 555.50 net + 25 % VAT, as the shop enters its prices with tax.
    assert (await shop_products(stack))[sku]["regular_price"] == "694.38"
