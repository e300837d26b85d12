"""The fulfillment-listener service: ERP shipping, invoicing and cancellation back to the shop.

It learns which ERP document belongs to which shop order from `erp-writer.erp-order.created.v1`
(queue `fulfillment-listener`), polls Fortnox for changes to those documents (`poller`), accepts
pushed shipments (`push`), turns each change into effects with stable keys (`effects`) and
applies each once to the shop order (`applier`): notes with tracking links and tracking meta,
and the configured statuses, never backwards and never over a person's later change.

Configuration: `[fulfillment]` in the TOML file (see `config`), the shops' REST credentials
from `[shops.<id>]` (see `ordreflyt_shop`), Fortnox from FORTNOX_* (as erp-writer; the rate
limit and tokens are shared with it), FULFILLMENT_PUSH_SECRET.

Routes besides the shared health ones:
- `POST /shipments/{shop}`: pushed shipment events (see `push`).
- `POST /poll`: poll the ERP now and apply what changed (waits for a poll in progress).
- `GET /watermark`: how far the ERP's changes have been read, and what the last poll did.
- `GET /conflicts`: status changes not applied, with the reason.
  `POST /conflicts/{shop}/{order}/retry`: accept the shop's current status as Ordreflyt's own
  and try the order's conflicting effects again (still never backwards).
- `GET /parked`: orders whose effect the shop (or the ERP) refused, with the reason.
  `POST /parked/{shop}/{order}/retry`: read the ERP document again and apply what is due.
- `GET /orders/{shop}/{order}`: the link and every effect of one shop order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from ordreflyt_contracts import ErpOrderCreated
from ordreflyt_erp import ErpMetrics, ErpUnavailable
from ordreflyt_erp.fortnox import fortnox_client, fortnox_settings_from_env, rate_limit_from_env
from ordreflyt_fulfillment_listener.applier import Applier
from ordreflyt_fulfillment_listener.config import FulfillmentConfig, load_config
from ordreflyt_fulfillment_listener.metrics import FulfillmentMetrics
from ordreflyt_fulfillment_listener.poller import ERP, Poller
from ordreflyt_fulfillment_listener.push import PushReceiver
from ordreflyt_fulfillment_listener.store import MIGRATIONS, get_link, row_json
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.http import json_response, public
from ordreflyt_runtime.retention import RetentionRule
from ordreflyt_runtime.service import Runtime, ServiceSpec, runtime_key
from ordreflyt_runtime.settings import load_toml
from ordreflyt_runtime.topology import ConsumerQueue, register_consumer
from ordreflyt_shop import ShopRejected, ShopUnavailable, WooClient, load_shop_apis

SERVICE = "fulfillment-listener"
DEFAULT_PORT = 8003

QUEUE = register_consumer(
    ConsumerQueue(service=SERVICE, binding_keys=(ErpOrderCreated.routing_key,))
)

config_key = web.AppKey("fulfillment_config", FulfillmentConfig)
poller_key = web.AppKey("fulfillment_poller", Poller)
applier_key = web.AppKey("fulfillment_applier", Applier)
receiver_key = web.AppKey("fulfillment_push", PushReceiver)
clients_key = web.AppKey("fulfillment_shop_clients", dict[str, WooClient])
metrics_key = web.AppKey("fulfillment_metrics", FulfillmentMetrics)


async def erp_order_created(event: ErpOrderCreated, ctx: HandlerContext) -> None:
    """Remember the ERP document of a shop order (again, when a document was adopted)."""
    await ctx.conn.execute(
        "INSERT INTO links (shop_id, order_id, erp, document_kind, document_number,"
        " invoice_number, external_reference, erp_created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (shop_id, order_id) DO UPDATE SET erp = EXCLUDED.erp,"
        " document_kind = EXCLUDED.document_kind, document_number = EXCLUDED.document_number,"
        " invoice_number = EXCLUDED.invoice_number,"
        " external_reference = EXCLUDED.external_reference, needs_check = true",
        event.shop_id,
        event.shop_order_id,
        event.erp,
        event.document_kind,
        event.document_number,
        event.invoice_number,
        event.external_reference,
        event.occurred_at,
    )


async def poll_now(request: web.Request) -> web.Response:
    summary = await request.app[poller_key].poll_once(wait=True)
    return json_response(summary, 503 if "error" in summary else 200)


async def show_watermark(request: web.Request) -> web.Response:
    row = await request.app[runtime_key].db.fetchrow("SELECT * FROM poll_state WHERE erp = $1", ERP)
    config = request.app[config_key]
    body: dict[str, Any] = {
        "erp": ERP,
        "watermark": None,
        "timezone": config.erp_timezone,
        "poll_interval": config.poll_interval,
        "overlap_minutes": config.overlap_minutes,
    }
    if row is not None:
        body.update(row_json(row))
    return json_response(body)


async def list_conflicts(request: web.Request) -> web.Response:
    rows = await request.app[runtime_key].db.fetch(
        "SELECT shop_id, order_id, key, outcome AS reason, effect, updated_at AS at"
        " FROM effects WHERE state = 'conflict' ORDER BY updated_at"
    )
    return json_response({"conflicts": [row_json(r) for r in rows]})


async def retry_conflicts(request: web.Request) -> web.Response:
    """The status now in the shop is taken as agreed (as if Ordreflyt had set it), so only a
    later change counts as a person's; ranks and terminal statuses still apply."""
    runtime = request.app[runtime_key]
    shop_id, order_id = request.match_info["shop"], request.match_info["order"]
    client = request.app[clients_key].get(shop_id)
    if client is None:
        return json_response({"error": f"unknown shop {shop_id!r}"}, 404)
    try:
        shop_order = await client.get(f"/orders/{order_id}")
    except ShopRejected as exc:
        return json_response({"error": f"the shop order could not be read: {exc}"}, 404)
    except ShopUnavailable as exc:
        return json_response({"error": f"the shop could not be read: {exc}"}, 503)
    async with runtime.db.acquire() as conn, conn.transaction():
        keys = await conn.fetch(
            "UPDATE effects SET state = 'pending', outcome = NULL, updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2 AND state = 'conflict' RETURNING key",
            shop_id,
            order_id,
        )
        if not keys:
            return json_response({"error": f"order {shop_id}/{order_id} has no conflicts"}, 404)
        await conn.execute(
            "UPDATE links SET known_status = $3 WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            str(shop_order.get("status", "")),
        )
    result = await request.app[applier_key].drain(shop_id, order_id)
    return json_response(
        {"applied": result.applied, "conflicts": result.conflicts, "failed": result.failed}
    )


