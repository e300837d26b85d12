"""The shop's records: products, orders and their items, refunds, notes and webhooks.

Plain mutable dataclasses held by the store; `render.py` turns them into WooCommerce's JSON.
Timestamps are aware UTC datetimes with whole seconds, as WordPress stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ordreflyt_sandbox_woocommerce.pricing import RateAmount

# Statuses WooCommerce registers; a shop may add its own (see WooSettings.custom_statuses).
CORE_ORDER_STATUSES = {
    "pending": "Pending payment",
    "processing": "Processing",
    "on-hold": "On hold",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
    "failed": "Failed",
    "checkout-draft": "Draft",
}
# wc_maybe_reduce_stock_levels / wc_maybe_increase_stock_levels trigger on these statuses.
STOCK_REDUCING_STATUSES = ("processing", "completed", "on-hold")
STOCK_RESTORING_STATUSES = ("cancelled", "pending")
PAID_STATUSES = ("processing", "completed")


@dataclass
class Meta:
    id: int
    key: str
    value: Any
    display_key: str | None = None
    display_value: str | None = None


@dataclass
class Product:
    """A simple or variable product, or a variation (type "variation", with a parent_id)."""

    id: int
    name: str
    type: str
    sku: str
    regular_price: Decimal | None
    tax_class: str
    date_created: datetime
    date_modified: datetime
    parent_id: int = 0
    weight: str = ""
    manage_stock: bool = False
    stock_quantity: int | None = None
    # Used only when stock is not managed; otherwise the status follows the quantity.
    stock_status_manual: str = "instock"
    backorders: str = "no"
    status: str = "publish"
    # For a variable product: attribute name -> options; for a variation: name -> its option.
    attributes: dict[str, list[str]] = field(default_factory=dict)
    variation_ids: list[int] = field(default_factory=list)
    total_sales: int = 0
    meta_data: list[Meta] = field(default_factory=list)
    status_before_trash: str | None = None

    @property
    def own_stock_status(self) -> str:
        if not self.manage_stock:
            return self.stock_status_manual
        if self.stock_quantity is not None and self.stock_quantity > 0:
            return "instock"
        return "outofstock" if self.backorders == "no" else "onbackorder"


@dataclass
class LineItem:
    id: int
    name: str
    product_id: int
    variation_id: int
    quantity: int
    tax_class: str
    subtotal: Decimal
    subtotal_tax: Decimal
    total: Decimal
    total_tax: Decimal
    taxes: tuple[RateAmount, ...]
    sku: str
    parent_name: str | None = None
    meta_data: list[Meta] = field(default_factory=list)


@dataclass
class ShippingLine:
    id: int
    method_title: str
    method_id: str
    instance_id: str
    total: Decimal
    total_tax: Decimal
    taxes: tuple[RateAmount, ...]
    meta_data: list[Meta] = field(default_factory=list)


@dataclass
class FeeLine:
    id: int
    name: str
    tax_class: str
    tax_status: str
    amount: Decimal
    total: Decimal
    total_tax: Decimal
    taxes: tuple[RateAmount, ...]


@dataclass
class CouponLine:
    id: int
    code: str
    discount: Decimal
    discount_tax: Decimal
    discount_type: str
    nominal_amount: Decimal


@dataclass
class TaxLine:
    id: int
    rate_id: int
    rate_code: str
    label: str
    compound: bool
    tax_total: Decimal
    shipping_tax_total: Decimal


@dataclass
class OrderTotals:
    discount_total: Decimal
    discount_tax: Decimal
    shipping_total: Decimal
    shipping_tax: Decimal
    cart_tax: Decimal
    total: Decimal
    total_tax: Decimal


@dataclass
class Order:
    id: int
    status: str
    currency: str
    prices_include_tax: bool
    created_via: str
    order_key: str
    billing: dict[str, str]
    shipping: dict[str, str]
    payment_method: str
    payment_method_title: str
    transaction_id: str
    date_created: datetime
    date_modified: datetime
    line_items: list[LineItem]
    shipping_lines: list[ShippingLine]
    fee_lines: list[FeeLine]
    coupon_lines: list[CouponLine]
    tax_lines: list[TaxLine]
    totals: OrderTotals
    customer_id: int = 0
    customer_note: str = ""
    customer_ip_address: str = ""
    customer_user_agent: str = ""
    cart_hash: str = ""
    date_paid: datetime | None = None
    date_completed: datetime | None = None
    meta_data: list[Meta] = field(default_factory=list)
    refund_ids: list[int] = field(default_factory=list)
    stock_reduced: bool = False
    status_before_trash: str | None = None


@dataclass
class RefundLine:
    id: int
    refunded_item_id: int
    name: str
    product_id: int
    variation_id: int
    quantity: int
    tax_class: str
    total: Decimal
    total_tax: Decimal
    taxes: tuple[RateAmount, ...]
    sku: str


@dataclass
class Refund:
    id: int
    order_id: int
    date_created: datetime
    amount: Decimal
    reason: str
    refunded_payment: bool
    line_items: list[RefundLine] = field(default_factory=list)
    meta_data: list[Meta] = field(default_factory=list)


@dataclass
class Note:
    id: int
    order_id: int
    date_created: datetime
    note: str
    customer_note: bool
    author: str = "system"


@dataclass
class Webhook:
    id: int
    name: str
    status: str
    topic: str
    delivery_url: str
    secret: str
    date_created: datetime
    date_modified: datetime
    failure_count: int = 0

    @property
    def resource(self) -> str:
        return self.topic.split(".", 1)[0]

    @property
    def event(self) -> str:
        return self.topic.split(".", 1)[1] if "." in self.topic else ""


@dataclass
class DeliveryRecord:
    """One webhook delivery attempt, kept for `/_sandbox/state`."""

    delivery_id: str
    webhook_id: int
    topic: str
    resource_id: int
    delivery_url: str
    at: datetime
    status: int | None
    error: str | None
    success: bool
    duration_ms: int
