"""The `[order_mapper]` rules: defaults, a full table, and bad values named by their key."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from ordreflyt_order_mapper.rules import MappingRules, load_rules
from ordreflyt_runtime.settings import SettingsError

D = Decimal
REPO = Path(__file__).resolve().parents[3]

FULL = """
[shops.demo]
url = "http://127.0.0.1:8100/"

[order_mapper]
vat_rates = ["25", "12", 6, "0"]
shipping = "freight"
shipping_article = "FRAKT"
fee_article = "AVGIFT"
rounding_article = "ORESAVR"
rounding_tolerance = "0.10"
document = "order_then_invoice"
stock_point = "HUVUD"
delivery_state = "reservation"
external_reference = "woo-{shop_id}-{order_id}"
apply_changes_to_erp = true

[order_mapper.vat_accounts]
25 = 3001
"12" = 3002
"6.00" = 3003

[order_mapper.product_accounts]
"GAVEKORT" = 2420
"ULL.SOKK" = 3010
"""


def rules_from(toml: str) -> MappingRules:
    return load_rules(tomllib.loads(toml))


def test_defaults_without_a_table() -> None:
    rules = load_rules({"shops": {"demo": {}}})
    assert rules == MappingRules()
    # Every rate the ERP (Fortnox, unless the shops name another) has.
    assert rules.vat_rates == (D(25), D(12), D(6), D(0))
    assert (rules.erp_title, rules.erp_vat_rates) == ("Fortnox", (D(25), D(12), D(6), D(0)))
    assert rules.vat_accounts == {}
    assert rules.product_accounts == {}
    assert rules.shipping == "article"
    assert rules.shipping_article == "FRAKT"
    assert (rules.fee_article, rules.rounding_article) == ("", "")
    assert rules.rounding_tolerance == D("0.05")
    assert rules.document == "order"
    assert (rules.stock_point, rules.delivery_state) == ("", None)
    assert rules.external_reference == "{shop_id}-{order_id}"
    assert rules.apply_changes_to_erp is False


def test_the_shipped_config_file_loads() -> None:
    with (REPO / "deploy/config/ordreflyt.toml").open("rb") as fh:
        load_rules(tomllib.load(fh))


def test_full_table() -> None:
    rules = rules_from(FULL)
    assert rules.vat_rates == (D(25), D(12), D(6), D(0))
    assert rules.vat_accounts == {D(25): 3001, D(12): 3002, D(6): 3003}
    assert rules.product_accounts == {"GAVEKORT": 2420, "ULL.SOKK": 3010}
    assert rules.shipping == "freight"
    assert (rules.fee_article, rules.rounding_article) == ("AVGIFT", "ORESAVR")
    assert rules.rounding_tolerance == D("0.10")
    assert rules.document == "order_then_invoice"
    assert (rules.stock_point, rules.delivery_state) == ("HUVUD", "reservation")
    assert rules.external_reference == "woo-{shop_id}-{order_id}"
    assert rules.apply_changes_to_erp is True
    # Accounts: the product's own first, then its rate's, else none.
    assert rules.account_for("GAVEKORT", D(25)) == 2420
    assert rules.account_for("OTHER", D("25.00")) == 3001
    assert rules.account_for(None, D(0)) is None
    assert rules.configured_rate(D("6.000")) == D(6)


def test_whole_number_tolerance_is_exact() -> None:
    assert rules_from("[order_mapper]\nrounding_tolerance = 1").rounding_tolerance == D(1)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "rounding_tolerance = 0.05",
            r'\[order_mapper\].rounding_tolerance: write money as a decimal string like "0.05"',
        ),
        (
            'rounding_tolerance = "fem øre"',
            r'\[order_mapper\].rounding_tolerance must be a decimal string like "0.05"',
        ),
        (
            'rounding_tolerance = "-0.05"',
            r"\[order_mapper\].rounding_tolerance must be zero or more",
        ),
        ('rounding_tolerance = "NaN"', r"\[order_mapper\].rounding_tolerance must be a decimal"),
        (
            "paid_statuses = []",
            r"\[order_mapper\].paid_statuses has moved: set it as \[statuses\].paid",
        ),
        ("vat_rates = []", r"\[order_mapper\].vat_rates must be a non-empty list"),
        ('vat_rates = ["25", "moms"]', r"\[order_mapper\].vat_rates\[1\]: a VAT rate is a percent"),
        (
            'vat_rates = ["25", "125"]',
            r"\[order_mapper\].vat_rates\[1\]: a VAT rate must be between 0 and 100",
        ),
        ('vat_rates = ["25", "25.0"]', r"\[order_mapper\].vat_rates lists 25 % twice"),
        (
            'vat_rates = ["25", "15", "12", "6", "0"]',
            r"\[order_mapper\].vat_rates: 15 % is not a VAT rate Fortnox has \(Fortnox accepts "
            r"25, 12, 6, 0\)",
        ),
        (
            '[erp_writer]\nerp = "fortnox"',
            r"\[erp_writer\].erp has moved: set it as \[shops.<id>\].erp",
        ),
        (
            "vat_rates = [true]",
            r"\[order_mapper\].vat_rates\[0\]: expected int \| float \| str, got bool",
        ),
        (
            'shipping = "post"',
            r"\[order_mapper\].shipping: invalid enum value 'post' \(one of 'article', 'freight'\)",
        ),
        ("shipping_article = 7", r"\[order_mapper\].shipping_article: expected str, got int"),
        ("fee_article = false", r"\[order_mapper\].fee_article: expected str, got bool"),
        ("rounding_article = []", r"\[order_mapper\].rounding_article: expected str, got array"),
        (
            'document = "receipt"',
            r"\[order_mapper\].document: invalid enum value 'receipt' \(one of 'order', 'invoice', "
            r"'order_then_invoice'\)",
        ),
        ("stock_point = 1", r"\[order_mapper\].stock_point: expected str, got int"),
        ('delivery_state = "shipped"', r"\[order_mapper\].delivery_state: invalid enum value"),
        (
            'external_reference = "{order_id}"',
            r"\[order_mapper\].external_reference must contain \{shop_id\} and \{order_id\}",
        ),
        (
            'external_reference = "{shop}-{order_id}"',
            r"\[order_mapper\].external_reference may only use the placeholders",
        ),
        (
            'external_reference = "{shop_id}-{order_id"',
            r"\[order_mapper\].external_reference may only use the placeholders",
        ),
        ('apply_changes_to_erp = "yes"', r"\[order_mapper\].apply_changes_to_erp: expected bool"),
        (
            'rounding_tolerence = "0.05"',
            r"\[order_mapper\]: object contains unknown field rounding_tolerence",
        ),
        ('vat_accounts = "3001"', r"\[order_mapper\].vat_accounts: expected object, got str"),
        (
            "[order_mapper.vat_accounts]\n17 = 3001",
            r"\[order_mapper\].vat_accounts.17: 17 % is not in \[order_mapper\].vat_rates "
            r"\(0, 6, 12, 25\)",
        ),
        (
            '[order_mapper.vat_accounts]\n"25" = "3001"',
            r"\[order_mapper\].vat_accounts.25 must be an account number like 3001",
        ),
        (
            '[order_mapper.vat_accounts]\n"25" = 3001.0',
            r"\[order_mapper\].vat_accounts.25 must be an account number",
        ),
        (
            "[order_mapper.vat_accounts]\n12.5 = 3004",
            r'\[order_mapper\].vat_accounts.12.5: quote a rate with decimals: "12.5" = \.\.\.',
        ),
        (
            "[order_mapper.vat_accounts]\nmat = 3002",
            r"\[order_mapper\].vat_accounts.mat: a VAT rate is a percent",
        ),
        (
            "[order_mapper.product_accounts]\nSKU-1 = -1",
            r"\[order_mapper\].product_accounts.SKU-1 must be an account number",
        ),
        (
            "[order_mapper.product_accounts]\nULL.SOKK = 3010",
            r'\[order_mapper\].product_accounts.ULL.SOKK: quote a SKU containing dots: "ULL.SOKK"',
        ),
    ],
)
def test_bad_values_are_named(line: str, message: str) -> None:
    toml = line if line.startswith("[") else f"[order_mapper]\n{line}"
    with pytest.raises(SettingsError, match=message):
        rules_from(toml)


def test_order_mapper_must_be_a_table() -> None:
    with pytest.raises(SettingsError, match=r"\[order_mapper\]: expected object, got str"):
        load_rules({"order_mapper": "article"})
