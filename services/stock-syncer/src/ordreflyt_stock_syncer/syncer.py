"""A stock sync pass, and when passes run.

A pass (one at a time across every replica: a PostgreSQL advisory lock held for the pass)
reads each ERP account once and then serves that account's shops, in named steps that each
answer a typed result:
1. `read_erp -> ErpRead`: available stock per article summed over the selected stock points
   (`StockReader.stock`) and the article register (`ArticleReader.articles`), through the ERP
   capabilities only. If the ERP cannot be read, nothing is pushed to its shops.
2. Per shop, `read_catalogue -> Catalogue`: refresh the SKU map (in full every
   `full_refresh` seconds, on demand, or when a product vanished; else incrementally); then
   `open_orders_held -> Held`: the open orders, read as late as possible so the stock they
   hold is current when the values are pushed.
3. `plan_changes -> Changes`: desired values per matched SKU (`plan.py`), compared with the
   last pushed values; only changed fields of changed SKUs are sent.
4. `push -> PushResult`: batches of at most 100. A per-item error leaves the other items
   applied; the item is reported with WooCommerce's code and message and retried on its own in
   later passes (on scheduled passes after 1, 2, 4 ... 60 minutes; at once on `POST /sync`). An
   item whose product no longer exists is dropped from the map and the next pass reads the
   catalogue in full.
5. `write_report -> ReportCounts`: SKUs only in the ERP, only in the shop, products without
   SKU, fields not synced and why, rejected items.
The pass's summary (`PassSummary`, per shop `ShopPassSummary`) is what `POST /sync` answers and
what `GET /status` shows of the last pass.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import asyncpg
import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ordreflyt_contracts import ErpOrderCreated
from ordreflyt_erp import ErpRejected, ErpUnavailable
from ordreflyt_erp.capabilities import Erp, ErpArticle
from ordreflyt_erp.errors import StockPointError
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_shop import ShopRejected, ShopUnavailable
from ordreflyt_stock_syncer import store
from ordreflyt_stock_syncer.config import StockConfig
from ordreflyt_stock_syncer.plan import (
    FIELDS,
    Batch,
    ShopItem,
    Skipped,
    Update,
    available_by_sku,
    batches,
    desired_by_sku,
    diff,
    held_by_sku,
)
from ordreflyt_stock_syncer.shop import ItemResult, ShopSide

log = logging.getLogger(__name__)

PASS_LOCK = "stock-syncer:pass"
# Incremental shop reads start this long before the previous read, against clock skew.
READ_MARGIN = timedelta(minutes=1)
# WooCommerce's codes for an id it does not know (the product was deleted).
UNKNOWN_PRODUCT_CODES = (
    "woocommerce_rest_product_invalid_id",
    "woocommerce_rest_product_variation_invalid_id",
)


# ---------------------------------------------------------------- what a pass reports


class ErpSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One ERP account as the pass read it."""

    mode: Literal["warehouse", "articles"]  # stock per stock point, or one per article
    stock_points: list[str]  # the points summed (none without stock points)
    articles: int
    stock_articles: int
    full_read: bool  # the article register was read in full
    requests: int
    seconds: float  # waiting for the ERP (its rate limit included)
    warnings: list[str]


