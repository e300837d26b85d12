"""The stock-syncer service: ERP stock (and, per switch, product data) to the shops.

Environment: the shared AMQP_URL, DATABASE_URL, HTTP_PORT (default 8004), ORDREFLYT_CONFIG;
the ERP account of each shop served (`[shops.<id>] erp` / `erp_account`: FORTNOX_*, or
FORTNOX_<ACCOUNT>_*, as for erp-writer; the same client id shares one rate limit and token with
it); SHOP_<ID>_CONSUMER_KEY / SHOP_<ID>_CONSUMER_SECRET over `[shops.<id>]`. The rules are the
TOML table `[stock]` (see `config.py`). A pass reads each ERP account once and serves the shops
that book into it.

Consumes `erp-writer.erp-order.created.v1` on its own queue `stock-syncer`: the shop order is
in the ERP now, so its stock is counted there (see `syncer.py`), and a pass follows shortly.

Routes:
- `POST /sync`: run a pass now (waits for one in progress) and answer its summary; 200 when
  it went through (items the shop refused are in `errors` and the report), 502 when the ERP or
  a shop could not be read or written.
  `?full=true` reads both catalogues in full and compares with what the shop shows rather than
  with what was pushed last: it repairs values edited in the shop.
- `GET /status`: the last pass (trigger, time, duration, ERP requests, per shop: SKUs matched,
  changed, pushed, rejected, batch and shop calls, seconds in calls), whether one is running
  and when the next is due.
- `GET /report` (`?shop=<id>` for one): per shop, SKUs only in the ERP, only in the shop,
  products without SKU, fields not synced and why, and rejected items with WooCommerce's code
  and message, attempts and next retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from ordreflyt_contracts import ErpOrderCreated
from ordreflyt_erp import ErpMetrics
from ordreflyt_erp.factory import ErpChoice, ErpDirectory, choices_of, open_erps
from ordreflyt_erp.options import ErpOptions
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.http import error_response, json_response
from ordreflyt_runtime.service import Runtime
from ordreflyt_runtime.settings import SettingsError
from ordreflyt_runtime.spec import ServiceSpec, get, on, post
from ordreflyt_shop import ShopApi, load_shop_apis, load_shops
from ordreflyt_stock_syncer import store
from ordreflyt_stock_syncer.config import StockConfig, stock_config
from ordreflyt_stock_syncer.shop import ShopSide, TimedWooClient
from ordreflyt_stock_syncer.syncer import ErpAccount, Syncer, SyncMetrics

SERVICE = "stock-syncer"
DEFAULT_PORT = 8004


@dataclass(frozen=True)
class Settings:
    """What stock-syncer reads at start: `[stock]`, and the REST API and the ERP account of
    each shop it serves."""

    stock: StockConfig
    shops: Mapping[str, ShopApi]
    erps: Mapping[str, ErpChoice]

    @property
    def erp_options(self) -> ErpOptions:
        """How the ERP is read: the article register in full as often as the catalogues."""
        return ErpOptions(full_refresh=self.stock.full_refresh)


def selected_shops(apis: Mapping[str, ShopApi], config: StockConfig) -> dict[str, ShopApi]:
    unknown = [s for s in config.shops if s not in apis]
    if unknown:
        raise SettingsError(
            f"stock.shops: no [shops.{unknown[0]}] in the config (shops: {', '.join(apis)})"
        )
    return {k: v for k, v in apis.items() if not config.shops or k in config.shops}


def shop_erps(
    document: Mapping[str, Any], env: Mapping[str, str], shops: Iterable[str]
) -> dict[str, ErpChoice]:
    """The ERP account of each shop served, checked now so an unknown ERP or a bad FORTNOX_*
    setting stops the service at start, naming it."""
    tables = load_shops(document, env)
    try:
        return choices_of({shop_id: tables[shop_id].table for shop_id in shops})
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def load_settings(document: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    config = stock_config(document)
    shops = selected_shops(load_shop_apis(document, env), config)
    return Settings(config, shops, shop_erps(document, env, shops))


def erp_accounts(directory: ErpDirectory) -> list[ErpAccount]:
    """Each ERP account opened, with the shops that book into it."""
    return [ErpAccount(erp, tuple(directory.shops_of(erp.key))) for erp in directory.accounts()]


@dataclass
class StockService:
    runtime: Runtime[StockService, Settings]
    syncer: Syncer

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, runtime: Runtime[StockService, Settings], settings: Settings
    ) -> AsyncIterator[StockService]:
        metrics = SyncMetrics(runtime.metrics.registry)
        async with (
            open_erps(
                runtime.settings.database_url,
                settings.erps,
                ErpMetrics(runtime.metrics.registry),
                settings.erp_options,
            ) as directory,
            aiohttp.ClientSession() as http,
        ):
            shops = {
                shop_id: ShopSide(TimedWooClient(api, http))
                for shop_id, api in settings.shops.items()
            }
            syncer = Syncer(runtime.db, erp_accounts(directory), shops, settings.stock, metrics)
            task = asyncio.create_task(syncer.scheduler.run())
            try:
                yield cls(runtime, syncer)
            finally:
                # A pass under way may finish (its pushes are recorded); then the loop ends.
                await syncer.scheduler.stop(task, runtime.settings.shutdown_timeout)

    async def erp_order_created(self, event: ErpOrderCreated, ctx: HandlerContext) -> None:
        await self.syncer.erp_order_created(event, ctx)

    async def sync_now(self, request: web.Request) -> web.Response:
        full = request.query.get("full", "false").lower() in ("1", "true", "yes")
        summary = await self.syncer.run_pass("manual", reconcile=full, retry_now=True)
        return json_response(summary, 200 if summary.ok else 502)

    async def status(self, request: web.Request) -> web.Response:
        last = await store.last_pass(self.runtime.db)
        next_at = self.syncer.scheduler.next_at
        return json_response(
            {
                "running": self.syncer.running,
                "next_pass_at": next_at.isoformat() if next_at is not None else None,
                "last_pass": last,
            }
        )

    async def report(self, request: web.Request) -> web.Response:
        reports = await store.load_reports(self.runtime.db)
        shop = request.query.get("shop")
        if shop is not None:
            if shop not in reports:
                return error_response(404, f"no report for shop {shop!r} yet")
            return json_response(reports[shop])
        return json_response({"reports": reports})


SPEC: ServiceSpec[StockService, Settings] = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    config=load_settings,
    start=StockService.running,
    migrations=(store.MIGRATION,),
    subscriptions=[on(ErpOrderCreated, StockService.erp_order_created)],
    routes=[
        post("/sync", StockService.sync_now),
        get("/status", StockService.status),
        get("/report", StockService.report),
    ],
)
