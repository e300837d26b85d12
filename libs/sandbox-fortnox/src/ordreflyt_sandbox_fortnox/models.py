"""The emulator's records (customers, articles, orders, invoices) and their Fortnox JSON shape.

Shape rules from recorded Fortnox answers: `DocumentNumber`, `CustomerNumber`, the references
between documents and row quantities are strings ("6", "1.00"); prices, VAT and amounts are
JSON numbers; a missing reference is "0"; an empty text field is "" and an empty date null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ordreflyt_sandbox_fortnox.clock import minute_text
from ordreflyt_sandbox_fortnox.jsonio import quantity_text
from ordreflyt_sandbox_fortnox.stock import Movement
from ordreflyt_sandbox_fortnox.totals import (
    STANDARD_VAT,
    ZERO,
    DocumentTotals,
    document_totals,
    row_total,
)

NO_REFERENCE = "0"
DELIVERY_STATES = ("registration", "reservation", "delivery")
DISCOUNT_TYPES = ("AMOUNT", "PERCENT")
SWEDISH_VAT_RATES = (Decimal(25), Decimal(12), Decimal(6), Decimal(0))
# The usual BAS sales account for each Swedish VAT rate, used when a row names none.
SALES_ACCOUNTS = {Decimal(25): 3001, Decimal(12): 3002, Decimal(6): 3003, Decimal(0): 3004}


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(kw_only=True)
class Customer:
    """A customer is little more than its text fields, kept as Fortnox names them."""

    customer_number: str
    fields: dict[str, Any]
    last_modified: datetime

    def to_json(self) -> dict[str, Any]:
        return {"CustomerNumber": self.customer_number, **self.fields}


@dataclass(kw_only=True)
class Article:
    article_number: str
    description: str
    sales_price: Decimal = ZERO
    vat: Decimal = STANDARD_VAT
    weight: int = 0
    stock_goods: bool = False
    unit: str = "st"
    extra: dict[str, Any] = field(default_factory=dict)
    last_modified: datetime

    def to_json(self, in_stock: Decimal, reserved: Decimal) -> dict[str, Any]:
        return {
            "ArticleNumber": self.article_number,
            "Description": self.description,
            "SalesPrice": self.sales_price,
            "VAT": self.vat,
            "Weight": self.weight,
            "StockGoods": self.stock_goods,
            "Unit": self.unit,
            "QuantityInStock": in_stock,
            "ReservedQuantity": reserved,
            "DisposableQuantity": in_stock - reserved,
            **self.extra,
            "LastModified": minute_text(self.last_modified),
        }


@dataclass(kw_only=True)
class Row:
    """A document row. `quantity` is OrderedQuantity on an order, DeliveredQuantity on an invoice."""

    article_number: str = ""
    description: str = ""
    quantity: Decimal = ZERO
    delivered: Decimal = ZERO
    invoiced: Decimal = ZERO
    price: Decimal = ZERO
    vat: Decimal = STANDARD_VAT
    discount: Decimal = ZERO
    discount_type: str = "AMOUNT"
    account_number: int = SALES_ACCOUNTS[STANDARD_VAT]
    unit: str = ""
    stock_point_code: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return row_total(self.quantity, self.price, self.discount, self.discount_type)

    def _priced_json(self) -> dict[str, Any]:
        return {
            "Price": self.price,
            "VAT": self.vat,
            "Discount": self.discount,
            "DiscountType": self.discount_type,
            "AccountNumber": self.account_number,
            "Unit": self.unit,
            "StockPointCode": self.stock_point_code,
            "Total": self.total,
            **self.extra,
        }

    def order_json(self) -> dict[str, Any]:
        return {
            "ArticleNumber": self.article_number,
            "Description": self.description,
            "OrderedQuantity": quantity_text(self.quantity),
            "DeliveredQuantity": quantity_text(self.delivered),
            "InvoicedQuantity": quantity_text(self.invoiced),
            **self._priced_json(),
        }

    def invoice_json(self) -> dict[str, Any]:
        return {
            "ArticleNumber": self.article_number,
            "Description": self.description,
            "DeliveredQuantity": quantity_text(self.quantity),
            **self._priced_json(),
        }


@dataclass(kw_only=True)
class Parcel:
    tracking_number: str
    carrier: str


@dataclass(kw_only=True)
class Shipment:
    """Sandbox-only: a delivery made with `/_sandbox/orders/{n}/deliver`, with its parcels."""

    delivered_at: datetime
    rows: dict[str, Decimal]
    parcels: list[Parcel]

    def to_json(self) -> dict[str, Any]:
        return {
            "DeliveredAt": minute_text(self.delivered_at),
            "Rows": {number: quantity_text(qty) for number, qty in self.rows.items()},
            "Parcels": [
                {"TrackingNumber": p.tracking_number, "Carrier": p.carrier} for p in self.parcels
            ],
        }


@dataclass(kw_only=True)
class SalesDocument:
    """What orders and invoices share: customer, references, rows, freight and totals."""

    document_number: str
    customer_number: str
    customer_name: str = ""
    currency: str = "SEK"
    vat_included: bool = False
    freight: Decimal = ZERO
    your_reference: str = ""
    your_order_number: str = ""
    external_invoice_reference1: str = ""
    external_invoice_reference2: str = ""
    remarks: str = ""
    way_of_delivery: str = ""
    cancelled: bool = False
    rows: list[Row] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    last_modified: datetime
    # What this document has done to stock, so an edit or cancellation can undo exactly that.
    stock_moves: list[Movement] = field(default_factory=list)

    def totals(self) -> DocumentTotals:
        return document_totals(
            ((row.total, row.vat) for row in self.rows), self.freight, self.vat_included
        )

    def _common_json(self) -> dict[str, Any]:
        totals = self.totals()
        return {
            "DocumentNumber": self.document_number,
            "CustomerNumber": self.customer_number,
            "CustomerName": self.customer_name,
            "Currency": self.currency,
            "VATIncluded": self.vat_included,
            "Freight": self.freight,
            "YourReference": self.your_reference,
            "YourOrderNumber": self.your_order_number,
            "ExternalInvoiceReference1": self.external_invoice_reference1,
            "ExternalInvoiceReference2": self.external_invoice_reference2,
            "Remarks": self.remarks,
            "WayOfDelivery": self.way_of_delivery,
            "Cancelled": self.cancelled,
            "Net": totals.net,
            "TotalVAT": totals.vat,
            "Total": totals.total,
            **self.extra,
        }


@dataclass(kw_only=True)
class Order(SalesDocument):
    order_date: date
    delivery_date: date | None = None
    delivery_state: str = "registration"
    stock_point_code: str = ""
    warehouse_ready: bool = False
    invoice_reference: str = NO_REFERENCE
    shipments: list[Shipment] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **self._common_json(),
            "OrderDate": _day(self.order_date),
            "DeliveryDate": _day(self.delivery_date),
            "DeliveryState": self.delivery_state,
            "StockPointCode": self.stock_point_code,
            "WarehouseReady": self.warehouse_ready,
            "InvoiceReference": self.invoice_reference,
            "OrderRows": [row.order_json() for row in self.rows],
            "Shipments": [shipment.to_json() for shipment in self.shipments],
            "LastModified": minute_text(self.last_modified),
        }


@dataclass(kw_only=True)
class Invoice(SalesDocument):
    invoice_date: date
    due_date: date
    booked: bool = False
    credit: bool = False
    credit_invoice_reference: str = NO_REFERENCE
    order_reference: str = NO_REFERENCE
    balance: Decimal = ZERO

    def to_json(self) -> dict[str, Any]:
        return {
            **self._common_json(),
            "InvoiceDate": _day(self.invoice_date),
            "DueDate": _day(self.due_date),
            "InvoiceType": "INVOICE",
            "Booked": self.booked,
            "Credit": self.credit,
            "CreditInvoiceReference": self.credit_invoice_reference,
            "OrderReference": self.order_reference,
            "Balance": self.balance,
            "FullyPaid": not self.cancelled and self.balance == ZERO,
            "InvoiceRows": [row.invoice_json() for row in self.rows],
            "LastModified": minute_text(self.last_modified),
        }
