"""Row and document totals (Net, TotalVAT, Total) the way a Fortnox order or invoice shows them.

Rules, kept simple and written down so tests of the pipeline can predict the numbers:
- A row's Total is quantity x price less its discount, rounded to öre (2 decimals). With
  `DiscountType` PERCENT the discount is a percentage of the row; with AMOUNT it is an amount
  off the whole row.
- Prices, row totals and Freight are VAT-inclusive when the document has `VATIncluded`.
- VAT is computed per VAT rate over the sum of that rate's rows, rounded to öre, then added up
  (`vat_by_rate` keeps the figure per rate: what the VAT report books).
- Freight carries the highest VAT rate among the rows (25 % when there are no rows): Fortnox
  has no field for the freight's own rate, and in a shop the shipping follows the goods.
- Total is rounded to öre only; the öre rounding to whole kronor (`RoundOff`) is not applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)
STANDARD_VAT = Decimal(25)


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def row_total(quantity: Decimal, price: Decimal, discount: Decimal, discount_type: str) -> Decimal:
    gross = quantity * price
    if discount_type == "PERCENT":
        return round_money(gross * (HUNDRED - discount) / HUNDRED)
    # An amount discount reduces the size of the row, so a credited (negative) row shrinks too.
    off = discount if gross >= 0 else -discount
    return round_money(gross - off)


@dataclass(frozen=True)
class DocumentTotals:
    net: Decimal
    vat: Decimal
    total: Decimal
    # VAT per rate, as the document's VAT report and bookkeeping split it (every rate with rows).
    vat_by_rate: dict[Decimal, Decimal] = field(default_factory=dict)


def freight_vat_rate(row_rates: Iterable[Decimal]) -> Decimal:
    return max(row_rates, default=STANDARD_VAT)


def document_totals(
    rows: Iterable[tuple[Decimal, Decimal]], freight: Decimal, vat_included: bool
) -> DocumentTotals:
    """Totals from (row total, VAT percent) pairs and the freight amount."""
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    for total, rate in rows:
        by_rate[rate] += total
    if freight:
        by_rate[freight_vat_rate(by_rate)] += freight
    amounts = sum(by_rate.values(), ZERO)
    # VAT is taken out of VAT-inclusive amounts, added to net ones.
    vat_by_rate = {
        rate: round_money(base * rate / (HUNDRED + rate if vat_included else HUNDRED))
        for rate, base in by_rate.items()
    }
    vat = sum(vat_by_rate.values(), ZERO)
    if vat_included:
        return DocumentTotals(
            net=round_money(amounts - vat),
            vat=vat,
            total=round_money(amounts),
            vat_by_rate=vat_by_rate,
        )
    return DocumentTotals(
        net=round_money(amounts), vat=vat, total=round_money(amounts + vat), vat_by_rate=vat_by_rate
    )
