"""Fortnox as a `DocumentWriter`: the ERP-neutral order as Fortnox documents.

- Fortnox has no idempotency header: the order carries the shop order's external reference in
  `ExternalInvoiceReference1` (invoices: `YourOrderNumber`), and `find_document` searches it and
  compares exactly, because Fortnox's search matches substrings.
- Fortnox's e-mail search is a substring match answered in pages (`limit` at most 500,
  `MetaInformation`): `find_customer` reads page after page until it finds the exact address,
  and says why when it cannot tell (more than `MAX_CUSTOMER_PAGES` pages of near matches).
- The create answer carries Fortnox's own `Total` and `TotalVAT`; the document returned holds
  them, so erp-writer can compare them with the mapped order at no extra request.
- The customer register is listed with `lastmodified` (a minute before the previous read
  began, Fortnox's local minutes), so erp-writer can create a new customer without a lookup.
- The HTTP side (auth, shared rate limit, retries, error codes) is `client.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from ordreflyt_contracts.erp import ErpCustomer, ErpLine, ErpOrder
from ordreflyt_erp.capabilities import CustomerChanges, ErpDocument
from ordreflyt_erp.errors import ErpRejected
from ordreflyt_erp.fortnox.client import FortnoxClient
from ordreflyt_erp.fortnox.documents import money, order_state
from ordreflyt_erp.fortnox.times import local_minute_text
from ordreflyt_erp.ratelimit import Priority

ROW_DESCRIPTION_MAX = 50
YOUR_ORDER_NUMBER_MAX = 30
_UNKNOWN_ARTICLE_CODES = {"2001302"}
# Fortnox's largest page; a search for one e-mail address rarely fills one.
CUSTOMER_PAGE_SIZE = 500
MAX_CUSTOMER_PAGES = 20
CUSTOMER_LOOKUP_FAILED = "customer-lookup"


def _customer_body(customer: ErpCustomer) -> dict[str, Any]:
    a, d = customer.address, customer.delivery_address
    body: dict[str, Any] = {
        "Name": customer.company
        if customer.kind == "company" and customer.company
        else customer.name,
        "Type": "COMPANY" if customer.kind == "company" else "PRIVATE",
        "Email": customer.email,
        "Address1": a.address1,
        "Address2": a.address2,
        "ZipCode": a.zip_code,
        "City": a.city,
        "CountryCode": a.country_code,
        "Phone1": customer.phone,
        "DeliveryName": d.name,
        "DeliveryAddress1": d.address1,
        "DeliveryAddress2": d.address2,
        "DeliveryZipCode": d.zip_code,
        "DeliveryCity": d.city,
        "DeliveryCountryCode": d.country_code,
    }
    if customer.organisation_number:
        body["OrganisationNumber"] = customer.organisation_number
    if customer.kind == "company" and customer.name:
        body["YourReference"] = customer.name[:50]
    return body


def _row(line: ErpLine, on_order: bool, delivered: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "Description": line.description[:ROW_DESCRIPTION_MAX],
        "Price": line.unit_price,
        "VAT": line.vat_percent,
    }
    if line.article_number:
        row["ArticleNumber"] = line.article_number
    if line.discount:
        row["Discount"] = line.discount
        row["DiscountType"] = "AMOUNT"
    if line.account_number is not None:
        row["AccountNumber"] = line.account_number
    if on_order:
        row["OrderedQuantity"] = line.quantity
        if delivered:
            row["DeliveredQuantity"] = line.quantity
    else:
        row["DeliveredQuantity"] = line.quantity
    return row


def _remarks(order: ErpOrder) -> str:
    parts = [order.remarks, f"Webborder {order.order_number}"]
    if order.payment_method_title or order.payment_method:
        parts.append(
            f"Betalning: {order.payment_method_title or order.payment_method} {order.transaction_id}".strip()
        )
    if order.customer_note:
        parts.append(f"Kundens meddelande: {order.customer_note}")
    return "\n".join(p for p in parts if p)[:1024]


def _document_body(
    order: ErpOrder, customer_number: str, kind: Literal["order", "invoice"]
) -> dict[str, Any]:
    on_order = kind == "order"
    delivered = order.delivery_state == "delivery"
    d = order.customer.delivery_address
    body: dict[str, Any] = {
        "CustomerNumber": customer_number,
        "Currency": order.currency,
        "VATIncluded": order.vat_included,
        "Freight": order.freight,
        # Invoices carry the external reference in YourOrderNumber (see _reference_field).
        "YourOrderNumber": (order.order_number if on_order else order.external_reference)[
            :YOUR_ORDER_NUMBER_MAX
        ],
        "Remarks": _remarks(order),
        "DeliveryName": d.name,
        "DeliveryAddress1": d.address1,
        "DeliveryAddress2": d.address2,
        "DeliveryZipCode": d.zip_code,
        "DeliveryCity": d.city,
        ("OrderRows" if on_order else "InvoiceRows"): [
            _row(line, on_order, delivered) for line in order.lines
        ],
    }
    if on_order:
        body["OrderDate"] = order.order_date.isoformat()
        body["ExternalInvoiceReference1"] = order.external_reference
        if order.delivery_state:
            body["DeliveryState"] = order.delivery_state
        if order.stock_point:
            body["StockPointCode"] = order.stock_point
    else:
        body["InvoiceDate"] = order.order_date.isoformat()
    return body


def _reference_field(kind: Literal["order", "invoice"]) -> str:
    """Where a document carries the shop order's external reference (external-apis.md)."""
    return "ExternalInvoiceReference1" if kind == "order" else "YourOrderNumber"


