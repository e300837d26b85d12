"""The ERP-neutral order: what order-mapper makes of a shop order and erp-writer's adapters
turn into a Fortnox (or Tripletex) document.

Amounts are `Decimal` in the order currency. `vat_included` says whether `unit_price`,
`discount` and `total` of the lines are VAT-inclusive. A line's `total` is what the ERP will
compute for it: `quantity * unit_price - discount`, rounded to the currency's minor unit.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, cast

import msgspec

LineKind = Literal["article", "shipping", "fee", "rounding"]
DocumentKind = Literal["order", "invoice", "order_then_invoice"]
DeliveryState = Literal["delivery", "registration", "reservation"]


def delivery_state_setting(doc: Mapping[str, Any]) -> DeliveryState | None:
    """The one setting that says how ERP orders are created: `[order_mapper].delivery_state`
    (order-mapper checks its value at start); None: the ERP's default (`registration`)."""
    table = doc.get("order_mapper", {})
    value = table.get("delivery_state", "") if isinstance(table, Mapping) else ""
    return cast(DeliveryState, value) if value in typing.get_args(DeliveryState) else None


def delivered_on_creation(state: DeliveryState | None) -> bool:
    """`delivery`: the ERP delivers the whole order when it is created, so its delivered
    quantities say nothing of a shipment."""
    return state == "delivery"


def stock_taken_on_creation(state: DeliveryState | None) -> bool:
    """`delivery` takes the stock and `reservation` reserves it when the order is created (the
    ERP's available stock drops then); `registration` only when it is delivered."""
    return state in ("delivery", "reservation")


class ErpAddress(msgspec.Struct, frozen=True, kw_only=True):
    name: str = ""
    address1: str = ""
    address2: str = ""
    zip_code: str = ""
    city: str = ""
    country_code: str = ""


class ErpCustomer(msgspec.Struct, frozen=True, kw_only=True):
    """One person or company; matched in the ERP by `email` (lower-cased)."""

    email: str
    kind: Literal["private", "company"]
    name: str
    company: str = ""
    organisation_number: str = ""
    phone: str = ""
    address: ErpAddress = ErpAddress()
    delivery_address: ErpAddress = ErpAddress()


class ErpLine(msgspec.Struct, frozen=True, kw_only=True):
    kind: LineKind
    description: str
    quantity: Decimal
    unit_price: Decimal
    vat_percent: Decimal
    total: Decimal
    discount: Decimal = Decimal("0")  # an amount off the whole line (coupons)
    article_number: str | None = None
    account_number: int | None = None
    shop_line_id: int | None = None


class ErpOrder(msgspec.Struct, frozen=True, kw_only=True):
    shop_id: str
    shop_order_id: str
    order_number: str
    external_reference: str  # unique per shop order; the ERP document carries it for lookup
    order_date: date
    currency: str
    vat_included: bool
    customer: ErpCustomer
    lines: list[ErpLine]
    total: Decimal  # the shop's total, VAT included; the lines add up to it
    total_vat: Decimal
    freight: Decimal = Decimal("0")  # when shipping goes in the ERP's freight field
    document: DocumentKind = "order"
    stock_point: str | None = None
    delivery_state: DeliveryState | None = None
    payment_method: str = ""
    payment_method_title: str = ""
    transaction_id: str = ""
    coupons: list[str] = []
    customer_note: str = ""
    remarks: str = ""
    # When the shop took the customer data (the order's creation, UTC): an ERP customer written
    # from newer data is not overwritten by this order's. None in payloads from before it.
    customer_data_at: datetime | None = None


class ErpParcel(msgspec.Struct, frozen=True, kw_only=True):
    tracking_number: str
    carrier: str = ""


class ErpShipmentState(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery the ERP reports: what was sent (article number -> quantity), and how."""

    lines: dict[str, Decimal] = {}
    parcels: tuple[ErpParcel, ...] = ()


class ErpDocumentState(msgspec.Struct, frozen=True, kw_only=True):
    """What Ordreflyt knows of an ERP document's progress, whatever the ERP.

    `version` is the ERP's own change mark as its listing shows it (Fortnox: `LastModified`);
    `listed` a digest of what the ERP's listing of the document shows, so a watcher can tell
    from a listing alone whether something that matters changed. Quantities per article
    number (rows without an article, such as freight, do not count). `shipments` is None when
    the ERP does not report deliveries one by one (then delivered quantities tell).
    """

    number: str
    version: str = ""
    changed_at: datetime | None = None
    listed: str = ""
    ordered: dict[str, Decimal] = {}
    delivered: dict[str, Decimal] = {}
    invoiced: bool = False
    cancelled: bool = False
    shipments: tuple[ErpShipmentState, ...] | None = None

    @property
    def closed(self) -> bool:
        """Invoiced or cancelled: nothing about its delivery changes any more."""
        return self.invoiced or self.cancelled
