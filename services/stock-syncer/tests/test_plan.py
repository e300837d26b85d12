"""The pure rules of a pass: stock arithmetic, desired values per switch, diffing against what
was pushed, batching."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import pytest
from msgspec.structs import replace as changed

from ordreflyt_erp.capabilities import ErpArticle
from ordreflyt_stock_syncer.config import StockConfig
from ordreflyt_stock_syncer.plan import (
    ShopItem,
    Update,
    available_by_sku,
    batches,
    canonical_weight,
    changed_fields,
    desired_values,
    diff,
    held_by_sku,
    shop_price,
    shop_stock,
    shop_weight,
    tax_class_for,
)

D = Decimal
SOCKS = ErpArticle(
    number="ULL-SOKK-1001",
    description="Ullsokker",
    sales_price=D("149.00"),
    vat=D(25),
    weight_grams=100,
    stock_goods=True,
)
ITEM = ShopItem(
    "ULL-SOKK-1001",
    101,
    manage_stock=True,
    stock_quantity=3,
    name="Ullsokker",
    regular_price="149.00",
    weight="0.1",
    tax_class="",
)
ALL_ON = StockConfig(sync_name=True, sync_price=True, sync_weight=True, sync_tax_class=True)


def test_selected_stock_points_are_summed_and_the_others_ignored() -> None:
    rows = [
        ("A", "HUVUD", D(7)),
        ("A", "BUTIK", D(5)),
        ("A", "RESERV", D(100)),
        ("B", "RESERV", D(9)),
    ]
    assert available_by_sku(rows, {"HUVUD", "BUTIK"}) == {"A": D(12)}
    assert available_by_sku(rows, ()) == {"A": D(112), "B": D(9)}


@pytest.mark.parametrize(
    ("available", "held", "expected"),
    [
        (D(12), 0, 12),
        (D(12), 5, 7),
        (D("12.9"), 0, 12),  # whole units, rounded down: 0.9 of a unit cannot be sold
        (D(3), 5, 0),  # never below 0
        (D(-4), 0, 0),  # Fortnox allows negative stock
    ],
)
def test_shop_stock(available: Decimal, held: int, expected: int) -> None:
    assert shop_stock(available, held) == expected


def test_held_stock_counts_only_orders_the_erp_does_not_count() -> None:
    orders = [
        {"id": 1, "line_items": [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]},
        {"id": 2, "line_items": [{"sku": "A", "quantity": 3}]},
        {"id": 3, "line_items": [{"sku": "", "quantity": 4}, {"sku": "A", "quantity": 1}]},
    ]
    assert held_by_sku(orders, {"2"}) == ({"A": 3, "B": 1}, 2)
    assert held_by_sku(orders, set()) == ({"A": 6, "B": 1}, 3)


def test_desired_values_follow_the_switches() -> None:
    values, skipped = desired_values(ITEM, SOCKS, D(12), 2, StockConfig())
    assert values == {"stock_quantity": "10"}
    assert skipped == []
    values, _ = desired_values(ITEM, SOCKS, D(12), 0, ALL_ON)
    assert values == {
        "stock_quantity": "12",
        "name": "Ullsokker",
        "regular_price": "149.00",
        "weight": "0.1",
        "tax_class": "",
    }
    values, _ = desired_values(ITEM, SOCKS, D(12), 0, StockConfig(sync_stock=False))
    assert values == {}


def test_stock_is_not_synced_where_either_side_keeps_none() -> None:
    not_managed = replace(ITEM, manage_stock=False, stock_quantity=None)
    values, skipped = desired_values(not_managed, SOCKS, D(12), 0, StockConfig())
    assert values == {}
    assert [s.reason for s in skipped] == ["the shop does not manage stock for it"]
    values, skipped = desired_values(
        ITEM, changed(SOCKS, stock_goods=False), None, 0, StockConfig()
    )
    assert values == {}
    assert [s.reason for s in skipped] == ["not a stock article in the ERP"]


def test_price_basis() -> None:
    assert shop_price(SOCKS, StockConfig()) == "149.00"
    # Prices entered with tax: net + the article's VAT, to the cent.
    assert shop_price(SOCKS, StockConfig(shop_prices_include_tax=True)) == "186.25"
    assert (
        shop_price(
            changed(SOCKS, sales_price=D("555.5")), StockConfig(shop_prices_include_tax=True)
        )
        == "694.38"
    )
    food = changed(SOCKS, sales_price=D("119.90"), vat=D(12))
    assert shop_price(food, StockConfig(shop_prices_include_tax=True)) == "134.29"


def test_a_missing_or_zero_price_is_never_pushed() -> None:
    free = changed(SOCKS, sales_price=D(0))
    values, skipped = desired_values(ITEM, free, D(1), 0, StockConfig(sync_price=True))
    assert "regular_price" not in values
    assert [(s.field, s.reason) for s in skipped] == [
        ("regular_price", "no sales price in the ERP")
    ]


def test_weight_from_grams() -> None:
    assert shop_weight(800, "kg") == "0.8"
    assert shop_weight(1000, "kg") == "1"
    assert shop_weight(250, "g") == "250"
    assert shop_weight(454, "lbs") == "1.001"
    assert shop_weight(0, "kg") == ""  # no weight in the ERP: none in the shop
    assert canonical_weight("1.0") == canonical_weight("1") == "1"


def test_tax_class_by_vat() -> None:
    mapping = StockConfig().tax_class_by_vat
    assert tax_class_for(D(25), mapping) == ""
    assert tax_class_for(D("12.00"), mapping) == "reduced-rate"
    assert tax_class_for(D(6), mapping) == "low-rate"
    assert tax_class_for(D(0), mapping) == "zero-rate"
    assert tax_class_for(D(10), mapping) is None
    values, skipped = desired_values(
        ITEM, changed(SOCKS, vat=D(10)), D(1), 0, StockConfig(sync_tax_class=True)
    )
    assert "tax_class" not in values
    assert [s.reason for s in skipped] == ["no tax class for VAT 10 %"]


def test_a_name_fortnox_cut_at_50_characters_keeps_the_shop_name() -> None:
    long_name = "Ullsokker i merinoull med forsterket hæl og tå, str 40-45"
    cut = changed(SOCKS, description=long_name[:50])
    values, _ = desired_values(replace(ITEM, name=long_name), cut, None, 0, ALL_ON)
    assert values["name"] == long_name
    values, _ = desired_values(replace(ITEM, name="Sokker"), cut, None, 0, ALL_ON)
    assert values["name"] == long_name[:50]


def test_variations_get_no_name() -> None:
    variation = replace(ITEM, parent_id=99, name=None)
    values, _ = desired_values(variation, SOCKS, D(1), 0, ALL_ON)
    assert "name" not in values


def test_changed_fields_against_pushed_and_first_sight() -> None:
    desired = {"stock_quantity": "12", "regular_price": "149.00"}
    # Pushed before: only what differs from the last push is sent.
    assert changed_fields(desired, {"stock_quantity": "12", "regular_price": "99.00"}, {}) == (
        {"regular_price": "149.00"},
        {},
    )
    # Equal to the last push: nothing, whatever the shop shows now (no echo, no fight).
    assert changed_fields(desired, desired, {"stock_quantity": "10"}) == ({}, {})
    # Never pushed: what the shop already shows is recorded, not sent.
    assert changed_fields(desired, {}, {"stock_quantity": "12", "regular_price": "1.00"}) == (
        {"regular_price": "149.00"},
        {"stock_quantity": "12"},
    )


def test_reconcile_compares_with_the_shop() -> None:
    desired = {"stock_quantity": "12"}
    assert changed_fields(desired, desired, {"stock_quantity": "10"}, reconcile=True) == (
        {"stock_quantity": "12"},
        {},
    )
    assert changed_fields(desired, {}, {"stock_quantity": "12"}, reconcile=True) == (
        {},
        {"stock_quantity": "12"},
    )


def test_observed_values_are_canonical() -> None:
    item = replace(ITEM, regular_price="149", weight="0.10")
    assert item.observed() == {
        "stock_quantity": "3",
        "name": "Ullsokker",
        "regular_price": "149.00",
        "weight": "0.1",
        "tax_class": "",
    }
    assert "stock_quantity" not in replace(ITEM, manage_stock=False).observed()


def test_diff_sends_only_changed_skus_and_holds_back_waiting_ones() -> None:
    items = {
        f"S{n}": ShopItem(f"S{n}", 100 + n, manage_stock=True, stock_quantity=0) for n in range(4)
    }
    desired = {f"S{n}": {"stock_quantity": str(n)} for n in range(4)}
    pushed = {
        "S0": {"stock_quantity": "0"},
        "S1": {"stock_quantity": "5"},
        "S2": {"stock_quantity": "0"},
    }
    result = diff(items, desired, pushed, hold_back={"S2"})
    assert [(u.sku, dict(u.values)) for u in result.updates] == [
        ("S1", {"stock_quantity": "1"}),
        ("S3", {"stock_quantity": "3"}),
    ]
    assert result.baseline == {}


def test_batches_hold_at_most_100_items_and_variations_go_per_parent() -> None:
    simple = [Update(f"S{n}", 1000 + n, 0, {"stock_quantity": "1"}) for n in range(250)]
    variations = [
        Update(f"V{n}", 5000 + n, 7 if n < 3 else 8, {"stock_quantity": "1"}) for n in range(5)
    ]
    out = batches([*variations, *simple])
    assert [(b.path, len(b.updates)) for b in out] == [
        ("/products", 100),
        ("/products", 100),
        ("/products", 50),
        ("/products/7/variations", 3),
        ("/products/8/variations", 2),
    ]
    assert len(batches(simple)) == math.ceil(250 / 100)
    assert batches([]) == []


def test_a_batch_item_carries_the_id_and_stock_as_a_number() -> None:
    update = Update("S", 101, 0, {"stock_quantity": "12", "regular_price": "149.00"})
    assert update.item() == {"id": 101, "regular_price": "149.00", "stock_quantity": 12}
