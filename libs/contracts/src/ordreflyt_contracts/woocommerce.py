"""WooCommerce resources as typed data, decoded from the REST/webhook JSON of a shop.

Only the fields Ordreflyt reads are declared; unknown fields are ignored so a shop with extra
plugins still decodes. Money is `Decimal` (WooCommerce sends decimal strings, and `price` as a
JSON number: both decode exactly). Every field has a default except the order id, because shops
and plugins leave fields out.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

ZERO = Decimal("0")


class MetaData(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    value: Any = None
    id: int | None = None


class Address(msgspec.Struct, frozen=True, kw_only=True):
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address_1: str = ""
    address_2: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""
    email: str | None = None
    phone: str | None = None


class TaxAmount(msgspec.Struct, frozen=True, kw_only=True):
    """One rate's share of a line's tax (`taxes[]` of lines, shipping and fees)."""

    id: int
    # Kept as text: WooCommerce sends "" for a rate that does not apply to the line.
    total: str = ""
    subtotal: str = ""

    def total_amount(self) -> Decimal:
        return Decimal(self.total) if self.total.strip() else ZERO


class LineItem(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str = ""
    product_id: int = 0
    variation_id: int = 0
    quantity: int = 0
    tax_class: str = ""
    subtotal: Decimal = ZERO
    subtotal_tax: Decimal = ZERO
    total: Decimal = ZERO
    total_tax: Decimal = ZERO
    taxes: list[TaxAmount] = []
    sku: str | None = None
    price: Decimal = ZERO
    meta_data: list[MetaData] = []


class TaxLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    rate_code: str = ""
    rate_id: int = 0
    label: str = ""
    compound: bool = False
    tax_total: Decimal = ZERO
    shipping_tax_total: Decimal = ZERO
    # Newer WooCommerce versions include the rate itself; older ones only the rate id.
    rate_percent: Decimal | None = None


class ShippingLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    method_title: str = ""
    method_id: str = ""
    total: Decimal = ZERO
    total_tax: Decimal = ZERO
    taxes: list[TaxAmount] = []


class FeeLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str = ""
    tax_class: str = ""
    tax_status: str = ""
    total: Decimal = ZERO
    total_tax: Decimal = ZERO
    taxes: list[TaxAmount] = []


class CouponLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    code: str = ""
    discount: Decimal = ZERO
    discount_tax: Decimal = ZERO


class RefundSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    reason: str = ""
    total: Decimal = ZERO  # negative, as WooCommerce sends it


class WooOrder(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    parent_id: int = 0
    number: str = ""
    order_key: str = ""
    created_via: str = ""
    status: str = ""
    currency: str = ""
    prices_include_tax: bool = False
    date_created_gmt: datetime | None = None
    date_modified_gmt: datetime | None = None
    date_paid_gmt: datetime | None = None
    date_completed_gmt: datetime | None = None
    discount_total: Decimal = ZERO
    discount_tax: Decimal = ZERO
    shipping_total: Decimal = ZERO
    shipping_tax: Decimal = ZERO
    cart_tax: Decimal = ZERO
    total: Decimal = ZERO
    total_tax: Decimal = ZERO
    customer_id: int = 0
    customer_note: str = ""
    billing: Address = Address()
    shipping: Address = Address()
    payment_method: str = ""
    payment_method_title: str = ""
    transaction_id: str = ""
    meta_data: list[MetaData] = []
    line_items: list[LineItem] = []
    tax_lines: list[TaxLine] = []
    shipping_lines: list[ShippingLine] = []
    fee_lines: list[FeeLine] = []
    coupon_lines: list[CouponLine] = []
    refunds: list[RefundSummary] = []


class DeletedResource(msgspec.Struct, frozen=True, kw_only=True):
    """The whole body WooCommerce sends for `*.deleted` topics."""

    id: int


_order_decoder = msgspec.json.Decoder(WooOrder)
_deleted_decoder = msgspec.json.Decoder(DeletedResource)


def decode_order(raw: bytes) -> WooOrder:
    """Decode an order body; raises `msgspec.ValidationError`/`DecodeError` naming the bad field."""
    return _order_decoder.decode(raw)


def decode_deleted(raw: bytes) -> DeletedResource:
    return _deleted_decoder.decode(raw)
