"""What happens to an order: created, saved, paid, moved between statuses, trashed, refunded.

Each function follows the WooCommerce code path it stands for, including the side effects a
consumer sees: `date_modified` moves on every save, a status change adds a system note, paid
statuses set `date_paid` and reduce stock once, a save fires `order.updated` (a checkout draft
fires `order.created` only when it becomes a real order), trashing fires `order.deleted`, a
permanent delete fires nothing, a refund saves the order and may make it `refunded`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ordreflyt_sandbox_woocommerce.errors import WooError
from ordreflyt_sandbox_woocommerce.models import (
    PAID_STATUSES,
    STOCK_REDUCING_STATUSES,
    STOCK_RESTORING_STATUSES,
    CouponLine,
    FeeLine,
    LineItem,
    Order,
    OrderTotals,
    Product,
    Refund,
    RefundLine,
    ShippingLine,
    TaxLine,
)
from ordreflyt_sandbox_woocommerce.money import ZERO, fmt_money
from ordreflyt_sandbox_woocommerce.pricing import (
    CouponInput,
    FeeInput,
    LineInput,
    RateAmount,
    ShippingInput,
    Totals,
    compute,
)
from ordreflyt_sandbox_woocommerce.render import status_label
from ordreflyt_sandbox_woocommerce.store import Store
from ordreflyt_sandbox_woocommerce.taxes import BASE_COUNTRY

# Payment gateways the shop has, with their titles and whether they refund through the API.
GATEWAYS: dict[str, tuple[str, bool]] = {
    "klarna": ("Klarna", True),
    "vipps": ("Vipps MobilePay", True),
    "stripe": ("Kort", True),
    "bacs": ("Bankoverføring", False),
    "cod": ("Oppkrav", False),
}
ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
)
BILLING_FIELDS = (*ADDRESS_FIELDS, "email", "phone")


def empty_address(*, billing: bool) -> dict[str, str]:
    return dict.fromkeys(BILLING_FIELDS if billing else ADDRESS_FIELDS, "")


@dataclass
class LineRequest:
    product_id: int
    variation_id: int = 0
    quantity: int = 1


@dataclass
class OrderDraft:
    """Everything a checkout or `POST /orders` says about a new order."""

    lines: list[LineRequest]
    currency: str
    billing: dict[str, str] = field(default_factory=lambda: empty_address(billing=True))
    shipping: dict[str, str] = field(default_factory=lambda: empty_address(billing=False))
    status: str = "pending"
    created_via: str = "rest-api"
    prices_include_tax: bool | None = None
    payment_method: str = ""
    payment_method_title: str = ""
    transaction_id: str = ""
    set_paid: bool = False
    coupon_codes: list[str] = field(default_factory=list)
    shipping_lines: list[ShippingInput] = field(default_factory=list)
    fee_lines: list[FeeInput] = field(default_factory=list)
    customer_id: int = 0
    customer_note: str = ""
    customer_ip_address: str = ""
    customer_user_agent: str = ""
    meta_data: list[tuple[str, Any]] = field(default_factory=list)


def tax_country(billing: dict[str, str], shipping: dict[str, str]) -> str:
    """Taxes follow the shipping address (WooCommerce's default), then billing, then the shop."""
    return shipping.get("country") or billing.get("country") or BASE_COUNTRY


def _resolve_line(store: Store, line: LineRequest) -> tuple[Product, Product | None]:
    """The product and, for a variable product, the variation a line is for."""
    if line.quantity <= 0:
        raise WooError(
            400,
            "woocommerce_rest_invalid_product_quantity",
            "Product quantity must be a positive float.",
        )
    wanted = line.variation_id or line.product_id
    product = store.products.get(wanted)
    if product is None or product.status == "trash":
        raise WooError(400, "woocommerce_rest_invalid_product_id", "Invalid product ID.")
    if product.type == "variation":
        return store.products[product.parent_id], product
    if product.type == "variable":
        raise WooError(
            400,
            "woocommerce_rest_invalid_product_id",
            f"Product {product.id} is variable: give a variation_id.",
        )
    return product, None


def create_order(store: Store, draft: OrderDraft) -> Order:
    if draft.status not in store.order_statuses:
        raise WooError(400, "woocommerce_rest_invalid_order_status", "Invalid order status.")
    coupons = []
    for code in draft.coupon_codes:
        coupon = store.coupons.get(code.lower())
        if coupon is None:
            raise WooError(
                400, "woocommerce_rest_invalid_coupon", f'Coupon "{code}" does not exist!'
            )
        coupons.append(coupon)
    resolved = [(*_resolve_line(store, line), line.quantity) for line in draft.lines]
    incl = (
        store.prices_include_tax if draft.prices_include_tax is None else draft.prices_include_tax
    )
    country = tax_country(draft.billing, draft.shipping)
    totals = compute(
        [
            LineInput(
                (variation or product).regular_price or ZERO,
                qty,
                (variation or product).tax_class,
            )
            for product, variation, qty in resolved
        ],
        country=country,
        prices_include_tax=incl,
        coupons=coupons,
        shipping=draft.shipping_lines,
        fees=draft.fee_lines,
    )
    now = store.now()
    order = Order(
        id=store.next_post_id(),
        status="pending",
        currency=draft.currency,
        prices_include_tax=incl,
        created_via=draft.created_via,
        order_key=f"wc_order_{secrets.token_hex(7)[:13]}",
        billing={**empty_address(billing=True), **draft.billing},
        shipping={**empty_address(billing=False), **draft.shipping},
        payment_method=draft.payment_method,
        payment_method_title=draft.payment_method_title
        or GATEWAYS.get(draft.payment_method, ("", False))[0],
        transaction_id=draft.transaction_id,
        date_created=now,
        date_modified=now,
        line_items=[],
        shipping_lines=[],
        fee_lines=[],
        coupon_lines=[],
        tax_lines=[],
        totals=OrderTotals(
            discount_total=totals.discount_total,
            discount_tax=totals.discount_tax,
            shipping_total=totals.shipping_total,
            shipping_tax=totals.shipping_tax,
            cart_tax=totals.cart_tax,
            total=totals.total,
            total_tax=totals.total_tax,
        ),
        customer_id=draft.customer_id,
        customer_note=draft.customer_note,
        customer_ip_address=draft.customer_ip_address,
        customer_user_agent=draft.customer_user_agent,
        meta_data=[store.meta("is_vat_exempt", "no")]
        + [store.meta(key, value) for key, value in draft.meta_data],
    )
    _add_items(store, order, resolved, coupons, draft, totals)
    order.cart_hash = hashlib.md5(
        repr([(li.product_id, li.variation_id, li.quantity) for li in order.line_items]).encode(),
        usedforsecurity=False,
    ).hexdigest()
    store.orders[order.id] = order
    set_status(store, order, draft.status)
    save(store, order, created=True)
    if draft.set_paid:
        payment_complete(store, order, draft.transaction_id)
    return order


def _add_items(
    store: Store,
    order: Order,
    resolved: list[tuple[Product, Product | None, int]],
    coupons: list[CouponInput],
    draft: OrderDraft,
    totals: Totals,
) -> None:
    """The order's line, shipping, fee, coupon and tax items, each with its own item id."""
    for (product, variation, qty), result in zip(resolved, totals.lines, strict=True):
        item = variation or product
        order.line_items.append(
            LineItem(
                id=store.next_item_id(),
                name=item.name,
                product_id=product.id,
                variation_id=variation.id if variation else 0,
                quantity=qty,
                tax_class=item.tax_class,
                subtotal=result.subtotal,
                subtotal_tax=result.subtotal_tax,
                total=result.total,
                total_tax=result.total_tax,
                taxes=result.taxes,
                sku=item.sku,
                parent_name=product.name if variation else None,
                meta_data=[
                    store.meta(
                        name.lower().translate(_KEY_TABLE),
                        options[0].lower(),
                        display_key=name,
                        display_value=options[0],
                    )
                    for name, options in (variation.attributes.items() if variation else [])
                ],
            )
        )
    for ship, charge in zip(draft.shipping_lines, totals.shipping, strict=True):
        items = ", ".join(f"{li.name} &times; {li.quantity}" for li in order.line_items)
        order.shipping_lines.append(
            ShippingLine(
                id=store.next_item_id(),
                method_title=ship.method_title,
                method_id=ship.method_id,
                instance_id="1",
                total=charge.total,
                total_tax=charge.total_tax,
                taxes=charge.taxes,
                meta_data=[store.meta("Varer", items)],
            )
        )
    for fee, fee_charge in zip(draft.fee_lines, totals.fees, strict=True):
        order.fee_lines.append(
            FeeLine(
                id=store.next_item_id(),
                name=fee.name,
                tax_class=fee.tax_class,
                tax_status="taxable" if fee.taxable else "none",
                amount=fee.amount,
                total=fee_charge.total,
                total_tax=fee_charge.total_tax,
                taxes=fee_charge.taxes,
            )
        )
    for coupon, applied in zip(coupons, totals.coupons, strict=True):
        order.coupon_lines.append(
            CouponLine(
                id=store.next_item_id(),
                code=coupon.code,
                discount=applied.discount,
                discount_tax=applied.discount_tax,
                discount_type=coupon.discount_type,
                nominal_amount=coupon.amount,
            )
        )
    for tax in totals.tax_lines:
        order.tax_lines.append(
            TaxLine(
                id=store.next_item_id(),
                rate_id=tax.rate.id,
                rate_code=tax.rate.rate_code,
                label=tax.rate.name,
                compound=tax.rate.compound,
                tax_total=tax.tax_total,
                shipping_tax_total=tax.shipping_tax_total,
            )
        )


_KEY_TABLE = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "ä": "a", "ö": "o", " ": "-"})


