"""Order totals computed the way WooCommerce's cart computes them at checkout.

This mirrors `WC_Cart_Totals` and `WC_Discounts` with the default settings (round tax per line,
not at subtotal; discounts not sequential; shipping tax class "based on cart items";
`woocommerce_adjust_non_base_location_prices` on), in cents and with `Decimal`:

- a line's price is unit price x quantity; with prices entered including tax, a customer outside
  the base country (Norway) pays the same net price grossed up with their own rate;
- coupons are spread over the lines, most expensive first, with WooCommerce's per-cent remainder
  rules; with prices including tax they come off the gross price;
- each line's tax per rate is rounded to the cent (half down when prices include tax, half up
  otherwise), the line total to the cent half up; shipping and fees are always entered excluding
  tax;
- order totals are sums of the rounded line amounts, so
  `total = Σ line totals + Σ line taxes + shipping + shipping tax + Σ fees + Σ fee taxes`,
  `discount_total = Σ (subtotal - total)`, `discount_tax = Σ (subtotal_tax - total_tax)`.

The per-rate `taxes[]` amounts of lines keep WooCommerce's unrounded values (e.g. "19.55217391").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from ordreflyt_sandbox_woocommerce.money import (
    HUNDRED,
    ZERO,
    floor,
    from_cents,
    php_round,
    to_cents,
)
from ordreflyt_sandbox_woocommerce.taxes import (
    BASE_COUNTRY,
    RATES_BY_ID,
    TaxRate,
    calc_tax,
    rates_for,
    shipping_rates,
)

COUPON_TYPES = ("percent", "fixed_cart", "fixed_product")
# The tax rounding of one order: half down or half up to the cent.
_RoundTax = Callable[[Decimal], Decimal]


@dataclass(frozen=True)
class LineInput:
    unit_price: Decimal
    quantity: int
    tax_class: str
    taxable: bool = True


@dataclass(frozen=True)
class CouponInput:
    code: str
    discount_type: str
    amount: Decimal


@dataclass(frozen=True)
class ShippingInput:
    method_id: str
    method_title: str
    cost: Decimal


@dataclass(frozen=True)
class FeeInput:
    name: str
    amount: Decimal
    tax_class: str = ""
    taxable: bool = True


@dataclass(frozen=True)
class RateAmount:
    """One rate's tax on one line, unrounded, in currency units (the `taxes[]` entries)."""

    rate_id: int
    total: Decimal
    subtotal: Decimal | None = None


@dataclass(frozen=True)
class LineResult:
    subtotal: Decimal
    subtotal_tax: Decimal
    total: Decimal
    total_tax: Decimal
    taxes: tuple[RateAmount, ...]


@dataclass(frozen=True)
class ChargeResult:
    """A shipping or fee line: total excluding tax, its tax, and the tax per rate."""

    total: Decimal
    total_tax: Decimal
    taxes: tuple[RateAmount, ...]


@dataclass(frozen=True)
class CouponResult:
    code: str
    discount: Decimal
    discount_tax: Decimal


@dataclass(frozen=True)
class TaxLineResult:
    rate: TaxRate
    tax_total: Decimal
    shipping_tax_total: Decimal


@dataclass(frozen=True)
class Totals:
    lines: tuple[LineResult, ...]
    shipping: tuple[ChargeResult, ...]
    fees: tuple[ChargeResult, ...]
    coupons: tuple[CouponResult, ...]
    tax_lines: tuple[TaxLineResult, ...]
    discount_total: Decimal
    discount_tax: Decimal
    shipping_total: Decimal
    shipping_tax: Decimal
    cart_tax: Decimal
    total: Decimal
    total_tax: Decimal


@dataclass
class _Item:
    """A cart line while it is being priced; every amount in cents."""

    quantity: int
    rates: list[TaxRate]
    price: Decimal
    subtotal: Decimal = ZERO
    subtotal_tax: Decimal = ZERO
    subtotal_taxes: dict[int, Decimal] = field(default_factory=dict)
    discount: Decimal = ZERO