def _document(
    kind: Literal["order", "invoice"], doc: Mapping[str, Any], zone: ZoneInfo | None = None
) -> ErpDocument:
    invoice_ref = str(doc.get("InvoiceReference") or "0")
    state = None
    # A list entry has no rows: then the watcher reads the document itself.
    if zone is not None and kind == "order" and "OrderRows" in doc:
        try:
            state = order_state(doc, zone)
        except ValueError:
            state = None  # the watcher reads it then
    return ErpDocument(
        kind=kind,
        number=str(doc["DocumentNumber"]),
        customer_number=str(doc.get("CustomerNumber", "")),
        invoice_number=None if invoice_ref == "0" else invoice_ref,
        invoiced=invoice_ref != "0" if kind == "order" else True,
        cancelled=bool(doc.get("Cancelled", False)),
        total=money(doc.get("Total")),
        total_vat=money(doc.get("TotalVAT")),
        state=state,
    )


def _pages(body: Mapping[str, Any]) -> int:
    meta = body.get("MetaInformation")
    pages = meta.get("@TotalPages") if isinstance(meta, Mapping) else None
    try:
        return max(1, int(pages)) if pages is not None else 1
    except (TypeError, ValueError):
        return 1


# The register is read from this long before the previous read began (clock skew, minutes).
REGISTER_MARGIN = timedelta(minutes=1)


