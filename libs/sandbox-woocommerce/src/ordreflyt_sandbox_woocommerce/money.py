"""Money arithmetic the way WooCommerce does it, with `Decimal` only.

WooCommerce computes in "cents with precision" (amount x 100) and rounds at fixed points with
PHP's `round()`, which rounds half away from zero unless told otherwise. Taxes are rounded half
down when the shop enters prices including tax ("auto" tax rounding mode), half up otherwise;
coupon discounts are rounded half down. These helpers name those rules so the pricing code
reads like the WooCommerce code it mirrors.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

HUNDRED = Decimal(100)
ZERO = Decimal(0)
CENT = Decimal("0.01")
# wc_get_rounding_precision(): intermediate tax amounts (in cents) are kept to 6 places.
TAX_PRECISION = Decimal("0.000001")


def php_round(
    value: Decimal, exponent: Decimal = Decimal(1), *, half_down: bool = False
) -> Decimal:
    """PHP `round()` to the step given by `exponent` (1 = whole cents when working in cents)."""
    return value.quantize(exponent, rounding=ROUND_HALF_DOWN if half_down else ROUND_HALF_UP)


def floor(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1), rounding=ROUND_FLOOR)


def to_cents(amount: Decimal) -> Decimal:
    return amount * HUNDRED


def from_cents(cents: Decimal) -> Decimal:
    return cents / HUNDRED


def parse_money(raw: object, field: str) -> Decimal:
    """A money value from a request: a decimal string, an integer or a parsed JSON Decimal."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise ValueError(f'{field} must be a decimal string such as "10.00"')
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise ValueError(f'{field} must be a decimal string such as "10.00"') from exc
    if not value.is_finite():
        raise ValueError(f"{field} must be a finite number")
    return value


def fmt_money(amount: Decimal) -> str:
    """`wc_format_decimal($x, 2)`: the 2-decimal string of every money field in the REST JSON."""
    text = f"{php_round(amount, CENT):.2f}"
    return "0.00" if text == "-0.00" else text


def fmt_raw(amount: Decimal) -> str:
    """`wc_format_decimal($x)` without a precision: as stored, trailing zeros trimmed.

    Used for the per-rate `taxes[]` amounts, which WooCommerce keeps unrounded.
    """
    text = f"{amount.normalize():f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
