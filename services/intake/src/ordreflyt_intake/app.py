"""The intake service: its spec (name, port, tables), the webhook endpoint and its operator
routes (operator token required):

- `GET /reconciliation`: per shop, the watermark, the last pass and what it found.
- `POST /shops/{shop}/reconcile`: run a reconciliation pass now; its result.
- `GET /shops/{shop}/webhooks`: check the shop's order webhooks now (and repair them).
- `POST /shops/{shop}/webhooks/register` `{"delivery_url"?}`: give the four order webhooks a
  fresh secret (created where missing).
- `POST /shops/{shop}/resync` `{"since": "2026-11-01T00:00:00" | "from_order": 1234,
  "dry_run": true|false}`: send the orders again (see resync.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from ordreflyt_intake import store
from ordreflyt_intake.config import Shop, load_intake_config
from ordreflyt_intake.deliveries import CannotStore, Intake
from ordreflyt_intake.metrics import IntakeMetrics
from ordreflyt_intake.reconcile import Reconciler
from ordreflyt_intake.resync import resync
from ordreflyt_intake.secrets import SecretBook
from ordreflyt_intake.spool import Spool
from ordreflyt_intake.store import MIGRATIONS
from ordreflyt_intake.watchdog import Watchdog
from ordreflyt_intake.webhooks import (
    config_key,
    intake_key,
    metrics_key,
    secrets_key,
    woocommerce_webhook,
)
from ordreflyt_runtime.http import error_response, json_response, read_json
from ordreflyt_runtime.retention import RetentionRule
from ordreflyt_runtime.service import Runtime, ServiceSpec, runtime_key
from ordreflyt_shop import ShopRejected, ShopUnavailable

log = logging.getLogger(__name__)

SERVICE = "intake"
DEFAULT_PORT = 8000

reconciler_key = web.AppKey("intake_reconciler", Reconciler)
watchdog_key = web.AppKey("intake_watchdog", Watchdog)


def _shop(request: web.Request) -> Shop:
    shop = request.app[config_key].shops.get(request.match_info["shop"])
    if shop is None:
        raise web.HTTPNotFound(
            text='{"error": "unknown shop", "status": 404}', content_type="application/json"
        )
    if shop.api is None:
        raise web.HTTPConflict(
            text='{"error": "the shop has no url in [shops.<id>]: its REST API is unknown",'
            ' "status": 409}',
            content_type="application/json",
        )
    return shop


async def reconciliation(request: web.Request) -> web.Response:
    rows = await request.app[runtime_key].db.fetch(
        "SELECT shop_id, watermark, last_pass_at, last_error FROM reconcile_watermarks"
    )
    last = request.app[reconciler_key].last
    return json_response(
        {
            "shops": [
                {
                    **dict(r),
                    "last_pass": last[r["shop_id"]].__dict__ if r["shop_id"] in last else None,
                }
                for r in rows
            ]
        }
    )


async def reconcile_now(request: web.Request) -> web.Response:
    result = await request.app[reconciler_key].reconcile(_shop(request))
    return json_response(result.__dict__)


async def check_webhooks(request: web.Request) -> web.Response:
    report = await request.app[watchdog_key].check(_shop(request))
    return json_response({**report.__dict__, "unhealthy": report.unhealthy})


async def register_webhooks(request: web.Request) -> web.Response:
    shop = _shop(request)
    body = await read_json(request) or {}
    delivery_url = str(body.get("delivery_url") or shop.webhook_url)
    if not delivery_url.startswith(("http://", "https://")):
        return error_response(
            400,
            "say where WooCommerce should deliver: delivery_url, or webhook_url in"
            f" [shops.{shop.shop_id}] (like https://ordreflyt.example/webhooks/woocommerce/"
            f"{shop.shop_id})",
        )
    try:
        done = await request.app[watchdog_key].register(shop, delivery_url)
    except (ShopUnavailable, ShopRejected) as exc:
        return error_response(502, f"the shop refused or did not answer: {exc}")
    return json_response({"shop_id": shop.shop_id, "delivery_url": delivery_url, "webhooks": done})


async def resync_route(request: web.Request) -> web.Response:
    shop = _shop(request)
    body = await read_json(request) or {}
    since = from_order = None
    try:
        if body.get("from_order") is not None:
            from_order = int(body["from_order"])
        elif body.get("since"):
            since = datetime.fromisoformat(str(body["since"]))
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
        else:
            raise ValueError("neither")
    except (TypeError, ValueError):
        return error_response(
            400, 'say from where: {"since": "2026-11-01T00:00:00"} or {"from_order": 1234}'
        )
    reconciler = request.app[reconciler_key]
    try:
        result = await resync(
            request.app[intake_key],
            shop,
            reconciler.client(shop),
            since=since,
            from_order=from_order,
            dry_run=bool(body.get("dry_run", True)),
        )
    except (ShopUnavailable, ShopRejected) as exc:
        return error_response(502, f"the shop refused or did not answer: {exc}")
    except CannotStore as exc:
        return error_response(503, f"not stored: {exc}; nothing after that order was sent")
    log.info(
        "resync of %s: %d orders, %d published%s",
        shop.shop_id,
        len(result.orders),
        result.published,
        " (dry run)" if result.dry_run else "",
    )
    return json_response(result.__dict__)


async def _scrape(runtime: Runtime) -> None:
    assert runtime.app is not None
    metrics = runtime.app[metrics_key]
    rows = await runtime.db.fetch(
        "SELECT shop_id, extract(epoch FROM now() - last_pass_at) AS lag"
        " FROM reconcile_watermarks WHERE last_pass_at IS NOT NULL"
    )
    for row in rows:
        metrics.reconcile_lag.labels(row["shop_id"]).set(float(row["lag"]))


async def _details(runtime: Runtime) -> dict[str, Any]:
    app = runtime.app
    assert app is not None
    watchdog, reconciler, intake = app[watchdog_key], app[reconciler_key], app[intake_key]
    return {
        "spool": {"waiting": len(intake.spool.pending()), "directory": str(intake.spool.directory)},
        "database": "spooling deliveries" if intake.database_down else "storing deliveries",
        "webhooks": {
            shop: {"checked_at": r.checked_at, "topics": r.topics, "error": r.error}
            for shop, r in watchdog.last.items()
        },
        "reconciliation": {
            shop: {"watermark": r.watermark, "new": r.new, "error": r.error}
            for shop, r in reconciler.last.items()
        },
    }


def setup(runtime: Runtime, app: web.Application) -> None:
    config = load_intake_config(runtime.config())
    metrics = IntakeMetrics(runtime.metrics.registry)
    app[config_key] = config
    app[metrics_key] = metrics

    async def intake_ctx(app: web.Application) -> AsyncIterator[None]:
        intake = Intake(runtime, config, metrics, Spool(config.spool_dir))
        book = SecretBook(runtime.db)
        await book.refresh(force=True)
        app[intake_key] = intake
        app[secrets_key] = book
        intake.start()
        async with aiohttp.ClientSession() as http:
            reconciler = Reconciler(intake, config, http)
            watchdog = Watchdog(config, metrics, http, book)
            app[reconciler_key] = reconciler
            app[watchdog_key] = watchdog
            watchdog.start()
            reconciler.start()
            yield
            await reconciler.stop()
            await watchdog.stop()
        await intake.stop()

    app.cleanup_ctx.append(intake_ctx)
    app.router.add_post("/webhooks/woocommerce/{shop}", woocommerce_webhook)
    app.router.add_get("/reconciliation", reconciliation)
    app.router.add_post("/shops/{shop}/reconcile", reconcile_now)
    app.router.add_get("/shops/{shop}/webhooks", check_webhooks)
    app.router.add_post("/shops/{shop}/webhooks/register", register_webhooks)
    app.router.add_post("/shops/{shop}/resync", resync_route)


SPEC = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    migrations=MIGRATIONS,
    setup=setup,
    retention=(RetentionRule("deliveries", "received_at", "raw_deliveries_days"),),
    on_scrape=(_scrape,),
    ready_details=_details,
    ready_without_database=True,
)

__all__ = ["SPEC", "store"]
