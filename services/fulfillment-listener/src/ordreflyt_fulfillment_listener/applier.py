"""Applying recorded effects to the shop order, each exactly once.

Per shop order, under a PostgreSQL advisory lock held for the whole run (so the poll, a push and
a retry, on any replica, never work on one order at the same time), the order's pending effects
are applied in the order they were recorded:

- Status: the shop order is read and `decide_status` says apply, already there, or conflict
  (recorded with its reason, logged with the order id, listed at GET /conflicts).
- Shipment: the note text is rendered and committed with the effect before it is sent; a run
  that finds a note text already stored (an earlier run may have died after sending) first looks
  for that note among the order's notes. Then the parcels are merged into the tracking meta
  (by tracking number, so a repeat adds nothing).

Marks are written on their own connection and committed at once, never inside the lock's
transaction, so a crash leaves them as they were. A refusal by the shop (4xx) marks the effect
failed and parks the order with the shop's message; its later effects wait for the retry. An
unavailable shop leaves the effect pending for the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ordreflyt_fulfillment_listener import store
from ordreflyt_fulfillment_listener.config import FulfillmentConfig
from ordreflyt_fulfillment_listener.effects import Effect, ShopOrderView, decide_status
from ordreflyt_fulfillment_listener.metrics import FulfillmentMetrics
from ordreflyt_fulfillment_listener.notes import (
    meta_value,
    note_matches,
    product_names,
    render_note,
    tracking_items,
)
from ordreflyt_fulfillment_listener.store import decode_effect, get_link
from ordreflyt_runtime.logs import log_context
from ordreflyt_shop import ShopRejected, ShopUnavailable, WooClient

log = logging.getLogger(__name__)


class Parked(Exception):
    """The shop refused an effect: the order waits for a person."""


@dataclass
class DrainResult:
    applied: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def merge(self, other: DrainResult) -> None:
        self.applied += other.applied
        self.conflicts += other.conflicts
        self.failed += other.failed
        self.pending += other.pending


def shop_time(value: Any) -> datetime | None:
    """A WooCommerce `*_gmt` date (`2026-11-20T10:15:00`, no offset) as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class Applier:
    def __init__(
        self,
        pool: asyncpg.Pool,
        shops: Mapping[str, WooClient],
        config: FulfillmentConfig,
        metrics: FulfillmentMetrics,
    ) -> None:
        self._pool = pool
        self._shops = shops
        self._config = config
        self._metrics = metrics

    async def drain(self, shop_id: str, order_id: str) -> DrainResult:
        """Apply the order's pending effects (nothing when the order is parked)."""
        result = DrainResult()

        def label(key: str) -> str:
            return f"{shop_id}/{order_id} {key}"

        with log_context(shop_id=shop_id, shop_order_id=order_id):
            async with store.order_lock(self._pool, shop_id, order_id):
                link = await get_link(self._pool, shop_id, order_id)
                if link is None or link.parked_reason is not None:
                    return result
                rows = await store.pending_effects(self._pool, shop_id, order_id)
                client = self._shops.get(shop_id)
                if client is None:
                    if rows:
                        await self._park(
                            shop_id, order_id, rows[0]["seq"], f"unknown shop {shop_id!r}"
                        )
                        result.failed.append(label(rows[0]["key"]))
                    return result
                known = link.known_status
                shop_order: dict[str, Any] | None = None
                for n, row in enumerate(rows):
                    effect = decode_effect(row["effect"])
                    try:
                        if shop_order is None:
                            shop_order = await client.get(f"/orders/{order_id}")
                        assert shop_order is not None
                        if effect.kind == "status":
                            shop_order, known, outcome = await self._status(
                                client, row["seq"], effect, shop_order, known
                            )
                            (result.conflicts if outcome == "conflict" else result.applied).append(
                                label(effect.key)
                            )
                        else:
                            shop_order = await self._shipment(
                                client, shop_id, order_id, row, effect, shop_order
                            )
                            result.applied.append(label(effect.key))
                    except ShopRejected as exc:
                        reason = f"shop refused {effect.key}: {exc}"
                        await self._park(shop_id, order_id, row["seq"], reason)
                        self._metrics.effects.labels(effect.kind, "failed").inc()
                        result.failed.append(label(effect.key))
                        result.pending += [label(r["key"]) for r in rows[n + 1 :]]
                        break
                    except ShopUnavailable as exc:
                        await store.attempt_failed(self._pool, row["seq"], str(exc))
                        log.warning("shop unavailable, %s stays pending: %s", effect.key, exc)
                        result.pending += [label(r["key"]) for r in rows[n:]]
                        break
        return result

    async def _finish(
        self, seq: int, state: str, outcome: str, known_status: str | None = None
    ) -> None:
        await store.finish_effect(self._pool, seq, state, outcome, known_status)

    async def _park(self, shop_id: str, order_id: str, seq: int, reason: str) -> None:
        await store.park_order(self._pool, shop_id, order_id, seq, reason)
        log.error("order parked: %s", reason)

    async def _status(
        self,
        client: WooClient,
        seq: int,
        effect: Effect,
        shop_order: dict[str, Any],
        known: str | None,
    ) -> tuple[dict[str, Any], str | None, str]:
        view = ShopOrderView(
            status=str(shop_order.get("status", "")),
            modified_at=shop_time(shop_order.get("date_modified_gmt")),
        )
        decision = decide_status(effect.status, view, known, effect.changed_at, self._config)
        if decision.action == "conflict":
            await self._finish(seq, "conflict", decision.reason)
            self._metrics.effects.labels("status", "conflict").inc()
            log.warning(
                "conflict on %s: %s",
                effect.key,
                decision.reason,
                extra={"conflict": effect.key, "shop_status": view.status},
            )
            return shop_order, known, "conflict"
        if decision.action == "already":
            await self._finish(seq, "applied", f"already {effect.status}", effect.status)
            self._metrics.effects.labels("status", "already").inc()
            return shop_order, effect.status, "applied"
        updated = await client.put(f"/orders/{shop_order['id']}", {"status": effect.status})
        await self._finish(
            seq, "applied", f"status {view.status} -> {effect.status}", effect.status
        )
        self._metrics.effects.labels("status", "applied").inc()
        log.info(
            "shop order set to %s (ERP: %s)",
            effect.status,
            effect.erp_state,
            extra={"effect": effect.key},
        )
        return dict(updated), effect.status, "applied"

    async def _shipment(
        self,
        client: WooClient,
        shop_id: str,
        order_id: str,
        row: asyncpg.Record,
        effect: Effect,
        shop_order: dict[str, Any],
    ) -> dict[str, Any]:
        seq: int = row["seq"]
        note: str | None = row["note"]
        sent = False
        if note is not None:
            # An earlier run stored this note and may have sent it before it died.
            existing = await client.get(f"/orders/{order_id}/notes")
            sent = any(
                isinstance(n, dict) and note_matches(note, str(n.get("note", "")))
                for n in existing or []
            )
        else:
            # In the shop's language (configured, else the one of the order's currency).
            templates = self._config.templates_for(shop_id, str(shop_order.get("currency") or ""))
            note = render_note(effect, self._config, product_names(shop_order), templates)
            await store.keep_note(self._pool, seq, note)
        if not sent:
            await client.post(
                f"/orders/{order_id}/notes",
                {"note": note, "customer_note": self._config.notify_customer},
            )
        key = self._config.tracking_meta_key
        if key and effect.parcels:
            earlier = await store.applied_shipments(self._pool, shop_id, order_id)
            items = tracking_items(
                [*earlier, effect],
                meta_value(shop_order.get("meta_data") or [], key),
                self._config,
            )
            if items is not None:
                shop_order = dict(
                    await client.put(
                        f"/orders/{order_id}", {"meta_data": [{"key": key, "value": items}]}
                    )
                )
        await self._finish(
            seq, "applied", "note sent" if not sent else "note found after a restart"
        )
        self._metrics.effects.labels("shipment", "applied").inc()
        log.info(
            "shipment announced: %s",
            ", ".join(p.tracking_number for p in effect.parcels) or "no parcels",
            extra={"effect": effect.key},
        )
        return shop_order