class _Discounts:
    """WC_Discounts: spreads each coupon over the items, in cents."""

    def __init__(self, items: list[_Item]) -> None:
        self.items = items
        # uasort by price x quantity, most expensive first; PHP 8 sorts stably like Python.
        self.order = sorted(range(len(items)), key=lambda i: -(items[i].price * items[i].quantity))
        self.by_coupon: dict[str, dict[int, Decimal]] = {}

    def discounted_price(self, i: int) -> Decimal:
        return abs(php_round(self.items[i].price - self.items[i].discount))

    def _add(self, code: str, i: int, amount: Decimal) -> None:
        self.by_coupon[code][i] = self.by_coupon[code].get(i, ZERO) + amount
        self.items[i].discount += amount

    def apply(self, coupon: CouponInput) -> None:
        self.by_coupon.setdefault(coupon.code, {})
        to_apply = [
            i for i in self.order if self.discounted_price(i) != 0 and self.items[i].quantity > 0
        ]
        if coupon.discount_type == "percent":
            self._percent(coupon.code, coupon.amount, to_apply)
        elif coupon.discount_type == "fixed_product":
            self._fixed_product(coupon.code, to_cents(coupon.amount), to_apply)
        else:
            self._fixed_cart(coupon.code, to_cents(coupon.amount), to_apply)

    def _percent(self, code: str, percent: Decimal, to_apply: list[int]) -> None:
        total_discount = ZERO
        cart_total = ZERO
        for i in to_apply:
            discounted = self.discounted_price(i)
            price_to_discount = php_round(self.items[i].price)
            discount = floor(price_to_discount * percent / HUNDRED)
            discount = php_round(min(discounted, discount), half_down=True)
            cart_total += price_to_discount
            total_discount += discount
            self._add(code, i, discount)
        # The whole-cart discount may exceed the floored per-line ones by a few cents.
        cart_total_discount = php_round(cart_total * percent / HUNDRED, half_down=True)
        if total_discount < cart_total_discount:
            self._remainder(code, to_apply, cart_total_discount - total_discount)

    def _fixed_product(self, code: str, per_unit: Decimal, to_apply: list[int]) -> Decimal:
        total = ZERO
        for i in to_apply:
            discount = min(self.discounted_price(i), per_unit * self.items[i].quantity)
            total += discount
            self._add(code, i, discount)
        return total

    def _fixed_cart(self, code: str, amount: Decimal, to_apply: list[int]) -> Decimal:
        to_apply = [i for i in to_apply if self.discounted_price(i) > 0]
        count = sum(self.items[i].quantity for i in to_apply)
        if not count or not amount:
            return ZERO
        per_item = floor(amount / count)
        if per_item > 0:
            total = self._fixed_product(code, per_item, to_apply)
            if ZERO < total < amount:
                total += self._fixed_cart(code, amount - total, to_apply)
            return total
        return self._remainder(code, to_apply, amount)

    def _remainder(self, code: str, to_apply: list[int], amount: Decimal) -> Decimal:
        """Hand out what is left one cent per unit, most expensive line first."""
        total = ZERO
        for i in to_apply:
            for _ in range(self.items[i].quantity):
                discount = min(self.discounted_price(i), Decimal(1))
                total += discount
                self._add(code, i, discount)
                if total >= amount:
                    return total
        return total


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


