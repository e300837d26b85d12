"""The intake service: its spec (name, port, tables, routes) and its running object.

Operator routes (operator token required):
- `GET /reconciliation`: per shop, the watermark, the last pass and what it found.
- `POST /shops/{shop}/reconcile`: run a reconciliation pass now; its result.
- `GET /shops/{shop}/webhooks`: check the shop's order webhooks now (and repair them).
- `POST /shops/{shop}/webhooks/register` `{"delivery_url"?}`: give the four order webhooks a
  fresh secret (created where missing).
- `POST /shops/{shop}/resync` `{"since": "2026-11-01T00:00:00" | "from_order": 1234,
  "dry_run": true|false}`: send the orders again (see resync.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from ordreflyt_intake import store
from ordreflyt_intake.config import IntakeConfig, load_intake_config
from ordreflyt_intake.deliveries import CannotStore, Intake
from ordreflyt_intake.metrics import IntakeMetrics
from ordreflyt_intake.reconcile import Reconciler
from ordreflyt_intake.resync import resync
from ordreflyt_intake.secrets import SecretBook
from ordreflyt_intake.spool import Spool
from ordreflyt_intake.store import MIGRATIONS
from ordreflyt_intake.watchdog import Watchdog
from ordreflyt_intake.webhooks import woocommerce_webhook
from ordreflyt_runtime.http import error_response, json_response, read_json
from ordreflyt_runtime.retention import RetentionRule
from ordreflyt_runtime.service import Runtime
from ordreflyt_runtime.spec import ServiceSpec, get, post
from ordreflyt_shop import Shop, ShopRejected, ShopUnavailable

log = logging.getLogger(__name__)

SERVICE = "intake"
DEFAULT_PORT = 8000


@dataclass
class IntakeService:
    """intake while it runs: what keeps deliveries, the reconciler, the webhook watchdog."""

    runtime: Runtime[IntakeService, IntakeConfig]
    config: IntakeConfig
    metrics: IntakeMetrics
    intake: Intake
    secrets: SecretBook
    reconciler: Reconciler
    watchdog: Watchdog

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, runtime: Runtime[IntakeService, IntakeConfig], config: IntakeConfig
    ) -> AsyncIterator[IntakeService]:
        metrics = IntakeMetrics(runtime.metrics.registry)
        intake = Intake(runtime, config, metrics, Spool(config.spool_dir))
        book = SecretBook(runtime.db)
        await book.refresh(force=True)
        intake.start()
        async with aiohttp.ClientSession() as http:
            service = cls(
                runtime,
                config,
                metrics,
                intake,
                book,
                Reconciler(intake, config, http),
                Watchdog(config, metrics, http, book),
            )
            service.watchdog.start()
            service.reconciler.start()
            try:
                yield service
            finally:
                await service.reconciler.stop()
                await service.watchdog.stop()
                await intake.stop()

    def shop(self, request: web.Request) -> Shop:
        """The route's shop, which must have a REST API (its `url`)."""
        shop = self.config.shops.get(request.match_info["shop"])
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

    async def webhook(self, request: web.Request) -> web.Response:
        return await woocommerce_webhook(self.intake, self.secrets, request)

    async def reconciliation(self, request: web.Request) -> web.Response:
        last = self.reconciler.last
        return json_response(
            {
                "shops": [
                    {
                        **w,
                        "last_pass": last[w["shop_id"]].__dict__ if w["shop_id"] in last else None,
                    }
                    for w in await store.watermarks(self.runtime.db)
                ]
            }
        )

    async def reconcile_now(self, request: web.Request) -> web.Response:
        result = await self.reconciler.reconcile(self.shop(request))
        return json_response(result.__dict__)

    async def check_webhooks(self, request: web.Request) -> web.Response:
        report = await self.watchdog.check(self.shop(request))
        return json_response({**report.__dict__, "unhealthy": report.unhealthy})

    async def register_webhooks(self, request: web.Request) -> web.Response:
        shop = self.shop(request)
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
            done = await self.watchdog.register(shop, delivery_url)
        except (ShopUnavailable, ShopRejected) as exc:
            return error_response(502, f"the shop refused or did not answer: {exc}")
        return json_response(
            {"shop_id": shop.shop_id, "delivery_url": delivery_url, "webhooks": done}
        )

    async def resync(self, request: web.Request) -> web.Response:
        shop = self.shop(request)
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
        try:
            result = await resync(
                self.intake,
                shop,
                self.reconciler.client(shop),
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

    async def scrape(self) -> None:
        for shop_id, lag in (await store.reconcile_lag(self.runtime.db)).items():
            self.metrics.reconcile_lag.labels(shop_id).set(lag)

    async def details(self) -> dict[str, Any]:
        spool = self.intake.spool
        return {
            "spool": {"waiting": len(spool.pending()), "directory": str(spool.directory)},
            "database": "spooling deliveries"
            if self.intake.database_down
            else "storing deliveries",
            "webhooks": {
                shop: {"checked_at": r.checked_at, "topics": r.topics, "error": r.error}
                for shop, r in self.watchdog.last.items()
            },
            "reconciliation": {
                shop: {"watermark": r.watermark, "new": r.new, "error": r.error}
                for shop, r in self.reconciler.last.items()
            },
        }


SPEC: ServiceSpec[IntakeService, IntakeConfig] = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    config=load_intake_config,
    start=IntakeService.running,
    migrations=MIGRATIONS,
    routes=[
        post("/webhooks/woocommerce/{shop}", IntakeService.webhook, public=True),
        get("/reconciliation", IntakeService.reconciliation),
        post("/shops/{shop}/reconcile", IntakeService.reconcile_now),
        get("/shops/{shop}/webhooks", IntakeService.check_webhooks),
        post("/shops/{shop}/webhooks/register", IntakeService.register_webhooks),
        post("/shops/{shop}/resync", IntakeService.resync),
    ],
    retention=(RetentionRule("deliveries", "received_at", "raw_deliveries_days"),),
    on_scrape=(IntakeService.scrape,),
    ready_details=IntakeService.details,
    ready_without_database=True,
)
