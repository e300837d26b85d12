"""Orders and invoices: creating, changing, invoicing, crediting, cancelling and delivering.

Bodies are read by `document_fields.py`. Behaviour kept on purpose (see also the README):
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

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from ordreflyt_sandbox_fortnox.document_fields import (
    PAYMENT_DAYS,
    chosen_number,
    read_invoice,
    read_order,
    require_customer,
)
from ordreflyt_sandbox_fortnox.errors import (
    DOCUMENT_LOCKED,
    INVOICE_BOOKED,
    bad_request,
    invalid_parameter,
)
from ordreflyt_sandbox_fortnox.fields import Fields
from ordreflyt_sandbox_fortnox.models import (
    NO_REFERENCE,
    Invoice,
    Order,
    Parcel,
    Row,
    SalesDocument,
    Shipment,
)
from ordreflyt_sandbox_fortnox.stock import Movement
from ordreflyt_sandbox_fortnox.store import Store
from ordreflyt_sandbox_fortnox.totals import ZERO

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
    number = chosen_number(fields, store.orders)
    order = Order(
        document_number=number, customer_number="", order_date=now.date(), last_modified=now
    )
    read_order(store, fields, order)
    require_customer(order)
    order.document_number = number or store.next_number("order", store.orders)
    return _save_order(store, order)


def _working_copy(order: Order) -> Order:
    return replace(order, rows=[replace(row) for row in order.rows])


def _check_open(order: Order) -> None:
    if order.cancelled:
        raise bad_request(
            DOCUMENT_LOCKED, f"Order {order.document_number} är makulerad och kan inte ändras"
        )
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
    read_order(store, fields, order)
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
    _save_invoice(store, invoice)
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
    if order.invoice_reference != NO_REFERENCE:
        # Fortnox locks an invoiced order: nothing on it is delivered any more.
        raise bad_request(
            DOCUMENT_LOCKED,
            f"Order {number} är fakturerad (faktura {order.invoice_reference}) "
            "och kan inte levereras",
        )
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
    number = chosen_number(fields, store.invoices)
    invoice = Invoice(
        document_number=number,
        customer_number="",
        invoice_date=now.date(),
        due_date=now.date(),
        last_modified=now,
    )
    read_invoice(store, fields, invoice)
    require_customer(invoice)
    invoice.document_number = number or store.next_number("invoice", store.invoices)
    invoice.balance = invoice.totals().total
    return _save_invoice(store, invoice)


def _save_invoice(store: Store, invoice: Invoice) -> Invoice:
    invoice.last_modified = store.now()
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
    _save_invoice(store, original)
    return _save_invoice(store, credit)


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
    return _save_invoice(store, invoice)


def bookkeep_invoice(store: Store, number: str) -> Invoice:
    invoice = replace(store.invoice(number))
    if invoice.cancelled:
        raise bad_request(DOCUMENT_LOCKED, f"Faktura {number} är makulerad och kan inte bokföras")
    if invoice.booked:
        raise bad_request(INVOICE_BOOKED, f"Faktura {number} är redan bokförd")
    invoice.booked = True
    return _save_invoice(store, invoice)
