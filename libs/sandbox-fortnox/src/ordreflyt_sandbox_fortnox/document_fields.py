"""Reading order and invoice bodies into working copies, with the checks Fortnox makes.

Rows lend defaults from their article (description, price, VAT, unit, sales account); unknown
customers, articles and stock points are refused with 400 and a message naming them.
"""

from __future__ import annotations

import re
from collections.abc import Container
from datetime import timedelta

from ordreflyt_sandbox_fortnox.errors import (
    DOCUMENT_NUMBER_IN_USE,
    NO_LICENCE,
    UNKNOWN_ARTICLE_ON_ROW,
    UNKNOWN_CUSTOMER_ON_DOCUMENT,
    bad_request,
    invalid_parameter,
)
from ordreflyt_sandbox_fortnox.fields import Fields
from ordreflyt_sandbox_fortnox.models import (
    DELIVERY_STATES,
    DISCOUNT_TYPES,
    SALES_ACCOUNTS,
    SWEDISH_VAT_RATES,
    Invoice,
    Order,
    Row,
    SalesDocument,
)
from ordreflyt_sandbox_fortnox.store import Store
from ordreflyt_sandbox_fortnox.totals import HUNDRED, STANDARD_VAT, ZERO, round_money

PAYMENT_DAYS = 30
# Maximum lengths from the Fortnox field documentation as far as it is known here. Where unsure
# the emulator errs on the strict side: a client that fits these fits Fortnox.
MAX_LENGTHS = {
    "CustomerName": 1024,
    "YourReference": 50,
    "YourOrderNumber": 30,
    "ExternalInvoiceReference1": 80,
    "ExternalInvoiceReference2": 80,
    "Remarks": 1024,
}
ROW_DESCRIPTION_MAX = 50

# Known Fortnox document fields without behaviour here: stored and echoed back as sent.
DOCUMENT_PASSTHROUGH = (
    "Address1",
    "Address2",
    "City",
    "Country",
    "ZipCode",
    "DeliveryName",
    "DeliveryAddress1",
    "DeliveryAddress2",
    "DeliveryCity",
    "DeliveryCountry",
    "DeliveryZipCode",
    "Phone1",
    "Phone2",
    "OrganisationNumber",
    "OurReference",
    "TermsOfDelivery",
    "TermsOfPayment",
    "Language",
    "Project",
    "CostCenter",
    "PriceList",
    "EmailInformation",
    "Comments",
    "CopyRemarks",
    "NotCompleted",
    "PrintTemplate",
)
DOCUMENT_READ_ONLY = (
    "@url",
    "Cancelled",
    "Net",
    "Total",
    "TotalVAT",
    "RoundOff",
    "Gross",
    "Sent",
    "LastModified",
)
ORDER_READ_ONLY = ("InvoiceReference", "Shipments", "OrderType")
INVOICE_READ_ONLY = (
    "Booked",
    "Balance",
    "Credit",
    "CreditInvoiceReference",
    "FullyPaid",
    "InvoiceType",
    "OrderReference",
    "OCR",
)
ROW_PASSTHROUGH = ("CostCenter", "Project", "HouseWork", "HouseWorkType")
ROW_READ_ONLY = ("Total", "RowId", "ContributionPercent", "ContributionValue", "StockPointId")


def _stock_point(store: Store, code: str | None, where: str) -> str | None:
    if not code:
        return code
    if not store.warehouse:
        raise bad_request(NO_LICENCE, f"Lagermodulen är inte aktiverad ({where}: StockPointCode)")
    if code not in store.stock.stock_points:
        raise invalid_parameter(f'Lagerstället "{code}" finns inte ({where})')
    return code


def _read_row(store: Store, fields: Fields, *, on_order: bool, vat_included: bool) -> Row:
    """One row; an article on the row lends its description, price, VAT and unit as defaults."""
    row = Row()
    number = fields.text("ArticleNumber") or ""
    article = None
    if number:
        article = store.articles.get(number)
        if article is None:
            raise bad_request(
                UNKNOWN_ARTICLE_ON_ROW,
                f'Artikeln "{number}" finns inte i artikelregistret ({fields.where})',
            )
    row.article_number = number
    vat = fields.number("VAT")
    if vat is None:
        vat = article.vat if article else STANDARD_VAT
    row.vat = vat
    if row.vat not in SWEDISH_VAT_RATES:
        raise invalid_parameter(f"Ogiltig momssats ({row.vat}) i {fields.where}")
    description = fields.text("Description", ROW_DESCRIPTION_MAX)
    if description is None:
        # An article's description may be longer than a row allows; the row takes what fits.
        description = article.description[:ROW_DESCRIPTION_MAX] if article else ""
    row.description = description
    if on_order:
        row.quantity = fields.number("OrderedQuantity") or ZERO
        row.delivered = fields.number("DeliveredQuantity") or ZERO
        fields.ignore(["InvoicedQuantity"])
    else:
        row.quantity = fields.number("DeliveredQuantity") or ZERO
    price = fields.number("Price")
    if price is None and article is not None:
        price = article.sales_price
        if vat_included:
            price = round_money(price * (HUNDRED + row.vat) / HUNDRED)
    row.price = price or ZERO
    row.discount = fields.number("Discount") or ZERO
    row.discount_type = fields.choice("DiscountType", DISCOUNT_TYPES) or "AMOUNT"
    row.account_number = fields.integer("AccountNumber") or SALES_ACCOUNTS[row.vat]
    row.unit = fields.text("Unit") or (article.unit if article else "")
    row.stock_point_code = _stock_point(store, fields.text("StockPointCode"), fields.where) or ""
    row.extra = fields.passthrough(ROW_PASSTHROUGH)
    fields.ignore(ROW_READ_ONLY)
    fields.finish()
    return row


