"""The JSON WooCommerce's REST API v3 answers with, built from the store's records.

Field names, order and formats follow `/wp-json/wc/v3`: money as 2-decimal strings, dates as
`YYYY-MM-DDTHH:MM:SS` in the site's time zone with `_gmt` twins, ids as numbers, `number` as a
string. Bodies are encoded like PHP's `wp_json_encode`: compact, non-ASCII as `\\u00f8` and `/`
as `\\/`, so a receiver that re-serialises the JSON before checking a signature gets it wrong,
as it would against a real shop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ordreflyt_sandbox_woocommerce.models import (
    CORE_ORDER_STATUSES,
    CouponLine,
    FeeLine,
    LineItem,
    Meta,
    Note,
    Order,
    Product,
    Refund,
    ShippingLine,
    TaxLine,
    Webhook,
)
from ordreflyt_sandbox_woocommerce.money import ZERO, fmt_money, fmt_raw
from ordreflyt_sandbox_woocommerce.pricing import RateAmount

WC_VERSION = "9.4.2"
WP_VERSION = "6.7.1"
CURRENCY_SYMBOLS = {"NOK": "kr", "SEK": "kr", "DKK": "kr.", "EUR": "€"}


def php_json(value: Any) -> bytes:
    """`wp_json_encode`: what WordPress puts on the wire, byte for byte."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    # JSON syntax has no "/" outside strings, so this touches string contents only.
    return text.replace("/", "\\/").encode("ascii")


def json_number(value: Decimal) -> float:
    """The one place a float appears: WooCommerce sends `price` fields as PHP floats.

    PHP computes them as float division and json_encode prints the shortest round-trip form,
    which is what Python prints for the same double. No arithmetic is done on the result.
    """
    return float(value)


