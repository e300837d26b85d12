"""Fortnox adapter (API v3), faithful to the facts in reference/external-apis.md.

- Auth: Bearer access token; on 401 the token is refreshed with the refresh token (Basic auth
  with client id/secret) and the request repeated. Tokens live in PostgreSQL so every process
  uses, and refreshes, the same pair.
- Every request first takes a slot from the shared rate limiter. A 429 waits for budget and
  repeats; 5xx, timeouts and connection errors repeat with backoff, then raise ErpUnavailable
  (the message goes to the retry queues). A 4xx raises ErpRejected with Fortnox's own code and
  message.
- Fortnox has no idempotency header: the order carries the shop order's external reference in
  `ExternalInvoiceReference1` (invoices: `YourOrderNumber`), and `find_document` searches it and
  compares exactly, because Fortnox's search matches substrings.
- Numbers come back as strings or numbers; both are read. Money is sent as JSON numbers written
  from Decimal, never through float.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import aiohttp
import asyncpg
import msgspec

from ordreflyt_contracts.erp import ErpCustomer, ErpLine, ErpOrder
from ordreflyt_erp_writer.adapters.base import ErpDocument, ErpRejected, ErpUnavailable
from ordreflyt_erp_writer.ratelimit import SharedRateLimiter

log = logging.getLogger(__name__)

TOKEN_MIGRATION = (
    "erp-writer/003_tokens",
    """
    CREATE TABLE oauth_tokens (
        erp text PRIMARY KEY,
        access_token text NOT NULL,
        refresh_token text NOT NULL,
        refreshed_at timestamptz NOT NULL DEFAULT now()
    );
    """,
)

ROW_DESCRIPTION_MAX = 50
YOUR_ORDER_NUMBER_MAX = 30
_encoder = msgspec.json.Encoder(decimal_format="number")
_BAD_TOKEN_CODES = {"2000310", "2000311"}
_UNKNOWN_ARTICLE_CODES = {"2001302"}


@dataclass(frozen=True)
class FortnoxSettings:
    base_url: str  # e.g. https://api.fortnox.se/3
    warehouse_url: str  # e.g. https://api.fortnox.se/api/warehouse
    token_url: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    timeout: float = 30.0
    retries: int = 4
    # Where a row needs no article (rounding, shipping without an article): Fortnox rows then
    # take this sales account by VAT rate, left to Fortnox's defaults when None.


def _num(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _error(body: Any) -> tuple[str, str]:
    """(code, message) from an ErrorInformation body, in either capitalisation."""
    info = body.get("ErrorInformation", {}) if isinstance(body, dict) else {}
    lowered = {str(k).lower(): v for k, v in info.items()} if isinstance(info, dict) else {}
    return str(lowered.get("code", "")), str(lowered.get("message", "")) or "no message"


class FortnoxClient:
    """HTTP to Fortnox with auth, the shared rate limit and retries."""

    def __init__(
        self,
        settings: FortnoxSettings,
        http: aiohttp.ClientSession,
        pool: asyncpg.Pool,
        limiter: SharedRateLimiter | None,
    ) -> None:
        self.settings = settings
        self._http = http
        self._pool = pool
        self._limiter = limiter
        self._token: str | None = None
        self.requests = 0

    async def _access_token(self) -> str:
        if self._token is None:
            await self._pool.execute(
                "INSERT INTO oauth_tokens (erp, access_token, refresh_token) VALUES ('fortnox', $1, $2)"
                " ON CONFLICT DO NOTHING",
                self.settings.access_token,
                self.settings.refresh_token,
            )
            self._token = await self._pool.fetchval(
                "SELECT access_token FROM oauth_tokens WHERE erp = 'fortnox'"
            )
        assert self._token is not None
        return self._token

    async def _refresh(self, stale: str) -> None:
        """Refresh once for all processes: whoever holds the lock refreshes, the rest reuse."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('fortnox-token'))")
            row = await conn.fetchrow(
                "SELECT access_token, refresh_token FROM oauth_tokens WHERE erp = 'fortnox'"
            )
            assert row is not None
            if row["access_token"] != stale:
                self._token = row["access_token"]
                return
            basic = base64.b64encode(
                f"{self.settings.client_id}:{self.settings.client_secret}".encode()
            ).decode()
            async with self._http.post(
                self.settings.token_url,
                data={"grant_type": "refresh_token", "refresh_token": row["refresh_token"]},
                headers={"Authorization": f"Basic {basic}"},
            ) as response:
                body = await response.json(content_type=None)
                if response.status != 200:
                    raise ErpRejected("oauth", f"token refresh refused ({response.status}): {body}")
            await conn.execute(
                "UPDATE oauth_tokens SET access_token = $1, refresh_token = $2, refreshed_at = now() WHERE erp = 'fortnox'",
                body["access_token"],
                body["refresh_token"],
            )
            self._token = body["access_token"]
            log.info("Fortnox access token refreshed")

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        warehouse: bool = False,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        url = (self.settings.warehouse_url if warehouse else self.settings.base_url) + path
        data = _encoder.encode(body) if body is not None else None
        delay = 0.5
        refreshed = False
        attempt = 0
        while True:
            if self._limiter is not None:
                await self._limiter.acquire()
            token = await self._access_token()
            self.requests += 1
            try:
                async with self._http.request(
                    method,
                    url,
                    data=data,
                    params=params,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                        "Accept": "application/json",
                    },
                    timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
                ) as response:
                    status = response.status
                    raw = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                attempt += 1
                if attempt > self.settings.retries:
                    raise ErpUnavailable(f"Fortnox {method} {path}: {exc!r}") from exc
                log.warning(
                    "Fortnox %s %s failed (%r), retrying in %.1fs", method, path, exc, delay
                )
                await asyncio.sleep(delay)
                delay *= 2
                continue
            parsed: Any = msgspec.json.decode(raw) if raw else None
            if status < 300:
                return parsed
            if status == 429:
                if self._limiter is not None:
                    await self._limiter.penalise()
                else:
                    await asyncio.sleep(1.0)
                continue
            code, message = _error(parsed)
            if status == 401 and not refreshed:
                refreshed = True
                await self._refresh(token)
                continue
            if status == 404 and missing_ok:
                return None
            if status >= 500:
                attempt += 1
                if attempt > self.settings.retries:
                    raise ErpUnavailable(f"Fortnox {method} {path}: {status} {code} {message}")
                log.warning(
                    "Fortnox %s %s answered %d, retrying in %.1fs", method, path, status, delay
                )
                await asyncio.sleep(delay)
                delay *= 2
                continue
            raise ErpRejected(code or str(status), message)


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


def _document(kind: Literal["order", "invoice"], doc: Mapping[str, Any]) -> ErpDocument:
    invoice_ref = str(doc.get("InvoiceReference") or "0")
    return ErpDocument(
        kind=kind,
        number=str(doc["DocumentNumber"]),
        customer_number=str(doc.get("CustomerNumber", "")),
        invoice_number=None if invoice_ref == "0" else invoice_ref,
        invoiced=invoice_ref != "0" if kind == "order" else True,
        cancelled=bool(doc.get("Cancelled", False)),
    )


class FortnoxAdapter:
    name = "fortnox"

    def __init__(self, client: FortnoxClient) -> None:
        self.client = client

    async def find_customer(self, email: str) -> str | None:
        body = await self.client.request(
            "GET", "/customers", params={"email": email, "limit": "500"}
        )
        for customer in body.get("Customers", []):
            if str(customer.get("Email", "")).strip().lower() == email:
                return str(customer["CustomerNumber"])
        return None

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
                return _document(kind, candidate)
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
        return _document("order", body["Order"])

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

    @staticmethod
    def unknown_article(error: ErpRejected) -> bool:
        return error.code in _UNKNOWN_ARTICLE_CODES
