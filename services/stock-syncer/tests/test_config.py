"""`[stock]`: defaults, and errors that name the key."""

from __future__ import annotations

from typing import Any

import pytest

from ordreflyt_runtime.settings import SettingsError
from ordreflyt_stock_syncer.config import StockConfig, stock_config


def test_defaults() -> None:
    config = stock_config({})
    assert config == StockConfig()
    assert config.interval == 300
    assert config.open_statuses == ("processing", "on-hold")
    assert dict(config.tax_class_by_vat) == {
        "25": "",
        "12": "reduced-rate",
        "6": "low-rate",
        "0": "zero-rate",
    }
    assert not config.needs_articles


def test_values_are_read() -> None:
    config = stock_config(
        {
            "stock": {
                "interval": 60,
                "stock_points": ["HUVUD", "BUTIK"],
                "sync_price": True,
                "shop_prices_include_tax": True,
                "weight_unit": "g",
                "tax_class_by_vat": {"25.0": "", "12": "mat"},
            }
        }
    )
    assert config.interval == 60.0
    assert config.stock_points == ("HUVUD", "BUTIK")
    assert config.sync_price
    assert config.shop_prices_include_tax
    assert config.needs_articles
    assert dict(config.tax_class_by_vat) == {"25": "", "12": "mat"}


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"interval": 0}, "[stock].interval: expected float >= 1"),
        ({"interval": "5m"}, "[stock].interval: expected float, got str"),
        ({"sync_price": "yes"}, "[stock].sync_price: expected bool, got str"),
        ({"stock_points": "HUVUD"}, "[stock].stock_points: expected array, got str"),
        ({"weight_unit": "stone"}, "[stock].weight_unit: invalid enum value 'stone' (one of"),
        ({"tax_class_by_vat": {"moms": ""}}, "[stock].tax_class_by_vat: 'moms' is not a VAT"),
        ({"tax_class_by_vat": {"25": 1}}, "[stock].tax_class_by_vat.25: expected str"),
        ({"erp_counts_orders_at": "invoice"}, "[stock].erp_counts_orders_at: invalid enum value"),
        ({"sync_prices": True}, "[stock]: object contains unknown field sync_prices"),
    ],
)
def test_a_wrong_key_is_named(table: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        stock_config({"stock": table})
    assert str(caught.value).startswith(named), caught.value


def test_when_the_erp_counts_orders_follows_the_delivery_state() -> None:
    assert stock_config({}).erp_counts_orders_at == "delivery"
    for state, counts in (
        ("delivery", "creation"),
        ("reservation", "creation"),
        ("registration", "delivery"),
    ):
        doc = {"order_mapper": {"delivery_state": state}}
        assert stock_config(doc).erp_counts_orders_at == counts
    doc = {
        "order_mapper": {"delivery_state": "delivery"},
        "stock": {"erp_counts_orders_at": "delivery"},
    }
    assert stock_config(doc).erp_counts_orders_at == "delivery"
