"""The product catalogue the sandbox shop sells and the sandbox ERP keeps as its article register.

Both emulators build it from the same two numbers, a size and a seed, so a shop and an ERP
started with the same values hold the same SKUs (SKU = Fortnox ArticleNumber):

- The size is the number of products. Variable products (sizes, colours) add one variation per
  option on top, each with its own SKU. The SKUs, names, prices, weights and tax classes follow
  from the size alone: product n uses template n modulo the number of templates, its SKU ends in
  1001 + n, and each further round through the templates adds " 2", " 3", ... to the names
  and 10 to the prices.
- The seed draws what a shop has on top: when each product was created and last changed, how
  often it sold, and the shop's own stock (now and then sold out, sometimes open to backorders).

Nordic goods across every tax class: clothing and gear at the standard rate, food at
`reduced-rate`, tickets and books at `low-rate`, gift cards at `zero-rate` (WooCommerce class
slugs; "" is the standard class). Prices are net of VAT, as entered in a shop whose prices
exclude tax. Swedish VAT per class is in `SWEDISH_VAT`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

DEFAULT_PRODUCTS = 40
# The seed both emulators start with unless told otherwise, so their defaults match.
DEFAULT_SEED = 1

STANDARD = ""
TAX_CLASSES = (STANDARD, "reduced-rate", "low-rate", "zero-rate")
# Swedish VAT (moms) per tax class, in percent: the only rates Fortnox accepts.
SWEDISH_VAT = {
    STANDARD: Decimal(25),
    "reduced-rate": Decimal(12),
    "low-rate": Decimal(6),
    "zero-rate": Decimal(0),
}


@dataclass(frozen=True)
class Template:
    name: str
    sku: str
    price: str
    tax_class: str = STANDARD
    # Kilograms, as WooCommerce keeps it; "" when the product has no weight.
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


@dataclass(frozen=True)
class ShopStock:
    """The shop's own stock of a SKU whose stock it manages."""

    quantity: int
    # True: the shop takes orders beyond its stock and tells the customer ("notify").
    backorders: bool


@dataclass(frozen=True)
class Sellable:
    """A SKU a customer can put in the cart: a simple product or one variation."""

    sku: str
    name: str
    price: Decimal
    tax_class: str
    weight: str
    # False for tickets and gift cards: nothing physical to keep in stock.
    manage_stock: bool


@dataclass(frozen=True)
class Variation:
    """One option of a variable product (a size, a colour), sold under its own SKU."""

    sku: str
    name: str
    option: str
    price: Decimal
    stock: ShopStock


@dataclass(frozen=True)
class Product:
    """A simple product, or a variable one (then `attribute` is set and `variations` holds
    what is sold; the variable product itself cannot be bought)."""

    sku: str
    name: str
    # A simple product's price; a variable product's variations are priced from it.
    price: Decimal
    tax_class: str
    weight: str
    manage_stock: bool
    # A simple product's stock when the shop manages it, else None.
    stock: ShopStock | None
    # How long before "now" the product was created, and how long after that it last changed.
    age: timedelta
    modified_after: timedelta
    total_sales: int
    attribute: str | None = None
    variations: tuple[Variation, ...] = ()

    @property
    def variable(self) -> bool:
        return self.attribute is not None

    def sellable(self) -> tuple[Sellable, ...]:
        """The SKUs this product puts on sale: itself if simple, else its variations."""
        if not self.variable:
            return (
                Sellable(
                    self.sku, self.name, self.price, self.tax_class, self.weight, self.manage_stock
                ),
            )
        return tuple(
            Sellable(v.sku, v.name, v.price, self.tax_class, self.weight, True)
            for v in self.variations
        )


@dataclass(frozen=True)
class Catalogue:
    products: tuple[Product, ...]

    def sellable(self) -> list[Sellable]:
        """Every purchasable SKU, in catalogue order (a variable product's parent is left out)."""
        return [item for product in self.products for item in product.sellable()]

    def skus(self) -> set[str]:
        """The purchasable SKUs."""
        return {item.sku for item in self.sellable()}


def swedish_vat(tax_class: str) -> Decimal:
    """The Swedish VAT rate of a tax class; an unknown class counts as standard, as in WooCommerce."""
    return SWEDISH_VAT.get(tax_class, SWEDISH_VAT[STANDARD])


def slug(text: str) -> str:
    """A variation option as it appears in a SKU, before upper-casing ("S/M" -> "s-m")."""
    table = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", "/": "-", " ": "-"})
    return text.lower().translate(table)


def nordic_catalogue(size: int = DEFAULT_PRODUCTS, seed: int | None = DEFAULT_SEED) -> Catalogue:
    """The catalogue of `size` products; `seed` None draws a different history every call."""
    if size < 0:
        raise ValueError(f"the catalogue size must be 0 or more, got {size}")
    rng = random.Random(seed)
    return Catalogue(tuple(_product(n, rng) for n in range(size)))


def _product(n: int, rng: random.Random) -> Product:
    # The draws come in a fixed order (dates, sales, then stock), so a seed gives one catalogue.
    template = TEMPLATES[n % len(TEMPLATES)]
    generation = n // len(TEMPLATES)
    name = template.name if generation == 0 else f"{template.name} {generation + 1}"
    age = timedelta(days=rng.randint(30, 400), seconds=rng.randint(0, 86_400))
    modified_after = timedelta(days=rng.randint(0, 30))
    total_sales = rng.randint(0, 500)
    price = Decimal(template.price) + 10 * generation
    sku = f"{template.sku}-{1001 + n}"
    attribute: str | None = None
    variations: tuple[Variation, ...] = ()
    stock: ShopStock | None = None
    if template.attribute is None:
        stock = _stock(rng) if template.manage_stock else None
    else:
        attribute, options = template.attribute
        variations = tuple(
            Variation(
                sku=f"{sku}-{slug(option).upper()}",
                name=f"{name} - {option}",
                option=option,
                price=price + (100 if option == "XL" else 0),
                stock=_stock(rng),
            )
            for option in options
        )
    return Product(
        sku=sku,
        name=name,
        price=price,
        tax_class=template.tax_class,
        weight=template.weight,
        manage_stock=template.manage_stock,
        stock=stock,
        age=age,
        modified_after=modified_after,
        total_sales=total_sales,
        attribute=attribute,
        variations=variations,
    )


def _stock(rng: random.Random) -> ShopStock:
    quantity = 0 if rng.random() < 0.08 else rng.randint(1, 150)
    return ShopStock(quantity, backorders=rng.random() < 0.15)
