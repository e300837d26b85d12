"""The seeded catalogue and coupons of the sandbox shop.

Nordic products across every tax class: clothing and gear at the standard rate, food at the
reduced rate, tickets and books at the low rate, gift cards at zero. Some are variable products
with sizes or colours. Stock is mostly managed, sometimes at 0 or with backorders allowed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from ordreflyt_sandbox_woocommerce.models import Product
from ordreflyt_sandbox_woocommerce.pricing import CouponInput
from ordreflyt_sandbox_woocommerce.store import Store


@dataclass(frozen=True)
class Template:
    name: str
    sku: str
    price: str
    tax_class: str = ""
    weight: str = ""
    attribute: tuple[str, tuple[str, ...]] | None = None
    manage_stock: bool = True


TEMPLATES = (
    Template("Ullsokker", "ULL-SOKK", "149.00", weight="0.1"),
    Template("Strikkelue", "STR-LUE", "299.00", weight="0.15"),
    Template(
        "Regnjakke",
        "REGN-JAKKE",
        "1299.00",
        weight="0.8",
        attribute=("Størrelse", ("S", "M", "L", "XL")),
    ),
    Template("Kaffe 500 g", "KAFFE-500", "119.90", "reduced-rate", "0.5"),
    Template(
        "T-skjorte", "T-SKJ", "249.90", weight="0.2", attribute=("Størrelse", ("S", "M", "L"))
    ),
    Template("Knekkebrød", "KNEKK", "34.50", "reduced-rate", "0.3"),
    Template("Fjordcruise-billett", "BILL-FJORD", "590.00", "low-rate", manage_stock=False),
    Template("Brunost 500 g", "BRUNOST", "89.90", "reduced-rate", "0.5"),
    Template("Tursekk 30 L", "TURSEKK-30", "899.00", weight="1.1"),
    Template("Gavekort 500", "GAVEKORT-500", "500.00", "zero-rate", manage_stock=False),
    Template(
        "Ullgenser",
        "ULL-GENSER",
        "1499.00",
        weight="0.7",
        attribute=("Farge", ("Grå", "Marine", "Rød")),
    ),
    Template("Multebærsyltetøy", "MULTE", "79.00", "reduced-rate", "0.4"),
    Template("Termos 0,75 L", "TERMOS", "349.00", weight="0.6"),
    Template("Kokebok: Nordisk mat", "BOK-NORD", "399.00", "low-rate", "1.0"),
    Template("Votter", "VOTTER", "199.00", weight="0.1", attribute=("Størrelse", ("S/M", "L/XL"))),
    Template("Skiwax", "SKIWAX", "129.50", weight="0.1"),
    Template("Lefse 6 stk", "LEFSE", "45.90", "reduced-rate", "0.3"),
    Template("Hodelykt", "HODELYKT", "459.00", weight="0.2"),
    Template("Tørrfisk 250 g", "TORRFISK", "259.00", "reduced-rate", "0.25"),
    Template("Sitteunderlag", "SITTEUNDERLAG", "99.00", weight="0.1"),
)

COUPONS = (
    CouponInput("velkommen10", "percent", Decimal(10)),
    CouponInput("host15", "percent", Decimal(15)),
    CouponInput("sommer20", "percent", Decimal(20)),
    CouponInput("rabatt100", "fixed_cart", Decimal(100)),
    CouponInput("fraktrabatt50", "fixed_cart", Decimal(50)),
    CouponInput("sokker25", "fixed_product", Decimal(25)),
)


def _slug(text: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "/": "-", " ": "-"})
    return text.lower().translate(table)


def seed(store: Store, count: int, rng: random.Random) -> None:
    """Fill the catalogue with `count` products (variations come on top) and the coupons."""
    store.coupons = {c.code: c for c in COUPONS}
    now = store.now()
    for n in range(count):
        template = TEMPLATES[n % len(TEMPLATES)]
        generation = n // len(TEMPLATES)
        name = template.name if generation == 0 else f"{template.name} {generation + 1}"
        created = now - timedelta(days=rng.randint(30, 400), seconds=rng.randint(0, 86_400))
        modified = min(now, created + timedelta(days=rng.randint(0, 30)))
        price = Decimal(template.price) + 10 * generation
        product = Product(
            id=store.next_post_id(),
            name=name,
            type="variable" if template.attribute else "simple",
            sku=f"{template.sku}-{1001 + n}",
            regular_price=None if template.attribute else price,
            tax_class=template.tax_class,
            weight=template.weight,
            date_created=created,
            date_modified=modified,
            total_sales=rng.randint(0, 500),
        )
        store.products[product.id] = product
        if template.attribute is None:
            _stock(product, template.manage_stock, rng)
            continue
        attr_name, options = template.attribute
        product.attributes = {attr_name: list(options)}
        for option in options:
            variation = Product(
                id=store.next_post_id(),
                name=f"{name} - {option}",
                type="variation",
                parent_id=product.id,
                sku=f"{product.sku}-{_slug(option).upper()}",
                regular_price=price + (100 if option == "XL" else 0),
                tax_class=template.tax_class,
                weight=template.weight,
                date_created=created,
                date_modified=modified,
                attributes={attr_name: [option]},
            )
            _stock(variation, True, rng)
            store.products[variation.id] = variation
            product.variation_ids.append(variation.id)


def _stock(product: Product, manage: bool, rng: random.Random) -> None:
    if not manage:
        product.stock_status_manual = "instock"
        return
    product.manage_stock = True
    product.stock_quantity = 0 if rng.random() < 0.08 else rng.randint(1, 150)
    product.backorders = "notify" if rng.random() < 0.15 else "no"
