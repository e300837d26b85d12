"""The fulfillment-listener service: ERP shipping, invoicing and cancellation back to the shop.

It learns which ERP document belongs to which shop order from `erp-writer.erp-order.created.v1`
(queue `fulfillment-listener`), polls each ERP account for changes to those documents through
its `DocumentWatcher` (`poller`; the document's state in the event spares a read), accepts
pushed shipments (`push`), turns each change into effects with stable keys (`effects`) and
applies each once to the shop order (`applier`): notes with tracking links and tracking meta,
and the configured statuses, never backwards and never over a person's later change.

Configuration: `[fulfillment]` in the TOML file (see `config`), the shops' REST credentials
and ERP accounts from `[shops.<id>]` (see `ordreflyt_shop`, `ordreflyt_erp.factory`), Fortnox
from FORTNOX_* (as erp-writer; the rate limit and tokens are shared with it; FORTNOX_TIMEZONE
is the zone of its times), FULFILLMENT_PUSH_SECRET.

Routes besides the shared health ones:
- `POST /shipments/{shop}`: pushed shipment events (see `push`).
- `POST /poll`: poll the ERP now and apply what changed (waits for a poll in progress).
- `GET /watermark`: how far the ERP's changes have been read, and what the last poll did (the
  first ERP account; with several, each under `accounts`).
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
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from ordreflyt_contracts import ErpOrderCreated
from ordreflyt_erp import ErpMetrics, ErpUnavailable
from ordreflyt_erp.factory import ErpChoice, ErpDirectory, choices_of, open_erps
from ordreflyt_erp.options import ErpOptions
from ordreflyt_fulfillment_listener import store
from ordreflyt_fulfillment_listener.applier import Applier
from ordreflyt_fulfillment_listener.config import FulfillmentConfig, load_config
from ordreflyt_fulfillment_listener.metrics import FulfillmentMetrics
from ordreflyt_fulfillment_listener.poller import Poller, PollSummary
from ordreflyt_fulfillment_listener.push import PushReceiver
from ordreflyt_fulfillment_listener.store import MIGRATIONS, get_link
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.http import error_response, json_response
from ordreflyt_runtime.retention import RetentionRule
from ordreflyt_runtime.service import Runtime
from ordreflyt_runtime.spec import ServiceSpec, get, on, post
from ordreflyt_shop import (
    ShopApi,
    ShopRejected,
    ShopUnavailable,
    WooClient,
    load_shop_apis,
    load_shops,
)

SERVICE = "fulfillment-listener"
DEFAULT_PORT = 8003


@dataclass(frozen=True)
class Settings:
    """What fulfillment-listener reads at start: `[fulfillment]`, the shops' REST APIs and
    the ERP account each shop books into."""

    fulfillment: FulfillmentConfig
    shops: Mapping[str, ShopApi]
    erps: Mapping[str, ErpChoice]

    @property
    def erp_options(self) -> ErpOptions:
        return ErpOptions(
            overlap_minutes=self.fulfillment.overlap_minutes,
            clock_skew=self.fulfillment.erp_clock_skew,
            read_every_change=self.fulfillment.read_every_change,
        )


def load_settings(document: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    # The ERP accounts are checked now, so a bad FORTNOX_* setting stops the service at start.
    erps = choices_of({shop_id: shop.table for shop_id, shop in load_shops(document, env).items()})
    return Settings(load_config(document), load_shop_apis(document, env), erps)


@dataclass
class FulfillmentService:
    runtime: Runtime[FulfillmentService, Settings]
    config: FulfillmentConfig
    metrics: FulfillmentMetrics
    clients: dict[str, WooClient]
    erps: ErpDirectory
    applier: Applier
    poller: Poller
    receiver: PushReceiver

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, runtime: Runtime[FulfillmentService, Settings], settings: Settings
    ) -> AsyncIterator[FulfillmentService]:
        config = settings.fulfillment
        metrics = FulfillmentMetrics(runtime.metrics.registry)
        async with (
            aiohttp.ClientSession() as http,
            open_erps(
                runtime.settings.database_url,
                settings.erps,
                ErpMetrics(runtime.metrics.registry),
                settings.erp_options,
            ) as erps,
        ):
            clients = {shop_id: WooClient(api, http) for shop_id, api in settings.shops.items()}
            applier = Applier(runtime.db, clients, config, metrics)
            poller = Poller(
                runtime.db, runtime.settings.database_url, erps, applier, config, metrics
            )
            receiver = PushReceiver(runtime.db, frozenset(settings.shops), applier, config, metrics)
            tasks = [
                asyncio.create_task(poller.run_forever(), name="fulfillment-poll"),
                asyncio.create_task(receiver.run_forever(), name="fulfillment-push"),
            ]
            try:
                yield cls(runtime, config, metrics, clients, erps, applier, poller, receiver)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def erp_order_created(self, event: ErpOrderCreated, ctx: HandlerContext) -> None:
        """Remember the ERP document of a shop order (again, when a document was adopted), with
        its state when erp-writer sent it (then the poll plans it without reading it)."""
        await store.remember_link(
            ctx.conn,
            shop_id=event.shop_id,
            order_id=event.shop_order_id,
            erp=event.erp,
            document_kind=event.document_kind,
            document_number=event.document_number,
            invoice_number=event.invoice_number,
            external_reference=event.external_reference,
            erp_created_at=event.occurred_at,
            state=event.state if event.document_kind == "order" else None,
        )

    async def scrape(self) -> None:
        for state, count in (await store.waiting_counts(self.runtime.db)).items():
            self.metrics.waiting.labels(state).set(count)

    async def shipments(self, request: web.Request) -> web.Response:
        """A public route: checks X-Ordreflyt-Signature itself."""
        return await self.receiver.handle(request)

    async def poll_now(self, request: web.Request) -> web.Response:
        summary = await self.poller.poll_once(wait=True)
        failed = isinstance(summary, PollSummary) and summary.erp_failed
        return json_response(summary, 503 if failed else 200)

    async def show_watermark(self, request: web.Request) -> web.Response:
        accounts: list[dict[str, Any]] = []
        for erp in self.erps.accounts():
            account: dict[str, Any] = {
                "erp": erp.key,
                "watermark": None,
                "poll_interval": self.config.poll_interval,
                "overlap_minutes": self.config.overlap_minutes,
            }
            account.update(await store.poll_state(self.runtime.db, erp.key) or {})
            accounts.append(account)
        body = dict(accounts[0])
        if len(accounts) > 1:
            body["accounts"] = accounts
        return json_response(body)

    async def list_conflicts(self, request: web.Request) -> web.Response:
        return json_response({"conflicts": await store.conflicts(self.runtime.db)})

    async def retry_conflicts(self, request: web.Request) -> web.Response:
        """The status now in the shop is taken as agreed (as if Ordreflyt had set it), so only
        a later change counts as a person's; ranks and terminal statuses still apply."""
        shop_id, order_id = request.match_info["shop"], request.match_info["order"]
        client = self.clients.get(shop_id)
        if client is None:
            return error_response(404, f"unknown shop {shop_id!r}")
        try:
            shop_order = await client.get(f"/orders/{order_id}")
        except ShopRejected as exc:
            return error_response(404, f"the shop order could not be read: {exc}")
        except ShopUnavailable as exc:
            return error_response(503, f"the shop could not be read: {exc}")
        status = str(shop_order.get("status", ""))
        if not await store.reopen_conflicts(self.runtime.db, shop_id, order_id, status):
            return error_response(404, f"order {shop_id}/{order_id} has no conflicts")
        result = await self.applier.drain(shop_id, order_id)
        return json_response(
            {"applied": result.applied, "conflicts": result.conflicts, "failed": result.failed}
        )

    async def list_parked(self, request: web.Request) -> web.Response:
        return json_response(await store.parked(self.runtime.db))

    async def retry_parked(self, request: web.Request) -> web.Response:
        shop_id, order_id = request.match_info["shop"], request.match_info["order"]
        if not await store.unpark(self.runtime.db, shop_id, order_id):
            return error_response(404, f"order {shop_id}/{order_id} is not parked")
        try:
            result = await self.poller.refresh_one(shop_id, order_id)
        except ErpUnavailable as exc:
            return json_response(
                {"status": "unparked; the next poll applies it", "error": str(exc)}, 202
            )
        assert result is not None
        link = await get_link(self.runtime.db, shop_id, order_id)
        return json_response(
            {
                "status": "parked again" if link is not None and link.parked_reason else "retried",
                "reason": link.parked_reason if link is not None else None,
                "applied": result.applied,
                "conflicts": result.conflicts,
                "failed": result.failed,
            }
        )

    async def show_order(self, request: web.Request) -> web.Response:
        story = await store.order_story(
            self.runtime.db, request.match_info["shop"], request.match_info["order"]
        )
        if story is None:
            return error_response(404, "no ERP document known for this order")
        return json_response(story)


SPEC: ServiceSpec[FulfillmentService, Settings] = ServiceSpec(
    name=SERVICE,
    default_port=DEFAULT_PORT,
    config=load_settings,
    start=FulfillmentService.running,
    migrations=MIGRATIONS,
    subscriptions=[on(ErpOrderCreated, FulfillmentService.erp_order_created)],
    routes=[
        post("/shipments/{shop}", FulfillmentService.shipments, public=True),
        post("/poll", FulfillmentService.poll_now),
        get("/watermark", FulfillmentService.show_watermark),
        get("/conflicts", FulfillmentService.list_conflicts),
        post("/conflicts/{shop}/{order}/retry", FulfillmentService.retry_conflicts),
        get("/parked", FulfillmentService.list_parked),
        post("/parked/{shop}/{order}/retry", FulfillmentService.retry_parked),
        get("/orders/{shop}/{order}", FulfillmentService.show_order),
    ],
    retention=(
        # Applied effects only: pending, conflicting and failed ones wait for a person.
        RetentionRule("effects", "updated_at", "effects_days", where="state = 'applied'"),
        RetentionRule("push_events", "received_at", "push_events_days"),
    ),
    on_scrape=(FulfillmentService.scrape,),
)
