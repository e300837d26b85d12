"""The merchant's mapping rules: the `[order_mapper]` table of the TOML business config.

`load_rules` decodes the table into a msgspec Struct (types, allowed values, unknown keys),
then checks what types cannot say; an error names the key (`[order_mapper].vat_rates[1]: ...`),
so a wrong setting stops the service at start instead of mis-booking orders later. Money is read
from strings (or whole numbers) into `Decimal`, never through a float: a TOML float such as
`0.05` is refused.

Keys and defaults:

    [order_mapper]
    vat_rates = ["25", "12", "6", "0"]           # percent; default: every rate the ERP has
    shipping = "article"                         # or "freight" (the ERP's freight field)
    shipping_article = "FRAKT"                   # article number of shipping rows; "" = none
    fee_article = ""                             # article number of fee rows; "" = none
    rounding_article = ""                        # article number of the rounding row; "" = none
    rounding_tolerance = "0.05"                  # largest difference a rounding row may absorb
    document = "order"                           # or "invoice", "order_then_invoice"
    stock_point = ""                             # ERP stock point code; "" = none
    delivery_state = ""                          # "" or delivery|registration|reservation
    external_reference = "{shop_id}-{order_id}"  # may also use {order_number}
    apply_changes_to_erp = false                 # send edits made after the transfer

    [order_mapper.vat_accounts]                  # VAT rate -> sales account
    "25" = 3001

    [order_mapper.product_accounts]              # SKU (or article number) -> sales account
    "GAVEKORT" = 3010

The ERP is each shop's `[shops.<id>] erp` (default "fortnox"); its VAT rates come from the ERP
library (`ordreflyt_erp.vat`), and a configured rate an ERP of the shops does not have stops the
service at start: an order with that rate could never be booked there, whatever the config says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import msgspec

from ordreflyt_contracts.erp import DeliveryState, DocumentKind
from ordreflyt_erp.vat import BY_ERP, FORTNOX, ErpVatRates, vat_rates_of
from ordreflyt_runtime.config import refuse_moved, section
from ordreflyt_runtime.settings import SettingsError

ShippingMode = Literal["article", "freight"]

TABLE = "order_mapper"
# Placeholders `external_reference` may use; both of the required ones make it unique per order.
REFERENCE_PLACEHOLDERS = ("shop_id", "order_id", "order_number")
REQUIRED_PLACEHOLDERS = ("shop_id", "order_id")


@dataclass(frozen=True)
class MappingRules:
    """How shop orders become ERP orders for one installation (all shops share the rules)."""

    vat_rates: tuple[Decimal, ...] = FORTNOX.rates
    vat_accounts: Mapping[Decimal, int] = field(default_factory=dict)
    product_accounts: Mapping[str, int] = field(default_factory=dict)
    shipping: ShippingMode = "article"
    shipping_article: str = "FRAKT"
    fee_article: str = ""
    rounding_article: str = ""
    rounding_tolerance: Decimal = Decimal("0.05")
    document: DocumentKind = "order"
    stock_point: str = ""
    delivery_state: DeliveryState | None = None
    external_reference: str = "{shop_id}-{order_id}"
    apply_changes_to_erp: bool = False
    # The ERP the orders go to and every VAT rate it can book (`vat_rates` is a subset).
    erp_title: str = FORTNOX.title
    erp_vat_rates: tuple[Decimal, ...] = FORTNOX.rates

    def configured_rate(self, rate: Decimal) -> Decimal | None:
        """The configured rate equal to `rate` (so "25.00" finds "25"), or None."""
        for configured in self.vat_rates:
            if configured == rate:
                return configured
        return None

    def erp_has(self, rate: Decimal) -> bool:
        return rate in self.erp_vat_rates

    def account_for(self, article_number: str | None, rate: Decimal) -> int | None:
        """A product's own account wins over its VAT rate's account; None lets the ERP choose."""
        if article_number and article_number in self.product_accounts:
            return self.product_accounts[article_number]
        # Decimal hashes by value, so 25 finds the account configured for "25.00".
        return self.vat_accounts.get(rate)


def rate_text(rate: Decimal) -> str:
    """A rate as a person writes it: 25, 12.5, 11.11 (no exponent, no trailing zeros)."""
    text = format(rate.normalize(), "f")
    return "0" if text in ("-0", "0") else text


class OrderMapperTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[order_mapper]` as written; `load_rules` turns it into `MappingRules`."""

    # Percents: "25", 25 or 11.11 (a rate is not money: its shortest text is what was written).
    vat_rates: list[str | int | float] | None = None
    vat_accounts: dict[str, Any] = {}
    product_accounts: dict[str, Any] = {}
    shipping: ShippingMode = "article"
    shipping_article: str = "FRAKT"
    fee_article: str = ""
    rounding_article: str = ""
    # Money as a decimal string ("0.05") or a whole number; a TOML float is not exact.
    rounding_tolerance: str | int = "0.05"
    document: DocumentKind = "order"
    stock_point: str = ""
    delivery_state: DeliveryState | Literal[""] = ""
    external_reference: str = "{shop_id}-{order_id}"
    apply_changes_to_erp: bool = False