async def list_parked(request: web.Request) -> web.Response:
    rows = await request.app[runtime_key].db.fetch(
        "SELECT l.shop_id, l.order_id, l.document_number, l.parked_reason AS reason,"
        " l.parked_at, coalesce(array_agg(e.key ORDER BY e.seq) FILTER (WHERE e.key IS NOT NULL),"
        " '{}') AS effects FROM links l LEFT JOIN effects e ON e.shop_id = l.shop_id"
        " AND e.order_id = l.order_id AND e.state IN ('failed', 'pending')"
        " WHERE l.parked_reason IS NOT NULL GROUP BY l.shop_id, l.order_id ORDER BY l.parked_at"
    )
    retrying = await request.app[runtime_key].db.fetch(
        "SELECT shop_id, order_id, key, attempts, last_error, updated_at FROM effects"
        " WHERE state = 'pending' AND last_error IS NOT NULL ORDER BY seq"
    )
    return json_response(
        {
            "parked": [{**row_json(r), "effects": list(r["effects"])} for r in rows],
            "retrying": [row_json(r) for r in retrying],
        }
    )


async def retry_parked(request: web.Request) -> web.Response:
    runtime = request.app[runtime_key]
    shop_id, order_id = request.match_info["shop"], request.match_info["order"]
    async with runtime.db.acquire() as conn, conn.transaction():
        parked = await conn.fetchval(
            "UPDATE links SET parked_reason = NULL, parked_at = NULL, needs_check = true"
            " WHERE shop_id = $1 AND order_id = $2 AND parked_reason IS NOT NULL RETURNING true",
            shop_id,
            order_id,
        )
        if not parked:
            return json_response({"error": f"order {shop_id}/{order_id} is not parked"}, 404)
        await conn.execute(
            "UPDATE effects SET state = 'pending', updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2 AND state = 'failed'",
            shop_id,
            order_id,
        )
    try:
        result = await request.app[poller_key].refresh_one(shop_id, order_id)
    except ErpUnavailable as exc:
        return json_response(
            {"status": "unparked; the next poll applies it", "error": str(exc)}, 202
        )
    assert result is not None
    link = await get_link(runtime.db, shop_id, order_id)
    return json_response(
        {
            "status": "parked again" if link is not None and link.parked_reason else "retried",
            "reason": link.parked_reason if link is not None else None,
            "applied": result.applied,
            "conflicts": result.conflicts,
            "failed": result.failed,
        }
    )


