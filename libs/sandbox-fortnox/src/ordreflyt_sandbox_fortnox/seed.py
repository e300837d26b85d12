"""The seeded article register: the shared Nordic catalogue as Fortnox articles, with stock.

One article per SKU the sandbox shop sells (`ordreflyt_sandbox_kit.catalogue`): each simple
product and each variation, not the variable product that groups them. ArticleNumber is the
SKU, so a shop and a Fortnox started with the same catalogue size and seed match article for
article. Description is the product name (cut to 50 characters), SalesPrice the catalogue's
price net of VAT, VAT the Swedish rate of the product's tax class (25, 12, 6, 0), Weight in
grams. Tickets and gift cards, whose stock the shop does not manage, are not stock goods here
either; every other article gets a generous balance on every stock point, drawn from the seed,
so orders from the shop do not run it out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ordreflyt_sandbox_fortnox.models import Article
from ordreflyt_sandbox_kit.catalogue import Sellable, nordic_catalogue, swedish_vat

DESCRIPTION_MAX = 50
GRAMS_PER_KG = 1000


@dataclass(frozen=True)
class SeededArticle:
    article: Article
    balances: dict[str, Decimal]


def article_for(item: Sellable, now: datetime) -> Article:
    """The Fortnox article of one catalogue SKU."""
    weight = int(Decimal(item.weight) * GRAMS_PER_KG) if item.weight else 0
    return Article(
        article_number=item.sku,
        description=item.name[:DESCRIPTION_MAX],
        sales_price=item.price,
        vat=swedish_vat(item.tax_class),
        weight=weight,
        stock_goods=item.manage_stock,
        unit="st",
        last_modified=now,
    )


def seed_articles(
    products: int, seed: int | None, stock_points: Sequence[str], now: datetime
) -> list[SeededArticle]:
    """The articles of a catalogue of `products` products; `seed` also draws the balances."""
    # The balances get their own generator: the catalogue's draws stay as the shop makes them.
    rng = random.Random(None if seed is None else f"fortnox-stock-{seed}")
    seeded: list[SeededArticle] = []
    for item in nordic_catalogue(products, seed).sellable():
        article = article_for(item, now)
        balances: dict[str, Decimal] = {}
        if article.stock_goods:
            # Most stock sits in the first stock point (the main store), some in the others.
            balances = {
                point: Decimal(rng.randint(100, 300) if i == 0 else rng.randint(10, 50))
                for i, point in enumerate(stock_points)
            }
        seeded.append(SeededArticle(article, balances))
    return seeded
