"""The sandbox shop and the sandbox Fortnox seed one catalogue: given the same size and seed,
every SKU the shop sells is a Fortnox article, priced and taxed as a Swedish customer pays it."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ordreflyt_sandbox_fortnox.__main__ import _OPTIONS
from ordreflyt_sandbox_fortnox.__main__ import settings_from as fortnox_settings_from
from ordreflyt_sandbox_fortnox.app import FortnoxSettings
from ordreflyt_sandbox_woocommerce.__main__ import add_arguments
from ordreflyt_sandbox_woocommerce.__main__ import settings_from as woo_settings_from
from ordreflyt_sandbox_woocommerce.app import WooSettings, make_app
from ordreflyt_sandbox_woocommerce.taxes import RATES_BY_ID, rates_for

if TYPE_CHECKING:
    from conftest import Fortnox, FortnoxFactory

ShopClient = TestClient[web.Request, web.Application]
ShopFactory = Callable[[WooSettings], Awaitable[ShopClient]]


@pytest.fixture
async def start_shop() -> AsyncIterator[ShopFactory]:
    clients: list[ShopClient] = []

    async def start(settings: WooSettings) -> ShopClient:
        client: ShopClient = TestClient(TestServer(make_app(settings)))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def sold_in_shop(shop: ShopClient) -> dict[str, dict[str, Any]]:
    """The shop's purchasable products (simple ones and variations) by SKU."""
    state = await (await shop.get("/_sandbox/state")).json()
    return {p["sku"]: p for p in state["products"] if p["type"] in ("simple", "variation")}


async def fortnox_articles(fortnox: Fortnox) -> dict[str, dict[str, Any]]:
    status, body = await fortnox.get("/3/articles", limit="500")
    assert status == 200, body
    assert body["MetaInformation"]["@TotalPages"] == 1
    return {a["ArticleNumber"]: a for a in body["Articles"]}


def woo_cli(argv: list[str]) -> WooSettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return woo_settings_from(parser.parse_args(argv))


def fortnox_cli(**given: str) -> FortnoxSettings:
    names = {flag.removeprefix("--").replace("-", "_") for flag, *_ in _OPTIONS}
    args = argparse.Namespace(**{name: given.get(name) for name in names})
    return fortnox_settings_from(args, {})


@pytest.mark.parametrize(("products", "seed"), [(0, 1), (3, 1), (23, 7), (40, 1), (90, None)])
async def test_the_same_size_and_seed_give_the_same_skus(
    start_shop: ShopFactory, start_fortnox: FortnoxFactory, products: int, seed: int | None
) -> None:
    shop = await start_shop(WooSettings(products=products, seed=seed))
    fortnox = await start_fortnox(rate_limit=None, catalogue_products=products, seed=seed)
    sold = await sold_in_shop(shop)
    articles = await fortnox_articles(fortnox)
    assert set(sold) == set(articles)
    for sku, product in sold.items():
        article = articles[sku]
        assert article["Description"] == product["name"][:50]
        assert article["SalesPrice"] == Decimal(product["regular_price"])
        grams = int(Decimal(product["weight"]) * 1000) if product["weight"] else 0
        assert article["Weight"] == grams
        assert article["StockGoods"] is product["manage_stock"]
        if article["StockGoods"]:
            assert article["QuantityInStock"] >= 120


async def test_the_defaults_and_the_command_lines_match(
    start_shop: ShopFactory, start_fortnox: FortnoxFactory
) -> None:
    woo, fortnox = WooSettings(), FortnoxSettings()
    assert (woo.products, woo.seed) == (fortnox.catalogue_products, fortnox.seed) == (40, 1)
    woo = woo_cli(["--products", "27", "--seed", "5"])
    fortnox = fortnox_cli(products="27", seed="5")
    assert (woo.products, woo.seed) == (fortnox.catalogue_products, fortnox.seed) == (27, 5)
    shop = await start_shop(woo)
    erp = await start_fortnox(
        rate_limit=None, catalogue_products=fortnox.catalogue_products, seed=fortnox.seed
    )
    assert set(await sold_in_shop(shop)) == set(await fortnox_articles(erp))
    assert fortnox_cli(seed="random").seed is None


async def test_fortnox_vat_is_the_swedish_rate_of_the_shop_s_tax_class(
    start_shop: ShopFactory, start_fortnox: FortnoxFactory
) -> None:
    shop = await start_shop(WooSettings(countries=("SE",)))
    fortnox = await start_fortnox(rate_limit=None)
    sold = await sold_in_shop(shop)
    # A Swedish customer buys one of everything; each line is taxed at its class's SE rate.
    lines = [{"sku": sku, "quantity": 1} for sku in sold]
    response = await shop.post("/_sandbox/orders", json={"status": "pending", "lines": lines})
    assert response.status == 201, await response.text()
    order = await response.json()
    assert (order["billing"]["country"], order["currency"]) == ("SE", "SEK")
    articles = await fortnox_articles(fortnox)
    assert {line["sku"] for line in order["line_items"]} == set(articles)
    for line in order["line_items"]:
        (swedish,) = rates_for("SE", line["tax_class"])
        charged = {RATES_BY_ID[t["id"]].rate for t in line["taxes"]}
        assert charged == {swedish.rate}, line
        assert articles[line["sku"]]["VAT"] == swedish.rate, line["sku"]
    assert {a["VAT"] for a in articles.values()} == {25, 12, 6, 0}
