"""Reconciliation: the shop's own order list catches what no webhook brought.

WooCommerce never retries a webhook and disables one after a few failed deliveries, so a
periodic poll of `GET /orders?modified_after=` is the safety net. Each pass, per shop:

- starts `reconcile_overlap` seconds before the stored watermark (a save committed late with an
  earlier `date_modified_gmt` is still seen; repeats cost nothing: they are recognised as
  states seen before, exactly as a repeated webhook is, and not stored again);
- reads the orders modified after that, oldest change first, 100 a page, keyset-paged on
  `date_modified_gmt` (the next page starts after the last change of the previous one, so an
  order modified while the pass runs cannot shift an unread one out of view);
- stores every order state the same way a webhook's is stored (decode, check, dedupe, publish),
  then moves the watermark to the newest change of the page: never past a page not stored;
- runs at start and every `reconcile_interval` seconds, one intake process at a time (an
  advisory lock), and on demand (resync).

An order the poll finds that fails the checks is logged with its id and skipped (it is the
shop's data, not a delivery anyone waits for an answer to).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import msgspec

from ordreflyt_intake import store
from ordreflyt_intake.config import IntakeConfig
from ordreflyt_intake.deliveries import Intake, Refused, decode_checked_order
from ordreflyt_intake.spool import received
from ordreflyt_intake.store import PUBLISHED
from ordreflyt_runtime.periodic import Periodic
from ordreflyt_shop import Shop, ShopRejected, ShopUnavailable, WooClient

log = logging.getLogger(__name__)

PAGE = 100
# A pass reads at most this many pages; the rest follows in the next pass.
MAX_PAGES = 200
_json = msgspec.json.Encoder()


@dataclass
class PassResult:
    shop_id: str
    seen: int = 0  # order states listed by the shop
    new: int = 0  # ... of which intake had not stored (webhooks missed them)
    refused: list[str] = field(default_factory=list)
    watermark: datetime | None = None
    error: str | None = None


def _modified(item: dict[str, Any]) -> datetime | None:
    raw = item.get("date_modified_gmt")
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        return None


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


async def list_orders(
    client: WooClient, params: dict[str, str], start: datetime
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of orders modified after `start`, oldest change first (keyset paging)."""
    cursor = start
    page = 1
    for _ in range(MAX_PAGES):
        items, _ = await client.request(
            "GET",
            "/orders",
            params={
                **params,
                "modified_after": _gmt(cursor),
                "dates_are_gmt": "true",
                "orderby": "modified",
                "order": "asc",
                "per_page": str(PAGE),
                "page": str(page),
            },
        )
        if not isinstance(items, list) or not items:
            return
        yield items
        if len(items) < PAGE:
            return
        last = max((m for m in map(_modified, items) if m is not None), default=None)
        if last is None or last <= cursor:
            page += 1  # a whole page within one second: read on in that second
            continue
        # `modified_after` is exclusive: start one second back, so other changes within the
        # last second are not skipped (their repeats are recognised).
        cursor, page = last - timedelta(seconds=1), 1


class Reconciler:
    def __init__(self, intake: Intake, config: IntakeConfig, http: aiohttp.ClientSession) -> None:
        self.intake = intake
        self.config = config
        self._http = http
        self._loop = Periodic("reconciliation", config.reconcile_interval, self.reconcile_all)
        self.last: dict[str, PassResult] = {}

    @property
    def shops(self) -> list[Shop]:
        return [s for s in self.config.shops.values() if s.api is not None]

    def client(self, shop: Shop) -> WooClient:
        assert shop.api is not None
        return WooClient(shop.api, self._http, retries=2, timeout=20.0)

    def start(self) -> None:
        if self.shops:
            self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def reconcile_all(self) -> None:
        for shop in self.shops:
            try:
                await self.reconcile(shop)
            except Exception as exc:  # one shop's trouble does not stop the others
                log.warning("reconciliation of %s failed: %r", shop.shop_id, exc)

    async def reconcile(self, shop: Shop) -> PassResult:
        """One pass over a shop's changed orders (skipped if another process is at it)."""
        async with store.shop_lock(self.intake.runtime.db, f"reconcile:{shop.shop_id}") as mine:
            if not mine:
                return PassResult(shop.shop_id, error="another intake process is reconciling")
            result = await self._pass(shop)
        self.last[shop.shop_id] = result
        return result

    async def _pass(self, shop: Shop) -> PassResult:
        pool = self.intake.runtime.db
        result = PassResult(shop.shop_id)
        mark = await store.watermark(pool, shop.shop_id)
        if mark is None:
            mark = datetime.now(UTC) - timedelta(hours=self.config.reconcile_first_lookback_hours)
        start = mark - timedelta(seconds=self.config.reconcile_overlap)
        try:
            async for page in list_orders(self.client(shop), {"status": "any"}, start):
                await self._store_page(shop, page, result)
                newest = max((m for m in map(_modified, page) if m is not None), default=None)
                if newest is not None:
                    await store.move_watermark(pool, shop.shop_id, newest)
                    result.watermark = newest
        except (ShopUnavailable, ShopRejected) as exc:
            result.error = f"the shop did not answer the order list: {exc}"
        await store.record_pass(pool, shop.shop_id, result.error)
        if result.error:
            log.warning("reconciliation of %s stopped: %s", shop.shop_id, result.error)
        elif result.new:
            log.warning(
                "reconciliation found %d order state(s) of %s that no webhook brought",
                result.new,
                shop.shop_id,
                extra={"shop_id": shop.shop_id},
            )
        return result

    async def _store_page(self, shop: Shop, page: list[dict[str, Any]], result: PassResult) -> None:
        for item in page:
            result.seen += 1
            delivery = received(
                shop_id=shop.shop_id,
                topic="order.updated",
                webhook_id=None,
                wc_delivery_id=None,
                headers_json="{}",
                body=_json.encode(item),
                received_at=datetime.now(UTC),
                source="poll",
            )
            try:
                stored = await self.intake.keep(delivery, keep_duplicates=False)
            except Refused as refused:
                result.refused.append(f"{item.get('id')}: {refused.reason}")
                log.warning(
                    "reconciliation skipped an order the checks refuse: %s",
                    refused.reason,
                    extra={"shop_id": shop.shop_id, "shop_order_id": item.get("id")},
                )
                continue
            if stored.new:
                result.new += 1
                self.intake.metrics.reconciled.labels(shop.shop_id).inc()
                if stored.outcome == PUBLISHED:
                    log.info(
                        "reconciliation brought an order state no webhook had",
                        extra={"shop_id": shop.shop_id, "shop_order_id": item.get("id")},
                    )


__all__ = ["PassResult", "Reconciler", "decode_checked_order", "list_orders"]