def _read_common(store: Store, fields: Fields, document: SalesDocument) -> None:
    """The fields orders and invoices share, read into `document` (a working copy)."""
    customer_number = fields.text("CustomerNumber")
    if customer_number is not None and customer_number != document.customer_number:
        customer = store.customers.get(customer_number)
        if customer is None:
            raise bad_request(
                UNKNOWN_CUSTOMER_ON_DOCUMENT,
                f'Kunden "{customer_number}" finns inte i kundregistret',
            )
        document.customer_number = customer_number
        document.customer_name = str(customer.fields.get("Name", ""))

    def text(key: str, current: str) -> str:
        value = fields.text(key, MAX_LENGTHS.get(key))
        return current if value is None else value

    document.customer_name = text("CustomerName", document.customer_name)
    document.your_reference = text("YourReference", document.your_reference)
    document.your_order_number = text("YourOrderNumber", document.your_order_number)
    document.external_invoice_reference1 = text(
        "ExternalInvoiceReference1", document.external_invoice_reference1
    )
    document.external_invoice_reference2 = text(
        "ExternalInvoiceReference2", document.external_invoice_reference2
    )
    document.remarks = text("Remarks", document.remarks)
    document.way_of_delivery = text("WayOfDelivery", document.way_of_delivery)
    currency = fields.text("Currency")
    if currency is not None:
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise invalid_parameter(f"Ogiltig valuta ({currency!r})")
        document.currency = currency.upper()
    vat_included = fields.boolean("VATIncluded")
    if vat_included is not None:
        document.vat_included = vat_included
    freight = fields.number("Freight")
    if freight is not None:
        document.freight = freight
    document.extra = {**document.extra, **fields.passthrough(DOCUMENT_PASSTHROUGH)}
    fields.ignore(DOCUMENT_READ_ONLY)


def _read_rows(
    store: Store, fields: Fields, key: str, *, on_order: bool, vat_included: bool
) -> tuple[list[Row], set[int]] | None:
    """The rows of a body, if it has them, and which of them set DeliveredQuantity themselves."""
    items = fields.objects(key)
    if items is None:
        return None
    rows = [_read_row(store, item, on_order=on_order, vat_included=vat_included) for item in items]
    return rows, {i for i, item in enumerate(items) if item.has("DeliveredQuantity")}


def read_order(store: Store, fields: Fields, order: Order) -> None:
    _read_common(store, fields, order)
    order.order_date = fields.day("OrderDate") or order.order_date
    if fields.has("DeliveryDate"):
        order.delivery_date = fields.day("DeliveryDate")
    state = fields.choice("DeliveryState", DELIVERY_STATES)
    if state is not None:
        order.delivery_state = state
    point = _stock_point(store, fields.text("StockPointCode"), "ordern")
    if point is not None:
        order.stock_point_code = point
    ready = fields.boolean("WarehouseReady")
    if ready is not None:
        order.warehouse_ready = ready
    read = _read_rows(store, fields, "OrderRows", on_order=True, vat_included=order.vat_included)
    fields.ignore(["DocumentNumber", *ORDER_READ_ONLY])
    fields.finish()
    explicit: set[int] = set()
    if read is not None:
        order.rows, explicit = read
    if order.delivery_state == "delivery":
        # An order registered as delivered has left the warehouse, unless a row says otherwise.
        for i, row in enumerate(order.rows):
            if i not in explicit:
                row.delivered = row.quantity


def read_invoice(store: Store, fields: Fields, invoice: Invoice) -> None:
    _read_common(store, fields, invoice)
    invoice.invoice_date = fields.day("InvoiceDate") or invoice.invoice_date
    invoice.due_date = fields.day("DueDate") or invoice.invoice_date + timedelta(days=PAYMENT_DAYS)
    read = _read_rows(
        store, fields, "InvoiceRows", on_order=False, vat_included=invoice.vat_included
    )
    fields.ignore(["DocumentNumber", *INVOICE_READ_ONLY])
    fields.finish()
    if read is not None:
        invoice.rows = read[0]


def chosen_number(fields: Fields, taken: Container[str]) -> str:
    """A DocumentNumber the client chose itself ("" when it leaves it to the series)."""
    number = fields.text("DocumentNumber") or ""
    if number and not number.isdigit():
        raise invalid_parameter(f"Ogiltigt dokumentnummer ({number!r})")
    if number in taken:
        raise bad_request(DOCUMENT_NUMBER_IN_USE, f"Dokumentnummer {number} används redan")
    return number


def require_customer(document: SalesDocument) -> None:
    if not document.customer_number:
        raise bad_request(UNKNOWN_CUSTOMER_ON_DOCUMENT, "Kundnummer saknas (CustomerNumber)")
