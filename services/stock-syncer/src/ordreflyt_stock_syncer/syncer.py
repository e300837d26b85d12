"""A stock sync pass, and when passes run.

A pass (one at a time across every replica: a PostgreSQL advisory lock held for the pass):
1. ERP: available stock per article over the selected stock points, and the article register
   (see `erp.py`). If the ERP cannot be read, nothing is pushed.
2. Per shop: refresh the SKU map (in full every `full_refresh` seconds, on demand, or when a
   product vanished; else incrementally), then read the open orders, as late as possible so
   the stock they hold is current when the values are pushed.
3. Desired values per matched SKU (`plan.py`), compared with the last pushed values; only
   changed fields of changed SKUs are sent, in batches of at most 100. A per-item error leaves
   the other items applied; the item is reported with WooCommerce's code and message and
   retried on its own in later passes (on scheduled passes after 1, 2, 4 ... 60 minutes; at
   once on `POST /sync`). An item whose product no longer exists is dropped from the map and
   the next pass reads the catalogue in full.
4. The report: SKUs only in the ERP, only in the shop, products without SKU, fields not synced
   and why, rejected items.

Which open shop orders hold stock (with `subtract_open_orders`):
- `erp_counts_orders_at = "creation"`: those without an ERP document yet, known from
  erp-writer's erp-order.created, consumed on this service's own queue. Orders created before
  this service first started are taken as already in the ERP (their documents were made before
  it listened).
- `"delivery"`: every open one, because the ERP's stock moves only when it delivers.

Triggers: the schedule (`interval` after the last pass of any replica), erp-order.created
(a pass `debounce` seconds later, one for a burst of orders) and `POST /sync`. Only the ERP
writes to the shop here: nothing read from the shop is ever written back to the ERP, product
webhooks are not consumed, and a value equal to the last pushed one is never sent again, so
Ordreflyt's own writes cannot start a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ordreflyt_contracts import ErpOrderCreated
from ordreflyt_erp import ErpRejected, ErpUnavailable
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_shop import ShopRejected, ShopUnavailable
from ordreflyt_stock_syncer import store
from ordreflyt_stock_syncer.config import StockConfig
from ordreflyt_stock_syncer.erp import ErpReader, ErpSnapshot, StockPointError
from ordreflyt_stock_syncer.plan import (
    FIELDS,
    Skipped,
    batches,
    desired_values,
    diff,
    held_by_sku,
)
from ordreflyt_stock_syncer.shop import ShopSide

log = logging.getLogger(__name__)

PASS_LOCK = "stock-syncer:pass"
# Incremental shop reads start this long before the previous read, against clock skew.
READ_MARGIN = timedelta(minutes=1)
# WooCommerce's codes for an id it does not know (the product was deleted).
UNKNOWN_PRODUCT_CODES = (
    "woocommerce_rest_product_invalid_id",
    "woocommerce_rest_product_variation_invalid_id",
)


class SyncMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.passes = Counter(
            "ordreflyt_stock_passes", "Stock sync passes", ["trigger", "outcome"], registry=registry
        )
        self.pass_seconds = Histogram(
            "ordreflyt_stock_pass_seconds",
            "Duration of a stock sync pass",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=registry,
        )
        self.pushed = Counter(
            "ordreflyt_stock_fields_pushed",
            "Fields written to the shop",
            ["shop_id", "field"],
            registry=registry,
        )
        self.rejected = Counter(
            "ordreflyt_stock_items_rejected",
            "Batch items the shop refused",
            ["shop_id"],
            registry=registry,
        )
        self.batch_calls = Counter(
            "ordreflyt_stock_batch_calls", "Batch calls to the shop", ["shop_id"], registry=registry
        )
        self.last_success = Gauge(
            "ordreflyt_stock_last_success_timestamp",
            "When the last pass without errors finished (Unix time)",
            registry=registry,
        )


class Syncer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        erp: ErpReader,
        shops: Mapping[str, ShopSide],
        config: StockConfig,
        metrics: SyncMetrics,
    ) -> None:
        self._pool = pool
        self._erp = erp
        self._shops = dict(shops)
        self._config = config
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self.scheduler = Scheduler(self, pool, config)

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def erp_order_created(self, event: ErpOrderCreated, ctx: HandlerContext) -> None:
        """The ERP holds a shop order now (its stock may have moved): remember, sync soon."""
        if event.shop_id in self._shops:
            await store.add_link(
                ctx.conn, event.shop_id, event.shop_order_id, event.erp, event.document_number
            )
        # The pass starts `debounce` seconds from now, after this transaction has committed.
        self.scheduler.poke("erp-order.created")

    async def run_pass(
        self, trigger: str, *, reconcile: bool = False, retry_now: bool = False
    ) -> dict[str, Any]:
        """Run one pass (waiting for one in progress anywhere to end); answers its summary."""
        async with self._lock, self._pool.acquire() as lock_conn, lock_conn.transaction():
            await lock_conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", PASS_LOCK)
            started_at = datetime.now(UTC)
            started = time.perf_counter()
            summary, errors = await self._pass(reconcile, retry_now)
            ok = not any(e["kind"] != "rejected" for e in errors)
            finished_at = datetime.now(UTC)
            duration = time.perf_counter() - started
            summary = {
                "trigger": trigger,
                "ok": ok,
                "reconcile": reconcile,
                "started_at": started_at.isoformat(),
                "finished_at": finished_at.isoformat(),
                "duration_seconds": round(duration, 4),
                "errors": errors,
                **summary,
            }
            await store.save_pass(lock_conn, started_at, finished_at, trigger, ok, summary)
        self._metrics.passes.labels(trigger, "ok" if ok else "failed").inc()
        self._metrics.pass_seconds.observe(duration)
        if ok:
            self._metrics.last_success.set(time.time())
        log.info(
            "stock pass (%s) %s in %.2fs: %s pushed",
            trigger,
            "done" if ok else "failed",
            duration,
            sum(s.get("pushed", 0) for s in summary.get("shops", {}).values()),
        )
        return summary

    async def _pass(
        self, reconcile: bool, retry_now: bool
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """The pass's summary, and its errors: `erp` and `shop` ones stopped (part of) the
        pass; `rejected` ones are items the shop refused while the rest was applied."""
        try:
            erp = await self._erp.read(full=reconcile)
        except (ErpRejected, ErpUnavailable, StockPointError) as exc:
            log.error("stock pass: the ERP could not be read: %s", exc)
            return {"shops": {}}, [{"kind": "erp", "message": str(exc)}]
        erp_summary = {
            "mode": erp.mode,
            "stock_points": erp.stock_points,
            "articles": len(erp.articles),
            "stock_articles": len(erp.stock),
            "full_read": erp.full,
            "requests": erp.requests,
            "seconds": round(erp.seconds, 4),
            "warnings": erp.warnings,
        }
        shops: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        for shop_id, side in self._shops.items():
            summary = await self._shop_pass(shop_id, side, erp, reconcile, retry_now)
            shops[shop_id] = summary
            if "error" in summary:
                errors.append({"kind": "shop", "shop_id": shop_id, "message": summary["error"]})
            if summary["rejected"]:
                errors.append(
                    {
                        "kind": "rejected",
                        "shop_id": shop_id,
                        "message": f"{summary['rejected']} item(s) refused by the shop,"
                        " retried on their own; see GET /report",
                    }
                )
        return {"erp": erp_summary, "shops": shops}, errors

    async def _shop_pass(
        self, shop_id: str, side: ShopSide, erp: ErpSnapshot, reconcile: bool, retry_now: bool
    ) -> dict[str, Any]:
        calls_before, seconds_before = side.client.calls, side.seconds_in_calls
        timings: dict[str, float] = {}
        # The keys in the order a person reads them; filled in as the pass goes.
        summary: dict[str, Any] = {
            "catalogue": {},
            "open_orders_holding_stock": 0,
            "matched": 0,
            "changed": 0,
            "pushed": 0,
            "rejected": 0,
            "retry_later": 0,
            "fields": {},
            "batch_calls": 0,
            "shop_calls": 0,
            "only_in_erp": 0,
            "only_in_shop": 0,
            "rejected_waiting": 0,
        }
        try:
            await self._shop_pass_inner(shop_id, side, erp, reconcile, retry_now, summary, timings)
        except (ShopUnavailable, ShopRejected) as exc:
            log.error("stock pass: shop %s: %s", shop_id, exc, extra={"shop_id": shop_id})
            summary["error"] = str(exc)
        summary["shop_calls"] = side.client.calls - calls_before
        summary["seconds"] = {k: round(v, 4) for k, v in timings.items()}
        summary["seconds_in_shop_calls"] = round(side.seconds_in_calls - seconds_before, 4)
        return summary

    async def _shop_pass_inner(
        self,
        shop_id: str,
        side: ShopSide,
        erp: ErpSnapshot,
        reconcile: bool,
        retry_now: bool,
        summary: dict[str, Any],
        timings: dict[str, float],
    ) -> None:
        config = self._config
        pool = self._pool

        # The SKU map.
        clock = time.perf_counter()
        read_at = datetime.now(UTC)
        state = await store.shop_state(pool, shop_id)
        full_read = (
            reconcile
            or state is None
            or state["full_read_due"]
            or state["full_read_at"] is None
            or read_at - state["full_read_at"] >= timedelta(seconds=config.full_refresh)
        )
        since = None if full_read or state is None else state["read_since"]
        read = await side.read_catalogue(since)
        async with pool.acquire() as conn, conn.transaction():
            if full_read:
                await store.replace_items(conn, shop_id, read, read_at - READ_MARGIN)
            else:
                await store.merge_items(conn, shop_id, read, read_at - READ_MARGIN)
        timings["catalogue"] = time.perf_counter() - clock
        items = await store.load_items(pool, shop_id)
        state = await store.shop_state(pool, shop_id)
        assert state is not None
        summary["catalogue"] = {
            "full_read": full_read,
            "listed": len(read.items),
            "skus": len(items),
        }

        # What open orders hold, read last so it is as fresh as it can be.
        held: dict[str, int] = {}
        holding = 0
        if config.sync_stock and config.subtract_open_orders and config.open_statuses:
            clock = time.perf_counter()
            creation = config.erp_counts_orders_at == "creation"
            since = await store.tracking_since(pool) if creation else None
            orders = await side.open_orders(config.open_statuses, since)
            timings["open_orders"] = time.perf_counter() - clock
            counted = (
                await store.linked_orders(pool, shop_id, [str(o.get("id")) for o in orders])
                if creation
                else set()
            )
            held, holding = held_by_sku(orders, counted)
        summary["open_orders_holding_stock"] = holding

        # What changed.
        desired: dict[str, dict[str, str]] = {}
        skipped: list[Skipped] = []
        for sku, item in items.items():
            article = erp.articles.get(sku)
            if article is None:
                continue
            values, skips = desired_values(
                item, article, erp.stock.get(sku), held.get(sku, 0), config
            )
            skipped.extend(skips)
            if values:
                desired[sku] = values
        now = datetime.now(UTC)
        pushed = await store.load_pushed(pool, shop_id)
        waiting = set() if retry_now else await store.errors_waiting(pool, shop_id, now)
        changes = diff(items, desired, pushed, reconcile=reconcile, hold_back=waiting)
        await store.record_pushed(
            pool, shop_id, {s: (items[s].product_id, v) for s, v in changes.baseline.items()}
        )
        summary["matched"] = len(desired)
        summary["changed"] = len(changes.updates)
        summary["retry_later"] = len(waiting & set(desired))

        # Push.
        clock = time.perf_counter()
        fields = dict.fromkeys(FIELDS, 0)
        rejected = 0
        for batch in batches(changes.updates):
            results = await side.send(batch)
            summary["batch_calls"] += 1
            self._metrics.batch_calls.labels(shop_id).inc()
            by_sku = {u.sku: u for u in batch.updates}
            applied = [r.sku for r in results if r.ok]
            failed = [r for r in results if not r.ok]
            async with pool.acquire() as conn, conn.transaction():
                await store.record_pushed(
                    conn, shop_id, {s: (by_sku[s].product_id, by_sku[s].values) for s in applied}
                )
                await store.clear_errors(conn, shop_id, applied)
                await store.record_errors(
                    conn,
                    shop_id,
                    [
                        (
                            r.sku,
                            by_sku[r.sku].product_id,
                            sorted(by_sku[r.sku].values),
                            r.code,
                            r.message,
                        )
                        for r in failed
                    ],
                    datetime.now(UTC),
                )
                await store.forget_items(
                    conn, shop_id, [r.sku for r in failed if r.code in UNKNOWN_PRODUCT_CODES]
                )
            for sku in applied:
                for name in by_sku[sku].values:
                    fields[name] += 1
                    self._metrics.pushed.labels(shop_id, name).inc()
            rejected += len(failed)
            if failed:
                self._metrics.rejected.labels(shop_id).inc(len(failed))
                for r in failed:
                    log.warning(
                        "shop %s refused %s: %s %s",
                        shop_id,
                        r.sku,
                        r.code,
                        r.message,
                        extra={"shop_id": shop_id},
                    )
        if changes.updates:
            timings["push"] = time.perf_counter() - clock
        summary["pushed"] = len(changes.updates) - rejected
        summary["rejected"] = rejected
        summary["fields"] = {k: v for k, v in fields.items() if v}

        # The report.
        report = {
            "shop_id": shop_id,
            "generated_at": datetime.now(UTC).isoformat(),
            "only_in_erp": sorted(set(erp.articles) - set(items) - set(state["parent_skus"])),
            "only_in_shop": sorted(set(items) - set(erp.articles)),
            "without_sku": list(state["without_sku"]),
            "not_synced": [
                {"sku": s.sku, "field": s.field, "reason": s.reason}
                for s in sorted(skipped, key=lambda s: (s.sku, s.field))
            ],
            "rejected": await store.item_errors(pool, shop_id),
        }
        await store.save_report(pool, shop_id, report)
        summary["only_in_erp"] = len(report["only_in_erp"])
        summary["only_in_shop"] = len(report["only_in_shop"])
        summary["rejected_waiting"] = len(report["rejected"])


class Scheduler:
    """Runs a pass `interval` seconds after the last pass of any replica, and `debounce`
    seconds after the first poke of a burst (the pokes of a burst make one pass)."""

    def __init__(self, syncer: Syncer, pool: asyncpg.Pool, config: StockConfig) -> None:
        self._syncer = syncer
        self._pool = pool
        self._config = config
        self._wake = asyncio.Event()
        self._scheduled_at: float | None = None
        self._poked_at: float | None = None
        self._poke_trigger = ""
        self._stopping = False
        self.next_at: datetime | None = None

    def poke(self, trigger: str) -> None:
        if self._poked_at is None:
            self._poked_at = time.monotonic() + self._config.debounce
            self._poke_trigger = trigger
        self._wake.set()

    async def _next_scheduled(self) -> float:
        row = await self._pool.fetchrow("SELECT max(finished_at) AS last, now() AS now FROM passes")
        if row is None or row["last"] is None:
            return time.monotonic()
        age: float = (row["now"] - row["last"]).total_seconds()
        return time.monotonic() + max(0.0, self._config.interval - age)

    async def _next_trigger(self) -> str | None:
        """The trigger of the pass to run now, or None after waiting (look again)."""
        if self._scheduled_at is None:
            self._scheduled_at = await self._next_scheduled()
        due = min(t for t in (self._scheduled_at, self._poked_at) if t is not None)
        delay = due - time.monotonic()
        self.next_at = datetime.now(UTC) + timedelta(seconds=max(delay, 0.0))
        if delay > 0:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            return None
        if self._poked_at is not None and self._poked_at <= time.monotonic():
            self._poked_at = None
            return self._poke_trigger
        # Another replica (or POST /sync) may have run a pass since this one was planned.
        again = await self._next_scheduled()
        if again - time.monotonic() > 1.0:
            self._scheduled_at = again
            return None
        return "schedule"

    async def stop(self, task: asyncio.Task[None], timeout: float) -> None:
        self._stopping = True
        self._wake.set()
        await asyncio.wait([task], timeout=timeout)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        while not self._stopping:
            try:
                trigger = await self._next_trigger()
                if trigger is None or self._stopping:
                    continue
                await self._syncer.run_pass(trigger)
                self._scheduled_at = time.monotonic() + self._config.interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("stock pass failed")
                self._scheduled_at = time.monotonic() + min(self._config.interval, 30.0)
