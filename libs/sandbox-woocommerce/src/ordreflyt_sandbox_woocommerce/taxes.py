"""The tax rates the sandbox shop knows, as `WooCommerce > Settings > Tax` would hold them.

The shop is based in Norway and sells to Norway and Sweden. Tax classes (slugs as in WooCommerce):

| class          | Norway (MVA)                  | Sweden (Moms)                 |
| -------------- | ----------------------------- | ----------------------------- |
| standard (`""`)| 25 %                          | 25 %                          |
| `reduced-rate` | 15 % food                     | 12 % food                     |
| `low-rate`     | 12 % transport, cinema, hotel | 6 % books, transport, culture |
| `zero-rate`    | 0 %                           | 0 %                           |

Every rate of a country has the same name and priority, so WooCommerce gives them the same
`rate_code` (`NO-MVA-1`, `SE-MOMS-1`): only `rate_id` tells them apart, exactly the trap a real
shop sets. Tax amounts are computed in cents like `WC_Tax::calc_tax` and kept to 6 places.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ordreflyt_sandbox_woocommerce.money import HUNDRED, TAX_PRECISION, php_round

BASE_COUNTRY = "NO"
STANDARD = ""
# Order of the "Additional tax classes" list; it decides the shipping tax class of mixed carts.
TAX_CLASS_SLUGS = ("reduced-rate", "low-rate", "zero-rate")
TAX_CLASS_NAMES = {"reduced-rate": "Reduced rate", "low-rate": "Low rate", "zero-rate": "Zero rate"}


@dataclass(frozen=True)
class TaxRate:
    id: int
    country: str
    tax_class: str
    rate: Decimal
    name: str
    priority: int = 1
    compound: bool = False
    shipping: bool = True

    @property
    def rate_code(self) -> str:
        # WC_Tax::get_rate_code: COUNTRY-STATE-NAME-PRIORITY, empty parts left out, upper case.
        parts = [self.country, "", self.name or "TAX", str(self.priority)]
        return "-".join(p for p in parts if p).upper()


RATES: tuple[TaxRate, ...] = (
    TaxRate(1, "NO", STANDARD, Decimal(25), "MVA"),
    TaxRate(2, "NO", "reduced-rate", Decimal(15), "MVA"),
    TaxRate(3, "NO", "low-rate", Decimal(12), "MVA"),
    TaxRate(4, "NO", "zero-rate", Decimal(0), "MVA"),
    TaxRate(5, "SE", STANDARD, Decimal(25), "Moms"),
    TaxRate(6, "SE", "reduced-rate", Decimal(12), "Moms"),
    TaxRate(7, "SE", "low-rate", Decimal(6), "Moms"),
    TaxRate(8, "SE", "zero-rate", Decimal(0), "Moms"),
)
RATES_BY_ID = {rate.id: rate for rate in RATES}


def valid_tax_class(tax_class: str) -> str:
    """WC_Product::set_tax_class: an unknown class silently becomes the standard class."""
    return tax_class if tax_class in TAX_CLASS_SLUGS else STANDARD


def rates_for(country: str, tax_class: str) -> list[TaxRate]:
    return [r for r in RATES if r.country == country and r.tax_class == tax_class]


def shipping_rates(country: str, item_classes: list[str]) -> list[TaxRate]:
    """WC_Tax::get_shipping_tax_rates with the shipping tax class set to "based on cart items".

    One class in the cart: that class. Several: the standard class if present, otherwise the
    first of the additional classes in settings order. No taxable items: no shipping tax.
    """
    classes = list(dict.fromkeys(item_classes))
    if not classes:
        return []
    chosen: list[TaxRate] = []
    if len(classes) > 1 and STANDARD not in classes:
        for slug in TAX_CLASS_SLUGS:
            if slug in classes:
                chosen = rates_for(country, slug)
                break
    elif len(classes) == 1:
        chosen = rates_for(country, classes[0])
    if not chosen:
        chosen = rates_for(country, STANDARD)
    return [r for r in chosen if r.shipping]


def calc_tax(cents: Decimal, rates: list[TaxRate], *, inclusive: bool) -> dict[int, Decimal]:
    """WC_Tax::calc_tax for non-compound rates: tax per rate id, in cents, to 6 places."""
    taxes: dict[int, Decimal] = {}
    if inclusive:
        divisor = 1 + sum((r.rate for r in rates), Decimal(0)) / HUNDRED
        for r in rates:
            taxes[r.id] = php_round(cents * (r.rate / HUNDRED) / divisor, TAX_PRECISION)
    else:
        for r in rates:
            taxes[r.id] = php_round(cents * r.rate / HUNDRED, TAX_PRECISION)
    return taxes


def tax_rate_json(rate: TaxRate, api_base: str) -> dict[str, Any]:
    """A rate as `GET /wp-json/wc/v3/taxes/<id>` shows it."""
    return {
        "id": rate.id,
        "country": rate.country,
        "state": "",
        "postcode": "",
        "city": "",
        "postcodes": [],
        "cities": [],
        "rate": f"{rate.rate:.4f}",
        "name": rate.name,
        "priority": rate.priority,
        "compound": rate.compound,
        "shipping": rate.shipping,
        "order": rate.id - 1,
        "class": rate.tax_class or "standard",
        "_links": {
            "self": [{"href": f"{api_base}/taxes/{rate.id}"}],
            "collection": [{"href": f"{api_base}/taxes"}],
        },
    }
