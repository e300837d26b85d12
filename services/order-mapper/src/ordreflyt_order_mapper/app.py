"""The order-mapper service: spec (queue, handlers, tables) and its HTTP routes.

Routes besides the shared health ones:
- `GET /holds`: held orders with their reasons.
- `POST /holds/{shop}/{order}/release`: map the order's latest state again and send it
  (after the cause was fixed, e.g. a VAT rate added to the config and the service restarted).
- `GET /changed`: orders changed after transfer.
- `GET /orders/{shop}/{order}`: what order-mapper knows of one order.
"""

from __future__ import annotations

import logging

import msgspec
from aiohttp import web
from prometheus_client import Gauge

from ordreflyt_contracts import (
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderUpdated,
    OrderDeleted,
    OrderReceived,
    OrderRestored,
    WooOrder,
)
from ordreflyt_order_mapper.handlers import OrderMapper
from ordreflyt_order_mapper.rules import load_rules
from ordreflyt_order_mapper.state import MIGRATIONS
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.http import json_response, read_json
from ordreflyt_runtime.logs import log_context
from ordreflyt_runtime.service import Runtime, ServiceSpec, runtime_key
from ordreflyt_runtime.settings import load_toml
from ordreflyt_runtime.topology import ConsumerQueue, register_consumer

SERVICE = "order-mapper"
DEFAULT_PORT = 8001

QUEUE = register_consumer(
    ConsumerQueue(
        service=SERVICE,
        binding_keys=(
            OrderReceived.routing_key,
            OrderRestored.routing_key,
            OrderDeleted.routing_key,
            # What erp-writer did with an order, kept with it.
            ErpOrderCreated.routing_key,
            ErpOrderFailed.routing_key,
            ErpOrderUpdated.routing_key,
        ),
    )
)

log = logging.getLogger(__name__)

mapper_key = web.AppKey("order_mapper", OrderMapper)
held_key = web.AppKey("held_gauge", Gauge)


async def list_holds(request: web.Request) -> web.Response:
    rows = await request.app[runtime_key].db.fetch(
        "SELECT shop_id, order_id, order_number, status, held_reasons, held_at FROM orders"
        " WHERE held_reasons IS NOT NULL ORDER BY held_at"
    )
    return json_response(
        {
            "holds": [
                {
                    "shop_id": r["shop_id"],
                    "order_id": r["order_id"],
                    "order_number": r["order_number"],
                    "status": r["status"],
                    "reasons": list(r["held_reasons"]),
                    "held_at": r["held_at"].isoformat(),
                }
                for r in rows
            ]
        }
    )


async def release_hold(request: web.Request) -> web.Response:
    runtime = request.app[runtime_key]
    shop_id, order_id = request.match_info["shop"], request.match_info["order"]
    with log_context(shop_id=shop_id, shop_order_id=order_id):
        async with runtime.db.acquire() as conn, conn.transaction():
            ctx = HandlerContext(conn)
            outcome = await request.app[mapper_key].release(ctx, shop_id, order_id)
        if ctx.wrote_outbox:
            runtime.outbox_written(ctx.written)
        if outcome is not None and outcome.action == "sent":
            log.info("released by an operator and sent to the ERP")
    if outcome is None:
        return json_response({"error": f"order {shop_id}/{order_id} is not known"}, 404)
    if outcome.action == "duplicate-transfer":
        return json_response(
            {"error": f"order {shop_id}/{order_id} was already sent to the ERP"}, 409
        )
    if outcome.action == "held":
        return json_response({"status": "held", "reasons": list(outcome.reasons)}, 409)
    return json_response({"status": "sent"})


async def list_changed(request: web.Request) -> web.Response:
    rows = await request.app[runtime_key].db.fetch(
        "SELECT shop_id, order_id, order_number, status, change_note, updated_at FROM orders"
        " WHERE changed_after_transfer ORDER BY updated_at"
    )
    return json_response(
        {
            "changed": [
                {
                    "shop_id": r["shop_id"],
                    "order_id": r["order_id"],
                    "order_number": r["order_number"],
                    "status": r["status"],
                    "note": r["change_note"],
                    "updated_at": r["updated_at"].isoformat(),
                }
                for r in rows
            ]
        }
    )


