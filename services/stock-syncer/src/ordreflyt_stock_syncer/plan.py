"""The pure part of a pass: what the shop should show for each SKU, what changed, and how it is
sent. No I/O here, so every rule is unit-tested directly.

Values are compared as canonical text per field (`stock_quantity` "12", `regular_price`
"149.00", `weight` "0.8", `tax_class` "reduced-rate", `name`), so "1.0" kg and "1" kg, or
"149" and "149.00", are the same value and never cause a write.

- Stock for a SKU = the sum of available stock over the selected stock points, minus what open
  shop orders hold that the ERP does not count yet, rounded down to whole units and never below
  0 (WooCommerce keeps whole units; a negative count would turn into backorders).
- A field is sent when its value differs from the last one pushed; for a SKU never pushed, from
  what the shop showed when it was last listed (so a first pass writes only real differences).
  A full reconcile compares with what the shop shows instead, which repairs edits made in the
  shop. Equal values are never sent again: a write Ordreflyt made is never echoed.
- Simple products go to `products/batch`, variations to `products/<parent>/variations/batch`,
  at most 100 items a call (WooCommerce's limit).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ordreflyt_erp.capabilities import ErpArticle
from ordreflyt_stock_syncer.config import GRAMS_PER_UNIT, StockConfig, vat_key

BATCH_LIMIT = 100
STOCK = "stock_quantity"
NAME = "name"
PRICE = "regular_price"
WEIGHT = "weight"
TAX_CLASS = "tax_class"
FIELDS = (STOCK, NAME, PRICE, WEIGHT, TAX_CLASS)
# The ERP (Fortnox) cuts article descriptions at this length.
ERP_NAME_MAX = 50
CENT = Decimal("0.01")
WEIGHT_STEP = Decimal("0.001")
ZERO = Decimal(0)


@dataclass(frozen=True)
class ShopItem:
    """A sellable shop product (simple) or variation, as last listed."""

    sku: str
    product_id: int
    parent_id: int = 0  # the variable product of a variation; 0 for a simple product
    manage_stock: bool = False
    stock_quantity: int | None = None
    name: str | None = None  # None for variations (WooCommerce names them from the parent)
    regular_price: str | None = None
    weight: str | None = None
    tax_class: str | None = None

    @property
    def is_variation(self) -> bool:
        return self.parent_id != 0

    def observed(self) -> dict[str, str]:
        """The shop's values in canonical form (fields it does not show are left out)."""
        values: dict[str, str] = {}
        if self.manage_stock and self.stock_quantity is not None:
            values[STOCK] = str(self.stock_quantity)
        if self.name is not None:
            values[NAME] = self.name
        if self.regular_price:
            price = canonical_money(self.regular_price)
            if price is not None:
                values[PRICE] = price
        if self.weight is not None:
            values[WEIGHT] = canonical_weight(self.weight)
        if self.tax_class is not None:
            values[TAX_CLASS] = self.tax_class
        return values


@dataclass(frozen=True)
class Skipped:
    """A field that is not synced for a SKU, and why (shown in the report)."""

    sku: str
    field: str
    reason: str


@dataclass(frozen=True)
class Update:
    sku: str
    product_id: int
    parent_id: int
    values: Mapping[str, str]

    def item(self) -> dict[str, Any]:
        """The batch item: the product id and the changed fields, stock as a whole number."""
        body: dict[str, Any] = {"id": self.product_id}
        for name, value in sorted(self.values.items()):
            body[name] = int(value) if name == STOCK else value
        return body


@dataclass(frozen=True)
class Batch:
    path: str  # without the trailing "/batch"
    updates: tuple[Update, ...]


@dataclass
class Diff:
    updates: list[Update] = field(default_factory=list)
    # Values the shop already shows for SKUs never pushed: recorded as pushed, never sent.
    baseline: dict[str, dict[str, str]] = field(default_factory=dict)


