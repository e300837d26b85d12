"""WooCommerce resources as typed data, decoded from the REST/webhook JSON of a shop.

Only the fields Ordreflyt reads are declared; unknown fields are ignored so a shop with extra
plugins still decodes. Money is `Decimal` (WooCommerce sends decimal strings, and `price` as a
JSON number: both decode exactly). Every field has a default except the order id, because shops
and plugins leave fields out.

Constraints (a body that breaks one does not decode, and the error names the field): ids are
positive whole numbers that fit PostgreSQL's bigint (an order id above 0; other ids 0 or
more), quantities whole and between 0 and MAX_QUANTITY, every amount a finite decimal below
MAX_AMOUNT in size, and no text contains a NUL character.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec

ZERO = Decimal("0")
INT64_MAX = 2**63 - 1
MAX_QUANTITY = 1_000_000
# Larger than any real order total in any currency (also in zero-decimal currencies).
MAX_AMOUNT = Decimal("1e12")

OrderId = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
Id = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Quantity = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]


def _check_amount(name: str, value: Decimal) -> None:
    if not value.is_finite():
        raise ValueError(f"{name}: {value} is not an amount")
    if abs(value) >= MAX_AMOUNT:
        raise ValueError(f"{name}: {value} is larger than any order amount ({MAX_AMOUNT:f})")


def _check_fields(struct: msgspec.Struct) -> None:
    """Every Decimal field a sane amount, every text without NUL (msgspec names the place)."""
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if isinstance(value, Decimal):
            _check_amount(name, value)
        elif isinstance(value, str) and "\x00" in value:
            raise ValueError(f"{name}: contains a NUL character")


class _Checked(msgspec.Struct, frozen=True, kw_only=True):
    def __post_init__(self) -> None:
        _check_fields(self)


class MetaData(_Checked, frozen=True, kw_only=True):
    key: str
    value: Any = None
    id: Id | None = None

    def __post_init__(self) -> None:
        _check_fields(self)
        if isinstance(self.value, str) and "\x00" in self.value:
            raise ValueError("value: contains a NUL character")


class Address(_Checked, frozen=True, kw_only=True):
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

    def __post_init__(self) -> None:
        _check_fields(self)
        for name in ("email", "phone"):
            value = getattr(self, name)
            if value is not None and "\x00" in value:
                raise ValueError(f"{name}: contains a NUL character")


class TaxAmount(_Checked, frozen=True, kw_only=True):
    """One rate's share of a line's tax (`taxes[]` of lines, shipping and fees)."""

    id: Id
    # Kept as text: WooCommerce sends "" for a rate that does not apply to the line.
    total: str = ""
    subtotal: str = ""

    def __post_init__(self) -> None:
        for name in ("total", "subtotal"):
            text = getattr(self, name).strip()
            if not text:
                continue
            try:
                amount = Decimal(text)
            except InvalidOperation:
                raise ValueError(f"{name}: {text[:40]!r} is not an amount") from None
            _check_amount(name, amount)

    def total_amount(self) -> Decimal:
        return Decimal(self.total) if self.total.strip() else ZERO


class LineItem(_Checked, frozen=True, kw_only=True):
    id: Id
    name: str = ""
    product_id: Id = 0
    variation_id: Id = 0
    quantity: Quantity = 0
    tax_class: str = ""
    subtotal: Decimal = ZERO
    subtotal_tax: Decimal = ZERO
    total: Decimal = ZERO
    total_tax: Decimal = ZERO
    taxes: list[TaxAmount] = []
    sku: str | None = None
    price: Decimal = ZERO
    meta_data: list[MetaData] = []

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.sku is not None and "\x00" in self.sku:
            raise ValueError("sku: contains a NUL character")


class TaxLine(_Checked, frozen=True, kw_only=True):
    id: Id
    rate_code: str = ""
    rate_id: Id = 0
    label: str = ""
    compound: bool = False
    tax_total: Decimal = ZERO
    shipping_tax_total: Decimal = ZERO
    # Newer WooCommerce versions include the rate itself; older ones only the rate id.
    rate_percent: Decimal | None = None

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.rate_percent is not None:
            _check_amount("rate_percent", self.rate_percent)


class ShippingLine(_Checked, frozen=True, kw_only=True):
    id: Id
    method_title: str = ""
    method_id: str = ""
    total: Decimal = ZERO
    total_tax: Decimal = ZERO
    taxes: list[TaxAmount] = []


class FeeLine(_Checked, frozen=True, kw_only=True):
    id: Id
    name: str = ""
    tax_class: str = ""
    tax_status: str = ""
    total: Decimal = ZERO
    total_tax: Decimal = ZERO
    taxes: list[TaxAmount] = []


class CouponLine(_Checked, frozen=True, kw_only=True):
    id: Id
    code: str = ""
    discount: Decimal = ZERO
    discount_tax: Decimal = ZERO


class RefundSummary(_Checked, frozen=True, kw_only=True):
    id: Id
    reason: str = ""
    total: Decimal = ZERO  # negative, as WooCommerce sends it


class WooOrder(_Checked, frozen=True, kw_only=True):
    id: OrderId
    parent_id: Id = 0
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
    customer_id: Id = 0
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

    id: OrderId


def field_error(exc: BaseException) -> str:
    """A decoding error as `<field path>: <problem>`, e.g. `line_items[0].quantity: expected
    int <= 1000000` or `billing.email: contains a NUL character`."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    text = str(exc)
    problem, _, where = text.partition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    problem = problem[:1].lower() + problem[1:]
    # A check in a struct's __post_init__ names its own field: "email: contains ...".
    name, sep, rest = problem.partition(": ")
    if sep and name.isidentifier():
        path, problem = (f"{path}.{name}" if path else name), rest
    return f"{path}: {problem}".replace("`", "") if path else problem.replace("`", "")


_order_decoder = msgspec.json.Decoder(WooOrder)
_deleted_decoder = msgspec.json.Decoder(DeletedResource)


def decode_order(raw: bytes) -> WooOrder:
    """Decode an order body; raises `msgspec.ValidationError`/`DecodeError` naming the bad field."""
    return _order_decoder.decode(raw)


def decode_deleted(raw: bytes) -> DeletedResource:
    return _deleted_decoder.decode(raw)