WHERE = f"[{TABLE}]"


def _rate(value: Any, name: str) -> Decimal:
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise SettingsError(
            f'{name}: a VAT rate is a percent like "25" or "11.11", got {value!r}'
        ) from None
    if not rate.is_finite() or rate < 0 or rate >= 100:
        raise SettingsError(f"{name}: a VAT rate must be between 0 and 100 percent, got {value!r}")
    return rate


def _rates(
    table: OrderMapperTable, title: str, erp_rates: tuple[Decimal, ...]
) -> tuple[Decimal, ...]:
    name = f"{WHERE}.vat_rates"
    if table.vat_rates is None:
        return erp_rates
    if not table.vat_rates:
        raise SettingsError(f'{name} must be a non-empty list of percents like ["25", "12", "0"]')
    rates: list[Decimal] = []
    for index, item in enumerate(table.vat_rates):
        rate = _rate(item, f"{name}[{index}]")
        if rate in rates:
            raise SettingsError(f"{name} lists {rate_text(rate)} % twice")
        if rate not in erp_rates:
            accepted = ", ".join(rate_text(r) for r in erp_rates)
            raise SettingsError(
                f"{name}: {rate_text(rate)} % is not a VAT rate {title} has "
                f"({title} accepts {accepted}); remove it: {title} would refuse every row "
                "with it, so orders with that rate are held for booking by hand"
            )
        rates.append(rate)
    return tuple(rates)


def _erp(doc: Mapping[str, Any]) -> tuple[str, tuple[Decimal, ...]]:
    """The ERP the shops' `[shops.<id>] erp` choose: its title and the VAT rates it (every one
    of them, when shops use different ERPs) can book."""
    refuse_moved(doc, "erp_writer", "erp", "[shops.<id>].erp")
    shops = doc.get("shops")
    tables = shops.items() if isinstance(shops, Mapping) and shops else [("<id>", {})]
    chosen: dict[str, ErpVatRates] = {}
    for shop_id, table in tables:
        erp = table.get("erp", FORTNOX.erp) if isinstance(table, Mapping) else FORTNOX.erp
        known = vat_rates_of(erp) if isinstance(erp, str) else None
        if known is None:
            raise SettingsError(
                f"[shops.{shop_id}].erp: {erp!r} is not an ERP Ordreflyt knows"
                f" (known: {', '.join(BY_ERP)})"
            )
        chosen[known.erp] = known
    rates = [r for r in next(iter(chosen.values())).rates if all(e.has(r) for e in chosen.values())]
    return " and ".join(e.title for e in chosen.values()), tuple(rates)