def save(store: Store, order: Order, *, created: bool = False, was_draft: bool = False) -> None:
    """`$order->save()`: bump date_modified and fire the hooks webhooks listen to."""
    order.date_modified = store.now()
    is_draft = order.status == "checkout-draft"
    if created:
        # A block-checkout draft is not an order yet: order.created waits until it leaves draft.
        if not is_draft:
            store.emit("order.created", order.id)
        return
    store.emit("order.updated", order.id)
    if was_draft and not is_draft:
        store.emit("order.created", order.id)


def set_status(store: Store, order: Order, status: str, note: str = "") -> None:
    """`$order->set_status()` plus the transition work WooCommerce does on save."""
    if status not in store.order_statuses:
        raise WooError(400, "woocommerce_rest_invalid_order_status", "Invalid order status.")
    old = order.status
    if old == status:
        return
    order.status = status
    now = store.now()
    if status in PAID_STATUSES and order.date_paid is None:
        order.date_paid = now
    if status == "completed":
        order.date_completed = now
    transition = f"Order status changed from {status_label(old)} to {status_label(status)}."
    store.add_note(order, f"{note} {transition}".strip())
    if status in STOCK_REDUCING_STATUSES and not order.stock_reduced:
        _change_stock(store, order, reduce=True)
    elif status in STOCK_RESTORING_STATUSES and order.stock_reduced:
        _change_stock(store, order, reduce=False)


