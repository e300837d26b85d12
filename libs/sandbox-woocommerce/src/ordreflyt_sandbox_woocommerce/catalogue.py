"""The seeded catalogue and coupons of the sandbox shop.

The products come from the shared Nordic catalogue (`ordreflyt_sandbox_kit.catalogue`), so a
sandbox Fortnox started with the same size and seed holds an article for every SKU sold here.
This module turns it into shop products: simple and variable products with their variations,
dates, sales counts and the shop's own stock (mostly managed, sometimes at 0 or with
backorders allowed; tickets and gift cards unmanaged and in stock).
"""

from __future__ import annotations

from decimal import Decimal

from ordreflyt_sandbox_kit.catalogue import ShopStock, nordic_catalogue
from ordreflyt_sandbox_woocommerce.models import Product
from ordreflyt_sandbox_woocommerce.pricing import CouponInput
from ordreflyt_sandbox_woocommerce.store import Store

COUPONS = (
    CouponInput("velkommen10", "percent", Decimal(10)),
    CouponInput("host15", "percent", Decimal(15)),
    CouponInput("sommer20", "percent", Decimal(20)),
    CouponInput("rabatt100", "fixed_cart", Decimal(100)),
    CouponInput("fraktrabatt50", "fixed_cart", Decimal(50)),
    CouponInput("sokker25", "fixed_product", Decimal(25)),
)


def seed(store: Store, count: int, random_seed: int | None) -> None:
    """Fill the catalogue with `count` products (variations come on top) and the coupons."""
    store.coupons = {c.code: c for c in COUPONS}
    now = store.now()
    for item in nordic_catalogue(count, random_seed).products:
        created = now - item.age
        modified = min(now, created + item.modified_after)
        product = Product(
            id=store.next_post_id(),
            name=item.name,
            type="variable" if item.variable else "simple",
            sku=item.sku,
            regular_price=None if item.variable else item.price,
            tax_class=item.tax_class,
            weight=item.weight,
            date_created=created,
            date_modified=modified,
            total_sales=item.total_sales,
        )
        store.products[product.id] = product
        if item.attribute is None:
            _stock(product, item.stock)
            continue
        product.attributes = {item.attribute: [v.option for v in item.variations]}
        for option in item.variations:
            variation = Product(
                id=store.next_post_id(),
                name=option.name,
                type="variation",
                parent_id=product.id,
                sku=option.sku,
                regular_price=option.price,
                tax_class=item.tax_class,
                weight=item.weight,
                date_created=created,
                date_modified=modified,
                attributes={item.attribute: [option.option]},
            )
            _stock(variation, option.stock)
            store.products[variation.id] = variation
            product.variation_ids.append(variation.id)


def _stock(product: Product, stock: ShopStock | None) -> None:
    if stock is None:
        product.stock_status_manual = "instock"
        return
    product.manage_stock = True
    product.stock_quantity = stock.quantity
    product.backorders = "notify" if stock.backorders else "no"
