"""Orders and invoices: creating, changing, invoicing, crediting, cancelling and delivering.

Behaviour kept on purpose (see also the package README):
- Every change is made on a copy and stored only once the whole body has been accepted, so a
  refused request leaves nothing half-changed.
- Stock follows `DeliveredQuantity`: delivered rows leave stock, and on an order in
  `reservation` the rest of each row is reserved. An order in (or moved to) `delivery` is
  delivered in full unless a row says otherwise. Invoices made directly (not from an order)
  take their rows out of stock, and their credit invoices bring them back.
- `createinvoice` invoices the ordered quantity of every row; partial invoicing and back orders
  are not modelled.
- A credit invoice is settled against its original: both end with Balance 0.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from ordreflyt_sandbox_fortnox.errors import (
    DOCUMENT_LOCKED,
    DOCUMENT_NUMBER_IN_USE,
    INVOICE_BOOKED,
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
    NO_REFERENCE,
    SALES_ACCOUNTS,
    SWEDISH_VAT_RATES,
    Invoice,
    Order,
    Parcel,
    Row,
    SalesDocument,
    Shipment,
)
from ordreflyt_sandbox_fortnox.stock import Movement
from ordreflyt_sandbox_fortnox.store import Store
from ordreflyt_sandbox_fortnox.totals import HUNDRED, STANDARD_VAT, ZERO, round_money

PAYMENT_DAYS = 30

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


# ---------------------------------------------------------------- reading bodies


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
    row.description = fields.text("Description") or (article.description if article else "")
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
                UNKNOWN_CUSTOMER_ON_DOCUMENT, f'Kunden "{customer_number}" finns inte i kundregistret'
            )
        document.customer_number = customer_number
        document.customer_name = str(customer.fields.get("Name", ""))

    def text(key: str, current: str) -> str:
        value = fields.text(key)
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


def _read_order(store: Store, fields: Fields, order: Order) -> None:
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


def _read_invoice(store: Store, fields: Fields, invoice: Invoice) -> None:
    _read_common(store, fields, invoice)
    invoice.invoice_date = fields.day("InvoiceDate") or invoice.invoice_date
    invoice.due_date = fields.day("DueDate") or invoice.invoice_date + timedelta(days=PAYMENT_DAYS)
    read = _read_rows(store, fields, "InvoiceRows", on_order=False, vat_included=invoice.vat_included)
    fields.ignore(["DocumentNumber", *INVOICE_READ_ONLY])
    fields.finish()
    if read is not None:
        invoice.rows = read[0]


def _chosen_number(fields: Fields, taken: Container[str]) -> str:
    """A DocumentNumber the client chose itself ("" when it leaves it to the series)."""
    number = fields.text("DocumentNumber") or ""
    if number and not number.isdigit():
        raise invalid_parameter(f"Ogiltigt dokumentnummer ({number!r})")
    if number in taken:
        raise bad_request(DOCUMENT_NUMBER_IN_USE, f"Dokumentnummer {number} används redan")
    return number


def _require_customer(document: SalesDocument) -> None:
    if not document.customer_number:
        raise bad_request(UNKNOWN_CUSTOMER_ON_DOCUMENT, "Kundnummer saknas (CustomerNumber)")


# ---------------------------------------------------------------- stock


def _point(store: Store, row: Row, document_point: str = "") -> str:
    return row.stock_point_code or document_point or store.stock.default_point


def _stock_rows(store: Store, document: SalesDocument) -> list[Row]:
    return [
        row
        for row in document.rows
        if (article := store.articles.get(row.article_number)) is not None and article.stock_goods
    ]


def order_movements(store: Store, order: Order) -> list[Movement]:
    if order.cancelled:
        return []
    moves = []
    for row in _stock_rows(store, order):
        reserved = ZERO
        if order.delivery_state == "reservation":
            reserved = max(row.quantity - row.delivered, ZERO)
        point = _point(store, row, order.stock_point_code)
        moves.append(Movement(row.article_number, point, -row.delivered, reserved))
    return moves


def invoice_movements(store: Store, invoice: Invoice) -> list[Movement]:
    # An invoice made from an order leaves stock to the order.
    if invoice.cancelled or invoice.order_reference != NO_REFERENCE:
        return []
    return [
        Movement(row.article_number, _point(store, row), -row.quantity, ZERO)
        for row in _stock_rows(store, invoice)
    ]


# ---------------------------------------------------------------- orders


def create_order(store: Store, fields: Fields) -> Order:
    now = store.now()
    number = _chosen_number(fields, store.orders)
    order = Order(document_number=number, customer_number="", order_date=now.date(), last_modified=now)
    _read_order(store, fields, order)
    _require_customer(order)
    order.document_number = number or store.next_number("order", store.orders)
    store.move_stock(order, order_movements(store, order))
    store.orders[order.document_number] = order
    return order


def _working_copy(order: Order) -> Order:
    return replace(order, rows=[replace(row) for row in order.rows])


def _check_open(order: Order) -> None:
    if order.cancelled:
        raise bad_request(DOCUMENT_LOCKED, f"Order {order.document_number} är makulerad och kan inte ändras")
    if order.invoice_reference != NO_REFERENCE:
        raise bad_request(
            DOCUMENT_LOCKED,
            f"Order {order.document_number} är fakturerad (faktura {order.invoice_reference}) "
            "och kan inte ändras",
        )


def update_order(store: Store, number: str, fields: Fields) -> Order:
    current = store.order(number)
    _check_open(current)
    order = _working_copy(current)
    _read_order(store, fields, order)
    return _save_order(store, order)


def _save_order(store: Store, order: Order) -> Order:
    order.last_modified = store.now()
    store.move_stock(order, order_movements(store, order))
    store.orders[order.document_number] = order
    return order


def cancel_order(store: Store, number: str) -> Order:
    order = _working_copy(store.order(number))
    _check_open(order)
    order.cancelled = True
    return _save_order(store, order)


def create_invoice_from_order(store: Store, number: str) -> Invoice:
    order = _working_copy(store.order(number))
    _check_open(order)
    now = store.now()
    invoice = Invoice(
        document_number=store.next_number("invoice", store.invoices),
        customer_number=order.customer_number,
        customer_name=order.customer_name,
        currency=order.currency,
        vat_included=order.vat_included,
        freight=order.freight,
        your_reference=order.your_reference,
        your_order_number=order.your_order_number,
        external_invoice_reference1=order.external_invoice_reference1,
        external_invoice_reference2=order.external_invoice_reference2,
        remarks=order.remarks,
        way_of_delivery=order.way_of_delivery,
        rows=[replace(row, delivered=ZERO, invoiced=ZERO) for row in order.rows],
        extra=dict(order.extra),
        invoice_date=now.date(),
        due_date=now.date() + timedelta(days=PAYMENT_DAYS),
        order_reference=order.document_number,
        last_modified=now,
    )
    invoice.balance = invoice.totals().total
    store.invoices[invoice.document_number] = invoice
    for row in order.rows:
        row.invoiced = row.quantity
    order.invoice_reference = invoice.document_number
    _save_order(store, order)
    return invoice


def deliver_order(
    store: Store, number: str, quantities: dict[str, Decimal] | None, parcels: list[Parcel]
) -> Order:
    """What a warehouse worker does: send (some of) the rows, with the parcels' tracking numbers.

    `quantities` maps article numbers to the quantity sent now; None sends all that is left.
    """
    order = _working_copy(store.order(number))
    if order.cancelled:
        raise bad_request(DOCUMENT_LOCKED, f"Order {number} är makulerad och kan inte levereras")
    sent: dict[str, Decimal] = {}
    if quantities is None:
        for row in order.rows:
            left = row.quantity - row.delivered
            if left > 0 and row.article_number:
                sent[row.article_number] = sent.get(row.article_number, ZERO) + left
            row.delivered = max(row.delivered, row.quantity)
    else:
        for article_number, quantity in quantities.items():
            rows = [row for row in order.rows if row.article_number == article_number]
            left = sum((row.quantity - row.delivered for row in rows), ZERO)
            if not rows or quantity <= 0 or quantity > left:
                raise invalid_parameter(
                    f"Kan inte leverera {quantity} av {article_number!r} på order {number} "
                    f"(kvar att leverera: {left})"
                )
            remaining = quantity
            for row in rows:
                step = min(remaining, row.quantity - row.delivered)
                row.delivered += step
                remaining -= step
            sent[article_number] = quantity
    if all(row.delivered >= row.quantity for row in order.rows):
        order.delivery_state = "delivery"
    order.shipments = [
        *order.shipments,
        Shipment(delivered_at=store.now(), rows=sent, parcels=parcels),
    ]
    return _save_order(store, order)


# ---------------------------------------------------------------- invoices


def create_invoice(store: Store, fields: Fields) -> Invoice:
    now = store.now()
    number = _chosen_number(fields, store.invoices)
    invoice = Invoice(
        document_number=number,
        customer_number="",
        invoice_date=now.date(),
        due_date=now.date(),
        last_modified=now,
    )
    _read_invoice(store, fields, invoice)
    _require_customer(invoice)
    invoice.document_number = number or store.next_number("invoice", store.invoices)
    invoice.balance = invoice.totals().total
    store.move_stock(invoice, invoice_movements(store, invoice))
    store.invoices[invoice.document_number] = invoice
    return invoice


def credit_invoice(store: Store, number: str) -> Invoice:
    original = replace(store.invoice(number))
    if original.cancelled:
        raise bad_request(DOCUMENT_LOCKED, f"Faktura {number} är makulerad och kan inte krediteras")
    if original.credit:
        raise bad_request(DOCUMENT_LOCKED, f"Faktura {number} är en kreditfaktura")
    if original.credit_invoice_reference != NO_REFERENCE:
        raise bad_request(
            DOCUMENT_LOCKED,
            f"Faktura {number} är redan krediterad (kreditfaktura {original.credit_invoice_reference})",
        )
    now = store.now()
    credit = replace(
        original,
        document_number=store.next_number("invoice", store.invoices),
        rows=[replace(row, quantity=-row.quantity) for row in original.rows],
        freight=-original.freight,
        credit=True,
        credit_invoice_reference=original.document_number,
        booked=False,
        invoice_date=now.date(),
        due_date=now.date(),
        extra=dict(original.extra),
        stock_moves=[],
        last_modified=now,
    )
    # The credit is settled against the invoice it credits.
    credit.balance = ZERO
    original.balance = ZERO
    original.credit_invoice_reference = credit.document_number
    original.last_modified = now
    store.invoices[original.document_number] = original
    store.move_stock(credit, invoice_movements(store, credit))
    store.invoices[credit.document_number] = credit
    return credit


def cancel_invoice(store: Store, number: str) -> Invoice:
    invoice = replace(store.invoice(number))
    if invoice.booked:
        raise bad_request(INVOICE_BOOKED, f"Faktura {number} är bokförd och kan inte makuleras")
    if invoice.cancelled:
        raise bad_request(DOCUMENT_LOCKED, f"Faktura {number} är redan makulerad")
    if invoice.credit_invoice_reference != NO_REFERENCE:
        # Either credited or itself a credit: the pair is settled and stays as it is.
        raise bad_request(
            DOCUMENT_LOCKED, f"Faktura {number} hör till en kreditering och kan inte makuleras"
        )
    invoice.cancelled = True
    invoice.last_modified = store.now()
    store.move_stock(invoice, invoice_movements(store, invoice))
    store.invoices[number] = invoice
    return invoice


def bookkeep_invoice(store: Store, number: str) -> Invoice:
    invoice = replace(store.invoice(number))
    if invoice.cancelled:
        raise bad_request(DOCUMENT_LOCKED, f"Faktura {number} är makulerad och kan inte bokföras")
    if invoice.booked:
        raise bad_request(INVOICE_BOOKED, f"Faktura {number} är redan bokförd")
    invoice.booked = True
    invoice.last_modified = store.now()
    store.invoices[number] = invoice
    return invoice
