"""Creating, changing and deleting products and variations, as the REST API does it.

A request's fields are checked as a whole before anything changes, so a rejected item in a
batch leaves its product untouched. Behaviour a stock syncer must expect from WooCommerce:
`stock_quantity` is ignored unless `manage_stock` is (or becomes) true; an unknown `tax_class`
silently becomes the standard class; a duplicated SKU is refused; every save fires
`product.updated` and moves `date_modified`. This shop also refuses a negative
`stock_quantity`, which WooCommerce itself would store as a backorder count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ordreflyt_sandbox_woocommerce.errors import WooError, invalid_param
from ordreflyt_sandbox_woocommerce.models import Product
from ordreflyt_sandbox_woocommerce.money import parse_money
from ordreflyt_sandbox_woocommerce.store import Store
from ordreflyt_sandbox_woocommerce.taxes import valid_tax_class

STOCK_STATUSES = ("instock", "outofstock", "onbackorder")
BACKORDERS = ("no", "notify", "yes")
PRODUCT_TYPES = ("simple", "variable")


@dataclass
class ProductChanges:
    """The validated fields of one create or update request; None means "not given"."""

    name: str | None = None
    type: str | None = None
    sku: str | None = None
    regular_price: Decimal | None = None
    clear_price: bool = False
    weight: str | None = None
    tax_class: str | None = None
    manage_stock: bool | None = None
    stock_quantity: int | None = None
    inventory_delta: int | None = None
    stock_status: str | None = None
    backorders: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    meta_data: list[tuple[str, Any]] = field(default_factory=list)


def _integer(body: dict[str, Any], name: str) -> int | None:
    raw = body.get(name)
    if raw is None:
        return None
    # WordPress accepts integers and strings of digits for an "integer" argument.
    if isinstance(raw, bool) or not (
        isinstance(raw, int) or (isinstance(raw, str) and raw.strip().lstrip("-").isdigit())
    ):
        raise invalid_param(name, f"{name} is not of type integer.")
    return int(raw)


def _string(body: dict[str, Any], name: str) -> str | None:
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid_param(name, f"{name} is not of type string.")
    return raw


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = _string(body, name)
    if raw is not None and raw not in allowed:
        raise invalid_param(name, f"{name} is not one of {', '.join(allowed)}.")
    return raw


def parse_changes(body: dict[str, Any], *, creating: bool) -> ProductChanges:
    changes = ProductChanges(
        name=_string(body, "name"),
        type=_choice(body, "type", PRODUCT_TYPES) if creating else None,
        sku=_string(body, "sku"),
        weight=_string(body, "weight"),
        tax_class=_string(body, "tax_class"),
        stock_quantity=_integer(body, "stock_quantity"),
        inventory_delta=_integer(body, "inventory_delta"),
        stock_status=_choice(body, "stock_status", STOCK_STATUSES),
        backorders=_choice(body, "backorders", BACKORDERS),
    )
    if changes.stock_quantity is not None and changes.stock_quantity < 0:
        raise invalid_param("stock_quantity", "stock_quantity must be 0 or more.")
    price = _string(body, "regular_price")
    if price == "":
        changes.clear_price = True
    elif price is not None:
        try:
            changes.regular_price = parse_money(price, "regular_price")
        except ValueError as exc:
            raise invalid_param("regular_price", str(exc)) from exc
    manage = body.get("manage_stock")
    if manage is not None and not isinstance(manage, bool):
        raise invalid_param("manage_stock", "manage_stock is not of type boolean.")
    changes.manage_stock = manage
    for attribute in body.get("attributes") or []:
        if isinstance(attribute, dict) and isinstance(attribute.get("name"), str):
            options = attribute.get("options") or [attribute.get("option", "")]
            changes.attributes[attribute["name"]] = [str(o) for o in options]
    for meta in body.get("meta_data") or []:
        if isinstance(meta, dict) and isinstance(meta.get("key"), str):
            changes.meta_data.append((meta["key"], meta.get("value")))
    return changes


def _check_sku(store: Store, product_id: int, sku: str) -> None:
    if not sku:
        return
    other = store.product_by_sku(sku)
    if other is not None and other.id != product_id:
        raise WooError(
            400,
            "product_invalid_sku",
            "Invalid or duplicated SKU.",
            resource_id=other.id,
            unique_sku=f"{sku}-1",
        )


def _apply(store: Store, product: Product, changes: ProductChanges) -> None:
    _apply_fields(product, changes)
    _apply_stock(product, changes)
    if changes.attributes:
        product.attributes = changes.attributes
    _apply_meta(store, product, changes.meta_data)


def _apply_fields(product: Product, changes: ProductChanges) -> None:
    """The fields a request sets one by one (an invalid tax class raises half-way, as before)."""
    if changes.name is not None:
        product.name = changes.name
    if changes.sku is not None:
        product.sku = changes.sku
    if changes.regular_price is not None:
        product.regular_price = changes.regular_price
    elif changes.clear_price:
        product.regular_price = None
    if changes.weight is not None:
        product.weight = changes.weight
    if changes.tax_class is not None:
        product.tax_class = valid_tax_class(changes.tax_class)
    if changes.backorders is not None:
        product.backorders = changes.backorders
    if changes.manage_stock is not None:
        product.manage_stock = changes.manage_stock
    if changes.stock_status is not None:
        product.stock_status_manual = changes.stock_status


def _apply_stock(product: Product, changes: ProductChanges) -> None:
    """The quantity: given, moved by a delta, 0 when managed without one, none when unmanaged."""
    if not product.manage_stock:
        # WooCommerce drops the quantity of a product that does not manage stock.
        product.stock_quantity = None
    elif changes.stock_quantity is not None:
        product.stock_quantity = changes.stock_quantity
    elif changes.inventory_delta is not None:
        product.stock_quantity = (product.stock_quantity or 0) + changes.inventory_delta
    elif product.stock_quantity is None:
        product.stock_quantity = 0


def _apply_meta(store: Store, product: Product, meta_data: list[tuple[str, Any]]) -> None:
    """Meta entries by key: an existing key's value replaced, a new key added."""
    for key, value in meta_data:
        existing = next((m for m in product.meta_data if m.key == key), None)
        if existing is None:
            product.meta_data.append(store.meta(key, value))
        else:
            existing.value = value


