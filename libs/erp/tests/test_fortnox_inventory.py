"""Fortnox stock and articles (`FortnoxInventory`): the requests made and how the answers are
understood, through a fake client; then against the sandbox Fortnox, with and without its
warehouse module."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from ordreflyt_erp.errors import ErpRejected, StockPointError
from ordreflyt_erp.fortnox import FortnoxInventory
from ordreflyt_erp.fortnox.inventory import POINTS_IGNORED, parse_article
from ordreflyt_erp.fortnox.times import parse_minute
from ordreflyt_erp.options import ErpOptions
from ordreflyt_erp.ratelimit import Priority
from ordreflyt_sandbox_fortnox.app import FortnoxSettings as SandboxSettings
from ordreflyt_testkit.fortnox import FortnoxEnv, sandbox_fortnox


@dataclass(frozen=True)
class FakeSettings:
    timezone: str = "Europe/Stockholm"


class FakeFortnox:
    def __init__(
        self,
        *,
        warehouse: bool = True,
        weights_in_list: bool = True,
        timezone: str = "Europe/Stockholm",
    ) -> None:
        self.settings = FakeSettings(timezone)
        self.warehouse = warehouse
        self.weights_in_list = weights_in_list
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.requests = 0
        self.points = [
            {"code": "HUVUD", "active": True},
            {"code": "BUTIK", "active": True},
            {"code": "GAMMAL", "active": False},
        ]
        self.articles = [
            {
                "ArticleNumber": f"A{n}",
                "Description": f"Vare {n}",
                "SalesPrice": "10.5",
                "VAT": 25,
                "Weight": 100 * n,
                "StockGoods": n != 2,
                "QuantityInStock": "9",
                "ReservedQuantity": 2,
                "DisposableQuantity": 7,
                "LastModified": "2026-03-02 10:00",
            }
            for n in range(3)
        ]

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        warehouse: bool = False,
        params: dict[str, str] | None = None,
        missing_ok: bool = False,
        priority: Priority = Priority.WRITE,
    ) -> Any:
        assert method == "GET"
        assert priority == Priority.STOCK  # stock reads wait behind order writes and the watcher
        self.requests += 1
        self.calls.append((path, dict(params or {})))
        if path == "/stockpoints-v1":
            assert warehouse
            if not self.warehouse:
                raise ErpRejected("2001103", "Det saknas licens för lagermodulen (Lager).")
            return self.points
        if path == "/status-v1/stockbalance":
            assert warehouse
            return [
                {"ItemId": "A0", "StockPointCode": "HUVUD", "AvailableStock": 5},
                {"ItemId": "A0", "StockPointCode": "BUTIK", "AvailableStock": "2.5"},
                {"ItemId": "A0", "StockPointCode": "GAMMAL", "AvailableStock": 50},
                {"ItemId": "A1", "StockPointCode": "HUVUD", "AvailableStock": 0},
            ]
        if path == "/articles":
            listed = [
                {k: v for k, v in a.items() if self.weights_in_list or k != "Weight"}
                for a in self.articles
            ]
            return {"MetaInformation": {"@TotalPages": 1, "@CurrentPage": 1}, "Articles": listed}
        if path.startswith("/articles/"):
            assert missing_ok
            number = path.rsplit("/", 1)[1]
            return {"Article": next(a for a in self.articles if a["ArticleNumber"] == number)}
        raise AssertionError(path)

    def paths(self) -> list[str]:
        return [path for path, _ in self.calls]


def inventory(fake: FakeFortnox, **options: Any) -> FortnoxInventory:
    return FortnoxInventory(cast(Any, fake), ErpOptions(**options))


async def test_warehouse_balances_of_the_active_points_per_point() -> None:
    fake = FakeFortnox()
    levels = await inventory(fake).stock([])
    assert levels.per_point
    assert levels.by_article == {
        "A0": {"HUVUD": Decimal(5), "BUTIK": Decimal("2.5")},
        "A1": {"HUVUD": Decimal(0)},
    }
    assert levels.stock_points == ["HUVUD", "BUTIK"]
    assert levels.warnings == []
    assert fake.paths() == ["/stockpoints-v1", "/status-v1/stockbalance"]


async def test_selected_points_are_asked_for_and_unknown_ones_are_an_error() -> None:
    fake = FakeFortnox()
    levels = await inventory(fake).stock(["HUVUD"])
    assert ("/status-v1/stockbalance", {"stockPointCodes": "HUVUD"}) in fake.calls
    assert levels.stock_points == ["HUVUD"]
    with pytest.raises(StockPointError, match=r"no active stock point LAGER9 \(it has HUVUD"):
        await inventory(FakeFortnox()).stock(["HUVUD", "LAGER9"])
    with pytest.raises(StockPointError, match="GAMMAL"):  # inactive
        await inventory(FakeFortnox()).stock(["GAMMAL"])


async def test_a_point_set_up_in_the_erp_later_is_found_by_asking_again() -> None:
    fake = FakeFortnox()
    stock = inventory(fake)
    await stock.stock([])
    with pytest.raises(StockPointError):
        await stock.stock(["LAGER9"])
    fake.points.append({"code": "LAGER9", "active": True})
    fake.calls.clear()
    levels = await stock.stock(["LAGER9"])
    assert levels.stock_points == ["LAGER9"]
    assert fake.paths() == ["/stockpoints-v1", "/status-v1/stockbalance"]


async def test_without_the_warehouse_module_the_article_stock_is_used_and_listed_once() -> None:
    fake = FakeFortnox(warehouse=False)
    erp = inventory(fake)
    levels = await erp.stock(["HUVUD"])
    assert not levels.per_point
    # DisposableQuantity, for stock articles only, under the point "".
    assert levels.by_article == {"A0": {"": Decimal(7)}, "A1": {"": Decimal(7)}}
    assert levels.stock_points == []
    assert levels.warnings == [POINTS_IGNORED]
    fake.calls.clear()
    articles = await erp.articles(full=False, weights=False)
    assert fake.calls == []  # the list stock() read is the register
    assert articles.full
    assert set(articles.articles) == {"A0", "A1", "A2"}
    # The next pass lists the articles once more (the stock may have moved), not twice.
    await erp.stock([])
    await erp.articles(full=False, weights=False)
    assert fake.paths() == ["/articles"]
    assert (await erp.stock([])).warnings == []


async def test_disposable_quantity_missing_is_in_stock_less_reserved() -> None:
    fake = FakeFortnox(warehouse=False)
    for raw in fake.articles:
        del raw["DisposableQuantity"]
    levels = await inventory(fake).stock([])
    assert levels.by_article["A0"] == {"": Decimal(7)}


async def test_articles_are_read_in_full_once_then_by_lastmodified() -> None:
    fake = FakeFortnox()
    erp = inventory(fake)
    await erp.stock([])
    first = await erp.articles(full=False, weights=False)
    assert first.full
    assert first.articles["A1"].sales_price == Decimal("10.5")
    assert first.articles["A1"].weight_grams == 100
    fake.calls.clear()
    await erp.stock([])
    second = await erp.articles(full=False, weights=False)
    assert not second.full
    listed = [params for path, params in fake.calls if path == "/articles"]
    assert len(listed) == 1
    assert "lastmodified" in listed[0]
    assert "/stockpoints-v1" not in fake.paths()
    assert set(second.articles) == {"A0", "A1", "A2"}
    fake.calls.clear()
    third = await erp.articles(full=True, weights=False)
    assert third.full
    assert fake.calls == [("/articles", {"limit": "500", "page": "1"})]


async def test_a_full_read_and_the_stock_points_are_due_after_full_refresh() -> None:
    fake = FakeFortnox()
    erp = inventory(fake, full_refresh=0.0)
    for _ in range(2):
        await erp.stock([])
        assert (await erp.articles(full=False, weights=False)).full
    assert fake.paths().count("/stockpoints-v1") == 2
    assert all("lastmodified" not in params for _, params in fake.calls)


@pytest.mark.parametrize("zone", ["Europe/Stockholm", "America/New_York", "UTC"])
async def test_lastmodified_is_the_accounts_local_time_a_minute_before_the_last_read(
    zone: str,
) -> None:
    fake = FakeFortnox(timezone=zone)
    erp = inventory(fake)
    before = datetime.now(UTC)
    await erp.articles(full=False, weights=False)
    fake.calls.clear()
    await erp.articles(full=False, weights=False)
    since = parse_minute(fake.calls[0][1]["lastmodified"])
    local = before.astimezone(ZoneInfo(zone)).replace(tzinfo=None, second=0, microsecond=0)
    assert local - timedelta(minutes=2) <= since <= local - timedelta(minutes=1)


async def test_weights_missing_from_the_list_are_read_one_by_one_capped_per_call() -> None:
    fake = FakeFortnox(weights_in_list=False)
    erp = inventory(fake, detail_reads_per_pass=2)
    first = await erp.articles(full=False, weights=True)
    singles = [p for p in fake.paths() if p.startswith("/articles/")]
    assert singles == ["/articles/A0", "/articles/A1"]
    assert first.articles["A1"].weight_grams == 100
    assert first.articles["A2"].weight_grams is None
    fake.calls.clear()
    # Nothing listed as changed: the one left over is read now.
    second = await erp.articles(full=False, weights=True)
    assert [p for p in fake.paths() if p.startswith("/articles/")] == ["/articles/A2"]
    assert second.articles["A2"].weight_grams == 200
    fake.calls.clear()
    await erp.articles(full=False, weights=True)  # nothing changed: no single reads again
    assert not [p for p in fake.paths() if p.startswith("/articles/")]
    await erp.articles(full=False, weights=False)
    assert not [p for p in fake.paths() if p.startswith("/articles/")]


async def test_weights_are_not_read_alone_when_the_list_has_them_or_none_are_asked() -> None:
    fake = FakeFortnox()
    await inventory(fake).articles(full=False, weights=True)
    fake = FakeFortnox(weights_in_list=False)
    await inventory(fake).articles(full=False, weights=False)
    assert not [p for p in fake.paths() if p.startswith("/articles/")]


def test_an_article_is_parsed_from_strings_or_numbers() -> None:
    article = parse_article(
        {
            "ArticleNumber": 17,
            "Description": "Ullsokker",
            "SalesPrice": "149.5",
            "VAT": "12",
            "Weight": "250",
            "StockGoods": False,
        }
    )
    assert (article.number, article.description, article.sales_price, article.vat) == (
        "17",
        "Ullsokker",
        Decimal("149.5"),
        Decimal(12),
    )
    assert (article.weight_grams, article.stock_goods) == (250, False)
    bare = parse_article({"ArticleNumber": "X", "SalesPrice": "n/a", "VAT": True})
    assert (bare.sales_price, bare.vat, bare.weight_grams, bare.stock_goods) == (
        None,
        None,
        None,
        None,
    )


# ---------------------------------------------------------------- the sandbox Fortnox


@pytest.mark.integration
async def test_sandbox_stock_per_point_and_the_register(fortnox: FortnoxEnv) -> None:
    store = fortnox.store
    levels = await fortnox.erp.stock.stock(["HUVUD", "BUTIK"])
    assert levels.per_point
    assert levels.stock_points == ["HUVUD", "BUTIK"]
    expected = {
        number: {
            b.stock_point_code: Decimal(str(b.available))
            for b in store.stock.balances(number)
            if b.stock_point_code in ("HUVUD", "BUTIK")
        }
        for number, article in store.articles.items()
        if article.stock_goods
    }
    assert levels.by_article == {k: v for k, v in expected.items() if v}
    articles = await fortnox.erp.articles.articles(full=False, weights=True)
    assert articles.full
    assert set(articles.articles) == set(store.articles)
    some = next(iter(store.articles.values()))
    assert articles.articles[some.article_number].weight_grams == some.weight
    with pytest.raises(StockPointError, match="NOWHERE"):
        await fortnox.erp.stock.stock(["NOWHERE"])


@pytest.mark.integration
async def test_sandbox_without_the_warehouse_module(database_url: str) -> None:
    sandbox = SandboxSettings(rate_limit=None, warehouse=False, catalogue_products=10)
    async with sandbox_fortnox(database_url, sandbox=sandbox) as fortnox:
        requests = fortnox.client.requests
        levels = await fortnox.erp.stock.stock([])
        articles = await fortnox.erp.articles.articles(full=False, weights=False)
        # The stock points route (refused: no licence) and one list of the articles.
        assert fortnox.client.requests - requests == 2
        assert not levels.per_point
        store = fortnox.store
        assert levels.by_article == {
            number: {"": Decimal(str(store.stock.in_stock(number) - store.stock.reserved(number)))}
            for number, article in store.articles.items()
            if article.stock_goods
        }
        assert set(articles.articles) == set(store.articles)
