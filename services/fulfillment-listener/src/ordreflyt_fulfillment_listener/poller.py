"""Polling Fortnox for changes to the orders Ordreflyt created.

One poll, by one process at a time across replicas (a PostgreSQL advisory lock on a connection
of its own, released by the server if the process dies):

1. `GET /3/orders?lastmodified=<watermark less the overlap>` page by page (limit 500). Orders
   without a link are not Ordreflyt's and are skipped; so are parked ones (their retry reads
   them again) and ones whose state was already read after their minute was over.
2. Each remaining order is read in full (`GET /3/orders/{n}`), its effects planned against the
   keys already recorded, and recorded as pending in one transaction with what was read; then
   applied (see `applier`).
3. Links that arrived after their order was last listed are read too (`needs_check`).
4. Only when every listed order was read and recorded does the watermark move on (see
   `fortnox.next_watermark`); an ERP that failed midway leaves it where it was, and the next
   poll reads the same changes again, recognising what was recorded by its keys. A document the
   ERP refuses to show is parked with the reason and does not hold the others up.

Every poll also applies effects still pending from earlier runs (a shop that was down, a pushed
shipment, a process that died).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ordreflyt_erp import ErpRejected, ErpUnavailable
from ordreflyt_erp.fortnox import FortnoxClient
from ordreflyt_fulfillment_listener.applier import Applier, DrainResult
from ordreflyt_fulfillment_listener.config import FulfillmentConfig
from ordreflyt_fulfillment_listener.effects import plan_effects
from ordreflyt_fulfillment_listener.fortnox import (
    local_to_utc,
    minute_text,
    needs_fetch,
    next_watermark,
    order_state,
    parse_minute,
    query_from,
    utc_to_local_minute,
)
from ordreflyt_fulfillment_listener.metrics import FulfillmentMetrics
from ordreflyt_fulfillment_listener.store import (
    Link,
    effect_keys,
    encode_json,
    get_link,
    links_for_documents,
    orders_with_pending,
    record_effects,
)
from ordreflyt_runtime.logs import log_context

log = logging.getLogger(__name__)

ERP = "fortnox"
PAGE_LIMIT = 500
POLL_LOCK = "fulfillment-listener:poll:fortnox"


class Poller:
    def __init__(
        self,
        pool: asyncpg.Pool,
        database_url: str,
        fortnox: FortnoxClient,
        applier: Applier,
        config: FulfillmentConfig,
        metrics: FulfillmentMetrics,
    ) -> None:
        self._pool = pool
        self._database_url = database_url
        self._fortnox = fortnox
        self._applier = applier
        self._config = config
        self._metrics = metrics
        self._zone = config.zone
        self._lock = asyncio.Lock()

    async def run_forever(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._metrics.polls.labels("error").inc()
                log.exception("poll failed; trying again in %.0fs", self._config.poll_interval)
            await asyncio.sleep(self._config.poll_interval)

    async def poll_once(self, wait: bool = False) -> dict[str, Any]:
        """One poll and a run over pending effects. `wait`: wait for another replica's poll to
        end instead of skipping this one."""
        async with self._lock:
            conn = await asyncpg.connect(self._database_url)
            try:
                while not await conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1))", POLL_LOCK
                ):
                    if not wait:
                        self._metrics.polls.labels("skipped").inc()
                        return {"skipped": "another process is polling"}
                    await asyncio.sleep(0.2)
                try:
                    try:
                        summary = await self._poll()
                    except (ErpUnavailable, ErpRejected) as exc:
                        # Effects already recorded are still applied below.
                        self._metrics.polls.labels("error").inc()
                        log.warning("the ERP could not be listed: %s", exc)
                        summary = {"error": f"the ERP could not be read: {exc}"}
                    drained = await self.drain_pending()
                    summary["retried"] = _drain_json(drained)
                    return summary
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", POLL_LOCK)
            finally:
                await conn.close()

    async def drain_pending(self) -> DrainResult:
        total = DrainResult()
        for shop_id, order_id in await orders_with_pending(self._pool):
            total.merge(await self._applier.drain(shop_id, order_id))
        return total

    async def _start_watermark(self) -> datetime | None:
        raw = await self._pool.fetchval("SELECT watermark FROM poll_state WHERE erp = $1", ERP)
        if raw:
            return parse_minute(raw)
        # Never polled: from the first linked document on.
        first = await self._pool.fetchval(
            "SELECT min(erp_created_at) FROM links WHERE erp = $1 AND document_kind = 'order'", ERP
        )
        return utc_to_local_minute(first, self._zone) if first is not None else None

    async def _poll(self) -> dict[str, Any]:
        started = datetime.now(UTC)
        started_minute = utc_to_local_minute(started, self._zone)
        watermark = await self._start_watermark()
        summary: dict[str, Any] = {"listed": 0, "linked": 0, "read": 0, "recorded": 0}
        result = DrainResult()
        complete = True
        latest: datetime | None = None
        listed: set[str] = set()
        if watermark is not None:
            since = query_from(watermark, self._config.overlap_minutes, self._zone, started)
            summary["since"] = minute_text(since)
            page = 1
            while True:
                body = await self._fortnox.request(
                    "GET",
                    "/orders",
                    params={
                        "lastmodified": minute_text(since),
                        "limit": str(PAGE_LIMIT),
                        "page": str(page),
                    },
                )
                orders = [o for o in body.get("Orders") or [] if isinstance(o, dict)]
                summary["listed"] += len(orders)
                links = await links_for_documents(
                    self._pool, ERP, [str(o.get("DocumentNumber", "")) for o in orders]
                )
                for order in orders:
                    number = str(order.get("DocumentNumber", ""))
                    modified = str(order.get("LastModified") or "")
                    try:
                        seen = parse_minute(modified)
                    except ValueError:
                        # A list without LastModified: the poll's own start is the bound.
                        seen = started_minute
                    latest = seen if latest is None else max(latest, seen)
                    link = links.get(number)
                    if link is None:
                        continue
                    listed.add(number)
                    summary["linked"] += 1
                    if link.parked_reason is not None:
                        continue
                    if not link.needs_check and not needs_fetch(
                        modified,
                        link.erp_last_modified,
                        link.fetched_at,
                        self._zone,
                        self._config.erp_clock_skew,
                    ):
                        continue
                    ok, drained = await self.refresh(link)
                    complete &= ok
                    result.merge(drained)
                    summary["read"] += 1
                meta = body.get("MetaInformation") or {}
                if page >= int(meta.get("@TotalPages", 1) or 1):
                    break
                page += 1
        # Links that came in after their order was listed (or before the first poll).
        late = await self._pool.fetch(
            "SELECT * FROM links WHERE erp = $1 AND document_kind = 'order' AND needs_check"
            " AND parked_reason IS NULL AND NOT (document_number = ANY($2::text[]))",
            ERP,
            list(listed),
        )
        for row in late:
            ok, drained = await self.refresh(Link.from_row(row))
            complete &= ok
            result.merge(drained)
            summary["read"] += 1
        summary["recorded"] = len(result.applied) + len(result.conflicts) + len(result.failed)
        summary.update(_drain_json(result))
        if complete:
            new = next_watermark(watermark, latest, started_minute)
            if new is None and late:
                new = started_minute
            await self._pool.execute(
                "INSERT INTO poll_state (erp, watermark, last_poll_at, last_result)"
                " VALUES ($1, $2, now(), $3::jsonb) ON CONFLICT (erp) DO UPDATE SET"
                " watermark = EXCLUDED.watermark, last_poll_at = now(),"
                " last_result = EXCLUDED.last_result",
                ERP,
                minute_text(new) if new is not None else None,
                encode_json(summary),
            )
            if new is not None:
                self._metrics.watermark.set(local_to_utc(new, self._zone).timestamp())
            summary["watermark"] = minute_text(new) if new is not None else None
            self._metrics.polls.labels("complete").inc()
        else:
            await self._pool.execute(
                "INSERT INTO poll_state (erp, last_poll_at, last_result) VALUES ($1, now(), $2::jsonb)"
                " ON CONFLICT (erp) DO UPDATE SET last_poll_at = now(),"
                " last_result = EXCLUDED.last_result",
                ERP,
                encode_json(summary),
            )
            summary["watermark"] = minute_text(watermark) if watermark is not None else None
            self._metrics.polls.labels("incomplete").inc()
            log.warning("poll incomplete: the watermark stays at %s", summary["watermark"])
        return summary

    async def refresh(self, link: Link) -> tuple[bool, DrainResult]:
        """Read one ERP document, record its new effects and apply them. False when the ERP
        could not be read (try again next poll)."""
        with log_context(shop_id=link.shop_id, shop_order_id=link.order_id):
            # Taken before the request: the state read is at least this recent.
            fetched_at = datetime.now(UTC)
            try:
                body = await self._fortnox.request(
                    "GET", f"/orders/{link.document_number}", missing_ok=True
                )
                self._metrics.erp_reads.inc()
            except ErpUnavailable as exc:
                log.warning("order %s not readable now: %s", link.document_number, exc)
                return False, DrainResult()
            except ErpRejected as exc:
                await self._park(
                    link, f"Fortnox refused to show order {link.document_number}: {exc}"
                )
                return True, DrainResult()
            order = body.get("Order") if isinstance(body, dict) else None
            if not isinstance(order, dict):
                await self._park(link, f"order {link.document_number} is not in Fortnox")
                return True, DrainResult()
            try:
                state = order_state(order, self._zone)
            except ValueError as exc:
                await self._park(link, f"order {link.document_number} unreadable: {exc}")
                return True, DrainResult()
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT * FROM links WHERE shop_id = $1 AND order_id = $2 FOR UPDATE",
                    link.shop_id,
                    link.order_id,
                )
                assert row is not None
                current = Link.from_row(row)
                done = await effect_keys(conn, link.shop_id, link.order_id)
                effects, covered = plan_effects(state, done, current.covered, self._config)
                fresh = await record_effects(conn, link.shop_id, link.order_id, effects)
                await conn.execute(
                    "UPDATE links SET covered = $3::jsonb, erp_last_modified = $4,"
                    " fetched_at = $5, needs_check = false WHERE shop_id = $1 AND order_id = $2",
                    link.shop_id,
                    link.order_id,
                    encode_json(covered),
                    str(order.get("LastModified") or ""),
                    fetched_at,
                )
            if fresh:
                log.info("ERP order %s changed: %s", link.document_number, ", ".join(fresh))
            return True, await self._applier.drain(link.shop_id, link.order_id)

    async def _park(self, link: Link, reason: str) -> None:
        await self._pool.execute(
            "UPDATE links SET parked_reason = $3, parked_at = now()"
            " WHERE shop_id = $1 AND order_id = $2",
            link.shop_id,
            link.order_id,
            reason,
        )
        log.error("order parked: %s", reason)

    async def refresh_one(self, shop_id: str, order_id: str) -> DrainResult | None:
        """Read one linked order now and apply what changed (a retry, a resync)."""
        link = await get_link(self._pool, shop_id, order_id)
        if link is None:
            return None
        if link.document_kind != "order":
            return await self._applier.drain(shop_id, order_id)
        ok, drained = await self.refresh(link)
        if not ok:
            raise ErpUnavailable(f"order {link.document_number} could not be read; try again")
        return drained


def _drain_json(result: DrainResult) -> dict[str, list[str]]:
    return {
        "applied": result.applied,
        "conflicts": result.conflicts,
        "failed": result.failed,
        "pending": result.pending,
    }