async def show_order(request: web.Request) -> web.Response:
    row = await request.app[runtime_key].db.fetchrow(
        "SELECT * FROM orders WHERE shop_id = $1 AND order_id = $2",
        request.match_info["shop"],
        request.match_info["order"],
    )
    if row is None:
        return json_response({"error": "order not known"}, 404)
    return json_response(
        {
            "shop_id": row["shop_id"],
            "order_id": row["order_id"],
            "order_number": row["order_number"],
            "status": row["status"],
            "paid": row["paid"],
            "deleted": row["deleted"],
            "transferred_at": row["transferred_at"].isoformat() if row["transferred_at"] else None,
            "changed_after_transfer": row["changed_after_transfer"],
            "change_note": row["change_note"],
            "held_reasons": list(row["held_reasons"]) if row["held_reasons"] is not None else None,
            "erp_status": row["erp_status"],
            "erp_note": row["erp_note"],
        }
    )


async def preview(request: web.Request) -> web.Response:
    """`{"orders": [<shop order JSON>, ..]}` -> what order-mapper would do with each, without
    storing anything: already sent, would send, would hold (with the reasons), not paid."""
    shop_id = request.match_info["shop"]
    body = await read_json(request, limit=64 * 1024 * 1024) or {}
    mapper = request.app[mapper_key]
    raw_orders = body.get("orders", []) if isinstance(body, dict) else []
    orders = []
    for raw in raw_orders:
        try:
            orders.append(msgspec.convert(raw, WooOrder, strict=False))
        except msgspec.ValidationError as exc:
            return json_response({"error": f"not an order: {exc}"}, 400)
    rows = await request.app[runtime_key].db.fetch(
        "SELECT order_id, transferred_at, held_reasons FROM orders"
        " WHERE shop_id = $1 AND order_id = ANY($2::text[])",
        shop_id,
        [str(o.id) for o in orders],
    )
    known = {r["order_id"]: r for r in rows}
    answer = []
    for order in orders:
        row = known.get(str(order.id))
        reasons: list[str] = []
        if row is not None and row["transferred_at"] is not None:
            outcome = "already-sent"
        else:
            outcome, reasons = mapper.preview(shop_id, order)
        answer.append({"id": order.id, "outcome": outcome, "reasons": reasons})
    return json_response({"orders": answer})


async def _scrape(runtime: Runtime) -> None:
    assert runtime.app is not None
    held = await runtime.db.fetchval("SELECT count(*) FROM orders WHERE held_reasons IS NOT NULL")
    runtime.app[held_key].set(held)


def setup(runtime: Runtime, app: web.Application) -> None:
    mapper = OrderMapper(load_rules(load_toml(runtime.settings.config_path)))
    app[mapper_key] = mapper
    runtime.handlers = {
        OrderReceived: mapper.order_received,
        OrderRestored: mapper.order_received,
        OrderDeleted: mapper.order_deleted,
        ErpOrderCreated: mapper.erp_reported,
        ErpOrderFailed: mapper.erp_reported,
        ErpOrderUpdated: mapper.erp_reported,
    }
    runtime.hold = mapper.hold_failed
    app[held_key] = Gauge(
        "ordreflyt_order_mapper_held",
        "Orders held: they cannot be sent to the ERP as they are (GET /holds)",
        registry=runtime.metrics.registry,
    )
    app.router.add_get("/holds", list_holds)
    app.router.add_post("/holds/{shop}/{order}/release", release_hold)
    app.router.add_get("/changed", list_changed)
    app.router.add_get("/orders/{shop}/{order}", show_order)
    app.router.add_post("/preview/{shop}", preview)


# Its handlers only read and write its own tables: the states waiting are handled in batches.
SPEC = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    migrations=MIGRATIONS,
    consumes=QUEUE,
    setup=setup,
    batch=True,
    on_scrape=(_scrape,),
)
