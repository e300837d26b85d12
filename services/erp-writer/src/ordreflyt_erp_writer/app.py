"""The erp-writer service: settings, the Fortnox adapter wiring, and its HTTP routes.

Environment (besides the shared AMQP_URL, DATABASE_URL, HTTP_PORT):
- FORTNOX_API_URL (default http://localhost:8200, the sandbox; real: https://api.fortnox.se):
  the API lives at `<url>/3`, the warehouse API at `<url>/api/warehouse`.
- FORTNOX_TOKEN_URL (default `<FORTNOX_API_URL>/oauth-v1/token`; real:
  https://apps.fortnox.se/oauth-v1/token), FORTNOX_CLIENT_ID, FORTNOX_CLIENT_SECRET,
  FORTNOX_ACCESS_TOKEN, FORTNOX_REFRESH_TOKEN (sandbox defaults).
- FORTNOX_RATE_LIMIT (default 25, or `off`) requests per FORTNOX_RATE_WINDOW seconds (default
  5), shared by every process using the same client id through PostgreSQL.
TOML `[erp_writer]`: `erp = "fortnox"`, `create_missing_articles = false`.

Routes: `GET /parked` (orders the ERP refused, with its code and message),
`POST /parked/{shop}/{order}/retry` (send a parked order again once fixed),
`GET /links/{shop}/{order}` (the ERP document of a shop order).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client import Gauge

from ordreflyt_contracts import ErpOrderRequested, decode_event
from ordreflyt_erp import ErpMetrics
from ordreflyt_erp.fortnox import fortnox_client, fortnox_settings_from_env, rate_limit_from_env
from ordreflyt_erp_writer.adapters.fortnox import FortnoxAdapter
from ordreflyt_erp_writer.customers import CUSTOMER_DATA_MIGRATION
from ordreflyt_erp_writer.handlers import (
    LOCK_AND_READ_MIGRATION,
    MIGRATION,
    ErpWriter,
    WriterOptions,
)
from ordreflyt_runtime.db import create_pool, schema_name
from ordreflyt_runtime.http import json_response, read_json
from ordreflyt_runtime.outbox import add_to_outbox
from ordreflyt_runtime.service import Runtime, ServiceSpec, runtime_key
from ordreflyt_runtime.settings import (
    SettingsError,
    load_toml,
)
from ordreflyt_runtime.topology import ConsumerQueue, register_consumer

SERVICE = "erp-writer"
DEFAULT_PORT = 8002

QUEUE = register_consumer(
    ConsumerQueue(service=SERVICE, binding_keys=(ErpOrderRequested.routing_key,))
)

writer_key = web.AppKey("erp_writer", ErpWriter)
erp_metrics_key = web.AppKey("erp_metrics", ErpMetrics)
parked_key = web.AppKey("parked_gauge", Gauge)


def writer_options(doc: dict[str, Any]) -> WriterOptions:
    table = doc.get("erp_writer", {})
    if not isinstance(table, dict):
        raise SettingsError("[erp_writer] must be a table")
    erp = table.get("erp", "fortnox")
    if erp != "fortnox":
        raise SettingsError(f"erp_writer.erp: {erp!r} is not supported yet (supported: fortnox)")
    create = table.get("create_missing_articles", False)
    if not isinstance(create, bool):
        raise SettingsError("erp_writer.create_missing_articles must be true or false")
    return WriterOptions(create_missing_articles=create)


async def list_parked(request: web.Request) -> web.Response:
    rows = await request.app[runtime_key].db.fetch(
        "SELECT shop_id, order_id, erp, code, message, parked_at FROM parked ORDER BY parked_at"
    )
    return json_response(
        {
            "parked": [
                {
                    "shop_id": r["shop_id"],
                    "order_id": r["order_id"],
                    "erp": r["erp"],
                    "code": r["code"],
                    "message": r["message"],
                    "parked_at": r["parked_at"].isoformat(),
                }
                for r in rows
            ]
        }
    )


async def retry_parked(request: web.Request) -> web.Response:
    runtime = request.app[runtime_key]
    shop_id, order_id = request.match_info["shop"], request.match_info["order"]
    async with runtime.db.acquire() as conn, conn.transaction():
        raw = await conn.fetchval(
            "DELETE FROM parked WHERE shop_id = $1 AND order_id = $2 RETURNING request",
            shop_id,
            order_id,
        )
        if raw is None:
            return json_response({"error": f"order {shop_id}/{order_id} is not parked"}, 404)
        original = decode_event(bytes(raw))
        assert isinstance(original, ErpOrderRequested)
        again = msgspec.structs.replace(original, event_id=uuid.uuid4(), reason="retried")
        rows = await add_to_outbox(conn, again)
    runtime.outbox_written(rows)
    return json_response({"status": "sent again"})


async def show_link(request: web.Request) -> web.Response:
    row = await request.app[runtime_key].db.fetchrow(
        "SELECT * FROM links WHERE shop_id = $1 AND order_id = $2",
        request.match_info["shop"],
        request.match_info["order"],
    )
    if row is None:
        return json_response({"error": "no ERP document for this order"}, 404)
    return json_response(dict(row))


async def lookup_links(request: web.Request) -> web.Response:
    """`{"order_ids": [..]}` -> the ERP documents of those of the shop's orders that have one."""
    body = await read_json(request) or {}
    ids = [str(i) for i in body.get("order_ids", [])][:10_000]
    rows = await request.app[runtime_key].db.fetch(
        "SELECT order_id, document_kind, document_number, invoice_number FROM links"
        " WHERE shop_id = $1 AND order_id = ANY($2::text[])",
        request.match_info["shop"],
        ids,
    )
    return json_response({"links": {r["order_id"]: dict(r) for r in rows}})