def compute(
    lines: list[LineInput],
    *,
    country: str,
    prices_include_tax: bool,
    coupons: list[CouponInput] | None = None,
    shipping: list[ShippingInput] | None = None,
    fees: list[FeeInput] | None = None,
) -> Totals:
    incl = prices_include_tax

    def round_tax(cents: Decimal) -> Decimal:
        # wc_get_tax_rounding_mode() "auto": half down when prices include tax.
        return php_round(cents, half_down=incl)

    items: list[_Item] = []
    for line in lines:
        rates = rates_for(country, line.tax_class) if line.taxable else []
        price = to_cents(line.unit_price) * line.quantity
        if incl and line.taxable:
            base_rates = rates_for(BASE_COUNTRY, line.tax_class)
            if [r.id for r in rates] != [r.id for r in base_rates]:
                # Keep the net price, add the customer's own tax instead of the shop's.
                base_tax = _sum(calc_tax(price, base_rates, inclusive=True).values())
                new_tax = _sum(calc_tax(price - base_tax, rates, inclusive=False).values())
                price = price - base_tax + new_tax
        item = _Item(quantity=line.quantity, rates=rates, price=price)
        item.subtotal_taxes = calc_tax(price, rates, inclusive=incl)
        item.subtotal_tax = _sum(round_tax(t) for t in item.subtotal_taxes.values())
        item.subtotal = price - _sum(item.subtotal_taxes.values()) if incl else price
        items.append(item)

    discounts = _Discounts(items)
    for coupon in coupons or []:
        discounts.apply(coupon)

    line_results: list[LineResult] = []
    cart_taxes: dict[int, Decimal] = {}
    for item in items:
        # A coupon worth more than a line whose price has a fraction of a cent (a grossed-up
        # foreign price) would leave it half a cent below zero; stop at zero.
        discounted = max(item.price - item.discount, ZERO)
        taxes = calc_tax(discounted, item.rates, inclusive=incl)
        total_tax = _sum(round_tax(t) for t in taxes.values())
        total = discounted - _sum(taxes.values()) if incl else discounted
        for rate_id, tax in taxes.items():
            cart_taxes[rate_id] = cart_taxes.get(rate_id, ZERO) + round_tax(tax)
        line_results.append(
            LineResult(
                subtotal=from_cents(php_round(item.subtotal)),
                subtotal_tax=from_cents(item.subtotal_tax),
                total=from_cents(php_round(total)),
                total_tax=from_cents(total_tax),
                taxes=tuple(
                    RateAmount(r, from_cents(taxes[r]), from_cents(item.subtotal_taxes[r]))
                    for r in taxes
                ),
            )
        )

    fee_results: list[ChargeResult] = []
    for fee in fees or []:
        cents = to_cents(fee.amount)
        fee_rates = rates_for(country, fee.tax_class) if fee.taxable else []
        taxes = calc_tax(cents, fee_rates, inclusive=False)
        for rate_id, tax in taxes.items():
            cart_taxes[rate_id] = cart_taxes.get(rate_id, ZERO) + round_tax(tax)
        fee_results.append(_charge(cents, taxes, round_tax))

    taxable_classes = [line.tax_class for line in lines if line.taxable]
    ship_rates = shipping_rates(country, taxable_classes)
    shipping_results: list[ChargeResult] = []
    shipping_taxes: dict[int, Decimal] = {}
    for ship in shipping or []:
        cents = to_cents(ship.cost)
        # Free shipping and pickup rates carry no taxes at all, not zero taxes.
        taxes = calc_tax(cents, ship_rates, inclusive=False) if cents else {}
        for rate_id, tax in taxes.items():
            shipping_taxes[rate_id] = shipping_taxes.get(rate_id, ZERO) + round_tax(tax)
        shipping_results.append(_charge(cents, taxes, round_tax))

    tax_lines = tuple(
        TaxLineResult(
            rate=RATES_BY_ID[rate_id],
            tax_total=from_cents(cart_taxes.get(rate_id, ZERO)),
            shipping_tax_total=from_cents(shipping_taxes.get(rate_id, ZERO)),
        )
        for rate_id in dict.fromkeys([*cart_taxes, *shipping_taxes])
    )

    items_subtotal = _sum(r.subtotal for r in line_results)
    items_total = _sum(r.total for r in line_results)
    items_subtotal_tax = _sum(r.subtotal_tax for r in line_results)
    items_total_tax = _sum(r.total_tax for r in line_results)
    fees_total = _sum(f.total for f in fee_results)
    shipping_total = _sum(s.total for s in shipping_results)
    cart_tax = from_cents(_sum(cart_taxes.values()))
    shipping_tax = _sum(s.total_tax for s in shipping_results)
    discount_total = items_subtotal - items_total
    discount_tax = items_subtotal_tax - items_total_tax
    return Totals(
        lines=tuple(line_results),
        shipping=tuple(shipping_results),
        fees=tuple(fee_results),
        coupons=_coupon_results(discounts, items, incl, discount_total, discount_tax, round_tax),
        tax_lines=tax_lines,
        discount_total=discount_total,
        discount_tax=discount_tax,
        shipping_total=shipping_total,
        shipping_tax=shipping_tax,
        cart_tax=cart_tax,
        total=items_total + fees_total + shipping_total + cart_tax + shipping_tax,
        total_tax=cart_tax + shipping_tax,
    )


def _charge(cents: Decimal, taxes: dict[int, Decimal], round_tax: _RoundTax) -> ChargeResult:
    return ChargeResult(
        total=from_cents(php_round(cents)),
        total_tax=from_cents(_sum(round_tax(t) for t in taxes.values())),
        taxes=tuple(RateAmount(r, from_cents(t)) for r, t in taxes.items()),
    )


def _coupon_results(
    discounts: _Discounts,
    items: list[_Item],
    incl: bool,
    discount_total: Decimal,
    discount_tax: Decimal,
    round_tax: _RoundTax,
) -> tuple[CouponResult, ...]:
    """Each coupon's discount and discount tax (WC_Cart_Totals::calculate_discounts).

    The last coupon takes up the rounding difference so the coupons add up to the order's
    `discount_total` and `discount_tax`, as they do after WooCommerce recalculates an order.
    """
    results: list[CouponResult] = []
    codes = list(discounts.by_coupon)
    for n, code in enumerate(codes):
        if n == len(codes) - 1:
            results.append(
                CouponResult(
                    code,
                    discount_total - _sum(r.discount for r in results),
                    discount_tax - _sum(r.discount_tax for r in results),
                )
            )
            break
        gross = _sum(discounts.by_coupon[code].values())
        tax = _sum(
            _sum(calc_tax(amount, items[i].rates, inclusive=incl).values())
            for i, amount in discounts.by_coupon[code].items()
        )
        net = gross - tax if incl else gross
        results.append(CouponResult(code, from_cents(php_round(net)), from_cents(round_tax(tax))))
    return tuple(results)