def payment_complete(store: Store, order: Order, transaction_id: str = "") -> None:
    """`$order->payment_complete()`: only for an order that still needs payment."""
    if order.status not in ("pending", "failed", "on-hold", "checkout-draft"):
        return
    was_draft = order.status == "checkout-draft"
    if transaction_id:
        order.transaction_id = transaction_id
    order.date_paid = order.date_paid or store.now()
    set_status(store, order, "processing")
    save(store, order, was_draft=was_draft)


def _change_stock(store: Store, order: Order, *, reduce: bool) -> None:
    """wc_reduce_stock_levels / wc_increase_stock_levels.

    These write the quantity directly, so the product's date_modified stays and no
    product.updated webhook fires, as in WooCommerce.
    """
    changes = []
    for item in order.line_items:
        product = store.products.get(item.variation_id or item.product_id)
        if product is None or not product.manage_stock or product.stock_quantity is None:
            continue
        before = product.stock_quantity
        product.stock_quantity = before - item.quantity if reduce else before + item.quantity
        changes.append(f"{item.name} ({item.sku}) {before}&rarr;{product.stock_quantity}")
    order.stock_reduced = reduce
    if changes:
        verb = "reduced" if reduce else "increased"
        store.add_note(order, f"Stock levels {verb}: " + ", ".join(changes))


def trash(store: Store, order: Order) -> None:
    if order.status == "trash":
        raise WooError(
            410, "woocommerce_rest_already_trashed", "The order has already been deleted."
        )
    order.status_before_trash = order.status
    order.status = "trash"
    order.date_modified = store.now()
    store.emit("order.deleted", order.id)


def restore(store: Store, order: Order) -> None:
    """Restore from the trash, as the admin's "Restore" link does (untrashed_post)."""
    if order.status != "trash":
        raise WooError(400, "woocommerce_rest_not_trashed", "The order is not in the trash.")
    order.status = order.status_before_trash or "pending"
    order.status_before_trash = None
    order.date_modified = store.now()
    store.emit("order.restored", order.id)