async def _scrape(runtime: Runtime) -> None:
    assert runtime.app is not None
    parked = await runtime.db.fetchval("SELECT count(*) FROM parked")
    runtime.app[parked_key].set(parked)


async def _details(runtime: Runtime) -> dict[str, Any]:
    assert runtime.app is not None
    metrics = runtime.app[erp_metrics_key]
    return {"erp": {metrics.erp: metrics.describe()}}


def setup(runtime: Runtime, app: web.Application) -> None:
    erp_metrics = app[erp_metrics_key] = ErpMetrics(runtime.metrics.registry)
    app[parked_key] = Gauge(
        "ordreflyt_erp_writer_parked",
        "Orders parked: refused by the ERP or failing on their content (GET /parked)",
        registry=runtime.metrics.registry,
    )
    options = writer_options(load_toml(runtime.settings.config_path))
    # Read now so a bad FORTNOX_* setting stops the service at start, naming it.
    fortnox_settings_from_env()
    rate_limit_from_env()

    async def adapter_ctx(app: web.Application) -> AsyncIterator[None]:
        # Markers commit on their own, on a pool the handlers never hold (see ErpWriter).
        side_pool = await create_pool(
            runtime.settings.database_url, schema_name(SERVICE), min_size=1, max_size=4
        )
        try:
            async with fortnox_client(runtime.settings.database_url, erp_metrics) as client:
                writer = ErpWriter(FortnoxAdapter(client), side_pool, options)
                app[writer_key] = writer
                runtime.handlers[ErpOrderRequested] = writer.erp_order_requested
                runtime.hold = writer.park_failed
                yield
        finally:
            await side_pool.close()

    # Before the consumer's context: the writer exists when consuming starts and is still there
    # until the consumer has stopped.
    app.cleanup_ctx.insert(len(app.cleanup_ctx) - 1, adapter_ctx)
    app.router.add_get("/parked", list_parked)
    app.router.add_post("/parked/{shop}/{order}/retry", retry_parked)
    app.router.add_get("/links/{shop}/{order}", show_link)
    app.router.add_post("/links/{shop}/lookup", lookup_links)


SPEC = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    migrations=(MIGRATION, LOCK_AND_READ_MIGRATION, CUSTOMER_DATA_MIGRATION),
    consumes=QUEUE,
    setup=setup,
    on_scrape=(_scrape,),
    ready_details=_details,
)
