"""The order-mapper service: its spec (subscriptions, routes, tables) and its running object.

Operator routes:
- `GET /holds`: held orders with their reasons.
- `POST /holds/{shop}/{order}/release`: map the order's latest state again and send it
  (after the cause was fixed, e.g. a VAT rate added to the config and the service restarted).
- `GET /changed`: orders changed after transfer.
- `GET /orders/{shop}/{order}`: what order-mapper knows of one order.
- `POST /preview/{shop}` `{"orders": [{"order": <shop order JSON>, "paid": bool}, ..]}`: what
  it would do with each, storing nothing (used by `ordreflyt-intake resync --dry-run`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client import Gauge

from ordreflyt_contracts import (
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderUpdated,
    Event,
    OrderDeleted,
    OrderReceived,
    OrderRestored,
    WooOrder,
)
from ordreflyt_order_mapper import store
from ordreflyt_order_mapper.handlers import OrderMapper
from ordreflyt_order_mapper.rules import MappingRules, load_rules
from ordreflyt_order_mapper.store import MIGRATIONS
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.http import error_response, json_response, read_json
from ordreflyt_runtime.logs import log_context
from ordreflyt_runtime.service import Runtime
from ordreflyt_runtime.spec import ServiceSpec, get, on, post

SERVICE = "order-mapper"
DEFAULT_PORT = 8001

log = logging.getLogger(__name__)


class PreviewItem(msgspec.Struct, frozen=True):
    order: WooOrder
    paid: bool


class PreviewRequest(msgspec.Struct, frozen=True):
    orders: list[PreviewItem] = []


@dataclass
class OrderMapperService:
    runtime: Runtime[OrderMapperService, MappingRules]
    mapper: OrderMapper
    held: Gauge

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, runtime: Runtime[OrderMapperService, MappingRules], rules: MappingRules
    ) -> AsyncIterator[OrderMapperService]:
        held = Gauge(
            "ordreflyt_order_mapper_held",
            "Orders held: they cannot be sent to the ERP as they are (GET /holds)",
            registry=runtime.metrics.registry,
        )
        yield cls(runtime, OrderMapper(rules), held)

    # Messages ---------------------------------------------------------------------------

    async def order_received(
        self, event: OrderReceived | OrderRestored, ctx: HandlerContext
    ) -> None:
        await self.mapper.order_received(event, ctx)

    async def order_deleted(self, event: OrderDeleted, ctx: HandlerContext) -> None:
        await self.mapper.order_deleted(event, ctx)

    async def erp_reported(
        self, event: ErpOrderCreated | ErpOrderFailed | ErpOrderUpdated, ctx: HandlerContext
    ) -> None:
        await self.mapper.erp_reported(event, ctx)

    async def hold_failed(self, event: Event, reason: str, ctx: HandlerContext) -> bool:
        return await self.mapper.hold_failed(event, reason, ctx)

    async def scrape(self) -> None:
        self.held.set(await store.held_count(self.runtime.db))

    # Routes -----------------------------------------------------------------------------

    async def list_holds(self, request: web.Request) -> web.Response:
        return json_response({"holds": await store.holds(self.runtime.db)})

    async def release(self, request: web.Request) -> web.Response:
        shop_id, order_id = request.match_info["shop"], request.match_info["order"]
        with log_context(shop_id=shop_id, shop_order_id=order_id):
            async with self.runtime.db.acquire() as conn, conn.transaction():
                ctx = HandlerContext(conn)
                outcome = await self.mapper.release(ctx, shop_id, order_id)
            if ctx.wrote_outbox:
                self.runtime.outbox_written(ctx.written)
            if outcome is not None and outcome.action == "sent":
                log.info("released by an operator and sent to the ERP")
        if outcome is None:
            return error_response(404, f"order {shop_id}/{order_id} is not known")
        if outcome.action == "duplicate-transfer":
            return error_response(409, f"order {shop_id}/{order_id} was already sent to the ERP")
        if outcome.action == "not-paid":
            return error_response(409, f"order {shop_id}/{order_id} has never been paid")
        if outcome.action == "held":
            return json_response({"status": "held", "reasons": list(outcome.reasons)}, 409)
        return json_response({"status": "sent"})

    async def list_changed(self, request: web.Request) -> web.Response:
        return json_response({"changed": await store.changed(self.runtime.db)})

    async def show_order(self, request: web.Request) -> web.Response:
        found = await store.order(
            self.runtime.db, request.match_info["shop"], request.match_info["order"]
        )
        if found is None:
            return error_response(404, "order not known")
        return json_response(found)

    async def preview(self, request: web.Request) -> web.Response:
        """What order-mapper would do with each order, storing nothing."""
        shop_id = request.match_info["shop"]
        body = await read_json(request, limit=64 * 1024 * 1024)
        try:
            wanted = msgspec.convert(body or {}, PreviewRequest, strict=False)
        except msgspec.ValidationError as exc:
            return error_response(400, f"not a preview request: {exc}")
        sent = await store.transferred(
            self.runtime.db, shop_id, [str(i.order.id) for i in wanted.orders]
        )
        answer: list[dict[str, Any]] = []
        for item in wanted.orders:
            reasons: list[str] = []
            if str(item.order.id) in sent:
                outcome = "already-sent"
            else:
                outcome, reasons = self.mapper.preview(shop_id, item.order, item.paid)
            answer.append({"id": item.order.id, "outcome": outcome, "reasons": reasons})
        return json_response({"orders": answer})


SPEC: ServiceSpec[OrderMapperService, MappingRules] = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    config=load_rules,
    start=OrderMapperService.running,
    migrations=MIGRATIONS,
    subscriptions=[
        on(OrderReceived, OrderMapperService.order_received),
        on(OrderRestored, OrderMapperService.order_received),
        on(OrderDeleted, OrderMapperService.order_deleted),
        # What erp-writer did with an order, kept with it.
        on(ErpOrderCreated, OrderMapperService.erp_reported),
        on(ErpOrderFailed, OrderMapperService.erp_reported),
        on(ErpOrderUpdated, OrderMapperService.erp_reported),
    ],
    routes=[
        get("/holds", OrderMapperService.list_holds),
        post("/holds/{shop}/{order}/release", OrderMapperService.release),
        get("/changed", OrderMapperService.list_changed),
        get("/orders/{shop}/{order}", OrderMapperService.show_order),
        post("/preview/{shop}", OrderMapperService.preview),
    ],
    # Its handlers only read and write its own tables: the states waiting are handled in
    # batches.
    batch=True,
    hold=OrderMapperService.hold_failed,
    on_scrape=(OrderMapperService.scrape,),
)
