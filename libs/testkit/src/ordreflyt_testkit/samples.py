"""Sample WooCommerce order JSON for tests, shaped as the REST API returns it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec

from ordreflyt_contracts.erp import ErpAddress, ErpCustomer, ErpLine, ErpOrder

# The webhook secrets test configs give the shop `demo`.
WEBHOOK_SECRET = "current-secret"
PREVIOUS_WEBHOOK_SECRET = "previous-secret"


def woo_order(
    order_id: int = 1001,
    status: str = "processing",
    modified: str = "2026-11-20T10:15:00",
    **overrides: Any,
) -> dict[str, Any]:
    """A Norwegian order: two lines at 25 % and 15 % VAT, taxed shipping; totals add up."""
    order: dict[str, Any] = {
        "id": order_id,
        "parent_id": 0,
        "number": str(order_id),
        "order_key": f"wc_order_{order_id}",
        "created_via": "checkout",
        "version": "9.4.0",
        "status": status,
        "currency": "NOK",
        "prices_include_tax": False,
        "date_created": "2026-11-20T11:14:00",
        "date_created_gmt": "2026-11-20T10:14:00",
        "date_modified": "2026-11-20T11:15:00",
        "date_modified_gmt": modified,
        "date_paid_gmt": "2026-11-20T10:15:00" if status in ("processing", "completed") else None,
        "date_completed_gmt": None,
        "discount_total": "0.00",
        "discount_tax": "0.00",
        "shipping_total": "99.00",
        "shipping_tax": "24.75",
        "cart_tax": "68.25",
        "total": "515.00",
        "total_tax": "93.00",
        "customer_id": 0,
        "customer_note": "Leveres på døra, takk",
        "billing": {
            "first_name": "Åse",
            "last_name": "Grønvold",
            "company": "",
            "address_1": "Storgata 5",
            "address_2": "",
            "city": "Tromsø",
            "state": "",
            "postcode": "9008",
            "country": "NO",
            "email": "ase.gronvold@example.no",
            "phone": "+4791234567",
        },
        "shipping": {
            "first_name": "Åse",
            "last_name": "Grønvold",
            "company": "",
            "address_1": "Storgata 5",
            "address_2": "",
            "city": "Tromsø",
            "state": "",
            "postcode": "9008",
            "country": "NO",
        },
        "payment_method": "vipps",
        "payment_method_title": "Vipps",
        "transaction_id": f"vipps-{order_id}-abc",
        "meta_data": [{"id": 1, "key": "_vipps_orderid", "value": f"ordreflyt-{order_id}"}],
        "line_items": [
            {
                "id": 1,
                "name": "Ullsokker",
                "product_id": 11,
                "variation_id": 0,
                "quantity": 2,
                "tax_class": "",
                "subtotal": "198.00",
                "subtotal_tax": "49.50",
                "total": "198.00",
                "total_tax": "49.50",
                "taxes": [{"id": 1, "total": "49.5", "subtotal": "49.5"}],
                "meta_data": [],
                "sku": "ULL-SOKK-42",
                "price": 99,
            },
            {
                "id": 2,
                "name": "Brunost",
                "product_id": 12,
                "variation_id": 0,
                "quantity": 1,
                "tax_class": "reduced-rate",
                "subtotal": "125.00",
                "subtotal_tax": "18.75",
                "total": "125.00",
                "total_tax": "18.75",
                "taxes": [{"id": 2, "total": "18.75", "subtotal": "18.75"}],
                "meta_data": [],
                "sku": "BRUNOST-500",
                "price": 125.0,
            },
        ],
        "tax_lines": [
            {
                "id": 10,
                "rate_code": "NO-MVA-1",
                "rate_id": 1,
                "label": "MVA",
                "compound": False,
                "tax_total": "49.50",
                "shipping_tax_total": "24.75",
                "rate_percent": 25,
                "meta_data": [],
            },
            {
                "id": 11,
                "rate_code": "NO-MVA MAT-2",
                "rate_id": 2,
                "label": "MVA mat",
                "compound": False,
                "tax_total": "18.75",
                "shipping_tax_total": "0.00",
                "rate_percent": 15,
                "meta_data": [],
            },
        ],
        "shipping_lines": [
            {
                "id": 20,
                "method_title": "Posten Norgespakke",
                "method_id": "flat_rate",
                "total": "99.00",
                "total_tax": "24.75",
                "taxes": [{"id": 1, "total": "24.75", "subtotal": ""}],
                "meta_data": [],
            },
        ],
        "fee_lines": [],
        "coupon_lines": [],
        "refunds": [],
    }
    order.update(overrides)
    return order


def swedish_woo_order(
    order_id: int = 1001,
    status: str = "processing",
    modified: str = "2026-11-20T10:15:00",
    **overrides: Any,
) -> dict[str, Any]:
    """The sample order from a Swedish shop, in SEK: the socks at 25 %, crispbread at 12 % (a
    rate Fortnox has, unlike Norway's 15 % on food), taxed shipping; totals add up."""
    order = woo_order(order_id, status, modified, currency="SEK")
    for address in (order["billing"], order["shipping"]):
        address.update(country="SE", city="Göteborg", postcode="41101")
    socks, bread = order["line_items"]
    socks.update(name="Ullsockor")
    bread.update(
        name="Knäckebröd",
        sku="KNACKE-250",
        subtotal_tax="15.00",
        total_tax="15.00",
        taxes=[{"id": 2, "total": "15", "subtotal": "15"}],
    )
    standard, reduced = order["tax_lines"]
    standard.update(rate_code="SE-MOMS-1", label="Moms")
    reduced.update(rate_code="SE-MOMS-2", label="Moms", rate_percent=12, tax_total="15.00")
    order.update(cart_tax="64.50", total_tax="89.25", total="511.25")
    order.update(overrides)
    return order


def erp_order_sample(
    reference: str = "demo-1001", *, article: str | None = None, **changes: Any
) -> ErpOrder:
    """A mapped order for erp-writer tests: Anna's coffee, 2 x 49.90 at 12 % (optionally as
    `article`), which Fortnox makes 111.78 with VAT 11.98; `changes` replaces fields."""
    shop_id, _, order_id = reference.rpartition("-")
    order = ErpOrder(
        shop_id=shop_id,
        shop_order_id=order_id,
        order_number=order_id,
        external_reference=reference,
        order_date=date(2026, 11, 20),
        currency="SEK",
        vat_included=False,
        customer=ErpCustomer(
            email="a@example.se", kind="private", name="Anna Ek", address=ErpAddress(city="Lund")
        ),
        lines=[
            ErpLine(
                kind="article",
                description="Kaffe",
                quantity=Decimal(2),
                unit_price=Decimal("49.90"),
                vat_percent=Decimal(12),
                total=Decimal("99.80"),
                article_number=article,
            )
        ],
        total=Decimal("111.78"),
        total_vat=Decimal("11.98"),
    )
    return msgspec.structs.replace(order, **changes)


def woo_body(order: dict[str, Any]) -> bytes:
    return json.dumps(order, ensure_ascii=False, separators=(",", ":")).encode()


def woo_signature(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)), as WooCommerce signs a delivery."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def woo_headers(
    secret: str, body: bytes, topic: str = "order.created", webhook_id: int = 7
) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
        "X-WC-Webhook-Source": "http://127.0.0.1:8100/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": woo_signature(secret, body),
        "X-WC-Webhook-ID": str(webhook_id),
        "X-WC-Webhook-Delivery-ID": hashlib.md5(f"{webhook_id}".encode()).hexdigest(),
    }
