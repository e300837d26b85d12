"""The `[stock]` table of the business configuration, read once at start.

Every key is optional; a wrong one (or an unknown one, so a misspelt switch cannot pass
silently) stops the service with a message naming `stock.<key>`:

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
(Fortnox DeliveryState `delivery` or `reservation`), so an open shop order holds stock only
until erp-writer reports the ERP document; or at "delivery" (`registration`, Fortnox's usual
default), so an open shop order holds stock for as long as it is open in the shop. Without the
key it follows `[order_mapper].delivery_state`, which decides what erp-writer creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from ordreflyt_runtime.settings import SettingsError

CountsAt = Literal["creation", "delivery"]

DEFAULT_TAX_CLASS_BY_VAT: Mapping[str, str] = {
    "25": "",
    "12": "reduced-rate",
    "6": "low-rate",
    "0": "zero-rate",
}
# Grams per unit of the shop's weight setting (Fortnox keeps weights in grams).
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


KNOWN_KEYS = (
    "interval",
    "debounce",
    "full_refresh",
    "stock_points",
    "subtract_open_orders",
    "open_statuses",
    "erp_counts_orders_at",
    "shops",
    "sync_stock",
    "sync_name",
    "sync_price",
    "sync_weight",
    "sync_tax_class",
    "shop_prices_include_tax",
    "weight_unit",
    "tax_class_by_vat",
)


def _seconds(table: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise SettingsError(f"stock.{key} must be a number of seconds >= {minimum}, got {value!r}")
    return float(value)


def _flag(table: Mapping[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(f"stock.{key} must be true or false, got {value!r}")
    return value


def _texts(table: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SettingsError(f'stock.{key} must be a list of names, like ["a", "b"], got {value!r}')
    return tuple(dict.fromkeys(v.strip() for v in value))


def _tax_classes(table: Mapping[str, Any]) -> dict[str, str]:
    raw = table.get("tax_class_by_vat", DEFAULT_TAX_CLASS_BY_VAT)
    if not isinstance(raw, Mapping):
        raise SettingsError('stock.tax_class_by_vat must be a table like {"25" = "", ...}')
    mapping: dict[str, str] = {}
    for rate, tax_class in raw.items():
        try:
            key = vat_key(rate)
        except InvalidOperation:
            raise SettingsError(
                f'stock.tax_class_by_vat: {rate!r} is not a VAT percent (like "25")'
            ) from None
        if not isinstance(tax_class, str):
            raise SettingsError(
                f'stock.tax_class_by_vat.{rate} must be a tax class slug ("" = standard)'
            )
        mapping[key] = tax_class
    return mapping


def _counts_at(doc: Mapping[str, Any], table: Mapping[str, Any]) -> CountsAt:
    if "erp_counts_orders_at" in table:
        value = table["erp_counts_orders_at"]
        if value not in ("creation", "delivery"):
            raise SettingsError(
                f'stock.erp_counts_orders_at must be "creation" or "delivery", got {value!r}'
            )
        return "creation" if value == "creation" else "delivery"
    mapper = doc.get("order_mapper")
    state = mapper.get("delivery_state", "") if isinstance(mapper, Mapping) else ""
    return "creation" if state in ("delivery", "reservation") else "delivery"


def stock_config(doc: Mapping[str, Any]) -> StockConfig:
    """`[stock]` from the parsed TOML document; SettingsError names a wrong key."""
    table = doc.get("stock", {})
    if not isinstance(table, Mapping):
        raise SettingsError("[stock] must be a table")
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        raise SettingsError(
            f"stock.{unknown[0]} is not a setting of stock-syncer (known: {', '.join(KNOWN_KEYS)})"
        )
    unit = table.get("weight_unit", "kg")
    if unit not in GRAMS_PER_UNIT:
        raise SettingsError(
            f"stock.weight_unit must be one of {', '.join(GRAMS_PER_UNIT)}, got {unit!r}"
        )
    open_statuses = _texts(table, "open_statuses", ("processing", "on-hold"))
    return StockConfig(
        interval=_seconds(table, "interval", 300.0, 1.0),
        debounce=_seconds(table, "debounce", 5.0, 0.0),
        full_refresh=_seconds(table, "full_refresh", 21600.0, 60.0),
        stock_points=_texts(table, "stock_points", ()),
        subtract_open_orders=_flag(table, "subtract_open_orders", True),
        open_statuses=open_statuses,
        erp_counts_orders_at=_counts_at(doc, table),
        shops=_texts(table, "shops", ()),
        sync_stock=_flag(table, "sync_stock", True),
        sync_name=_flag(table, "sync_name", False),
        sync_price=_flag(table, "sync_price", False),
        sync_weight=_flag(table, "sync_weight", False),
        sync_tax_class=_flag(table, "sync_tax_class", False),
        shop_prices_include_tax=_flag(table, "shop_prices_include_tax", False),
        weight_unit=str(unit),
        tax_class_by_vat=_tax_classes(table),
    )
