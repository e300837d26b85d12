"""The erp-writer service: its spec (subscription, routes, tables) and its running object.

Environment (besides the shared AMQP_URL, DATABASE_URL, HTTP_PORT):
- FORTNOX_API_URL (default http://localhost:8200, the sandbox; real: https://api.fortnox.se):
  the API lives at `<url>/3`, the warehouse API at `<url>/api/warehouse`.
- FORTNOX_TOKEN_URL (default `<FORTNOX_API_URL>/oauth-v1/token`; real:
  https://apps.fortnox.se/oauth-v1/token), FORTNOX_CLIENT_ID, FORTNOX_CLIENT_SECRET,
  FORTNOX_ACCESS_TOKEN, FORTNOX_REFRESH_TOKEN (sandbox defaults).
- FORTNOX_RATE_LIMIT (default 25, or `off`) requests per FORTNOX_RATE_WINDOW seconds (default
  5), shared by every process using the same client id through PostgreSQL.
TOML `[erp_writer]`: `erp = "fortnox"`, `create_missing_articles = false`.

Operator routes: `GET /parked` (orders the ERP refused, with its code and message),
`POST /parked/{shop}/{order}/retry` (send a parked order again once fixed),
`GET /links/{shop}/{order}` (the ERP document of a shop order), `POST /links/{shop}/lookup`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from aiohttp import web
from prometheus_client import Gauge

from ordreflyt_contracts import ErpOrderRequested, Event
from ordreflyt_erp import ErpMetrics
from ordreflyt_erp.fortnox import fortnox_client, fortnox_settings_from_env, rate_limit_from_env
from ordreflyt_erp_writer import store
from ordreflyt_erp_writer.adapters.fortnox import FortnoxAdapter
from ordreflyt_erp_writer.handlers import ErpWriter, WriterOptions
from ordreflyt_erp_writer.store import MIGRATIONS, PgAttemptMarker
from ordreflyt_runtime.config import section
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.db import create_pool, schema_name
from ordreflyt_runtime.http import error_response, json_response, read_json
from ordreflyt_runtime.service import Runtime
from ordreflyt_runtime.spec import ServiceSpec, get, on, post

SERVICE = "erp-writer"
DEFAULT_PORT = 8002


class ErpWriterTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[erp_writer]`."""

    erp: Literal["fortnox"] = "fortnox"
    # Create articles the ERP does not have (from the order line) instead of parking the order.
    create_missing_articles: bool = False


def load_config(document: Mapping[str, Any], env: Mapping[str, str]) -> WriterOptions:
    table = section(document, "erp_writer", ErpWriterTable)
    # Read now so a bad FORTNOX_* setting stops the service at start, naming it.
    fortnox_settings_from_env()
    rate_limit_from_env()
    return WriterOptions(create_missing_articles=table.create_missing_articles)


@dataclass
class ErpWriterService:
    runtime: Runtime[ErpWriterService, WriterOptions]
    writer: ErpWriter
    erp_metrics: ErpMetrics
    parked_gauge: Gauge

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, runtime: Runtime[ErpWriterService, WriterOptions], options: WriterOptions
    ) -> AsyncIterator[ErpWriterService]:
        erp_metrics = ErpMetrics(runtime.metrics.registry)
        parked_gauge = Gauge(
            "ordreflyt_erp_writer_parked",
            "Orders parked: refused by the ERP or failing on their content (GET /parked)",
            registry=runtime.metrics.registry,
        )
        # Markers commit on their own, on a pool the handlers never hold.
        side_pool = await create_pool(
            runtime.settings.database_url, schema_name(SERVICE), min_size=1, max_size=4
        )
        try:
            async with fortnox_client(runtime.settings.database_url, erp_metrics) as client:
                writer = ErpWriter(FortnoxAdapter(client), PgAttemptMarker(side_pool), options)
                yield cls(runtime, writer, erp_metrics, parked_gauge)
        finally:
            await side_pool.close()

    async def erp_order_requested(self, event: ErpOrderRequested, ctx: HandlerContext) -> None:
        await self.writer.erp_order_requested(event, ctx)

    async def park_failed(self, event: Event, reason: str, ctx: HandlerContext) -> bool:
        return await self.writer.park_failed(event, reason, ctx)

    async def scrape(self) -> None:
        self.parked_gauge.set(await store.parked_count(self.runtime.db))

    async def details(self) -> dict[str, Any]:
        return {"erp": {self.erp_metrics.erp: self.erp_metrics.describe()}}

    async def list_parked(self, request: web.Request) -> web.Response:
        return json_response({"parked": await store.parked(self.runtime.db)})

    async def retry_parked(self, request: web.Request) -> web.Response:
        shop_id, order_id = request.match_info["shop"], request.match_info["order"]
        async with self.runtime.db.acquire() as conn, conn.transaction():
            original = await store.unpark(conn, shop_id, order_id)
            if original is None:
                return error_response(404, f"order {shop_id}/{order_id} is not parked")
            again = msgspec.structs.replace(original, event_id=uuid.uuid4(), reason="retried")
            ctx = HandlerContext(conn)
            await ctx.publish(again)
        self.runtime.outbox_written(ctx.written)
        return json_response({"status": "sent again"})

    async def show_link(self, request: web.Request) -> web.Response:
        found = await store.link(
            self.runtime.db, request.match_info["shop"], request.match_info["order"]
        )
        if found is None:
            return error_response(404, "no ERP document for this order")
        return json_response(found)

    async def lookup_links(self, request: web.Request) -> web.Response:
        """`{"order_ids": [..]}` -> the ERP documents of those of the shop's orders that
        have one."""
        body = await read_json(request) or {}
        ids = [str(i) for i in body.get("order_ids", [])][:10_000]
        found = await store.links(self.runtime.db, request.match_info["shop"], ids)
        return json_response({"links": found})


SPEC: ServiceSpec[ErpWriterService, WriterOptions] = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    config=load_config,
    start=ErpWriterService.running,
    migrations=MIGRATIONS,
    subscriptions=[on(ErpOrderRequested, ErpWriterService.erp_order_requested)],
    routes=[
        get("/parked", ErpWriterService.list_parked),
        post("/parked/{shop}/{order}/retry", ErpWriterService.retry_parked),
        get("/links/{shop}/{order}", ErpWriterService.show_link),
        post("/links/{shop}/lookup", ErpWriterService.lookup_links),
    ],
    hold=ErpWriterService.park_failed,
    on_scrape=(ErpWriterService.scrape,),
    ready_details=ErpWriterService.details,
)