@dataclass(frozen=True)
class Site:
    """What the JSON needs to know about the shop itself."""

    shop_url: str
    timezone: ZoneInfo

    @property
    def api_base(self) -> str:
        return f"{self.shop_url}wp-json/wc/v3"

    def local(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(self.timezone).replace(tzinfo=None).isoformat(timespec="seconds")

    def gmt(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")

    def dates(self, name: str, value: datetime | None) -> dict[str, str | None]:
        return {name: self.local(value), f"{name}_gmt": self.gmt(value)}

    def links(self, collection: str, item_id: int) -> dict[str, Any]:
        return {
            "self": [{"href": f"{self.api_base}/{collection}/{item_id}"}],
            "collection": [{"href": f"{self.api_base}/{collection}"}],
        }


def status_label(status: str) -> str:
    return CORE_ORDER_STATUSES.get(status, status.replace("-", " ").capitalize())


def meta_json(meta: list[Meta]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in meta:
        # Keys starting with "_" are protected: the REST API never shows them.
        if m.key.startswith("_"):
            continue
        item: dict[str, Any] = {"id": m.id, "key": m.key, "value": m.value}
        if m.display_key is not None:
            item["display_key"] = m.display_key
            item["display_value"] = m.display_value
        out.append(item)
    return out


def _taxes(amounts: tuple[RateAmount, ...], *, with_subtotal: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in amounts:
        subtotal = fmt_raw(a.subtotal) if with_subtotal and a.subtotal is not None else ""
        out.append({"id": a.rate_id, "total": fmt_raw(a.total), "subtotal": subtotal})
    return out


def line_item_json(item: LineItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "product_id": item.product_id,
        "variation_id": item.variation_id,
        "quantity": item.quantity,
        "tax_class": item.tax_class,
        "subtotal": fmt_money(item.subtotal),
        "subtotal_tax": fmt_money(item.subtotal_tax),
        "total": fmt_money(item.total),
        "total_tax": fmt_money(item.total_tax),
        "taxes": _taxes(item.taxes, with_subtotal=True),
        "meta_data": meta_json(item.meta_data),
        "sku": item.sku,
        "price": json_number(item.total / item.quantity) if item.quantity else 0,
        "image": {"id": "", "src": ""},
        "parent_name": item.parent_name,
    }


def tax_line_json(line: TaxLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "rate_code": line.rate_code,
        "rate_id": line.rate_id,
        "label": line.label,
        "compound": line.compound,
        "tax_total": fmt_money(line.tax_total),
        "shipping_tax_total": fmt_money(line.shipping_tax_total),
        "meta_data": [],
    }


def shipping_line_json(line: ShippingLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "method_title": line.method_title,
        "method_id": line.method_id,
        "instance_id": line.instance_id,
        "total": fmt_money(line.total),
        "total_tax": fmt_money(line.total_tax),
        "taxes": _taxes(line.taxes, with_subtotal=False),
        "meta_data": meta_json(line.meta_data),
    }


def fee_line_json(line: FeeLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "name": line.name,
        "tax_class": line.tax_class,
        "tax_status": line.tax_status,
        "amount": fmt_raw(line.amount),
        "total": fmt_money(line.total),
        "total_tax": fmt_money(line.total_tax),
        "taxes": _taxes(line.taxes, with_subtotal=False),
        "meta_data": [],
    }


def coupon_line_json(line: CouponLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "code": line.code,
        "discount": fmt_money(line.discount),
        "discount_tax": fmt_money(line.discount_tax),
        "discount_type": line.discount_type,
        "nominal_amount": json_number(line.nominal_amount),
        "free_shipping": False,
        "meta_data": [],
    }


def order_json(order: Order, refunds: list[Refund], site: Site) -> dict[str, Any]:
    t = order.totals
    needs_payment = order.status in ("pending", "failed") and t.total > ZERO
    data: dict[str, Any] = {
        "id": order.id,
        "parent_id": 0,
        "status": order.status,
        "currency": order.currency,
        "version": WC_VERSION,
        "prices_include_tax": order.prices_include_tax,
        "date_created": site.local(order.date_created),
        "date_modified": site.local(order.date_modified),
        "discount_total": fmt_money(t.discount_total),
        "discount_tax": fmt_money(t.discount_tax),
        "shipping_total": fmt_money(t.shipping_total),
        "shipping_tax": fmt_money(t.shipping_tax),
        "cart_tax": fmt_money(t.cart_tax),
        "total": fmt_money(t.total),
        "total_tax": fmt_money(t.total_tax),
        "customer_id": order.customer_id,
        "order_key": order.order_key,
        "billing": dict(order.billing),
        "shipping": dict(order.shipping),
        "payment_method": order.payment_method,
        "payment_method_title": order.payment_method_title,
        "transaction_id": order.transaction_id,
        "customer_ip_address": order.customer_ip_address,
        "customer_user_agent": order.customer_user_agent,
        "created_via": order.created_via,
        "customer_note": order.customer_note,
        "date_completed": site.local(order.date_completed),
        "date_paid": site.local(order.date_paid),
        "cart_hash": order.cart_hash,
        "number": str(order.id),
        "meta_data": meta_json(order.meta_data),
        "line_items": [line_item_json(i) for i in order.line_items],
        "tax_lines": [tax_line_json(i) for i in order.tax_lines],
        "shipping_lines": [shipping_line_json(i) for i in order.shipping_lines],
        "fee_lines": [fee_line_json(i) for i in order.fee_lines],
        "coupon_lines": [coupon_line_json(i) for i in order.coupon_lines],
        "refunds": [
            {"id": r.id, "reason": r.reason, "total": fmt_money(-r.amount)} for r in refunds
        ],
        "payment_url": (
            f"{site.shop_url}checkout/order-pay/{order.id}/"
            f"?pay_for_order=true&key={order.order_key}"
        ),
        "is_editable": order.status in ("pending", "on-hold", "auto-draft", "checkout-draft"),
        "needs_payment": needs_payment,
        "needs_processing": True,
        "date_created_gmt": site.gmt(order.date_created),
        "date_modified_gmt": site.gmt(order.date_modified),
        "date_completed_gmt": site.gmt(order.date_completed),
        "date_paid_gmt": site.gmt(order.date_paid),
        "currency_symbol": CURRENCY_SYMBOLS.get(order.currency, order.currency),
        "_links": site.links("orders", order.id),
    }
    return data


def refund_json(refund: Refund, site: Site) -> dict[str, Any]:
    lines = []
    for line in refund.line_items:
        lines.append(
            {
                "id": line.id,
                "name": line.name,
                "product_id": line.product_id,
                "variation_id": line.variation_id,
                "quantity": -line.quantity,
                "tax_class": line.tax_class,
                "subtotal": fmt_money(-line.total),
                "subtotal_tax": fmt_money(-line.total_tax),
                "total": fmt_money(-line.total),
                "total_tax": fmt_money(-line.total_tax),
                "taxes": [
                    {"id": a.rate_id, "total": fmt_raw(-a.total), "subtotal": fmt_raw(-a.total)}
                    for a in line.taxes
                ],
                "meta_data": [],
                "sku": line.sku,
                "price": json_number(-line.total / line.quantity) if line.quantity else 0,
            }
        )
    return {
        "id": refund.id,
        **site.dates("date_created", refund.date_created),
        "amount": fmt_money(refund.amount),
        "reason": refund.reason,
        "refunded_by": 1,
        "refunded_payment": refund.refunded_payment,
        "meta_data": meta_json(refund.meta_data),
        "line_items": lines,
        "_links": {
            "self": [{"href": f"{site.api_base}/orders/{refund.order_id}/refunds/{refund.id}"}],
            "collection": [{"href": f"{site.api_base}/orders/{refund.order_id}/refunds"}],
            "up": [{"href": f"{site.api_base}/orders/{refund.order_id}"}],
        },
    }


def note_json(note: Note, site: Site) -> dict[str, Any]:
    return {
        "id": note.id,
        "author": note.author,
        **site.dates("date_created", note.date_created),
        "note": note.note,
        "customer_note": note.customer_note,
        "_links": {
            "self": [{"href": f"{site.api_base}/orders/{note.order_id}/notes/{note.id}"}],
            "collection": [{"href": f"{site.api_base}/orders/{note.order_id}/notes"}],
            "up": [{"href": f"{site.api_base}/orders/{note.order_id}"}],
        },
    }


def stock_status(product: Product, variations: list[Product]) -> str:
    """A variable product is in stock when any variation is (WC_Product_Variable sync)."""
    if product.type != "variable":
        return product.own_stock_status
    statuses = {v.own_stock_status for v in variations if v.status == "publish"}
    for status in ("instock", "onbackorder"):
        if status in statuses:
            return status
    return "outofstock"


def product_json(product: Product, variations: list[Product], site: Site) -> dict[str, Any]:
    """A product (or a variation fetched through `/products/<id>`) as the REST API shows it."""
    if product.type == "variable":
        prices = [v.regular_price for v in variations if v.regular_price is not None]
        price = fmt_money(min(prices)) if prices else ""
        regular_price = ""
    else:
        price = regular_price = (
            fmt_money(product.regular_price) if product.regular_price is not None else ""
        )
    status = stock_status(product, variations)
    attributes: list[dict[str, Any]]
    if product.type == "variation":
        attributes = [
            {"id": 0, "name": name, "option": options[0]}
            for name, options in product.attributes.items()
        ]
    else:
        attributes = [
            {
                "id": 0,
                "name": name,
                "position": n,
                "visible": True,
                "variation": True,
                "options": options,
            }
            for n, (name, options) in enumerate(product.attributes.items())
        ]
    slug = product.name.lower().replace(" ", "-")
    return {
        "id": product.id,
        "name": product.name,
        "slug": slug,
        "permalink": f"{site.shop_url}produkt/{slug}/",
        **site.dates("date_created", product.date_created),
        **site.dates("date_modified", product.date_modified),
        "type": product.type,
        "status": product.status,
        "featured": False,
        "catalog_visibility": "visible",
        "description": "",
        "short_description": "",
        "sku": product.sku,
        "price": price,
        "regular_price": regular_price,
        "sale_price": "",
        "on_sale": False,
        "purchasable": price != "",
        "total_sales": product.total_sales,
        "virtual": False,
        "downloadable": False,
        "tax_status": "taxable",
        "tax_class": product.tax_class,
        "manage_stock": product.manage_stock,
        "stock_quantity": product.stock_quantity if product.manage_stock else None,
        "stock_status": status,
        "backorders": product.backorders,
        "backorders_allowed": product.backorders != "no",
        "backordered": product.manage_stock
        and product.stock_quantity is not None
        and product.stock_quantity < 0,
        "low_stock_amount": None,
        "weight": product.weight,
        "dimensions": {"length": "", "width": "", "height": ""},
        "shipping_required": True,
        "parent_id": product.parent_id,
        "categories": [],
        "tags": [],
        "images": [],
        "attributes": attributes,
        "default_attributes": [],
        "variations": list(product.variation_ids),
        "meta_data": meta_json(product.meta_data),
        "_links": site.links("products", product.id),
    }


def variation_json(variation: Product, site: Site) -> dict[str, Any]:
    """A variation as `/products/<id>/variations/<vid>` shows it."""
    data = product_json(variation, [], site)
    keep = (
        "id",
        "date_created",
        "date_created_gmt",
        "date_modified",
        "date_modified_gmt",
        "description",
        "permalink",
        "sku",
        "price",
        "regular_price",
        "sale_price",
        "on_sale",
        "status",
        "purchasable",
        "virtual",
        "downloadable",
        "tax_status",
        "tax_class",
        "manage_stock",
        "stock_quantity",
        "stock_status",
        "backorders",
        "backorders_allowed",
        "backordered",
        "low_stock_amount",
        "weight",
        "dimensions",
        "attributes",
        "meta_data",
    )
    out = {key: data[key] for key in keep}
    out["image"] = None
    out["menu_order"] = 0
    out["_links"] = {
        "self": [
            {"href": f"{site.api_base}/products/{variation.parent_id}/variations/{variation.id}"}
        ],
        "collection": [{"href": f"{site.api_base}/products/{variation.parent_id}/variations"}],
        "up": [{"href": f"{site.api_base}/products/{variation.parent_id}"}],
    }
    return out


def webhook_json(webhook: Webhook, site: Site) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "name": webhook.name,
        "status": webhook.status,
        "topic": webhook.topic,
        "resource": webhook.resource,
        "event": webhook.event,
        "hooks": [],
        "delivery_url": webhook.delivery_url,
        "secret": webhook.secret,
        "api_version": "wp_api_v3",
        "failure_count": webhook.failure_count,
        **site.dates("date_created", webhook.date_created),
        **site.dates("date_modified", webhook.date_modified),
        "_links": site.links("webhooks", webhook.id),
    }
