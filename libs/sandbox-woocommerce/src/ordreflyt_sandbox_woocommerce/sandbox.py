"""Control routes under `/_sandbox` for tests and demos: no auth, but answered only to this
machine unless the shop runs with `open_control` (see `ordreflyt_sandbox_kit.control`).

- `GET /_sandbox/state`: everything the shop holds, as REST JSON, plus the delivery log and
  `protected_meta` (per order id, the meta whose key starts with "_", which REST never shows).
- `POST /_sandbox/reset`: back to the start (catalogue and sample orders re-seeded, the
  configured generator rate and countries, start-up webhooks only); with a state file, that
  fresh shop is what is saved from then on.
- `POST /_sandbox/orders`: place one sample order now, in its two checkout steps, each firing
  its webhooks; the JSON body may pin `status`, `currency`, `country`, `email`,
  `lines` [{sku, quantity}], `coupon` (code or null), `fee` ({name, total, tax_class}, true or
  null), `shipping` ("flat_rate" | "free_shipping" | "local_pickup" or {method_id,
  method_title, total}), `prices_include_tax`, `payment_method`, and `countries` (["SE"]: the
  countries to draw the customer from, instead of the configured ones). Answers the order JSON.
- `POST /_sandbox/generator` `{"orders_per_second": R, "countries": ["SE"]}` (either or both):
  change the generator's rate and the countries of the sample orders (also those of
  `POST /_sandbox/orders`) until the next reset.
- `POST /_sandbox/orders/{id}/restore`: the admin's "Restore" of a trashed order.
- `GET /_sandbox/deliveries`, `POST /_sandbox/deliveries/wait`: the delivery log, and waiting
  until every queued delivery has been attempted.
- `GET|POST|DELETE /_sandbox/faults`: fault injection (see ordreflyt_sandbox_kit).
- `GET /_sandbox/requests`: REST requests by "METHOD route" (`total`, `by_route`) and the last
  batch calls (`batches`: path, create and delete counts, the ids updated); `DELETE` zeroes both.
- `GET|POST|DELETE /_sandbox/item-faults`: `{"sku", "code", "message", "status", "count"}` makes
  updates of that product (alone or as a batch item) fail with that error, `count` times or
  until cleared: a per-item batch error on demand.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_woocommerce import catalogue, orders
from ordreflyt_sandbox_woocommerce.errors import WooError
from ordreflyt_sandbox_woocommerce.models import DeliveryRecord, Webhook
from ordreflyt_sandbox_woocommerce.render import (
    note_json,
    order_json,
    product_json,
    refund_json,
    webhook_json,
)
from ordreflyt_sandbox_woocommerce.rest import (
    dispatcher_key,
    flush,
    generator_key,
    json_body,
    path_id,
    samples_key,
    settings_key,
    site_key,
    store_key,
)
from ordreflyt_sandbox_woocommerce.settings import WooSettings, check_countries
from ordreflyt_sandbox_woocommerce.store import ItemFault, Store
from ordreflyt_sandbox_woocommerce.webhooks import WebhookSpec


def seed_shop(store: Store, settings: WooSettings) -> None:
    """The shop as it is at start: a seeded catalogue and the configured webhooks."""
    store.clear()
    catalogue.seed(store, settings.products, settings.seed)
    for spec in settings.webhooks:
        for topic in spec.topics:
            add_start_webhook(store, spec, topic)


def add_start_webhook(store: Store, spec: WebhookSpec, topic: str) -> Webhook:
    """A webhook configured at start (no ping: it is as if saved long ago)."""
    now = store.now()
    webhook = Webhook(
        id=store.next_webhook_id(),
        name=f"Ordreflyt {topic}",
        status="active",
        topic=topic,
        delivery_url=spec.delivery_url,
        secret=spec.secret,
        date_created=now,
        date_modified=now,
    )
    store.webhooks[webhook.id] = webhook
    return webhook


def _delivery_json(record: DeliveryRecord) -> dict[str, Any]:
    data = asdict(record)
    data["at"] = record.at.isoformat(timespec="seconds")
    return data


async def state(request: web.Request) -> web.Response:
    store = request.app[store_key]
    site = request.app[site_key]
    dispatcher = request.app[dispatcher_key]
    generator = request.app[generator_key]
    ordered = sorted(store.orders.values(), key=lambda o: o.id)
    catalogue_items = sorted(store.products.values(), key=lambda p: p.id)
    return web.json_response(
        {
            "orders": [order_json(o, store.refunds_of(o), site) for o in ordered],
            "products": [product_json(p, store.variations_of(p), site) for p in catalogue_items],
            "webhooks": [webhook_json(w, site) for w in store.webhooks.values()],
            "notes": {
                str(order_id): [note_json(n, site) for n in notes]
                for order_id, notes in store.notes.items()
            },
            "protected_meta": {
                str(o.id): [
                    {"key": m.key, "value": m.value} for m in o.meta_data if m.key.startswith("_")
                ]
                for o in ordered
                if any(m.key.startswith("_") for m in o.meta_data)
            },
            "refunds": [refund_json(r, site) for r in store.refunds.values()],
            "deliveries": [_delivery_json(d) for d in store.deliveries],
            "counts": {
                "orders": len(store.orders),
                "products": sum(p.type != "variation" for p in store.products.values()),
                "variations": sum(p.type == "variation" for p in store.products.values()),
                "webhooks": len(store.webhooks),
                "refunds": len(store.refunds),
                "notes": sum(len(n) for n in store.notes.values()),
                "deliveries": len(store.deliveries),
                "deliveries_pending": dispatcher.pending,
            },
            "generator": {
                "orders_per_second": generator.rate,
                "placed": generator.placed,
                "countries": list(generator.samples.countries),
            },
        }
    )


async def reset(request: web.Request) -> web.Response:
    app = request.app
    settings = app[settings_key]
    app[dispatcher_key].clear()
    seed_shop(app[store_key], settings)
    samples = app[samples_key]
    samples.rng = random.Random(settings.order_seed)
    samples.countries = settings.countries
    app[generator_key].set_rate(settings.orders_per_second)
    return web.json_response({"reset": True})


async def place_order(request: web.Request) -> web.Response:
    app = request.app
    pins = await json_body(request)
    placed = app[samples_key].place(pins)
    flush(app)  # the checkout request ends here
    if placed.finish is not None:
        placed.finish()  # then the payment callback, a request of its own
        flush(app)
    store = app[store_key]
    order = placed.order
    return web.json_response(order_json(order, store.refunds_of(order), app[site_key]), status=201)


async def set_generator(request: web.Request) -> web.Response:
    body = await json_body(request)
    generator = request.app[generator_key]
    if "orders_per_second" not in body and "countries" not in body:
        raise WooError(
            400, "sandbox_invalid_generator", "Give orders_per_second, countries or both."
        )
    rate = body.get("orders_per_second", generator.rate)
    # A rate, not money: a float is fine here.
    if isinstance(rate, bool) or not isinstance(rate, int | Decimal) or rate < 0:
        raise WooError(400, "sandbox_invalid_rate", "orders_per_second must be a number >= 0")
    countries = generator.samples.countries
    if "countries" in body:
        try:
            countries = check_countries(body["countries"])
        except ValueError as exc:
            raise WooError(400, "sandbox_invalid_country", str(exc)) from exc
    # Both are checked before either changes, so a refused request changes nothing.
    generator.samples.countries = countries
    value = float(rate)
    generator.set_rate(value)
    return web.json_response({"orders_per_second": value, "countries": list(countries)})


async def restore_order(request: web.Request) -> web.Response:
    store = request.app[store_key]
    order = store.order(path_id(request))
    orders.restore(store, order)
    flush(request.app)
    return web.json_response(order_json(order, store.refunds_of(order), request.app[site_key]))


async def deliveries(request: web.Request) -> web.Response:
    store = request.app[store_key]
    return web.json_response({"deliveries": [_delivery_json(d) for d in store.deliveries]})


async def wait_for_deliveries(request: web.Request) -> web.Response:
    dispatcher = request.app[dispatcher_key]
    try:
        await asyncio.wait_for(dispatcher.drain(), timeout=60)
    except TimeoutError as exc:
        raise WooError(504, "sandbox_timeout", "Deliveries still pending after 60 s") from exc
    return web.json_response({"pending": dispatcher.pending})


async def requests(request: web.Request) -> web.Response:
    store = request.app[store_key]
    return web.json_response(
        {
            "total": sum(store.requests.values()),
            "by_route": dict(sorted(store.requests.items())),
            "batches": store.batches,
        }
    )


async def clear_requests(request: web.Request) -> web.Response:
    store = request.app[store_key]
    store.requests.clear()
    store.batches.clear()
    return web.json_response({"total": 0, "by_route": {}, "batches": []})


def _item_faults_json(store: Store) -> dict[str, Any]:
    return {"item_faults": [asdict(f) for f in store.item_faults.values()]}


async def list_item_faults(request: web.Request) -> web.Response:
    return web.json_response(_item_faults_json(request.app[store_key]))


async def add_item_fault(request: web.Request) -> web.Response:
    body = await json_body(request)
    sku, count, status = body.get("sku"), body.get("count"), body.get("status", 400)
    if not isinstance(sku, str) or not sku:
        raise WooError(400, "sandbox_invalid_item_fault", "sku must be a product's SKU")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise WooError(400, "sandbox_invalid_item_fault", "count must be a positive integer")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise WooError(400, "sandbox_invalid_item_fault", "status must be 400..599")
    store = request.app[store_key]
    store.item_faults[sku] = ItemFault(
        sku=sku,
        status=status,
        code=str(body.get("code", "sandbox_item_rejected")),
        message=str(body.get("message", "Rejected by a sandbox item fault.")),
        count=count,
    )
    return web.json_response(_item_faults_json(store), status=201)


async def clear_item_faults(request: web.Request) -> web.Response:
    store = request.app[store_key]
    store.item_faults.clear()
    return web.json_response(_item_faults_json(store))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_sandbox/state", state)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_post("/_sandbox/orders", place_order)
    app.router.add_post(r"/_sandbox/orders/{id:\d+}/restore", restore_order)
    app.router.add_post("/_sandbox/generator", set_generator)
    app.router.add_get("/_sandbox/deliveries", deliveries)
    app.router.add_post("/_sandbox/deliveries/wait", wait_for_deliveries)
    app.router.add_get("/_sandbox/requests", requests)
    app.router.add_delete("/_sandbox/requests", clear_requests)
    app.router.add_get("/_sandbox/item-faults", list_item_faults)
    app.router.add_post("/_sandbox/item-faults", add_item_fault)
    app.router.add_delete("/_sandbox/item-faults", clear_item_faults)