async def show_order(request: web.Request) -> web.Response:
    db = request.app[runtime_key].db
    shop_id, order_id = request.match_info["shop"], request.match_info["order"]
    link = await db.fetchrow(
        "SELECT * FROM links WHERE shop_id = $1 AND order_id = $2", shop_id, order_id
    )
    if link is None:
        return json_response({"error": "no ERP document known for this order"}, 404)
    effects = await db.fetch(
        "SELECT key, state, outcome, note, attempts, last_error, effect, created_at, updated_at"
        " FROM effects WHERE shop_id = $1 AND order_id = $2 ORDER BY seq",
        shop_id,
        order_id,
    )
    return json_response({**row_json(link), "effects": [row_json(e) for e in effects]})


def setup(runtime: Runtime, app: web.Application) -> None:
    doc = load_toml(runtime.settings.config_path)
    config = load_config(doc)
    apis = load_shop_apis(doc)
    # Read now so a bad FORTNOX_* setting stops the service at start, naming it.
    fortnox_settings_from_env()
    rate_limit_from_env()
    app[config_key] = config
    metrics = app[metrics_key] = FulfillmentMetrics(runtime.metrics.registry)

    async def fulfillment_ctx(app: web.Application) -> AsyncIterator[None]:
        async with (
            aiohttp.ClientSession() as http,
            fortnox_client(
                runtime.settings.database_url, ErpMetrics(runtime.metrics.registry)
            ) as fortnox,
        ):
            clients: dict[str, WooClient] = {
                shop_id: WooClient(api, http) for shop_id, api in apis.items()
            }
            applier = Applier(runtime.db, clients, config, metrics)
            poller = Poller(
                runtime.db, runtime.settings.database_url, fortnox, applier, config, metrics
            )
            receiver = PushReceiver(runtime.db, frozenset(apis), applier, config, metrics)
            app[clients_key] = clients
            app[applier_key] = applier
            app[poller_key] = poller
            app[receiver_key] = receiver
            tasks = [
                asyncio.create_task(poller.run_forever(), name="fulfillment-poll"),
                asyncio.create_task(receiver.run_forever(), name="fulfillment-push"),
            ]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    app.cleanup_ctx.append(fulfillment_ctx)

    @public  # signed: checks X-Ordreflyt-Signature itself
    async def shipments(request: web.Request) -> web.Response:
        return await request.app[receiver_key].handle(request)

    app.router.add_post("/shipments/{shop}", shipments)
    app.router.add_post("/poll", poll_now)
    app.router.add_get("/watermark", show_watermark)
    app.router.add_get("/conflicts", list_conflicts)
    app.router.add_post("/conflicts/{shop}/{order}/retry", retry_conflicts)
    app.router.add_get("/parked", list_parked)
    app.router.add_post("/parked/{shop}/{order}/retry", retry_parked)
    app.router.add_get("/orders/{shop}/{order}", show_order)


async def _scrape(runtime: Runtime) -> None:
    assert runtime.app is not None
    metrics = runtime.app[metrics_key]
    rows = await runtime.db.fetch(
        "SELECT state, count(*) AS n FROM effects WHERE state IN ('conflict', 'failed')"
        " GROUP BY state"
    )
    counts = {r["state"]: r["n"] for r in rows}
    for state in ("conflict", "failed"):
        metrics.waiting.labels(state).set(counts.get(state, 0))


SPEC = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    migrations=MIGRATIONS,
    consumes=QUEUE,
    handlers={ErpOrderCreated: erp_order_created},
    setup=setup,
    retention=(
        # Applied effects only: pending, conflicting and failed ones wait for a person.
        RetentionRule("effects", "updated_at", "effects_days", where="state = 'applied'"),
        RetentionRule("push_events", "received_at", "push_events_days"),
    ),
    on_scrape=(_scrape,),
)
