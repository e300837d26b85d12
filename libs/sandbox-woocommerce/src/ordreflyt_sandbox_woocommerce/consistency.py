"""The sums an order's REST JSON satisfies to the cent, as a checker.

The sandbox's own tests use it on every kind of generated order; a consumer can use it to
check what it maps. Returns a list of broken identities, empty when all hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _sum(values: Iterable[Any]) -> Decimal:
    return sum((_d(v) for v in values), Decimal(0))


def _money_string(value: Any) -> bool:
    return isinstance(value, str) and value.replace("-", "", 1).partition(".")[2].__len__() == 2


def order_problems(order: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    def check(name: str, left: Decimal, right: Decimal) -> None:
        if left != right:
            problems.append(f"{name}: {left} != {right}")

    lines = order["line_items"]
    fees = order["fee_lines"]
    shipping = order["shipping_lines"]
    for key in (
        "discount_total",
        "discount_tax",
        "shipping_total",
        "shipping_tax",
        "cart_tax",
        "total",
        "total_tax",
    ):
        if not _money_string(order[key]):
            problems.append(f"{key} is not a 2-decimal string: {order[key]!r}")
    items_total = _sum(li["total"] for li in lines)
    items_tax = _sum(li["total_tax"] for li in lines)
    fee_total = _sum(f["total"] for f in fees)
    fee_tax = _sum(f["total_tax"] for f in fees)
    check(
        "total = lines + line taxes + shipping + shipping tax + fees + fee taxes",
        _d(order["total"]),
        items_total
        + items_tax
        + _d(order["shipping_total"])
        + _d(order["shipping_tax"])
        + fee_total
        + fee_tax,
    )
    check("cart_tax = line taxes + fee taxes", _d(order["cart_tax"]), items_tax + fee_tax)
    check(
        "total_tax = cart_tax + shipping_tax",
        _d(order["total_tax"]),
        _d(order["cart_tax"]) + _d(order["shipping_tax"]),
    )
    check(
        "shipping_total = Σ shipping lines",
        _d(order["shipping_total"]),
        _sum(s["total"] for s in shipping),
    )
    check(
        "shipping_tax = Σ shipping line taxes",
        _d(order["shipping_tax"]),
        _sum(s["total_tax"] for s in shipping),
    )
    check(
        "discount_total = Σ (subtotal - total)",
        _d(order["discount_total"]),
        _sum(li["subtotal"] for li in lines) - items_total,
    )
    check(
        "discount_tax = Σ (subtotal_tax - total_tax)",
        _d(order["discount_tax"]),
        _sum(li["subtotal_tax"] for li in lines) - items_tax,
    )
    if order["coupon_lines"]:
        check(
            "Σ coupon discount = discount_total",
            _d(order["discount_total"]),
            _sum(c["discount"] for c in order["coupon_lines"]),
        )
        check(
            "Σ coupon discount_tax = discount_tax",
            _d(order["discount_tax"]),
            _sum(c["discount_tax"] for c in order["coupon_lines"]),
        )
    check(
        "Σ tax_lines.tax_total = cart_tax",
        _d(order["cart_tax"]),
        _sum(t["tax_total"] for t in order["tax_lines"]),
    )
    check(
        "Σ tax_lines.shipping_tax_total = shipping_tax",
        _d(order["shipping_tax"]),
        _sum(t["shipping_tax_total"] for t in order["tax_lines"]),
    )
    rate_ids = {t["rate_id"] for t in order["tax_lines"]}
    for line in [*lines, *fees, *shipping]:
        for tax in line["taxes"]:
            if tax["id"] not in rate_ids:
                problems.append(f"line {line['id']} taxes rate {tax['id']} has no tax line")
    for line in lines:
        if not isinstance(line["price"], int | float):
            problems.append(f"line {line['id']} price is not a number")
    return problems