class PassError(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """`erp` and `shop` errors stopped (part of) the pass; `rejected` ones are items the shop
    refused while the rest was applied."""

    kind: Literal["erp", "shop", "rejected"]
    shop_id: str = ""
    erp: str = ""  # the ERP account, when the pass reads more than one
    message: str


class CatalogueCounts(msgspec.Struct, frozen=True, kw_only=True):
    full_read: bool
    listed: int
    skus: int


class NotRead(msgspec.Struct, frozen=True):
    """A step that did not get done: `{}`."""


class ShopPassSummary(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One shop's part of a pass; the keys in the order a person reads them."""

    catalogue: CatalogueCounts | NotRead
    open_orders_holding_stock: int
    matched: int
    changed: int
    pushed: int
    rejected: int
    retry_later: int
    fields: dict[str, int]
    batch_calls: int
    shop_calls: int
    only_in_erp: int
    only_in_shop: int
    rejected_waiting: int
    error: str | None = None  # the shop could not be read or written
    seconds: dict[str, float]  # per step: catalogue, open_orders, push
    seconds_in_shop_calls: float


class PassSummary(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A pass, as `POST /sync` answers it and `GET /status` shows the last one. `erp` is the
    ERP account read (left out when it could not be read); with several accounts `erps` has
    each by its key instead."""

    trigger: str
    ok: bool
    reconcile: bool
    started_at: str
    finished_at: str
    duration_seconds: float
    errors: list[PassError]
    erp: ErpSummary | None = None
    erps: dict[str, ErpSummary] = {}
    shops: dict[str, ShopPassSummary]


class NotSynced(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    field: str
    reason: str


class ShopReport(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /report` of one shop, as the last pass left it."""

    shop_id: str
    generated_at: str
    only_in_erp: list[str]
    only_in_shop: list[str]
    without_sku: list[int]
    not_synced: list[NotSynced]
    rejected: list[dict[str, Any]]


# ---------------------------------------------------------------- what the steps answer


@dataclass(frozen=True)
class ErpAccount:
    """One ERP account a pass reads once, and the shops it stocks."""

    erp: Erp
    shops: tuple[str, ...]


@dataclass(frozen=True)
class ErpRead:
    """An ERP account as one pass read it: articles by number, and the available stock per
    article summed over the selected stock points (stock articles only)."""

    articles: Mapping[str, ErpArticle]
    stock: Mapping[str, Decimal]
    summary: ErpSummary


@dataclass(frozen=True)
class Catalogue:
    """The shop's SKU map after this pass's read, and what the shop keeps apart from it."""

    items: Mapping[str, ShopItem]
    parent_skus: frozenset[str]
    without_sku: tuple[int, ...]
    counts: CatalogueCounts
    seconds: float


@dataclass(frozen=True)
class Held:
    """What open shop orders hold that the ERP does not count yet."""

    by_sku: Mapping[str, int] = field(default_factory=dict)
    orders: int = 0  # orders holding stock
    seconds: float | None = None  # None: not read (not asked for)


@dataclass(frozen=True)
class Changes:
    updates: tuple[Update, ...] = ()
    matched: int = 0  # SKUs with desired values
    retry_later: int = 0  # matched SKUs whose refused items wait for their retry
    skipped: tuple[Skipped, ...] = ()


@dataclass(frozen=True)
class BatchResult:
    applied: tuple[Update, ...]
    failed: tuple[ItemResult, ...]


@dataclass(frozen=True)
class PushResult:
    batch_calls: int = 0
    pushed: int = 0
    rejected: int = 0
    fields: Mapping[str, int] = field(default_factory=dict)  # fields applied, by name
    seconds: float | None = None  # None: nothing to push
    # The shop failed: the batches sent before are counted, the rest waits for the next pass.
    error: str | None = None


@dataclass(frozen=True)
class ReportCounts:
    only_in_erp: int = 0
    only_in_shop: int = 0
    rejected_waiting: int = 0


@dataclass
class ShopPass:
    """One shop's pass as far as it got: each step's result (a step not done: nothing)."""

    catalogue: Catalogue | None = None
    held: Held = field(default_factory=Held)
    changes: Changes = field(default_factory=Changes)
    push: PushResult = field(default_factory=PushResult)
    report: ReportCounts = field(default_factory=ReportCounts)
    error: str | None = None

    def timings(self) -> dict[str, float]:
        spent = {
            "catalogue": None if self.catalogue is None else self.catalogue.seconds,
            "open_orders": self.held.seconds,
            "push": self.push.seconds,
        }
        return {step: round(s, 4) for step, s in spent.items() if s is not None}

    def summary(self, shop_calls: int, seconds_in_shop_calls: float) -> ShopPassSummary:
        return ShopPassSummary(
            catalogue=NotRead() if self.catalogue is None else self.catalogue.counts,
            open_orders_holding_stock=self.held.orders,
            matched=self.changes.matched,
            changed=len(self.changes.updates),
            pushed=self.push.pushed,
            rejected=self.push.rejected,
            retry_later=self.changes.retry_later,
            fields=dict(self.push.fields),
            batch_calls=self.push.batch_calls,
            shop_calls=shop_calls,
            only_in_erp=self.report.only_in_erp,
            only_in_shop=self.report.only_in_shop,
            rejected_waiting=self.report.rejected_waiting,
            error=self.error,
            seconds=self.timings(),
            seconds_in_shop_calls=round(seconds_in_shop_calls, 4),
        )


@dataclass
class PassResult:
    """A pass's ERP accounts and shops as they went, before it is timed and summed up."""

    erps: dict[str, ErpSummary] = field(default_factory=dict)
    shops: dict[str, ShopPassSummary] = field(default_factory=dict)
    errors: list[PassError] = field(default_factory=list)

    def add_shop(self, shop_id: str, summary: ShopPassSummary) -> None:
        self.shops[shop_id] = summary
        if summary.error is not None:
            self.errors.append(PassError(kind="shop", shop_id=shop_id, message=summary.error))
        if summary.rejected:
            self.errors.append(
                PassError(
                    kind="rejected",
                    shop_id=shop_id,
                    message=f"{summary.rejected} item(s) refused by the shop,"
                    " retried on their own; see GET /report",
                )
            )


def _full_read_due(state: Mapping[str, Any] | None, now: datetime, full_refresh: float) -> bool:
    if state is None or state["full_read_due"] or state["full_read_at"] is None:
        return True
    return bool(now - state["full_read_at"] >= timedelta(seconds=full_refresh))


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
        accounts: Sequence[ErpAccount],
        shops: Mapping[str, ShopSide],
        config: StockConfig,
        metrics: SyncMetrics,
    ) -> None:
        self._pool = pool
        self._accounts = list(accounts)
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

    # ------------------------------------------------------------ the pass

    async def run_pass(
        self, trigger: str, *, reconcile: bool = False, retry_now: bool = False
    ) -> PassSummary:
        """Run one pass (waiting for one in progress anywhere to end); answers its summary."""
        async with self._lock, self._pool.acquire() as lock_conn, lock_conn.transaction():
            await store.lock_for_transaction(lock_conn, PASS_LOCK)
            started_at = datetime.now(UTC)
            started = time.perf_counter()
            result = await self._pass(reconcile, retry_now)
            finished_at = datetime.now(UTC)
            summary = self._summary(
                result, trigger, reconcile, started_at, finished_at, time.perf_counter() - started
            )
            await store.save_pass(
                lock_conn,
                started_at,
                finished_at,
                trigger,
                summary.ok,
                msgspec.to_builtins(summary),
            )
        self._observe(summary)
        return summary

    def _summary(
        self,
        result: PassResult,
        trigger: str,
        reconcile: bool,
        started_at: datetime,
        finished_at: datetime,
        duration: float,
    ) -> PassSummary:
        several = len(self._accounts) > 1
        return PassSummary(
            trigger=trigger,
            ok=all(e.kind == "rejected" for e in result.errors),
            reconcile=reconcile,
            started_at=started_at.isoformat(),
            finished_at=finished_at.isoformat(),
            duration_seconds=round(duration, 4),
            errors=result.errors,
            erp=None if several else next(iter(result.erps.values()), None),
            erps=result.erps if several else {},
            shops=result.shops,
        )

    def _observe(self, summary: PassSummary) -> None:
        self._metrics.passes.labels(summary.trigger, "ok" if summary.ok else "failed").inc()
        self._metrics.pass_seconds.observe(summary.duration_seconds)
        if summary.ok:
            self._metrics.last_success.set(time.time())
        log.info(
            "stock pass (%s) %s in %.2fs: %s pushed",
            summary.trigger,
            "done" if summary.ok else "failed",
            summary.duration_seconds,
            sum(s.pushed for s in summary.shops.values()),
        )

    async def _pass(self, reconcile: bool, retry_now: bool) -> PassResult:
        """Each ERP account read once, then each of its shops served from that reading."""
        result = PassResult()
        for account in self._accounts:
            try:
                erp = await self.read_erp(account, reconcile)
            except (ErpRejected, ErpUnavailable, StockPointError) as exc:
                log.error("stock pass: the ERP %s could not be read: %s", account.erp.key, exc)
                result.errors.append(self._erp_error(account, exc))
                continue
            result.erps[account.erp.key] = erp.summary
            for shop_id in account.shops:
                side = self._shops[shop_id]
                result.add_shop(
                    shop_id, await self._shop_pass(shop_id, side, erp, reconcile, retry_now)
                )
        return result

    def _erp_error(self, account: ErpAccount, exc: Exception) -> PassError:
        message = f"stock.stock_points: {exc}" if isinstance(exc, StockPointError) else str(exc)
        several = len(self._accounts) > 1
        return PassError(kind="erp", erp=account.erp.key if several else "", message=message)

    async def read_erp(self, account: ErpAccount, reconcile: bool) -> ErpRead:
        """Stock over the selected stock points, and the article register (in full when
        `reconcile` or due), through the ERP's capabilities."""
        erp = account.erp
        clock, requests = time.perf_counter(), erp.request_count
        levels = await erp.stock.stock(self._config.stock_points)
        register = await erp.articles.articles(full=reconcile, weights=self._config.sync_weight)
        stock = available_by_sku(
            (
                (article, point, available)
                for article, points in levels.by_article.items()
                for point, available in points.items()
            ),
            levels.stock_points,
        )
        summary = ErpSummary(
            mode="warehouse" if levels.per_point else "articles",
            stock_points=list(levels.stock_points),
            articles=len(register.articles),
            stock_articles=len(stock),
            full_read=register.full,
            requests=erp.request_count - requests,
            seconds=round(time.perf_counter() - clock, 4),
            warnings=list(levels.warnings),
        )
        return ErpRead(articles=register.articles, stock=stock, summary=summary)

    # ------------------------------------------------------------ one shop

    async def _shop_pass(
        self, shop_id: str, side: ShopSide, erp: ErpRead, reconcile: bool, retry_now: bool
    ) -> ShopPassSummary:
        calls_before, seconds_before = side.client.calls, side.seconds_in_calls
        done = ShopPass()
        try:
            await self._shop_steps(shop_id, side, erp, reconcile, retry_now, done)
        except (ShopUnavailable, ShopRejected) as exc:
            done.error = str(exc)
        if done.error is not None:
            log.error("stock pass: shop %s: %s", shop_id, done.error, extra={"shop_id": shop_id})
        return done.summary(
            side.client.calls - calls_before, side.seconds_in_calls - seconds_before
        )

    async def _shop_steps(
        self,
        shop_id: str,
        side: ShopSide,
        erp: ErpRead,
        reconcile: bool,
        retry_now: bool,
        done: ShopPass,
    ) -> None:
        """The steps in order, each result kept in `done` as it comes."""
        done.catalogue = await self.read_catalogue(shop_id, side, reconcile)
        done.held = await self.open_orders_held(shop_id, side)
        done.changes = await self.plan_changes(
            shop_id, done.catalogue, erp, done.held, reconcile=reconcile, retry_now=retry_now
        )
        done.push = await self.push(shop_id, side, done.changes.updates)
        if done.push.error is not None:
            done.error = done.push.error
            return
        done.report = await self.write_report(shop_id, done.catalogue, erp, done.changes)

    async def read_catalogue(self, shop_id: str, side: ShopSide, reconcile: bool) -> Catalogue:
        """The SKU map, read in full when due or asked, else what changed since the last read."""
        clock = time.perf_counter()
        read_at = datetime.now(UTC)
        state = await store.shop_state(self._pool, shop_id)
        full_read = reconcile or _full_read_due(state, read_at, self._config.full_refresh)
        since = None if full_read or state is None else state["read_since"]
        read = await side.read_catalogue(since)
        keep = store.replace_items if full_read else store.merge_items
        async with self._pool.acquire() as conn, conn.transaction():
            await keep(conn, shop_id, read, read_at - READ_MARGIN)
        seconds = time.perf_counter() - clock
        items = await store.load_items(self._pool, shop_id)
        state = await store.shop_state(self._pool, shop_id)
        assert state is not None
        return Catalogue(
            items=items,
            parent_skus=frozenset(state["parent_skus"]),
            without_sku=tuple(state["without_sku"]),
            counts=CatalogueCounts(full_read=full_read, listed=len(read.items), skus=len(items)),
            seconds=seconds,
        )

    async def open_orders_held(self, shop_id: str, side: ShopSide) -> Held:
        """What open orders hold, read last so it is as fresh as it can be."""
        config = self._config
        if not (config.sync_stock and config.subtract_open_orders and config.open_statuses):
            return Held()
        clock = time.perf_counter()
        creation = config.erp_counts_orders_at == "creation"
        since = await store.tracking_since(self._pool) if creation else None
        orders = await side.open_orders(config.open_statuses, since)
        seconds = time.perf_counter() - clock
        counted = (
            await store.linked_orders(self._pool, shop_id, [str(o.get("id")) for o in orders])
            if creation
            else set()
        )
        by_sku, holding = held_by_sku(orders, counted)
        return Held(by_sku=by_sku, orders=holding, seconds=seconds)

    async def plan_changes(
        self,
        shop_id: str,
        catalogue: Catalogue,
        erp: ErpRead,
        held: Held,
        *,
        reconcile: bool,
        retry_now: bool,
    ) -> Changes:
        """Desired values per matched SKU against those pushed before; values the shop shows
        already for SKUs never pushed are recorded as pushed."""
        items = catalogue.items
        desired, skipped = desired_by_sku(items, erp.articles, erp.stock, held.by_sku, self._config)
        pushed = await store.load_pushed(self._pool, shop_id)
        waiting = (
            set()
            if retry_now
            else await store.errors_waiting(self._pool, shop_id, datetime.now(UTC))
        )
        planned = diff(items, desired, pushed, reconcile=reconcile, hold_back=waiting)
        await store.record_pushed(
            self._pool,
            shop_id,
            {sku: (items[sku].product_id, v) for sku, v in planned.baseline.items()},
        )
        return Changes(
            updates=tuple(planned.updates),
            matched=len(desired),
            retry_later=len(waiting & set(desired)),
            skipped=tuple(skipped),
        )

    async def push(self, shop_id: str, side: ShopSide, updates: Sequence[Update]) -> PushResult:
        """The updates in batches; a shop that stops answering ends the push (and the pass of
        this shop) with the batches sent so far recorded."""
        if not updates:
            return PushResult()
        clock = time.perf_counter()
        fields = dict.fromkeys(FIELDS, 0)
        calls = pushed = rejected = 0
        error = None
        for batch in batches(updates):
            try:
                results = await side.send(batch)
            except (ShopUnavailable, ShopRejected) as exc:
                error = str(exc)
                break
            calls += 1
            sent = await self._record_batch(shop_id, batch, results)
            for update in sent.applied:
                for name in update.values:
                    fields[name] += 1
            pushed += len(sent.applied)
            rejected += len(sent.failed)
        return PushResult(
            batch_calls=calls,
            pushed=pushed,
            rejected=rejected,
            fields={name: n for name, n in fields.items() if n},
            seconds=time.perf_counter() - clock,
            error=error,
        )

    async def _record_batch(
        self, shop_id: str, batch: Batch, results: Sequence[ItemResult]
    ) -> BatchResult:
        """What one batch call did: applied values as pushed, refused items as errors (a
        product that no longer exists leaves the SKU map)."""
        by_sku = {u.sku: u for u in batch.updates}
        applied = tuple(by_sku[r.sku] for r in results if r.ok)
        failed = tuple(r for r in results if not r.ok)
        async with self._pool.acquire() as conn, conn.transaction():
            await store.record_pushed(
                conn, shop_id, {u.sku: (u.product_id, u.values) for u in applied}
            )
            await store.clear_errors(conn, shop_id, [u.sku for u in applied])
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
        self._count_batch(shop_id, applied, failed)
        return BatchResult(applied=applied, failed=failed)

    def _count_batch(
        self, shop_id: str, applied: Sequence[Update], failed: Sequence[ItemResult]
    ) -> None:
        self._metrics.batch_calls.labels(shop_id).inc()
        for update in applied:
            for name in update.values:
                self._metrics.pushed.labels(shop_id, name).inc()
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

    async def write_report(
        self, shop_id: str, catalogue: Catalogue, erp: ErpRead, changes: Changes
    ) -> ReportCounts:
        """The shop's report (`GET /report`): what is in one system only, what is not synced
        and why, and the items the shop refused."""
        items = catalogue.items
        report = ShopReport(
            shop_id=shop_id,
            generated_at=datetime.now(UTC).isoformat(),
            only_in_erp=sorted(set(erp.articles) - set(items) - catalogue.parent_skus),
            only_in_shop=sorted(set(items) - set(erp.articles)),
            without_sku=list(catalogue.without_sku),
            not_synced=[
                NotSynced(sku=s.sku, field=s.field, reason=s.reason)
                for s in sorted(changes.skipped, key=lambda s: (s.sku, s.field))
            ],
            rejected=await store.item_errors(self._pool, shop_id),
        )
        await store.save_report(self._pool, shop_id, msgspec.to_builtins(report))
        return ReportCounts(
            only_in_erp=len(report.only_in_erp),
            only_in_shop=len(report.only_in_shop),
            rejected_waiting=len(report.rejected),
        )


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
        age = await store.last_pass_age(self._pool)
        if age is None:
            return time.monotonic()
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
