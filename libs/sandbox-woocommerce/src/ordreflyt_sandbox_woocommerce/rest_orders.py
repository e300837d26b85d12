"""`/wp-json/wc/v3/orders`: list, read, create, update, trash/delete, notes and refunds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_woocommerce import orders
from ordreflyt_sandbox_woocommerce.errors import WooError, invalid_param
from ordreflyt_sandbox_woocommerce.models import Order
from ordreflyt_sandbox_woocommerce.money import parse_money
from ordreflyt_sandbox_woocommerce.orders import (
    ADDRESS_FIELDS,
    BILLING_FIELDS,
    LineRequest,
    OrderDraft,
    RefundLineRequest,
)
from ordreflyt_sandbox_woocommerce.pricing import FeeInput, ShippingInput
from ordreflyt_sandbox_woocommerce.render import note_json, order_json, refund_json
from ordreflyt_sandbox_woocommerce.rest import (
    API_PREFIX,
    bool_param,
    bool_value,
    choice_param,
    date_param,
    json_body,
    list_param,
    paginate,
    path_id,
    respond,
    settings_key,
    site_key,
    store_key,
)
from ordreflyt_sandbox_woocommerce.store import Store

ORDERBY = ("date", "id", "include", "title", "slug", "modified")
# Editing items of an existing order is not emulated; say so instead of ignoring the fields.
UNSUPPORTED_UPDATES = ("line_items", "shipping_lines", "fee_lines", "coupon_lines")


def _order_json(request: web.Request, order: Order) -> dict[str, Any]:
    store = request.app[store_key]
    return order_json(order, store.refunds_of(order), request.app[site_key])


async def list_orders(request: web.Request) -> web.Response:
    store = request.app[store_key]
    tz = request.app[site_key].timezone
    statuses = list_param(request, "status") or ["any"]
    allowed = ["any", "trash", *store.order_statuses]
    for n, status in enumerate(statuses):
        if status not in allowed:
            raise invalid_param("status", f"status[{n}] is not one of {', '.join(allowed)}.")
    after, before = date_param(request, "after", tz), date_param(request, "before", tz)
    modified_after = date_param(request, "modified_after", tz)
    modified_before = date_param(request, "modified_before", tz)
    include = {int(i) for i in list_param(request, "include") if i.isdigit()}
    orderby = choice_param(request, "orderby", ORDERBY, "date")
    descending = choice_param(request, "order", ("asc", "desc"), "desc") == "desc"
    bool_param(request, "dates_are_gmt", False)  # validated here, used by date_param

    def wanted(order: Order) -> bool:
        if "any" in statuses:
            if order.status == "trash" and "trash" not in statuses:
                return False
        elif order.status not in statuses:
            return False
        # Date filters are strict and to the second, like the SQL WordPress runs.
        return (
            (after is None or order.date_created > after)
            and (before is None or order.date_created < before)
            and (modified_after is None or order.date_modified > modified_after)
            and (modified_before is None or order.date_modified < modified_before)
            and (not include or order.id in include)
        )

    found = [o for o in store.orders.values() if wanted(o)]
    if orderby == "modified":
        found.sort(key=lambda o: (o.date_modified, o.id), reverse=descending)
    elif orderby == "date":
        found.sort(key=lambda o: (o.date_created, o.id), reverse=descending)
    else:
        found.sort(key=lambda o: o.id, reverse=descending)
    page, headers = paginate(request, found, "/orders")
    return respond([_order_json(request, o) for o in page], headers=headers)


async def get_order(request: web.Request) -> web.Response:
    order = request.app[store_key].order(path_id(request))
    return respond(_order_json(request, order))


def _address(raw: Any, fields: tuple[str, ...], name: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid_param(name, f"{name} is not of type object.")
    return {k: str(v) for k, v in raw.items() if k in fields and v is not None}


def _int(raw: Any, name: str, default: int = 0) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise invalid_param(name, f"{name} is not of type integer.")
    return int(raw)


def _money(raw: Any, name: str) -> Decimal:
    try:
        return parse_money(raw if raw is not None else "0", name)
    except ValueError as exc:
        raise invalid_param(name, str(exc)) from exc


def _list(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    raw = body.get(name) or []
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise invalid_param(name, f"{name} is not of type array.")
    return raw


def _meta(body: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(str(m["key"]), m.get("value")) for m in _list(body, "meta_data") if "key" in m]


def _draft(store: Store, body: dict[str, Any], currency: str) -> OrderDraft:
    lines = [
        LineRequest(
            _int(item.get("product_id"), "line_items"),
            _int(item.get("variation_id"), "line_items"),
            _int(item.get("quantity"), "line_items", 1),
        )
        for item in _list(body, "line_items")
    ]
    return OrderDraft(
        lines=lines,
        currency=str(body.get("currency") or currency),
        billing=_address(body.get("billing"), BILLING_FIELDS, "billing"),
        shipping=_address(body.get("shipping"), ADDRESS_FIELDS, "shipping"),
        status=str(body.get("status") or "pending"),
        payment_method=str(body.get("payment_method") or ""),
        payment_method_title=str(body.get("payment_method_title") or ""),
        transaction_id=str(body.get("transaction_id") or ""),
        set_paid=bool_value(body.get("set_paid"), "set_paid", False),
        coupon_codes=[str(c.get("code", "")) for c in _list(body, "coupon_lines")],
        shipping_lines=[
            ShippingInput(
                str(s.get("method_id", "")),
                str(s.get("method_title", "")),
                _money(s.get("total"), "shipping_lines"),
            )
            for s in _list(body, "shipping_lines")
        ],
        fee_lines=[
            FeeInput(
                str(f.get("name", "")),
                _money(f.get("total"), "fee_lines"),
                str(f.get("tax_class", "")),
                f.get("tax_status", "taxable") == "taxable",
            )
            for f in _list(body, "fee_lines")
        ],
        customer_id=_int(body.get("customer_id"), "customer_id"),
        customer_note=str(body.get("customer_note") or ""),
        meta_data=_meta(body),
    )


async def create_order(request: web.Request) -> web.Response:
    store = request.app[store_key]
    body = await json_body(request)
    order = orders.create_order(store, _draft(store, body, request.app[settings_key].currency))
    return respond(_order_json(request, order), 201)


async def update_order(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.order(path_id(request))
    body = await json_body(request)
    for name in UNSUPPORTED_UPDATES:
        if body.get(name):
            raise WooError(
                400, "sandbox_unsupported", f"The sandbox shop cannot edit {name} of an order."
            )
    if "status" in body and body["status"] not in store.order_statuses:
        raise invalid_param("status", f"status is not one of {', '.join(store.order_statuses)}.")
    was_draft = order.status == "checkout-draft"
    order.billing.update(_address(body.get("billing"), BILLING_FIELDS, "billing"))
    order.shipping.update(_address(body.get("shipping"), ADDRESS_FIELDS, "shipping"))
    for name in ("customer_note", "payment_method", "payment_method_title", "transaction_id"):
        if body.get(name) is not None:
            setattr(order, name, str(body[name]))
    if body.get("customer_id") is not None:
        order.customer_id = _int(body["customer_id"], "customer_id")
    for key, value in _meta(body):
        existing = next((m for m in order.meta_data if m.key == key), None)
        if existing is None:
            order.meta_data.append(store.meta(key, value))
        else:
            existing.value = value
    if body.get("status"):
        orders.set_status(store, order, str(body["status"]))
    orders.save(store, order, was_draft=was_draft)
    if bool_value(body.get("set_paid"), "set_paid", False):
        orders.payment_complete(store, order, order.transaction_id)
    return respond(_order_json(request, order))


async def delete_order(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.order(path_id(request))
    data = _order_json(request, order)
    if bool_param(request, "force", False):
        orders.delete(store, order)
        return respond(data)
    orders.trash(store, order)
    return respond(_order_json(request, order))


async def list_notes(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.order(path_id(request))
    kind = choice_param(request, "type", ("any", "customer", "internal"), "any")
    notes = [
        n
        for n in reversed(store.notes.get(order.id, []))
        if kind == "any" or n.customer_note == (kind == "customer")
    ]
    return respond([note_json(n, request.app[site_key]) for n in notes])


async def get_note(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.order(path_id(request))
    note_id = path_id(request, "note_id")
    for note in store.notes.get(order.id, []):
        if note.id == note_id:
            return respond(note_json(note, request.app[site_key]))
    raise WooError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")


async def create_note(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.order(path_id(request))
    body = await json_body(request)
    text = body.get("note")
    if not isinstance(text, str) or not text:
        raise WooError(
            400, "rest_missing_callback_param", "Missing parameter(s): note", params=["note"]
        )
    note = store.add_note(
        order, text, customer_note=bool_value(body.get("customer_note"), "customer_note", False)
    )
    if bool_value(body.get("added_by_user"), "added_by_user", False):
        note.author = "admin"
    return respond(note_json(note, request.app[site_key]), 201)


async def list_refunds(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.order(path_id(request))
    refunds = sorted(store.refunds_of(order), key=lambda r: r.id, reverse=True)
    page, headers = paginate(request, refunds, f"/orders/{order.id}/refunds")
    return respond([refund_json(r, request.app[site_key]) for r in page], headers=headers)


async def get_refund(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.order(path_id(request))
    refund = store.refunds.get(path_id(request, "refund_id"))
    if refund is None or refund.order_id != order.id:
        raise WooError(404, "woocommerce_rest_shop_order_refund_invalid_id", "Invalid ID.")
    return respond(refund_json(refund, request.app[site_key]))


def _refund_lines(body: dict[str, Any]) -> list[RefundLineRequest]:
    out = []
    for item in _list(body, "line_items"):
        taxes = {}
        for tax in item.get("refund_tax") or []:
            if isinstance(tax, dict) and "id" in tax:
                taxes[_int(tax["id"], "refund_tax")] = _money(
                    tax.get("refund_total", tax.get("amount")), "refund_tax"
                )
        out.append(
            RefundLineRequest(
                item_id=_int(item.get("id"), "line_items"),
                quantity=_int(item.get("quantity"), "line_items", 0),
                refund_total=_money(item.get("refund_total"), "refund_total"),
                refund_tax=taxes,
            )
        )
    return out


async def create_refund(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.orders.get(path_id(request))
    if order is None:
        raise WooError(404, "woocommerce_rest_invalid_order_id", "Invalid order ID.")
    body = await json_body(request)
    raw_amount = body.get("amount")
    if raw_amount is not None and not isinstance(raw_amount, str):
        raise invalid_param("amount", "amount is not of type string.")
    refund = orders.create_refund(
        store,
        order,
        amount=None if raw_amount is None else _money(raw_amount, "amount"),
        reason=str(body.get("reason") or ""),
        lines=_refund_lines(body),
        api_refund=bool_value(body.get("api_refund"), "api_refund", True),
        api_restock=bool_value(body.get("api_restock"), "api_restock", True),
    )
    return respond(refund_json(refund, request.app[site_key]), 201)


def add_routes(app: web.Application) -> None:
    base = f"{API_PREFIX}/orders"
    app.router.add_get(base, list_orders)
    app.router.add_post(base, create_order)
    app.router.add_get(base + r"/{id:\d+}", get_order)
    for method in ("PUT", "PATCH", "POST"):
        app.router.add_route(method, base + r"/{id:\d+}", update_order)
    app.router.add_delete(base + r"/{id:\d+}", delete_order)
    app.router.add_get(base + r"/{id:\d+}/notes", list_notes)
    app.router.add_post(base + r"/{id:\d+}/notes", create_note)
    app.router.add_get(base + r"/{id:\d+}/notes/{note_id:\d+}", get_note)
    app.router.add_get(base + r"/{id:\d+}/refunds", list_refunds)
    app.router.add_post(base + r"/{id:\d+}/refunds", create_refund)
    app.router.add_get(base + r"/{id:\d+}/refunds/{refund_id:\d+}", get_refund)
