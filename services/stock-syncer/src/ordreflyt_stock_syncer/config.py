"""The `[stock]` table of the business configuration, read once at start.

Every key is optional; a wrong one (or an unknown one, so a misspelt switch cannot pass
silently) stops the service with a message naming `[stock].<key>` (the table is a msgspec
Struct, `StockTable`):

    [stock]
    interval = 300                  # seconds between scheduled passes
    debounce = 5                    # seconds from an ERP change signal to its pass
    full_refresh = 21600            # seconds between full reads of both catalogues
    stock_points = []               # ERP stock points summed for the shop; [] = every active one
    subtract_open_orders = true     # minus what open shop orders hold that the ERP does not count
    open_statuses = ["processing", "on-hold"]
    erp_counts_orders_at = "delivery"   # or "creation"; default from [order_mapper].delivery_state
    shops = []                      # shop ids to sync; [] = every [shops.<id>]
    sync_stock = true
    sync_name = false
    sync_price = false
    sync_weight = false
    sync_tax_class = false
    shop_prices_include_tax = false # the shop's prices are entered with tax (ERP prices are net)
    weight_unit = "kg"              # the shop's weight unit: kg, g, lbs or oz
    [stock.tax_class_by_vat]        # ERP VAT percent -> WooCommerce tax class slug
    "25" = ""
    "12" = "reduced-rate"
    "6" = "low-rate"
    "0" = "zero-rate"

`erp_counts_orders_at` says when the ERP's available stock drops for an order: at "creation"
(`[order_mapper].delivery_state` "delivery" or "reservation"), so an open shop order holds
stock only until erp-writer reports the ERP document; or at "delivery" ("registration",
Fortnox's usual default), so an open shop order holds stock for as long as it is open in the
shop. Without the key it follows `[order_mapper].delivery_state`, which decides what
erp-writer creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import msgspec

from ordreflyt_contracts.erp import delivery_state_setting, stock_taken_on_creation
from ordreflyt_runtime.config import section
from ordreflyt_runtime.settings import SettingsError

CountsAt = Literal["creation", "delivery"]

DEFAULT_TAX_CLASS_BY_VAT: Mapping[str, str] = {
    "25": "",
    "12": "reduced-rate",
    "6": "low-rate",
    "0": "zero-rate",
}
# Grams per unit of the shop's weight setting (ERP articles carry weights in grams).
GRAMS_PER_UNIT: Mapping[str, Decimal] = {
    "kg": Decimal(1000),
    "g": Decimal(1),
    "lbs": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}


def vat_key(rate: Decimal | str | int) -> str:
    """A VAT percent as a mapping key: "25", "12", "6", "12.5" (25.00 and 25 are the same)."""
    value = Decimal(str(rate)).normalize()
    return format(value, "f")


@dataclass(frozen=True)
class StockConfig:
    interval: float = 300.0
    debounce: float = 5.0
    full_refresh: float = 21600.0
    stock_points: tuple[str, ...] = ()
    subtract_open_orders: bool = True
    open_statuses: tuple[str, ...] = ("processing", "on-hold")
    erp_counts_orders_at: CountsAt = "delivery"
    shops: tuple[str, ...] = ()
    sync_stock: bool = True
    sync_name: bool = False
    sync_price: bool = False
    sync_weight: bool = False
    sync_tax_class: bool = False
    shop_prices_include_tax: bool = False
    weight_unit: str = "kg"
    tax_class_by_vat: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_TAX_CLASS_BY_VAT)
    )

    @property
    def needs_articles(self) -> bool:
        """Whether product data is synced (stock alone needs only balances)."""
        return self.sync_name or self.sync_price or self.sync_weight or self.sync_tax_class


Seconds = Annotated[float, msgspec.Meta(ge=0)]
Names = list[Annotated[str, msgspec.Meta(min_length=1)]]


class StockTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[stock]` as written (see the module's documentation)."""

    interval: Annotated[float, msgspec.Meta(ge=1)] = 300.0
    debounce: Seconds = 5.0
    full_refresh: Annotated[float, msgspec.Meta(ge=60)] = 21600.0
    stock_points: Names = []
    subtract_open_orders: bool = True
    open_statuses: Names = msgspec.field(default_factory=lambda: ["processing", "on-hold"])
    erp_counts_orders_at: CountsAt | None = None
    shops: Names = []
    sync_stock: bool = True
    sync_name: bool = False
    sync_price: bool = False
    sync_weight: bool = False
    sync_tax_class: bool = False
    shop_prices_include_tax: bool = False
    weight_unit: Literal["kg", "g", "lbs", "oz"] = "kg"
    tax_class_by_vat: dict[str, str] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_TAX_CLASS_BY_VAT)
    )


def _tax_classes(raw: Mapping[str, str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for rate, tax_class in raw.items():
        try:
            key = vat_key(rate)
        except InvalidOperation:
            raise SettingsError(
                f'[stock].tax_class_by_vat: {rate!r} is not a VAT percent (like "25")'
            ) from None
        mapping[key] = tax_class
    return mapping


def _unique(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name.strip() for name in names))


def stock_config(doc: Mapping[str, Any]) -> StockConfig:
    """`[stock]` from the parsed TOML document; SettingsError names a wrong key."""
    table = section(doc, "stock", StockTable)
    counts_at = table.erp_counts_orders_at
    if counts_at is None:
        # The ERP's available stock drops when an order is created, or when it is delivered.
        taken = stock_taken_on_creation(delivery_state_setting(doc))
        counts_at = "creation" if taken else "delivery"
    return StockConfig(
        interval=table.interval,
        debounce=table.debounce,
        full_refresh=table.full_refresh,
        stock_points=_unique(table.stock_points),
        subtract_open_orders=table.subtract_open_orders,
        open_statuses=_unique(table.open_statuses),
        erp_counts_orders_at=counts_at,
        shops=_unique(table.shops),
        sync_stock=table.sync_stock,
        sync_name=table.sync_name,
        sync_price=table.sync_price,
        sync_weight=table.sync_weight,
        sync_tax_class=table.sync_tax_class,
        shop_prices_include_tax=table.shop_prices_include_tax,
        weight_unit=table.weight_unit,
        tax_class_by_vat=_tax_classes(table.tax_class_by_vat),
    )
