"""Reading the ERP and the shop through fakes of the shared clients: the requests made and how
the answers are understood."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest

from ordreflyt_erp import ErpRejected
from ordreflyt_stock_syncer.config import StockConfig
from ordreflyt_stock_syncer.erp import DETAIL_READS_PER_PASS, ErpReader, StockPointError
from ordreflyt_stock_syncer.plan import Batch, Update
from ordreflyt_stock_syncer.shop import ShopSide, item_from


class FakeFortnox:
    def __init__(self, *, warehouse: bool = True, weights_in_list: bool = True) -> None:
        self.warehouse = warehouse
        self.weights_in_list = weights_in_list
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.requests = 0
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
    ) -> Any:
        self.requests += 1
        self.calls.append((path, dict(params or {})))
        if path == "/stockpoints-v1":
            if not self.warehouse:
                raise ErpRejected("2001103", "Det saknas licens för lagermodulen (Lager).")
            return [
                {"code": "HUVUD", "active": True},
                {"code": "BUTIK", "active": True},
                {"code": "GAMMAL", "active": False},
            ]
        if path == "/status-v1/stockbalance":
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
            return {
                "MetaInformation": {"@TotalPages": 1, "@CurrentPage": 1},
                "Articles": listed,
            }
        if path.startswith("/articles/"):
            number = path.rsplit("/", 1)[1]
            return {"Article": next(a for a in self.articles if a["ArticleNumber"] == number)}
        raise AssertionError(path)


def reader(fake: FakeFortnox, **config: Any) -> ErpReader:
    return ErpReader(cast(Any, fake), StockConfig(**config))


async def test_warehouse_balances_of_the_active_points_are_summed() -> None:
    fake = FakeFortnox()
    snapshot = await reader(fake).read()
    assert snapshot.mode == "warehouse"
    assert snapshot.stock == {"A0": Decimal("7.5"), "A1": Decimal(0)}
    assert snapshot.stock_points == ["HUVUD", "BUTIK"]
    assert snapshot.articles["A1"].sales_price == Decimal("10.5")
    assert snapshot.articles["A1"].weight_grams == 100
    assert snapshot.requests == 3


async def test_selected_points_are_asked_for_and_unknown_ones_are_an_error() -> None:
    fake = FakeFortnox()
    await reader(fake, stock_points=("HUVUD",)).read()
    assert ("/status-v1/stockbalance", {"stockPointCodes": "HUVUD"}) in fake.calls
    with pytest.raises(StockPointError, match=r"stock\.stock_points.*LAGER9"):
        await reader(FakeFortnox(), stock_points=("HUVUD", "LAGER9")).read()


async def test_without_the_warehouse_module_the_article_stock_is_used() -> None:
    snapshot = await reader(FakeFortnox(warehouse=False), stock_points=("HUVUD",)).read()
    assert snapshot.mode == "articles"
    # DisposableQuantity, for stock articles only.
    assert snapshot.stock == {"A0": Decimal(7), "A1": Decimal(7)}
    assert snapshot.warnings


async def test_articles_are_read_in_full_once_then_by_lastmodified() -> None:
    fake = FakeFortnox()
    erp = reader(fake)
    await erp.read()
    fake.calls.clear()
    second = await erp.read()
    assert not second.full
    articles = [params for path, params in fake.calls if path == "/articles"]
    assert len(articles) == 1
    assert "lastmodified" in articles[0]
    assert "/stockpoints-v1" not in [path for path, _ in fake.calls]
    assert set(second.articles) == {"A0", "A1", "A2"}


async def test_weights_missing_from_the_list_are_read_one_by_one() -> None:
    fake = FakeFortnox(weights_in_list=False)
    erp = reader(fake, sync_weight=True)
    snapshot = await erp.read()
    assert snapshot.articles["A2"].weight_grams == 200
    singles = [p for p, _ in fake.calls if p.startswith("/articles/")]
    assert len(singles) == 3 <= DETAIL_READS_PER_PASS
    fake.calls.clear()
    await erp.read()  # nothing changed: no single reads again
    assert not [p for p, _ in fake.calls if p.startswith("/articles/")]


class FakeWoo:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.posted: list[tuple[str, Any]] = []
        self.calls = 0

    async def post(self, path: str, body: Any) -> Any:
        self.calls += 1
        self.posted.append((path, body))
        return self.answer


async def test_batch_results_are_matched_to_their_items() -> None:
    updates = (
        Update("S1", 101, 0, {"stock_quantity": "4"}),
        Update("S2", 102, 0, {"stock_quantity": "5"}),
        Update("S3", 103, 0, {"stock_quantity": "6"}),
    )
    woo = FakeWoo(
        {
            "update": [
                {"id": 101, "stock_quantity": 4},
                {"id": 102, "error": {"code": "sandbox_locked", "message": "Locked."}},
            ]
        }
    )
    results = await ShopSide(cast(Any, woo)).send(Batch("/products", updates))
    assert woo.posted == [
        (
            "/products/batch",
            {
                "update": [
                    {"id": 101, "stock_quantity": 4},
                    {"id": 102, "stock_quantity": 5},
                    {"id": 103, "stock_quantity": 6},
                ]
            },
        )
    ]
    assert [(r.sku, r.ok, r.code) for r in results] == [
        ("S1", True, ""),
        ("S2", False, "sandbox_locked"),
        ("S3", False, "no_result"),
    ]


def test_a_variation_takes_its_parents_tax_class_and_has_no_name_or_own_stock() -> None:
    parent = {"id": 7, "tax_class": "reduced-rate", "type": "variable"}
    variation = {
        "id": 8,
        "sku": "V",
        "manage_stock": "parent",
        "stock_quantity": 3,
        "tax_class": "parent",
        "regular_price": "10.00",
        "weight": "",
    }
    item = item_from(variation, parent)
    assert (item.parent_id, item.tax_class, item.name, item.manage_stock) == (
        7,
        "reduced-rate",
        None,
        False,
    )
