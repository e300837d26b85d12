"""Sample orders placed as if by shoppers at the checkout, on demand or at a steady rate.

A sample order is a Norwegian (NOK) or Swedish (SEK) customer buying 1-5 catalogue items,
sometimes with a coupon, a taxed flat-rate or free shipping, sometimes an invoice fee, paying
with Klarna, Vipps or a card. The customer comes from one of the configured `countries` (NO six
times in ten when both are allowed); `countries=("SE",)` gives Swedish orders only, in SEK at
Swedish VAT, as a demo against Fortnox wants. It takes two steps, each its own unit of work with its own
webhooks, like a real checkout and the payment callback that follows:

- "paid" (most): created `pending`, then paid (`processing`, with a transaction id);
- "pending": created and left unpaid; "failed": created, then the payment fails;
- "draft": a block-checkout draft (`checkout-draft`, no order.created) that is saved again
  and then abandoned;
- a pinned final status other than these: created `pending`, then set to that status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ordreflyt_sandbox_woocommerce import nordic, orders
from ordreflyt_sandbox_woocommerce.errors import WooError
from ordreflyt_sandbox_woocommerce.models import Order, Product
from ordreflyt_sandbox_woocommerce.money import ZERO, parse_money
from ordreflyt_sandbox_woocommerce.orders import LineRequest, OrderDraft
from ordreflyt_sandbox_woocommerce.pricing import FeeInput, ShippingInput
from ordreflyt_sandbox_woocommerce.settings import SUPPORTED_COUNTRIES, check_countries
from ordreflyt_sandbox_woocommerce.store import Store

CURRENCY = {"NO": "NOK", "SE": "SEK"}
# How often each country comes up when it is allowed, relative to the others.
COUNTRY_WEIGHTS = {"NO": 0.6, "SE": 0.4}
COUNTRY = {currency: country for country, currency in CURRENCY.items()}
SHIPPING = {
    "flat_rate": {"NO": ("Bring: Pakke til hentested", "79.20"), "SE": ("PostNord: Ombud", "55.20")},
    "free_shipping": {"NO": ("Gratis frakt", "0.00"), "SE": ("Fri frakt", "0.00")},
    "local_pickup": {"NO": ("Hent i butikk", "0.00"), "SE": ("Hämta i butik", "0.00")},
}  # fmt: skip
INVOICE_FEE = {"NO": ("Fakturagebyr", "39.00"), "SE": ("Fakturaavgift", "29.00")}
FREE_SHIPPING_FROM = Decimal(1000)
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
)
NOTES = ("", "", "", "", "Kan leveres i postkassen.", "Ring på før levering, takk!", "Gave 🎁")
log = logging.getLogger(__name__)
FLOWS = {"paid": "pending", "pending": "pending", "failed": "pending", "draft": "checkout-draft"}


@dataclass
class Placed:
    """A sample order after its first step, and the second step still to run (if any)."""

    order: Order
    finish: Callable[[], None] | None


def _pinned(body: dict[str, Any], key: str) -> bool:
    return key in body


class SampleOrders:
    def __init__(
        self,
        store: Store,
        rng: random.Random,
        countries: tuple[str, ...] = SUPPORTED_COUNTRIES,
    ) -> None:
        self.store = store
        self.rng = rng
        self.countries = check_countries(countries)

    def place(self, pins: dict[str, Any] | None = None) -> Placed:
        """Create one sample order (first step); `pins` fixes fields, the rest is random."""
        pins = pins or {}
        rng = self.rng
        country = self._country(pins)
        currency = str(pins.get("currency") or CURRENCY[country])
        first, last = nordic.person(country, rng)
        billing = {
            **nordic.address(country, rng, first, last),
            "email": str(pins.get("email") or nordic.email_for(first, last, rng)),
            "phone": nordic.phone_for(country, rng),
        }
        shipping_address = {k: v for k, v in billing.items() if k not in ("email", "phone")}
        if rng.random() < 0.1:
            shipping_address = nordic.address(country, rng, *nordic.person(country, rng))
        lines = self._lines(pins)
        method = str(pins.get("payment_method") or self._payment_method(country))
        status = pins.get("status")
        flow = self._flow(status)
        draft = OrderDraft(
            lines=lines,
            currency=currency,
            billing=billing,
            shipping=shipping_address,
            status=FLOWS.get(flow, "pending"),
            created_via="store-api" if flow == "draft" or rng.random() < 0.5 else "checkout",
            prices_include_tax=pins.get("prices_include_tax"),
            payment_method=method,
            coupon_codes=self._coupon(pins),
            shipping_lines=self._shipping(pins, country, lines),
            fee_lines=self._fee(pins, country, method),
            customer_id=rng.randint(2, 900) if rng.random() < 0.3 else 0,
            customer_note=rng.choice(NOTES),
            customer_ip_address=f"{rng.choice((84, 88, 78, 195))}.{rng.randint(0, 255)}."
            f"{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            customer_user_agent=rng.choice(USER_AGENTS),
        )
        order = orders.create_order(self.store, draft)
        return Placed(order, self._second_step(order, flow, status))

    def _country(self, pins: dict[str, Any]) -> str:
        countries = self.countries
        if pins.get("countries") is not None:
            try:
                countries = check_countries(pins["countries"])
            except ValueError as exc:
                raise WooError(400, "sandbox_invalid_country", str(exc)) from exc
        if pins.get("country"):
            country = str(pins["country"])
        elif pins.get("currency"):
            country = COUNTRY.get(str(pins["currency"]), countries[0])
        else:
            country = self._random_country(countries)
        if country not in CURRENCY:
            raise WooError(400, "sandbox_invalid_country", "country must be NO or SE")
        return country

    def _random_country(self, countries: tuple[str, ...]) -> str:
        weights = [COUNTRY_WEIGHTS[c] for c in countries]
        roll = self.rng.random() * sum(weights)
        for country, weight in zip(countries, weights, strict=True):
            if roll < weight:
                return country
            roll -= weight
        return countries[-1]

    def _flow(self, status: Any) -> str:
        if status is None:
            roll = self.rng.random()
            return (
                "paid"
                if roll < 0.72
                else "pending"
                if roll < 0.8
                else "failed"
                if roll < 0.88
                else "draft"
            )
        named = {"processing": "paid", "pending": "pending", "failed": "failed"}
        named["checkout-draft"] = "draft"
        if status in named:
            return named[status]
        if status not in self.store.order_statuses:
            raise WooError(400, "woocommerce_rest_invalid_order_status", "Invalid order status.")
        return str(status)

    def _purchasable(self) -> list[Product]:
        return [
            p
            for p in self.store.products.values()
            if p.type in ("simple", "variation")
            and p.status == "publish"
            and p.regular_price is not None
            and p.own_stock_status != "outofstock"
        ]

    def _lines(self, pins: dict[str, Any]) -> list[LineRequest]:
        if pins.get("lines"):
            out = []
            for line in pins["lines"]:
                if not isinstance(line, dict):
                    raise WooError(400, "sandbox_invalid_line", f"A line is an object: {line!r}")
                product = self.store.product_by_sku(str(line.get("sku", "")))
                if product is None or product.type == "variable":
                    raise WooError(400, "sandbox_unknown_sku", f"No product with sku {line!r}")
                quantity = line.get("quantity", 1)
                if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                    raise WooError(400, "sandbox_invalid_quantity", f"Bad quantity in {line!r}")
                out.append(self._line(product, quantity))
            return out
        pool = self._purchasable()
        if not pool:
            raise WooError(409, "sandbox_nothing_to_sell", "No product is in stock.")
        picked = self.rng.sample(pool, k=min(len(pool), self.rng.randint(1, 5)))
        return [self._line(p, self.rng.choices((1, 2, 3), (70, 20, 10))[0]) for p in picked]

    @staticmethod
    def _line(product: Product, quantity: int) -> LineRequest:
        if product.type == "variation":
            return LineRequest(product.parent_id, product.id, quantity)
        return LineRequest(product.id, 0, quantity)

    def _payment_method(self, country: str) -> str:
        if country == "NO":
            return self.rng.choices(("klarna", "vipps", "stripe"), (45, 35, 20))[0]
        return self.rng.choices(("klarna", "stripe"), (65, 35))[0]

    def _coupon(self, pins: dict[str, Any]) -> list[str]:
        if _pinned(pins, "coupon"):
            return [str(pins["coupon"])] if pins["coupon"] else []
        if self.rng.random() < 0.2:
            return [self.rng.choice(sorted(self.store.coupons))]
        return []

    def _shipping(
        self, pins: dict[str, Any], country: str, lines: list[LineRequest]
    ) -> list[ShippingInput]:
        pinned = pins.get("shipping")
        if isinstance(pinned, dict):
            return [
                ShippingInput(
                    str(pinned.get("method_id", "flat_rate")),
                    str(pinned.get("method_title", "Frakt")),
                    _money(pinned.get("total", "0.00"), "shipping.total"),
                )
            ]
        if isinstance(pinned, str):
            method = pinned
        else:
            shelf = sum(
                (
                    (self.store.products[li.variation_id or li.product_id].regular_price or ZERO)
                    * li.quantity
                    for li in lines
                ),
                ZERO,
            )
            method = "free_shipping" if shelf >= FREE_SHIPPING_FROM else "flat_rate"
            if self.rng.random() < 0.1:
                method = "local_pickup"
        if method not in SHIPPING:
            raise WooError(400, "sandbox_invalid_shipping", f"Unknown shipping {method!r}")
        title, cost = SHIPPING[method][country]
        return [ShippingInput(method, title, Decimal(cost))]

    def _fee(self, pins: dict[str, Any], country: str, method: str) -> list[FeeInput]:
        pinned = pins.get("fee")
        if isinstance(pinned, dict):
            return [
                FeeInput(
                    str(pinned.get("name", "Gebyr")),
                    _money(pinned.get("total", "0.00"), "fee.total"),
                    str(pinned.get("tax_class", "")),
                )
            ]
        if _pinned(pins, "fee") and not pinned:
            return []
        if pinned is True or (method == "klarna" and self.rng.random() < 0.15):
            name, amount = INVOICE_FEE[country]
            return [FeeInput(name, Decimal(amount))]
        return []

    def _transaction_id(self, method: str) -> str:
        if method == "klarna":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if method == "vipps":
            return str(self.rng.randint(10**9, 10**10 - 1))
        alphabet = string.ascii_letters + string.digits
        return "pi_" + "".join(self.rng.choice(alphabet) for _ in range(24))

    def _second_step(self, order: Order, flow: str, status: Any) -> Callable[[], None] | None:
        store = self.store
        txn = self._transaction_id(order.payment_method)

        def still_there() -> bool:
            return store.orders.get(order.id) is order and order.status != "trash"

        def pay() -> None:
            if still_there():
                orders.payment_complete(store, order, txn)

        def fail() -> None:
            if still_there() and order.status == "pending":
                orders.set_status(store, order, "failed", "Payment declined.")
                orders.save(store, order)

        def touch_draft() -> None:
            # The shopper edits the address in the block checkout: the draft is saved again.
            if still_there() and order.status == "checkout-draft":
                order.shipping["address_2"] = order.shipping.get("address_2") or "2. etasje"
                orders.save(store, order)

        def set_final() -> None:
            if still_there():
                orders.set_status(store, order, str(status))
                orders.save(store, order)

        steps: dict[str, Callable[[], None] | None] = {
            "paid": pay,
            "pending": None,
            "failed": fail,
            "draft": touch_draft,
        }
        return steps.get(flow, set_final)


def _money(raw: Any, field: str) -> Decimal:
    try:
        return parse_money(raw, field)
    except ValueError as exc:
        raise WooError(400, "sandbox_invalid_money", str(exc)) from exc


class Generator:
    """Places sample orders at `rate` per second until the rate is set to 0."""

    def __init__(self, samples: SampleOrders, flush: Callable[[], None], rate: float = 0.0) -> None:
        self.samples = samples
        self.flush = flush
        self.rate = rate
        self.placed = 0
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="sample-order-generator")

    async def stop(self) -> None:
        for task in [self._loop, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def set_rate(self, rate: float) -> None:
        self.rate = rate
        self._changed.set()

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            if self.rate <= 0:
                await self._changed.wait()
                continue
            with contextlib.suppress(TimeoutError):
                # Wake early when the rate changes so a new rate applies at once.
                await asyncio.wait_for(self._changed.wait(), timeout=1 / self.rate)
                continue
            try:
                self._place_one()
            except WooError as exc:  # e.g. sold out: try again at the next tick
                log.warning("no sample order placed: %s", exc.message)
            except Exception:  # a bug in one order must not stop the generator
                log.exception("sample order failed")

    def _place_one(self) -> None:
        try:
            placed = self.samples.place()
        finally:
            self.flush()
        self.placed += 1
        if placed.finish is not None:
            task = asyncio.create_task(self._finish_later(placed.finish))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _finish_later(self, finish: Callable[[], None]) -> None:
        # The payment callback arrives a moment after the checkout.
        await asyncio.sleep(0.2 + secrets.randbelow(1300) / 1000)
        finish()
        self.flush()
