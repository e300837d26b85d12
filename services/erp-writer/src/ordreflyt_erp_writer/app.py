"""The erp-writer service: its spec (subscription, routes, tables) and its running object.

Environment (besides the shared AMQP_URL, DATABASE_URL, HTTP_PORT):
- FORTNOX_API_URL (default http://localhost:8200, the sandbox; real: https://api.fortnox.se):
  the API lives at `<url>/3`, the warehouse API at `<url>/api/warehouse`.
- FORTNOX_TOKEN_URL (default `<FORTNOX_API_URL>/oauth-v1/token`; real:
  https://apps.fortnox.se/oauth-v1/token), FORTNOX_CLIENT_ID, FORTNOX_CLIENT_SECRET,
  FORTNOX_ACCESS_TOKEN, FORTNOX_REFRESH_TOKEN (sandbox defaults).
- FORTNOX_RATE_LIMIT (default 25, or `off`) requests per FORTNOX_RATE_WINDOW seconds (default
  5), shared by every process using the same client id through PostgreSQL.
- A shop with `erp_account = "<name>"` in `[shops.<id>]` books into the Fortnox account of the
  FORTNOX_<NAME>_* settings (same names and defaults).
TOML `[erp_writer]`: `create_missing_articles = false`, `customer_register_interval = 60`
(seconds between reads of the ERP's customer register; 0: look every new e-mail up instead).

Operator routes: `GET /parked` (orders the ERP refused, with its code and message),
`POST /parked/{shop}/{order}/retry` (send a parked order again once fixed),
`GET /links/{shop}/{order}` (the ERP document of a shop order), `POST /links/{shop}/lookup`.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from aiohttp import web
from prometheus_client import Gauge

from ordreflyt_contracts import ErpOrderRequested, Event
from ordreflyt_erp import ErpMetrics, ErpRejected, ErpUnavailable
from ordreflyt_erp.factory import ErpChoice, ErpDirectory, choices_of, open_erps
from ordreflyt_erp_writer import store
from ordreflyt_erp_writer.handlers import ErpWriter, WriterOptions
from ordreflyt_erp_writer.store import MIGRATIONS, PgAttemptMarker, PgCustomerRegister
from ordreflyt_runtime.config import refuse_moved, section
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.db import create_pool, schema_name
from ordreflyt_runtime.http import error_response, json_response, read_json
from ordreflyt_runtime.periodic import Periodic
from ordreflyt_runtime.service import Runtime
from ordreflyt_runtime.spec import ServiceSpec, get, on, post
from ordreflyt_shop.settings import load_shops

log = logging.getLogger(__name__)

SERVICE = "erp-writer"
DEFAULT_PORT = 8002


class ErpWriterTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[erp_writer]`."""

    # Create articles the ERP does not have (from the order line) instead of parking the order.
    create_missing_articles: bool = False
    # Seconds between reads of the ERP's customer register (what changed since the last one);
    # while the register is fresh a new customer is created without a lookup. 0: look up.
    customer_register_interval: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 60.0


@dataclass(frozen=True)
class ErpWriterConfig:
    options: WriterOptions
    shops: dict[str, ErpChoice]
    register_interval: float


def load_config(document: Mapping[str, Any], env: Mapping[str, str]) -> ErpWriterConfig:
    refuse_moved(document, "erp_writer", "erp", "[shops.<id>].erp")
    table = section(document, "erp_writer", ErpWriterTable)
    # Checked now so an unknown ERP or a bad FORTNOX_* setting stops the service at start.
    tables = {k: v.table for k, v in load_shops(document).items()} if "shops" in document else {}
    shops = choices_of(tables)
    return ErpWriterConfig(
        options=WriterOptions(create_missing_articles=table.create_missing_articles),
        shops=shops,
        register_interval=table.customer_register_interval,
    )


@dataclass
class ErpWriterService:
    runtime: Runtime[ErpWriterService, ErpWriterConfig]
    writer: ErpWriter
    erps: ErpDirectory
    register: PgCustomerRegister
    erp_metrics: ErpMetrics
    parked_gauge: Gauge

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, runtime: Runtime[ErpWriterService, ErpWriterConfig], config: ErpWriterConfig
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
        # A register older than three reads is not trusted (the reads have been failing).
        register = PgCustomerRegister(side_pool, 3 * config.register_interval)
        try:
            async with open_erps(runtime.settings.database_url, config.shops, erp_metrics) as erps:
                writer = ErpWriter(
                    erps, PgAttemptMarker(side_pool), config.options, register=register
                )
                service = cls(runtime, writer, erps, register, erp_metrics, parked_gauge)
                reading = Periodic(
                    "customer register", config.register_interval, service.read_registers
                )
                reading.start()  # not at all with an interval of 0
                try:
                    yield service
                finally:
                    await reading.stop()
        finally:
            await side_pool.close()

    async def read_registers(self) -> None:
        """Read what changed in each ERP account's customer register since the last read."""
        for erp in self.erps.accounts():
            watermark = await self.register.watermark(erp.key)
            started = datetime.now(UTC)
            try:
                changes = await erp.writer.customers_changed(watermark)
            except (ErpUnavailable, ErpRejected) as exc:
                log.warning("the customer register of %s could not be read: %s", erp.key, exc)
                continue
            await self.register.store(erp.key, changes.customers, changes.watermark, started)
            if changes.customers:
                log.info("customer register of %s: %d read", erp.key, len(changes.customers))

    async def erp_order_requested(self, event: ErpOrderRequested, ctx: HandlerContext) -> None:
        await self.writer.erp_order_requested(event, ctx)

    async def park_failed(self, event: Event, reason: str, ctx: HandlerContext) -> bool:
        return await self.writer.park_failed(event, reason, ctx)

    async def scrape(self) -> None:
        self.parked_gauge.set(await store.parked_count(self.runtime.db))

    async def details(self) -> dict[str, Any]:
        return {
            "erp": {e.key: self.erp_metrics.for_erp(e.key).describe() for e in self.erps.accounts()}
        }

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


SPEC: ServiceSpec[ErpWriterService, ErpWriterConfig] = ServiceSpec(
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