def delete(store: Store, order: Order) -> None:
    """A permanent delete: WooCommerce's order.deleted listens to trashing only, so no webhook."""
    del store.orders[order.id]
    for refund_id in order.refund_ids:
        store.refunds.pop(refund_id, None)
    store.notes.pop(order.id, None)


@dataclass
class RefundLineRequest:
    item_id: int
    quantity: int
    refund_total: Decimal
    refund_tax: dict[int, Decimal]


def remaining_refund_amount(store: Store, order: Order) -> Decimal:
    return order.totals.total - sum((r.amount for r in store.refunds_of(order)), ZERO)


def create_refund(
    store: Store,
    order: Order,
    *,
    amount: Decimal | None,
    reason: str,
    lines: list[RefundLineRequest],
    api_refund: bool,
    api_restock: bool,
) -> Refund:
    """wc_create_refund as reached through `POST /orders/<id>/refunds`."""
    if amount is not None and amount < 0:
        raise WooError(
            400, "woocommerce_rest_invalid_order_refund", "Refund amount must be greater than zero."
        )
    refund_lines = _refund_lines(store, order, lines)
    if amount is None:
        amount = sum((line.total + line.total_tax for line in refund_lines), ZERO)
    remaining = remaining_refund_amount(store, order)
    # WooCommerce answers 500 here (the REST layer wraps wc_create_refund's error).
    if amount > remaining:
        raise WooError(500, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount.")
    if api_refund:
        gateway = GATEWAYS.get(order.payment_method)
        if gateway is None:
            raise WooError(
                500,
                "woocommerce_rest_cannot_create_order_refund",
                "The payment gateway for this order does not exist.",
            )
        if not gateway[1]:
            raise WooError(
                500,
                "woocommerce_rest_cannot_create_order_refund",
                "The payment gateway for this order does not support automatic refunds.",
            )
    refund = Refund(
        id=store.next_post_id(),
        order_id=order.id,
        date_created=store.now(),
        amount=amount,
        reason=reason,
        refunded_payment=api_refund,
        line_items=refund_lines,
    )
    store.refunds[refund.id] = refund
    order.refund_ids.append(refund.id)
    if api_refund:
        title = GATEWAYS[order.payment_method][0]
        text = f"Refunded {fmt_money(amount)} {order.currency} via {title}"
        store.add_note(order, f"{text}: {reason}" if reason else f"{text}.")
    if api_restock:
        _restock(store, refund)
    if amount >= remaining:
        set_status(store, order, "refunded")
    save(store, order)
    return refund


def _refund_lines(store: Store, order: Order, lines: list[RefundLineRequest]) -> list[RefundLine]:
    """Refund rows for product, shipping and fee lines; unknown item ids are skipped as in WC."""
    out: list[RefundLine] = []
    refundable: list[LineItem | ShippingLine | FeeLine] = [
        *order.line_items,
        *order.shipping_lines,
        *order.fee_lines,
    ]
    by_id = {item.id: item for item in refundable}
    for req in lines:
        item = by_id.get(req.item_id)
        if item is None or (req.quantity <= 0 and req.refund_total <= 0 and not req.refund_tax):
            continue
        taxes = tuple(RateAmount(rate_id, value) for rate_id, value in req.refund_tax.items())
        if isinstance(item, LineItem):
            name, sku, pid, vid, tax_class = (
                item.name,
                item.sku,
                item.product_id,
                item.variation_id,
                item.tax_class,
            )
        elif isinstance(item, ShippingLine):
            name, sku, pid, vid, tax_class = item.method_title, "", 0, 0, ""
        else:
            name, sku, pid, vid, tax_class = item.name, "", 0, 0, item.tax_class
        out.append(
            RefundLine(
                id=store.next_item_id(),
                refunded_item_id=item.id,
                name=name,
                product_id=pid,
                variation_id=vid,
                quantity=max(req.quantity, 0),
                tax_class=tax_class,
                total=req.refund_total,
                total_tax=sum((t.total for t in taxes), ZERO),
                taxes=taxes,
                sku=sku,
            )
        )
    return out


def _restock(store: Store, refund: Refund) -> None:
    order = store.order(refund.order_id)
    for line in refund.line_items:
        product = store.products.get(line.variation_id or line.product_id)
        if (
            line.quantity <= 0
            or product is None
            or not product.manage_stock
            or product.stock_quantity is None
        ):
            continue
        before = product.stock_quantity
        product.stock_quantity = before + line.quantity
        store.add_note(
            order,
            f"Item #{line.refunded_item_id} stock increased from {before} to "
            f"{product.stock_quantity}.",
        )
