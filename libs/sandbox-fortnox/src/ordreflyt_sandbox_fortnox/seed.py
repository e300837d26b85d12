"""The seeded article register: a small Nordic wool-and-outdoor shop, with stock per stock point.

Article numbers are SKU-like ("ULL-SOKK-42") so they can be matched against the sandbox shop's
catalogue. The list is fixed and the balances come from a seeded random generator, so every
start (and every `/_sandbox/reset`) gives the same catalogue. The first articles include a 6 %
(book) and a 12 % (food) VAT rate, so a small seed still exercises mixed-VAT orders.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ordreflyt_sandbox_fortnox.models import Article
from ordreflyt_sandbox_fortnox.totals import HUNDRED, round_money


@dataclass(frozen=True)
class _Family:
    prefix: str
    description: str
    price_incl_vat: int
    weight_grams: int
    variants: tuple[str, ...]
    vat: int = 25


_FAMILIES = (
    _Family("ULL-SOKK", "Ullsokk str", 149, 90, ("36", "38", "40", "42", "44", "46")),
    _Family("BOK-STRIKK", "Strikkebok, klassiske mønstre", 349, 650, ("",), vat=6),
    _Family("TURKAFFE", "Turkaffe, 500 g", 129, 520, ("500",), vat=12),
    _Family("ULL-LUE", "Ullue", 299, 110, ("GRA", "SVART", "ROD", "BLA")),
    _Family("VOTT", "Ullvott str", 249, 120, ("S", "M", "L")),
    _Family("GENSER-MARIUS", "Mariusgenser str", 1499, 780, ("XS", "S", "M", "L", "XL", "XXL")),
    _Family("SKJERF", "Ullskjerf", 399, 200, ("GRA", "NATUR", "ROD")),
    _Family("PANNEBAND", "Pannebånd", 199, 60, ("GRA", "SVART")),
    _Family("TURSOKK", "Tursokk str", 179, 100, ("36-38", "39-41", "42-44", "45-47")),
    _Family("BARNELUE", "Barnelue str", 199, 80, ("2-4", "4-6", "6-8")),
    _Family("INNERSOKK", "Innersokk str", 99, 50, ("S", "M", "L")),
    _Family("ULLGARN", "Ullgarn 50 g", 59, 55, ("NATUR", "GRA", "SVART", "ROD", "BLA")),
)


@dataclass(frozen=True)
class SeededArticle:
    article: Article
    balances: dict[str, Decimal]


def _catalogue() -> list[tuple[_Family, str]]:
    return [(family, variant) for family in _FAMILIES for variant in family.variants]


def seed_catalogue(count: int, stock_points: Sequence[str], now: datetime) -> list[SeededArticle]:
    rng = random.Random(4242)
    entries = _catalogue()
    seeded: list[SeededArticle] = []
    for index in range(count):
        if index < len(entries):
            family, variant = entries[index]
            number = f"{family.prefix}-{variant}" if variant else family.prefix
            description = (
                f"{family.description} {variant}".strip() if variant else family.description
            )
            vat = Decimal(family.vat)
            # SalesPrice is without VAT in Fortnox; the shop's round prices include it.
            price = round_money(Decimal(family.price_incl_vat) * HUNDRED / (HUNDRED + vat))
            weight = family.weight_grams
        else:
            number, description = f"ART-{index + 1:04d}", f"Sandboxartikel {index + 1}"
            vat, price, weight = Decimal(25), Decimal("80.00"), 100
        article = Article(
            article_number=number,
            description=description,
            sales_price=price,
            vat=vat,
            weight=weight,
            stock_goods=True,
            unit="st",
            last_modified=now,
        )
        # Most stock sits in the main store; now and then a point is empty, to exercise sellouts.
        balances = {
            point: Decimal(0)
            if rng.random() < 0.1
            else Decimal(rng.randint(1, 60 if i == 0 else 12))
            for i, point in enumerate(stock_points)
        }
        seeded.append(SeededArticle(article, balances))
    return seeded