class FortnoxWriter:
    def __init__(self, client: FortnoxClient) -> None:
        self.client = client
        self._zone = ZoneInfo(client.settings.timezone)

    async def customers_changed(self, watermark: str | None) -> CustomerChanges:
        started = datetime.now(UTC)
        found: dict[str, str] = {}
        page = 1
        while True:
            params = {"limit": str(CUSTOMER_PAGE_SIZE), "page": str(page)}
            if watermark is not None:
                params["lastmodified"] = watermark
            # A background read: behind every order write (a first read lists the whole
            # register, 500 customers a request).
            body = await self.client.request(
                "GET", "/customers", params=params, priority=Priority.WATCH
            )
            for customer in body.get("Customers", []):
                email = str(customer.get("Email") or "").strip().lower()
                if email and email not in found:
                    found[email] = str(customer["CustomerNumber"])
            if page >= _pages(body):
                break
            page += 1
        return CustomerChanges(
            customers=found, watermark=local_minute_text(started - REGISTER_MARGIN, self._zone)
        )

    async def find_customer(self, email: str) -> str | None:
        page = 1
        while True:
            body = await self.client.request(
                "GET",
                "/customers",
                params={"email": email, "limit": str(CUSTOMER_PAGE_SIZE), "page": str(page)},
            )
            for customer in body.get("Customers", []):
                # The search matched a substring ("ola@x.no" finds "kari.ola@x.no").
                if str(customer.get("Email", "")).strip().lower() == email:
                    return str(customer["CustomerNumber"])
            pages = _pages(body)
            if page >= pages:
                return None
            if page >= MAX_CUSTOMER_PAGES:
                raise ErpRejected(
                    CUSTOMER_LOOKUP_FAILED,
                    f"cannot tell whether Fortnox has a customer with the e-mail {email}: its "
                    f"search finds {pages} pages of customers whose e-mail contains it, more than "
                    f"the {MAX_CUSTOMER_PAGES} read; tidy those customers' e-mails, then retry",
                )
            page += 1

    async def create_customer(self, customer: ErpCustomer) -> str:
        body = await self.client.request(
            "POST", "/customers", {"Customer": _customer_body(customer)}
        )
        return str(body["Customer"]["CustomerNumber"])

    async def update_customer(self, number: str, customer: ErpCustomer) -> None:
        await self.client.request(
            "PUT", f"/customers/{number}", {"Customer": _customer_body(customer)}
        )

    async def find_document(self, order: ErpOrder) -> ErpDocument | None:
        kind: Literal["order", "invoice"] = "invoice" if order.document == "invoice" else "order"
        path = "/invoices" if kind == "invoice" else "/orders"
        field = _reference_field(kind)
        body = await self.client.request(
            "GET", path, params={field.lower(): order.external_reference, "limit": "500"}
        )
        for candidate in body.get("Invoices" if kind == "invoice" else "Orders", []):
            if field not in candidate:
                # A list entry without the field: read the whole document to compare.
                full = await self.client.request("GET", f"{path}/{candidate['DocumentNumber']}")
                candidate = full["Invoice" if kind == "invoice" else "Order"]
            # The search matched a substring ("12" finds "123"): only an exact match counts.
            if str(candidate.get(field, "")) == order.external_reference:
                return _document(kind, candidate, self._zone)
        return None

    async def create_document(self, order: ErpOrder, customer_number: str) -> ErpDocument:
        if order.document == "invoice":
            body = await self.client.request(
                "POST", "/invoices", {"Invoice": _document_body(order, customer_number, "invoice")}
            )
            return _document("invoice", body["Invoice"])
        body = await self.client.request(
            "POST", "/orders", {"Order": _document_body(order, customer_number, "order")}
        )
        return _document("order", body["Order"], self._zone)

    async def complete_document(self, order: ErpOrder, document: ErpDocument) -> ErpDocument:
        if order.document != "order_then_invoice" or document.kind != "order" or document.invoiced:
            return document
        body = await self.client.request("PUT", f"/orders/{document.number}/createinvoice")
        invoice = body["Invoice"]
        return ErpDocument(
            kind="order",
            number=document.number,
            customer_number=document.customer_number,
            invoice_number=str(invoice["DocumentNumber"]),
            invoiced=True,
        )

    async def update_document(self, order: ErpOrder, document: ErpDocument) -> bool:
        if document.kind != "order":
            return False
        current = await self.client.request("GET", f"/orders/{document.number}")
        state = _document("order", current["Order"])
        if state.invoiced or state.cancelled:
            return False
        body = _document_body(order, state.customer_number, "order")
        await self.client.request("PUT", f"/orders/{document.number}", {"Order": body})
        return True

    async def create_missing_articles(self, order: ErpOrder) -> list[str]:
        created = []
        for line in order.lines:
            if not line.article_number or line.article_number in created:
                continue
            found = await self.client.request(
                "GET", f"/articles/{line.article_number}", missing_ok=True
            )
            if found is not None:
                continue
            net = line.unit_price
            if order.vat_included:
                net = (line.unit_price * 100 / (100 + line.vat_percent)).quantize(Decimal("0.01"))
            await self.client.request(
                "POST",
                "/articles",
                {
                    "Article": {
                        "ArticleNumber": line.article_number,
                        "Description": line.description[:ROW_DESCRIPTION_MAX],
                        "SalesPrice": net,
                        "VAT": line.vat_percent,
                    }
                },
            )
            created.append(line.article_number)
        return created

    def unknown_article(self, error: ErpRejected) -> bool:
        return error.code in _UNKNOWN_ARTICLE_CODES