def _account(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SettingsError(f"{name} must be an account number like 3001, got {value!r}")
    return value


def _dotted(key: str, value: Any) -> str:
    """The key as written before TOML split it at its dots (`11.11` -> {"11": {"11": ...}})."""
    while isinstance(value, dict) and len(value) == 1:
        ((sub, value),) = value.items()
        key = f"{key}.{sub}"
    return key


def _vat_accounts(table: OrderMapperTable, rates: tuple[Decimal, ...]) -> dict[Decimal, int]:
    accounts: dict[Decimal, int] = {}
    for key, value in table.vat_accounts.items():
        name = f"{WHERE}.vat_accounts.{key}"
        if isinstance(value, dict):
            # An unquoted `11.11 = 3005` is a dotted key in TOML: a table, not a rate.
            dotted = _dotted(key, value)
            raise SettingsError(
                f'{WHERE}.vat_accounts.{dotted}: quote a rate with decimals: "{dotted}" = ...'
            )
        rate = _rate(key, name)
        if rate not in rates:
            configured = ", ".join(rate_text(r) for r in sorted(rates))
            raise SettingsError(
                f"{name}: {rate_text(rate)} % is not in {WHERE}.vat_rates ({configured})"
            )
        if rate in accounts:
            raise SettingsError(f"{name}: the rate {rate_text(rate)} % has two accounts")
        accounts[rate] = _account(value, name)
    return accounts


def _product_accounts(table: OrderMapperTable) -> dict[str, int]:
    accounts: dict[str, int] = {}
    for key, value in table.product_accounts.items():
        if isinstance(value, dict):
            dotted = _dotted(key, value)
            raise SettingsError(
                f'{WHERE}.product_accounts.{dotted}: quote a SKU containing dots: "{dotted}" = ...'
            )
        accounts[key] = _account(value, f"{WHERE}.product_accounts.{key}")
    return accounts


def _tolerance(value: str | int) -> Decimal:
    name = f"{WHERE}.rounding_tolerance"
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise SettingsError(f'{name} must be a decimal string like "0.05", got {value!r}')
    if amount < 0:
        raise SettingsError(
            f'{name} must be zero or more (a decimal string like "0.05"), got {value!r}'
        )
    return amount


def _reference(value: str) -> str:
    name = f"{WHERE}.external_reference"
    sample = {key: "x" for key in REFERENCE_PLACEHOLDERS}
    try:
        value.format(**sample)
    except (KeyError, IndexError, ValueError):
        allowed = ", ".join("{" + key + "}" for key in REFERENCE_PLACEHOLDERS)
        raise SettingsError(
            f"{name} may only use the placeholders {allowed}, got {value!r}"
        ) from None
    missing = [key for key in REQUIRED_PLACEHOLDERS if "{" + key + "}" not in value]
    if missing:
        raise SettingsError(
            f"{name} must contain {{shop_id}} and {{order_id}} so it is unique per shop order, "
            f"got {value!r}"
        )
    return value


def load_rules(doc: Mapping[str, Any], env: Mapping[str, str] | None = None) -> MappingRules:
    """The rules from the whole parsed TOML document (defaults when `[order_mapper]` is absent)."""
    refuse_moved(doc, TABLE, "paid_statuses", "[statuses].paid (see the README)")
    raw = doc.get(TABLE, {})
    if isinstance(raw, dict) and isinstance(raw.get("rounding_tolerance"), float):
        raise SettingsError(
            f'{WHERE}.rounding_tolerance: write money as a decimal string like "0.05"'
            f" (a TOML float is not exact), got {raw['rounding_tolerance']!r}"
        )
    table = section(doc, TABLE, OrderMapperTable)
    erp_title, erp_rates = _erp(doc)
    rates = _rates(table, erp_title, erp_rates)
    return MappingRules(
        vat_rates=rates,
        vat_accounts=_vat_accounts(table, rates),
        product_accounts=_product_accounts(table),
        shipping=table.shipping,
        shipping_article=table.shipping_article.strip(),
        fee_article=table.fee_article.strip(),
        rounding_article=table.rounding_article.strip(),
        rounding_tolerance=_tolerance(table.rounding_tolerance),
        document=table.document,
        stock_point=table.stock_point.strip(),
        delivery_state=table.delivery_state or None,
        external_reference=_reference(table.external_reference.strip()),
        apply_changes_to_erp=table.apply_changes_to_erp,
        erp_title=erp_title,
        erp_vat_rates=erp_rates,
    )
