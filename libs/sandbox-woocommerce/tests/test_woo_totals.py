"""Totals add up to the cent, as WooCommerce computes them, for any cart and every sample order."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ordreflyt_sandbox_woocommerce.app import WooSettings, make_app
from ordreflyt_sandbox_woocommerce.consistency import order_problems
from ordreflyt_sandbox_woocommerce.pricing import (
    CouponInput,
    FeeInput,
    LineInput,
    ShippingInput,
    compute,
)
from ordreflyt_sandbox_woocommerce.render import order_json
from ordreflyt_sandbox_woocommerce.rest import samples_key, site_key

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
tax_classes = st.sampled_from(["", "reduced-rate", "low-rate", "zero-rate"])
lines = st.lists(
    st.builds(LineInput, prices, st.integers(1, 7), tax_classes), min_size=1, max_size=6
)
coupons = st.lists(
    st.one_of(
        st.builds(CouponInput, st.just("pct"), st.just("percent"), st.decimals(1, 100, places=0)),
        st.builds(
            CouponInput,
            st.just("cart"),
            st.just("fixed_cart"),
            st.decimals(Decimal("0.01"), Decimal("900"), places=2),
        ),
        st.builds(
            CouponInput,
            st.just("each"),
            st.just("fixed_product"),
            st.decimals(Decimal("0.01"), Decimal("90"), places=2),
        ),
    ),
    max_size=2,
    unique_by=lambda c: c.code,
)
shipping = st.lists(
    st.builds(ShippingInput, st.just("flat_rate"), st.just("Frakt"), st.decimals(0, 500, places=2)),
    max_size=2,
)
fees = st.lists(st.builds(FeeInput, st.just("Gebyr"), prices, tax_classes), max_size=2)


@settings(max_examples=300, deadline=None)
@given(lines, coupons, shipping, fees, st.sampled_from(["NO", "SE", "DK"]), st.booleans())
def test_any_cart_adds_up(
    lines: list[LineInput],
    coupons: list[CouponInput],
    shipping: list[ShippingInput],
    fees: list[FeeInput],
    country: str,
    incl: bool,
) -> None:
    t = compute(
        lines,
        country=country,
        prices_include_tax=incl,
        coupons=coupons,
        shipping=shipping,
        fees=fees,
    )
    items_total = sum((r.total for r in t.lines), Decimal(0))
    items_tax = sum((r.total_tax for r in t.lines), Decimal(0))
    fee_total = sum((f.total + f.total_tax for f in t.fees), Decimal(0))
    assert t.total == items_total + items_tax + t.shipping_total + t.shipping_tax + fee_total
    assert t.discount_total == sum((r.subtotal - r.total for r in t.lines), Decimal(0))
    assert t.discount_tax == sum((r.subtotal_tax - r.total_tax for r in t.lines), Decimal(0))
    assert t.cart_tax == sum((x.tax_total for x in t.tax_lines), Decimal(0))
    assert sum((c.discount for c in t.coupons), Decimal(0)) == t.discount_total
    for amount in (t.total, t.cart_tax, items_total, t.discount_total):
        assert amount == amount.quantize(Decimal("0.01"))
        assert amount >= 0
    # A coupon never takes more than the lines are worth.
    assert all(r.total >= 0 for r in t.lines)


@settings(max_examples=200, deadline=None)
@given(lines)
def test_prices_with_tax_keep_the_shelf_price_in_the_base_country(lines: list[LineInput]) -> None:
    """Half-down tax rounding makes net + tax give back the gross price exactly."""
    t = compute(lines, country="NO", prices_include_tax=True)
    for line, result in zip(lines, t.lines, strict=True):
        assert result.subtotal + result.subtotal_tax == line.unit_price * line.quantity


def test_a_known_cart() -> None:
    t = compute(
        [LineInput(Decimal("199.00"), 2, ""), LineInput(Decimal("49.90"), 1, "reduced-rate")],
        country="NO",
        prices_include_tax=True,
        coupons=[CouponInput("velkommen10", "percent", Decimal(10))],
        shipping=[ShippingInput("flat_rate", "Bring", Decimal("79.20"))],
        fees=[FeeInput("Fakturagebyr", Decimal("39.00"))],
    )
    # 447.90 of goods less 10 % = 403.11, shipping 79.20 + 25 % = 99.00, fee 39.00 + 25 %.
    assert t.total == Decimal("550.86")
    assert (t.lines[1].total, t.lines[1].total_tax) == (Decimal("39.05"), Decimal("5.86"))
    assert str(t.lines[1].taxes[0].total) == "5.85782609"
    assert (t.discount_total, t.discount_tax) == (Decimal("36.18"), Decimal("8.61"))


def test_every_sample_order_adds_up_to_the_cent() -> None:
    checked = 0
    for seed in range(60):
        for incl in (False, True):
            app = make_app(
                WooSettings(seed=seed, order_seed=seed, prices_include_tax=incl, products=30)
            )
            for _ in range(4):
                placed = app[samples_key].place()
                if placed.finish is not None:
                    placed.finish()
                data = order_json(placed.order, [], app[site_key])
                assert order_problems(data) == [], (seed, incl, data)
                checked += 1
    assert checked == 480
