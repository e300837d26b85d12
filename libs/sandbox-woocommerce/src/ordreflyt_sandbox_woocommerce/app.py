"""The sandbox WooCommerce shop as an aiohttp application.

`make_app(settings)` wires the store, the REST routes under `/wp-json/wc/v3`, the webhook
dispatcher, the sample-order generator, the `/_sandbox` control routes and fault injection, and
with a `state_file` loads the shop from it and keeps saving it there (`saved.py`).
Middleware order matters: control routes are refused to other hosts first (unless
`open_control`), then requests are counted, then faults so an injected error hits
before auth, then a request that may write makes a save of the state file due, then errors
become WooCommerce error bodies, then auth, then each request's events are handed to the
webhooks when it ends.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from ordreflyt_sandbox_kit import Faults, control_guard, faults_key
from ordreflyt_sandbox_kit.statefile import StateKeeper
from ordreflyt_sandbox_woocommerce import rest_catalogue, rest_orders, rest_webhooks, sandbox, saved
from ordreflyt_sandbox_woocommerce.generator import Generator, SampleOrders
from ordreflyt_sandbox_woocommerce.render import Site
from ordreflyt_sandbox_woocommerce.rest import (
    auth_middleware,
    count_middleware,
    dispatcher_key,
    errors_middleware,
    events_middleware,
    flush,
    generator_key,
    samples_key,
    settings_key,
    site_key,
    store_key,
)
from ordreflyt_sandbox_woocommerce.settings import WooSettings
from ordreflyt_sandbox_woocommerce.store import Store
from ordreflyt_sandbox_woocommerce.webhooks import Dispatcher, WebhookSpec

__all__ = ["WebhookSpec", "WooSettings", "make_app"]

_FAULT_CODES = {
    429: ("rest_too_many_requests", "Too many requests."),
    500: ("internal_server_error", "There has been a critical error on this website."),
}


def fault_body(status: int) -> dict[str, Any]:
    """An injected error, shaped like every other WooCommerce error."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code, message = _FAULT_CODES.get(status, (phrase.lower().replace(" ", "_"), f"{phrase}."))
    return {"code": code, "message": message, "data": {"status": status}}


def make_app(settings: WooSettings) -> web.Application:
    """The shop; with a state file that cannot be used, StateFileError (naming it)."""
    faults = Faults(fault_body)
    store = Store(
        custom_statuses=settings.custom_statuses, prices_include_tax=settings.prices_include_tax
    )
    site = Site(settings.shop_url, ZoneInfo(settings.timezone))
    sandbox.seed_shop(store, settings)
    keeper: StateKeeper | None = None

    def changed() -> None:
        if keeper is not None:
            keeper.changed()

    dispatcher = Dispatcher(
        store,
        site,
        timeout=settings.delivery_timeout,
        max_failures=settings.max_delivery_failures,
        on_change=changed,
    )
    if settings.state_file is not None:
        keeper = saved.keeper(settings.state_file, settings, store, dispatcher)
    app = web.Application(
        middlewares=[
            control_guard(settings.open_control),
            count_middleware,
            faults.middleware,
            *([] if keeper is None else [keeper.middleware]),
            errors_middleware,
            auth_middleware,
            events_middleware,
        ]
    )
    samples = SampleOrders(store, random.Random(settings.order_seed), settings.countries)

    def generated() -> None:
        flush(app)
        changed()

    app[settings_key] = settings
    app[store_key] = store
    app[site_key] = site
    app[dispatcher_key] = dispatcher
    app[samples_key] = samples
    app[generator_key] = Generator(samples, generated, settings.orders_per_second)
    app[faults_key] = faults
    rest_orders.add_routes(app)
    rest_catalogue.add_routes(app)
    rest_webhooks.add_routes(app)
    sandbox.add_routes(app)
    faults.add_routes(app)
    if keeper is not None:
        # Before the background tasks, so it saves after they have stopped.
        app.cleanup_ctx.append(keeper.run)
    app.cleanup_ctx.append(_background)
    return app


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Deliveries and the generator run for as long as the app does."""
    await app[dispatcher_key].start()
    app[generator_key].start()
    yield
    await app[generator_key].stop()
    await app[dispatcher_key].stop()
