"""What stock-syncer reads at start: the shops it serves and the ERP account of each, with a
bad setting named; and the shops grouped by ERP account for a pass."""

from __future__ import annotations

from typing import Any, cast

import pytest

from ordreflyt_erp.capabilities import Erp
from ordreflyt_erp.factory import ErpChoice, ErpDirectory
from ordreflyt_runtime.settings import SettingsError
from ordreflyt_stock_syncer.app import erp_accounts, load_settings


def document(**shops: dict[str, Any]) -> dict[str, Any]:
    return {"shops": {shop_id: {"url": "https://butikk.no/", **t} for shop_id, t in shops.items()}}


def test_each_shop_served_has_its_erp_account() -> None:
    doc = {
        **document(nord={}, syd={"erp_account": "syd"}, vest={}),
        "stock": {"shops": ["nord", "syd"], "full_refresh": 600},
    }
    settings = load_settings(doc, {})
    assert list(settings.shops) == ["nord", "syd"]
    assert settings.erps == {"nord": ErpChoice("fortnox", ""), "syd": ErpChoice("fortnox", "syd")}
    assert settings.erp_options.full_refresh == 600


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"erp": "sap"}, "[shops.demo].erp: 'sap' is not an ERP Ordreflyt knows"),
        ({"erp_account": "no-dash"}, "[shops.demo].erp_account: 'no-dash': letters, digits"),
        ({"url": ""}, "[shops.demo].url (or SHOP_DEMO_URL) must be the shop's URL"),
    ],
)
def test_a_bad_shop_setting_stops_the_service_naming_it(table: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(document(demo=table), {})
    assert str(caught.value).startswith(named), caught.value


def fake_erp(key: str) -> Erp:
    nothing = cast(Any, None)
    return Erp(key, "fortnox", "Fortnox", nothing, nothing, nothing, nothing, nothing, nothing)


def test_the_shops_are_grouped_by_the_erp_account_they_book_into() -> None:
    directory = ErpDirectory(
        {"fortnox": fake_erp("fortnox"), "fortnox:syd": fake_erp("fortnox:syd")},
        {"nord": "fortnox", "syd": "fortnox:syd", "vest": "fortnox"},
    )
    assert [(a.erp.key, a.shops) for a in erp_accounts(directory)] == [
        ("fortnox", ("nord", "vest")),
        ("fortnox:syd", ("syd",)),
    ]
