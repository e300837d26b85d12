"""A whole pass on a real PostgreSQL, with a fake ERP (its capabilities only: no ERP's field
names here) and a fake shop: the steps in order, what the summary and the report say (their
JSON keys are what `POST /sync`, `GET /status` and `GET /report` show), and one reading per
ERP account for the shops that book into it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any, cast

import asyncpg
import msgspec
import pytest
from prometheus_client import CollectorRegistry

from ordreflyt_erp.capabilities import Articles, Erp, ErpArticle, StockLevels
from ordreflyt_erp.errors import StockPointError
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_shop import ShopUnavailable
from ordreflyt_stock_syncer import store
from ordreflyt_stock_syncer.config import StockConfig
from ordreflyt_stock_syncer.shop import ShopSide
from ordreflyt_stock_syncer.syncer import ErpAccount, Syncer, SyncMetrics

pytestmark = pytest.mark.integration

D = Decimal
# What a pass's timing leaves different from one run to the next.
VOLATILE = ("started_at", "finished_at", "duration_seconds", "seconds", "seconds_in_shop_calls")


class FakeInventory:
    """An ERP account's stock and articles, counting its requests."""

    def __init__(self, levels: StockLevels, articles: Sequence[ErpArticle]) -> None:
        self.levels = levels
        self.register = {a.number: a for a in articles}
        self.failure: Exception | None = None
        self.requests = 0
        self.asked: list[tuple[str, Any]] = []

    async def stock(self, stock_points: Sequence[str]) -> StockLevels:
        self.requests += 1
        self.asked.append(("stock", list(stock_points)))
        if self.failure is not None:
            raise self.failure
        return self.levels

    async def articles(self, *, full: bool, weights: bool) -> Articles:
        self.requests += 1
        self.asked.append(("articles", (full, weights)))
        return Articles(articles=dict(self.register), full=full or len(self.asked) <= 2)


def fake_erp(key: str, inventory: FakeInventory) -> Erp:
    return Erp(
        key=key,
        kind="fake",
        title="Fake ERP",
        vat_rates=cast(Any, None),
        writer=cast(Any, None),
        watcher=cast(Any, None),
        stock=inventory,
        articles=inventory,
        requests=inventory,
    )


