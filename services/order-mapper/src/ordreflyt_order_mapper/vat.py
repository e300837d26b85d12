"""The ERP's arithmetic, and how a mapped order is made to show the shop's VAT per rate.

The ERP (Fortnox; the sandbox emulates it in `ordreflyt_sandbox_fortnox.totals`) computes a
document's VAT per VAT rate over the sum of that rate's rows, rounded to hundredths; freight
takes the highest rate among the rows. A shop computes VAT per line, rounded per line (or per
rate once, when it rounds at the subtotal), so the two can land a few hundredths apart per
rate, and a whole krone apart in a shop that keeps no decimals.

An accountant needs the VAT per rate in the ERP to be the VAT on the customer's receipt (the
shop's `tax_lines`), and the total to be what the customer paid. `vat_adjustments` finds, for
every rate whose ERP VAT would be off, a small row at that rate that brings the rate's VAT to
the shop's figure, choosing the rows so that they also add up to what the total lacks. Only
when no choice of such rows reaches the total does a rounding row at 0 % take the rest: the
last resort, because it books revenue without VAT.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
HUNDRED = Decimal(100)
CENT = Decimal("0.01")
# The ERP rounds row totals and VAT to hundredths of the currency, whatever the currency.
ERP_UNIT = CENT
# The rate Fortnox gives freight on a document without rows.
ERP_DEFAULT_FREIGHT_RATE = Decimal(25)
# Adjustments are looked for among every combination of the rates' possible rows; past this
# many combinations only the few smallest per rate are tried.
MAX_COMBINATIONS = 20_000
# A rate's possible adjustments are a range of hundredths; a rate of 0.5 % gives 200 of them.
MAX_STEPS = 2_000


def erp_round(amount: Decimal) -> Decimal:
    return amount.quantize(ERP_UNIT, rounding=ROUND_HALF_UP)


def erp_row_total(quantity: Decimal, unit_price: Decimal, discount: Decimal) -> Decimal:
    """A row's total as the ERP computes it: quantity x price less the amount discount.

    The ERP lets an amount discount shrink the size of the row, so on a negative row it adds.
    """
    gross = quantity * unit_price
    off = discount if gross >= 0 else -discount
    return erp_round(gross - off)


def erp_bases(rows: Iterable[tuple[Decimal, Decimal]], freight: Decimal) -> dict[Decimal, Decimal]:
    """What the ERP taxes at each rate: the sum of that rate's row totals, and the freight at
    the highest rate among the rows."""
    bases: dict[Decimal, Decimal] = {}
    for total, rate in rows:
        bases[rate] = bases.get(rate, ZERO) + total
    if freight:
        rate = max(bases, default=ERP_DEFAULT_FREIGHT_RATE)
        bases[rate] = bases.get(rate, ZERO) + freight
    return bases


def erp_vat(base: Decimal, rate: Decimal, vat_included: bool) -> Decimal:
    """The ERP's VAT on one rate's base: added to a net base, or taken out of a gross one.
    Multiplied before divided, so that 5357.38 x 12 / 112 is exactly 574.005 (574.01), as the
    ERP has it, not 574.00499... through a rounded 12 / 112."""
    return erp_round(base * rate / (HUNDRED + rate if vat_included else HUNDRED))


@dataclass(frozen=True)
class ErpTotals:
    vat: Decimal
    total: Decimal
    vat_by_rate: Mapping[Decimal, Decimal]


def erp_totals(
    rows: Iterable[tuple[Decimal, Decimal]], freight: Decimal, vat_included: bool
) -> ErpTotals:
    """The ERP's document totals from (row total, VAT percent) pairs and the freight amount.

    With VAT-inclusive prices the total is the sum of the rows and the freight; otherwise it is
    the net sum plus the VAT.
    """
    bases = erp_bases(rows, freight)
    by_rate = {rate: erp_vat(base, rate, vat_included) for rate, base in bases.items()}
    vat = sum(by_rate.values(), ZERO)
    amounts = sum(bases.values(), ZERO)
    total = erp_round(amounts) if vat_included else erp_round(amounts + vat)
    return ErpTotals(vat=vat, total=total, vat_by_rate=by_rate)


def reaching(base: Decimal, rate: Decimal, target: Decimal, vat_included: bool) -> list[Decimal]:
    """Every amount (in hundredths) that, added to `base`, makes the ERP's VAT of the rate
    `target`; smallest first. The ERP's VAT grows with the base by at most a hundredth per
    hundredth (rates below 100 %), so every target is reached by a run of amounts."""
    if not rate:
        return [ZERO]

    def vat(step: Decimal) -> Decimal:
        return erp_vat(base + step, rate, vat_included)

    share = rate / (HUNDRED + rate) if vat_included else rate / HUNDRED
    step = erp_round(target / share) - base
    for _ in range(MAX_STEPS):
        found = vat(step)
        if found == target:
            break
        step += CENT if found < target else -CENT
    else:
        return []
    low = high = step
    for _ in range(MAX_STEPS):
        if vat(low - CENT) != target:
            break
        low -= CENT
    for _ in range(MAX_STEPS):
        if vat(high + CENT) != target:
            break
        high += CENT
    count = int((high - low) / CENT) + 1
    return sorted((low + CENT * n for n in range(count)), key=lambda a: (abs(a), a))


@dataclass(frozen=True)
class VatAdjustment:
    by_rate: dict[Decimal, Decimal]  # a row at each of these rates, of this amount
    rounding: Decimal  # what is left for a row at 0 %


def vat_adjustments(
    bases: Mapping[Decimal, Decimal],
    targets: Mapping[Decimal, Decimal],
    gap: Decimal,
    vat_included: bool,
) -> VatAdjustment | None:
    """Rows at the rates of `bases` that make the ERP's VAT per rate equal `targets` and add
    up to `gap` (what the ERP total lacks once the VAT is the shop's), the rest left to a row
    at 0 %; None when a rate's target cannot be reached.

    When some rate needs a row, every combination of the rates' possible rows is weighed: the
    fewest rows win, then the choice without a 0 % row, then the smallest rounding, then the
    smallest rows. When none does, the gap is the shop's own rounding and goes to 0 %."""
    options: list[tuple[Decimal, list[Decimal]]] = []
    for rate, base in bases.items():
        if not rate:
            continue
        reach = reaching(base, rate, targets.get(rate, ZERO), vat_included)
        if not reach:
            return None
        options.append((rate, reach))
    if all(reach[0] == ZERO for _, reach in options):
        # Every rate's VAT is already the shop's: what the total lacks is the shop's own
        # difference between its total and its lines, the rounding row's alone.
        return VatAdjustment(by_rate={}, rounding=gap)
    lists = [reach for _, reach in options]
    size = 1
    for reach in lists:
        size *= len(reach)
    if size > MAX_COMBINATIONS:
        per_rate = max(2, int(MAX_COMBINATIONS ** (1 / max(len(lists), 1))))
        lists = [reach[:per_rate] for reach in lists]
    best: tuple[tuple[int, bool, Decimal, Decimal], tuple[Decimal, ...]] | None = None
    for amounts in itertools.product(*lists):
        rest = gap - sum(amounts, ZERO)
        key = (
            sum(1 for a in amounts if a) + (1 if rest else 0),
            bool(rest),
            abs(rest),
            sum((abs(a) for a in amounts), ZERO),
        )
        if best is None or key < best[0]:
            best = (key, amounts)
    assert best is not None
    chosen = best[1]
    by_rate = {rate: a for (rate, _), a in zip(options, chosen, strict=True) if a}
    return VatAdjustment(by_rate=by_rate, rounding=gap - sum(chosen, ZERO))
