"""Pure parts: totals, exact JSON numbers, and reading the command-line settings."""

from __future__ import annotations

import argparse
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordreflyt_sandbox_fortnox.__main__ import _OPTIONS, settings_from
from ordreflyt_sandbox_fortnox.jsonio import dumps, quantity_text
from ordreflyt_sandbox_fortnox.totals import document_totals, row_total

money = st.decimals(min_value=Decimal("-10000"), max_value=Decimal("10000"), places=2)
rates = st.sampled_from([Decimal(25), Decimal(12), Decimal(6), Decimal(0)])


@given(
    rows=st.lists(st.tuples(money, rates), max_size=8), freight=money, vat_included=st.booleans()
)
def test_net_and_vat_add_up_to_the_total(
    rows: list[tuple[Decimal, Decimal]], freight: Decimal, vat_included: bool
) -> None:
    totals = document_totals(rows, freight, vat_included)
    assert totals.net + totals.vat == totals.total
    assert totals.total == totals.total.quantize(Decimal("0.01"))


def test_discounts() -> None:
    assert row_total(Decimal(3), Decimal("100"), Decimal(10), "PERCENT") == Decimal("270.00")
    assert row_total(Decimal(3), Decimal("100"), Decimal(10), "AMOUNT") == Decimal("290.00")
    assert row_total(Decimal(-3), Decimal("100"), Decimal(10), "AMOUNT") == Decimal("-290.00")


def test_decimals_are_written_digit_for_digit() -> None:
    assert (
        dumps({"a": Decimal("0.10"), "b": [True, None, "ø", 3]})
        == '{"a":0.10,"b":[true,null,"ø",3]}'
    )
    assert dumps(Decimal("1E+3")) == "1000"
    assert quantity_text(Decimal(6)) == "6.00"
    assert quantity_text(Decimal("1.125")) == "1.125"


def _args(**given: str) -> argparse.Namespace:
    names = {flag.removeprefix("--").replace("-", "_") for flag, *_ in _OPTIONS}
    return argparse.Namespace(**{name: given.get(name) for name in names})


def test_settings_come_from_flags_then_environment() -> None:
    env = {"FORTNOX_RATE_LIMIT": "off", "FORTNOX_WAREHOUSE": "off", "FORTNOX_ACCESS_TOKEN": "a,b"}
    settings = settings_from(_args(client_id="flag-client"), env)
    assert settings.rate_limit is None
    assert settings.warehouse is False
    assert settings.access_tokens == ["a", "b"]
    assert settings.client_id == "flag-client"
    assert settings_from(_args(rate_limit="10"), env).rate_limit == 10
    catalogue = settings_from(_args(products="12"), {"FORTNOX_SEED": "3", "FORTNOX_PRODUCTS": "9"})
    assert (catalogue.catalogue_products, catalogue.seed) == (12, 3)
    assert settings_from(_args(seed="random"), {}).seed is None
    assert (settings.catalogue_products, settings.seed) == (40, 1)
    assert settings.open_control is False
    assert settings_from(_args(open_control="on"), {}).open_control is True
    assert settings_from(_args(), {"SANDBOX_OPEN_CONTROL": "1"}).open_control is True


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"FORTNOX_RATE_LIMIT": "fast"}, "FORTNOX_RATE_LIMIT"),
        ({"FORTNOX_RATE_LIMIT": "0"}, "FORTNOX_RATE_LIMIT"),
        ({"FORTNOX_WAREHOUSE": "maybe"}, "FORTNOX_WAREHOUSE"),
        ({"FORTNOX_CLIENT_SECRET": " "}, "FORTNOX_CLIENT_SECRET"),
        ({"FORTNOX_PRODUCTS": "-1"}, "FORTNOX_PRODUCTS"),
        ({"FORTNOX_SEED": "one"}, "FORTNOX_SEED"),
        ({"SANDBOX_OPEN_CONTROL": "perhaps"}, "SANDBOX_OPEN_CONTROL"),
    ],
)
def test_a_malformed_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        settings_from(_args(), env)