class FakeShop:
    """The shop client as ShopSide uses it."""

    def __init__(self, products: list[dict[str, Any]], orders: list[dict[str, Any]]) -> None:
        self.products = products
        self.orders = orders
        self.posted: list[tuple[str, Any]] = []
        self.failure: Exception | None = None
        self.calls = 0
        self.seconds = 0.0

    async def list_all(
        self, path: str, params: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        for found in {"/products": self.products, "/orders": self.orders}.get(path, []):
            yield found

    async def post(self, path: str, body: Any) -> Any:
        self.calls += 1
        self.posted.append((path, body))
        return {"update": list(body["update"])}


def product(product_id: int, sku: str, stock: int) -> dict[str, Any]:
    return {
        "id": product_id,
        "type": "simple",
        "sku": sku,
        "manage_stock": True,
        "stock_quantity": stock,
        "name": sku,
        "regular_price": "10.00",
        "weight": "",
        "tax_class": "",
    }


def article(number: str) -> ErpArticle:
    return ErpArticle(number=number, description=number, sales_price=D(10), vat=D(25))


def levels(by_article: dict[str, dict[str, Decimal]], points: list[str]) -> StockLevels:
    return StockLevels(by_article=by_article, stock_points=points, per_point=True)


def steady(summary: Any) -> Any:
    """The summary as JSON, without what timing changes; dicts become (key, value) lists, so
    the keys' order is compared too."""
    if isinstance(summary, dict):
        return [(k, steady(v)) for k, v in summary.items() if k not in VOLATILE]
    if isinstance(summary, list):
        return [steady(v) for v in summary]
    return summary


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"stock_syncer_test_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(database_url, schema)
    await migrate(pool, schema, (store.MIGRATION,))
    yield pool
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


def syncer(
    pool: asyncpg.Pool,
    accounts: list[ErpAccount],
    shops: dict[str, FakeShop],
    config: StockConfig,
) -> Syncer:
    sides = {shop_id: ShopSide(cast(Any, shop)) for shop_id, shop in shops.items()}
    return Syncer(pool, accounts, sides, config, SyncMetrics(CollectorRegistry()))


def demo() -> tuple[FakeInventory, FakeShop]:
    inventory = FakeInventory(
        levels(
            {"S1": {"HUVUD": D(5), "BUTIK": D("2.5")}, "S2": {"HUVUD": D(1)}},
            ["HUVUD", "BUTIK"],
        ),
        [article("S1"), article("S2"), article("S3")],
    )
    shop = FakeShop(
        [product(101, "S1", 0), product(102, "S2", 1), product(104, "S4", 9), product(105, "", 0)],
        [{"id": 7, "status": "processing", "line_items": [{"sku": "S1", "quantity": 2}]}],
    )
    return inventory, shop


async def test_a_pass_reads_the_erp_once_and_pushes_what_changed(pool: asyncpg.Pool) -> None:
    inventory, shop = demo()
    config = StockConfig(stock_points=("HUVUD", "BUTIK"))
    sync = syncer(
        pool, [ErpAccount(fake_erp("fortnox", inventory), ("demo",))], {"demo": shop}, config
    )

    summary = msgspec.to_builtins(await sync.run_pass("manual"))

    assert inventory.asked == [("stock", ["HUVUD", "BUTIK"]), ("articles", (False, False))]
    # 5 + 2.5 available, 2 held by the open order: 5 whole units.
    assert shop.posted == [("/products/batch", {"update": [{"id": 101, "stock_quantity": 5}]})]
    assert steady(summary) == [
        ("trigger", "manual"),
        ("ok", True),
        ("reconcile", False),
        ("errors", []),
        (
            "erp",
            [
                ("mode", "warehouse"),
                ("stock_points", ["HUVUD", "BUTIK"]),
                ("articles", 3),
                ("stock_articles", 2),
                ("full_read", True),
                ("requests", 2),
                ("warnings", []),
            ],
        ),
        (
            "shops",
            [
                (
                    "demo",
                    [
                        ("catalogue", [("full_read", True), ("listed", 3), ("skus", 3)]),
                        ("open_orders_holding_stock", 1),
                        ("matched", 2),
                        ("changed", 1),
                        ("pushed", 1),
                        ("rejected", 0),
                        ("retry_later", 0),
                        ("fields", [("stock_quantity", 1)]),
                        ("batch_calls", 1),
                        ("shop_calls", 3),
                        ("only_in_erp", 1),
                        ("only_in_shop", 1),
                        ("rejected_waiting", 0),
                    ],
                )
            ],
        ),
    ]
    assert list(summary["shops"]["demo"]["seconds"]) == ["catalogue", "open_orders", "push"]
    assert await store.last_pass(pool) == summary
    report = (await store.load_reports(pool))["demo"]
    assert [(k, v) for k, v in report.items() if k != "generated_at"] == [
        ("shop_id", "demo"),
        ("only_in_erp", ["S3"]),
        ("only_in_shop", ["S4"]),
        ("without_sku", [105]),
        ("not_synced", []),
        ("rejected", []),
    ]

    shop.posted.clear()
    again = await sync.run_pass("schedule")
    assert shop.posted == []  # nothing changed: nothing sent
    assert (again.shops["demo"].batch_calls, again.shops["demo"].changed) == (0, 0)
    assert again.erp is not None
    assert not again.erp.full_read


async def test_an_erp_that_cannot_be_read_stops_the_pass_for_its_shops(
    pool: asyncpg.Pool,
) -> None:
    inventory, shop = demo()
    inventory.failure = StockPointError("the ERP has no active stock point LAGER9 (it has HUVUD)")
    sync = syncer(
        pool, [ErpAccount(fake_erp("fortnox", inventory), ("demo",))], {"demo": shop}, StockConfig()
    )
    summary = msgspec.to_builtins(await sync.run_pass("manual"))
    assert steady(summary) == [
        ("trigger", "manual"),
        ("ok", False),
        ("reconcile", False),
        (
            "errors",
            [
                [
                    ("kind", "erp"),
                    (
                        "message",
                        "stock.stock_points: the ERP has no active stock point LAGER9"
                        " (it has HUVUD)",
                    ),
                ]
            ],
        ),
        ("shops", []),
    ]
    assert shop.calls == 0


async def test_a_shop_that_fails_is_named_and_its_steps_left_empty(pool: asyncpg.Pool) -> None:
    inventory, shop = demo()
    shop.failure = ShopUnavailable("the shop did not answer")
    sync = syncer(
        pool, [ErpAccount(fake_erp("fortnox", inventory), ("demo",))], {"demo": shop}, StockConfig()
    )
    summary = msgspec.to_builtins(await sync.run_pass("manual"))
    assert not summary["ok"]
    assert summary["errors"] == [
        {"kind": "shop", "shop_id": "demo", "message": "the shop did not answer"}
    ]
    assert steady(summary["shops"]["demo"]) == [
        ("catalogue", []),
        ("open_orders_holding_stock", 0),
        ("matched", 0),
        ("changed", 0),
        ("pushed", 0),
        ("rejected", 0),
        ("retry_later", 0),
        ("fields", []),
        ("batch_calls", 0),
        ("shop_calls", 1),
        ("only_in_erp", 0),
        ("only_in_shop", 0),
        ("rejected_waiting", 0),
        ("error", "the shop did not answer"),
    ]
    assert summary["shops"]["demo"]["seconds"] == {}


async def test_each_erp_account_is_read_once_for_the_shops_that_book_into_it(
    pool: asyncpg.Pool,
) -> None:
    first = FakeInventory(levels({"S1": {"": D(3)}}, []), [article("S1")])
    second = FakeInventory(levels({"S1": {"": D(8)}}, []), [article("S1")])
    shops = {shop_id: FakeShop([product(101, "S1", 0)], []) for shop_id in ("nord", "syd", "vest")}
    accounts = [
        ErpAccount(fake_erp("fortnox", first), ("nord", "syd")),
        ErpAccount(fake_erp("fortnox:vest", second), ("vest",)),
    ]
    config = StockConfig(subtract_open_orders=False)
    summary = await syncer(pool, accounts, shops, config).run_pass("manual")
    assert [name for name, _ in first.asked] == ["stock", "articles"]
    assert [name for name, _ in second.asked] == ["stock", "articles"]
    pushed = {shop_id: shop.posted[0][1]["update"][0] for shop_id, shop in shops.items()}
    assert {shop_id: update["stock_quantity"] for shop_id, update in pushed.items()} == {
        "nord": 3,
        "syd": 3,
        "vest": 8,
    }
    encoded = msgspec.to_builtins(summary)
    assert "erp" not in encoded
    assert list(encoded["erps"]) == ["fortnox", "fortnox:vest"]
    assert list(encoded["shops"]) == ["nord", "syd", "vest"]

    second.failure = StockPointError("no such point")
    summary = await syncer(pool, accounts, shops, config).run_pass("manual")
    assert [msgspec.to_builtins(e) for e in summary.errors] == [
        {"kind": "erp", "erp": "fortnox:vest", "message": "stock.stock_points: no such point"}
    ]
    assert list(summary.shops) == ["nord", "syd"]
