"""The shared Nordic catalogue: deterministic from its size and seed, SKUs from the size alone."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordreflyt_sandbox_kit.catalogue import (
    SWEDISH_VAT,
    TAX_CLASSES,
    TEMPLATES,
    nordic_catalogue,
    swedish_vat,
)


def test_the_same_size_and_seed_give_the_same_catalogue() -> None:
    assert nordic_catalogue(40, 1) == nordic_catalogue(40, 1)
    assert nordic_catalogue(40, 1) != nordic_catalogue(40, 2)
    assert nordic_catalogue() == nordic_catalogue(40, 1)


def test_the_skus_names_and_prices_follow_from_the_size_alone() -> None:
    def sold(seed: int | None) -> list[tuple[str, str, Decimal, str, str]]:
        return [
            (i.sku, i.name, i.price, i.tax_class, i.weight)
            for i in nordic_catalogue(45, seed).sellable()
        ]

    assert sold(1) == sold(99) == sold(None)
    # A larger catalogue only adds products.
    assert nordic_catalogue(45, 1).products[:30] == nordic_catalogue(30, 1).products


def test_every_purchasable_sku_is_unique_and_variable_parents_are_not_sold() -> None:
    catalogue = nordic_catalogue(2 * len(TEMPLATES) + 3, 5)
    items = catalogue.sellable()
    assert len({i.sku for i in items}) == len(items)
    parents = {p.sku for p in catalogue.products if p.variable}
    assert parents
    assert not parents & catalogue.skus()
    jacket = next(p for p in catalogue.products if p.sku == "REGN-JAKKE-1003")
    assert [v.sku for v in jacket.variations] == [
        "REGN-JAKKE-1003-S",
        "REGN-JAKKE-1003-M",
        "REGN-JAKKE-1003-L",
        "REGN-JAKKE-1003-XL",
    ]
    assert jacket.variations[-1].price == jacket.price + 100
    sweater = next(p for p in catalogue.products if p.sku == "ULL-GENSER-1011")
    assert sweater.variations[0].name == "Ullgenser - Grå"
    assert sweater.variations[0].sku == "ULL-GENSER-1011-GRA"
    # The second round through the templates: " 2" on the names, 10 more on the prices.
    second = catalogue.products[len(TEMPLATES)]
    assert (second.sku, second.name, second.price) == ("ULL-SOKK-1021", "Ullsokker 2", Decimal(159))


def test_the_catalogue_spans_every_tax_class_with_nordic_names() -> None:
    items = nordic_catalogue(40, 1).sellable()
    assert {i.tax_class for i in items} == set(TAX_CLASSES)
    assert all(isinstance(i.price, Decimal) and i.price > 0 for i in items)
    assert {ch for i in items for ch in i.name} & set("æøå")
    unmanaged = {i.sku for i in items if not i.manage_stock}
    assert unmanaged == {
        "BILL-FJORD-1007",
        "GAVEKORT-500-1010",
        "BILL-FJORD-1027",
        "GAVEKORT-500-1030",
    }


def test_swedish_vat_per_tax_class() -> None:
    assert [swedish_vat(c) for c in TAX_CLASSES] == [25, 12, 6, 0]
    assert swedish_vat("no-such-class") == SWEDISH_VAT[""]


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        nordic_catalogue(-1, 1)
    assert nordic_catalogue(0, 1).sellable() == []