def canonical_money(text: str | Decimal) -> str | None:
    try:
        return str(Decimal(str(text)).quantize(CENT, rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return None


def canonical_weight(text: str | Decimal) -> str:
    """ "" stays "" (no weight); "1.0" and "1" are both "1"."""
    if isinstance(text, str) and not text.strip():
        return ""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return str(text)
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def available_by_sku(
    rows: Iterable[tuple[str, str, Decimal]], selected: Collection[str]
) -> dict[str, Decimal]:
    """Sum (article, stock point, available) rows over the selected points (empty = all)."""
    totals: dict[str, Decimal] = {}
    for sku, point, available in rows:
        if selected and point not in selected:
            continue
        totals[sku] = totals.get(sku, ZERO) + available
    return totals


def shop_stock(available: Decimal, held: int) -> int:
    """Whole units the shop may sell: available minus held, rounded down, not below 0."""
    value = (available - held).to_integral_value(rounding=ROUND_FLOOR)
    return max(0, int(value))


def held_by_sku(
    orders: Iterable[Mapping[str, Any]], counted: Collection[str]
) -> tuple[dict[str, int], int]:
    """Quantities per SKU in open shop orders whose id is not in `counted` (orders the ERP
    already counts); answers (held per SKU, number of orders that hold stock)."""
    held: dict[str, int] = defaultdict(int)
    holding = 0
    for order in orders:
        if str(order.get("id")) in counted:
            continue
        holding += 1
        for line in order.get("line_items") or []:
            sku = line.get("sku") or ""
            quantity = line.get("quantity") or 0
            if sku and isinstance(quantity, int) and not isinstance(quantity, bool):
                held[sku] += quantity
    return dict(held), holding


def shop_price(article: ErpArticle, config: StockConfig) -> str | None:
    """The ERP's net sales price as the shop enters prices (with VAT added when it enters
    them with tax), rounded to the cent; None when there is no usable price."""
    if article.sales_price is None or article.sales_price <= 0:
        return None
    price = article.sales_price
    if config.shop_prices_include_tax:
        if article.vat is None:
            return None
        price = price * (1 + article.vat / 100)
    return str(price.quantize(CENT, rounding=ROUND_HALF_UP))


def shop_weight(grams: int, unit: str) -> str:
    if grams <= 0:
        return ""
    value = (Decimal(grams) / GRAMS_PER_UNIT[unit]).quantize(WEIGHT_STEP, rounding=ROUND_HALF_UP)
    return canonical_weight(value)


def tax_class_for(vat: Decimal, mapping: Mapping[str, str]) -> str | None:
    return mapping.get(vat_key(vat))


def desired_values(
    item: ShopItem,
    article: ErpArticle,
    available: Decimal | None,
    held: int,
    config: StockConfig,
) -> tuple[dict[str, str], list[Skipped]]:
    """What the shop should show for one matched SKU, per switched-on field."""
    values: dict[str, str] = {}
    skipped: list[Skipped] = []
    sku = item.sku
    if config.sync_stock:
        if available is None or article.stock_goods is False:
            if item.manage_stock:
                skipped.append(Skipped(sku, STOCK, "not a stock article in the ERP"))
        elif not item.manage_stock:
            skipped.append(Skipped(sku, STOCK, "the shop does not manage stock for it"))
        else:
            values[STOCK] = str(shop_stock(available, held))
    if config.sync_name and not item.is_variation and article.description:
        shop_name = item.name or ""
        # Fortnox cuts descriptions at 50 characters: a longer shop name it starts is kept.
        cut = len(article.description) >= ERP_NAME_MAX and shop_name.startswith(article.description)
        values[NAME] = shop_name if cut else article.description
    if config.sync_price:
        price = shop_price(article, config)
        if price is None:
            skipped.append(Skipped(sku, PRICE, "no sales price in the ERP"))
        else:
            values[PRICE] = price
    if config.sync_weight and article.weight_grams is not None:
        values[WEIGHT] = shop_weight(article.weight_grams, config.weight_unit)
    if config.sync_tax_class and article.vat is not None:
        tax_class = tax_class_for(article.vat, config.tax_class_by_vat)
        if tax_class is None:
            skipped.append(
                Skipped(sku, TAX_CLASS, f"no tax class for VAT {vat_key(article.vat)} %")
            )
        else:
            values[TAX_CLASS] = tax_class
    return values, skipped


def desired_by_sku(
    items: Mapping[str, ShopItem],
    articles: Mapping[str, ErpArticle],
    stock: Mapping[str, Decimal],
    held: Mapping[str, int],
    config: StockConfig,
) -> tuple[dict[str, dict[str, str]], list[Skipped]]:
    """`desired_values` for every shop SKU the ERP has an article for (SKU = article number):
    the values per SKU that has any, and the fields skipped."""
    desired: dict[str, dict[str, str]] = {}
    skipped: list[Skipped] = []
    for sku, item in items.items():
        article = articles.get(sku)
        if article is None:
            continue
        values, skips = desired_values(item, article, stock.get(sku), held.get(sku, 0), config)
        skipped.extend(skips)
        if values:
            desired[sku] = values
    return desired, skipped


def changed_fields(
    desired: Mapping[str, str],
    pushed: Mapping[str, str],
    observed: Mapping[str, str],
    *,
    reconcile: bool = False,
) -> tuple[dict[str, str], dict[str, str]]:
    """(fields to send, fields to record as already there) for one SKU."""
    send: dict[str, str] = {}
    baseline: dict[str, str] = {}
    for name, value in desired.items():
        if reconcile:
            if observed.get(name) != value:
                send[name] = value
            elif pushed.get(name) != value:
                baseline[name] = value
            continue
        last = pushed.get(name)
        if last is not None:
            if last != value:
                send[name] = value
        elif observed.get(name) == value:
            baseline[name] = value
        else:
            send[name] = value
    return send, baseline


def diff(
    items: Mapping[str, ShopItem],
    desired: Mapping[str, Mapping[str, str]],
    pushed: Mapping[str, Mapping[str, str]],
    *,
    reconcile: bool = False,
    hold_back: Collection[str] = (),
) -> Diff:
    """Updates for every SKU whose desired values changed; `hold_back` SKUs (per-item errors
    waiting for their next retry) are left out this time."""
    result = Diff()
    for sku in sorted(desired):
        item = items[sku]
        send, baseline = changed_fields(
            desired[sku], pushed.get(sku, {}), item.observed(), reconcile=reconcile
        )
        if baseline:
            result.baseline[sku] = baseline
        if send and sku not in hold_back:
            result.updates.append(Update(sku, item.product_id, item.parent_id, send))
    return result


def batches(updates: Iterable[Update], limit: int = BATCH_LIMIT) -> list[Batch]:
    """Simple products in `products/batch` calls, variations per parent; at most `limit` a call.

    Each SKU is one item, so a product gets all its changed fields in one update."""
    groups: dict[str, list[Update]] = defaultdict(list)
    for update in updates:
        path = f"/products/{update.parent_id}/variations" if update.parent_id else "/products"
        groups[path].append(update)
    out: list[Batch] = []
    for path in sorted(groups, key=lambda p: (p != "/products", p)):
        group = sorted(groups[path], key=lambda u: u.product_id)
        for start in range(0, len(group), limit):
            out.append(Batch(path, tuple(group[start : start + limit])))
    return out