def create(store: Store, body: dict[str, Any], parent: Product | None = None) -> Product:
    changes = parse_changes(body, creating=True)
    _check_sku(store, 0, changes.sku or "")
    now = store.now()
    product = Product(
        id=0,
        name=changes.name or (parent.name if parent else "Product"),
        type="variation" if parent else (changes.type or "simple"),
        parent_id=parent.id if parent else 0,
        sku="",
        regular_price=None,
        tax_class=parent.tax_class if parent else "",
        date_created=now,
        date_modified=now,
    )
    _apply(store, product, changes)
    product.id = store.next_post_id()
    store.products[product.id] = product
    if parent is not None:
        parent.variation_ids.append(product.id)
    store.emit("product.created", product.id)
    return product


def update(store: Store, product: Product, body: dict[str, Any]) -> Product:
    changes = parse_changes(body, creating=False)
    store.check_item_fault(product.sku)
    if changes.sku is not None:
        _check_sku(store, product.id, changes.sku)
    _apply(store, product, changes)
    product.date_modified = store.now()
    store.emit("product.updated", product.id)
    return product


def trash(store: Store, product: Product) -> None:
    if product.status == "trash":
        raise WooError(
            410, "woocommerce_rest_already_trashed", "The product has already been deleted."
        )
    product.status_before_trash = product.status
    product.status = "trash"
    product.date_modified = store.now()
    store.emit("product.deleted", product.id)


def delete(store: Store, product: Product) -> None:
    """Permanent delete (force=true, and every batch delete): no webhook, as in WooCommerce."""
    for variation_id in product.variation_ids:
        store.products.pop(variation_id, None)
    store.products.pop(product.id, None)
    parent = store.products.get(product.parent_id)
    if parent is not None and product.id in parent.variation_ids:
        parent.variation_ids.remove(product.id)
