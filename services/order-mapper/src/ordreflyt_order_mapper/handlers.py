"""What order-mapper does with each message it consumes.

A shop order is sent to the ERP once, on its first paid state. A state that cannot be mapped
holds the order with reasons a person can act on; the next state of that order (the merchant
fixed it in the shop) or a release maps it again. A change to an order already sent is
recorded as "changed after transfer", and passed on as an update only when the merchant has
turned that on (the ERP decides whether it still allows it).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

import msgspec

from ordreflyt_contracts import (
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderRequested,
    ErpOrderUpdated,
    Event,
    OrderDeleted,
    OrderReceived,
    OrderRestored,
    WooOrder,
    decode_order,
    new_event_fields,
)
from ordreflyt_contracts.erp import ErpOrder
from ordreflyt_order_mapper.mapping import MappingHeld, map_order
from ordreflyt_order_mapper.rules import MappingRules
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.db import DbConn

log = logging.getLogger(__name__)

_order_json = msgspec.json.Encoder(decimal_format="string")
_fingerprint_json = msgspec.json.Encoder(decimal_format="string", order="sorted")

# The first state of a shop order, stored with its outcome (sent: transferred; held: reasons)
# in one statement. Nothing is inserted for an order already known.
_FIRST_STATE = """
INSERT INTO orders (shop_id, order_id, status, order_number, date_modified_gmt, latest, paid,
                    transferred_at, transferred_fingerprint, held_reasons, held_at)
VALUES ($1, $2, $3, $4, $5, $6, $7,
        CASE WHEN $8::text IS NULL THEN NULL ELSE now() END, $8::text,
        $9::text[], CASE WHEN $9::text[] IS NULL THEN NULL ELSE now() END)
ON CONFLICT DO NOTHING
RETURNING true
"""


# A state whose handling failed: stored (or its row updated) and held with the error.
_HOLD_FAILED = """
INSERT INTO orders (shop_id, order_id, status, order_number, date_modified_gmt, latest,
                    held_reasons, held_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, now())
ON CONFLICT (shop_id, order_id) DO UPDATE
SET held_reasons = excluded.held_reasons, held_at = coalesce(orders.held_at, now()),
    latest = CASE WHEN orders.transferred_at IS NULL THEN excluded.latest ELSE orders.latest END,
    updated_at = now()
"""


def fingerprint(erp_order: ErpOrder) -> str:
    """What the ERP would see of the order; equal fingerprints mean no change worth sending."""
    return hashlib.sha256(_fingerprint_json.encode(erp_order)).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What happened to a state, for logs, the HTTP answer of a release, and tests."""

    action: str  # sent, held, changed, recorded, stale, duplicate-transfer
    reasons: tuple[str, ...] = ()


class OrderMapper:
    def __init__(self, rules: MappingRules) -> None:
        self.rules = rules

    async def order_received(
        self, event: OrderReceived | OrderRestored, ctx: HandlerContext
    ) -> None:
        outcome = await self.apply_state(
            ctx, event.shop_id, event.order, restored=isinstance(event, OrderRestored)
        )
        log.info(
            "order state %s: %s",
            event.order.status,
            outcome.action,
            extra={"reasons": list(outcome.reasons)},
        )

    async def order_deleted(self, event: OrderDeleted, ctx: HandlerContext) -> None:
        await ctx.conn.execute(
            "UPDATE orders SET deleted = true, updated_at = now() WHERE shop_id = $1 AND order_id = $2",
            event.shop_id,
            event.shop_order_id,
        )
        log.info("order moved to the trash in the shop")

    async def apply_state(
        self,
        ctx: HandlerContext,
        shop_id: str,
        order: WooOrder,
        *,
        restored: bool = False,
    ) -> Outcome:
        conn = ctx.conn
        order_id = str(order.id)
        paid = order.status in self.rules.paid_statuses
        mapped = self._map(shop_id, order) if paid else None
        first = await self._first_state(ctx, shop_id, order, paid, mapped)
        if first is not None:
            return first
        # A known order. Rows are locked per order so replicas handle its states one at a time
        # (a first state being inserted meanwhile by another delivery is waited for above).
        row = await conn.fetchrow(
            "SELECT * FROM orders WHERE shop_id = $1 AND order_id = $2 FOR UPDATE",
            shop_id,
            order_id,
        )
        assert row is not None  # orders are never deleted
        if _is_older(order.date_modified_gmt, row["date_modified_gmt"]):
            return Outcome("stale")
        await conn.execute(
            "UPDATE orders SET status = $3, order_number = $4, date_modified_gmt = $5, latest = $6,"
            " paid = paid OR $7, deleted = deleted AND NOT $8, updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            order.status,
            order.number or order_id,
            order.date_modified_gmt,
            _order_json.encode(order),
            paid,
            restored,
        )
        if row["transferred_at"] is None:
            if not paid:
                return Outcome("recorded")
            assert mapped is not None
            return await self._transfer(ctx, shop_id, order, "paid", mapped)
        return await self._after_transfer(
            ctx,
            shop_id,
            order,
            row["transferred_fingerprint"],
            mapped if mapped is not None else self._map(shop_id, order),
        )

    def _map(self, shop_id: str, order: WooOrder) -> ErpOrder | MappingHeld:
        """The ERP order, or why the order is held."""
        try:
            return map_order(shop_id, order, self.rules)
        except MappingHeld as held:
            return held
        except (ArithmeticError, ValueError, LookupError) as exc:
            # The shop's data broke an assumption of the mapping: hold it, with the error.
            log.exception("mapping failed")
            return MappingHeld([f"the order could not be mapped: {type(exc).__name__}: {exc}"])

    def preview(self, shop_id: str, order: WooOrder) -> tuple[str, list[str]]:
        """What a first paid state of `order` would lead to, without storing anything:
        ("would-send" | "would-hold" | "not-paid", reasons)."""
        if order.status not in self.rules.paid_statuses:
            return "not-paid", []
        mapped = self._map(shop_id, order)
        if isinstance(mapped, MappingHeld):
            return "would-hold", mapped.reasons
        return "would-send", []

    async def hold_failed(self, event: Event, reason: str, ctx: HandlerContext) -> bool:
        """The hold hook: a state whose handling failed is held with the error as its reason
        (listed at /holds, released like any hold once the cause is fixed)."""
        if not isinstance(event, OrderReceived | OrderRestored):
            return False
        order = event.order
        if order.status not in self.rules.paid_statuses:
            return False  # nothing to send: the message takes the retry path (and the DLQ)
        await ctx.conn.execute(
            _HOLD_FAILED,
            event.shop_id,
            str(order.id),
            order.status,
            order.number or str(order.id),
            order.date_modified_gmt,
            _order_json.encode(order),
            [reason],
        )
        log.warning("order held: %s", reason)
        return True

    async def erp_reported(
        self, event: ErpOrderCreated | ErpOrderFailed | ErpOrderUpdated, ctx: HandlerContext
    ) -> None:
        """What erp-writer did with the order, kept with it (`GET /orders/{shop}/{order}`)."""
        if isinstance(event, ErpOrderCreated):
            status = "adopted" if event.adopted else "created"
            note = f"{event.document_kind} {event.document_number} in {event.erp}"
        elif isinstance(event, ErpOrderFailed):
            status, note = "parked", f"{event.erp} refused it: {event.code} {event.message}"
        else:
            status = "updated" if event.applied else "update-not-applied"
            note = event.reason or f"document {event.document_number} updated in {event.erp}"
        await ctx.conn.execute(
            "UPDATE orders SET erp_status = $3, erp_note = $4, updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2",
            event.shop_id,
            event.shop_order_id,
            status,
            note,
        )

    async def _first_state(
        self,
        ctx: HandlerContext,
        shop_id: str,
        order: WooOrder,
        paid: bool,
        mapped: ErpOrder | MappingHeld | None,
    ) -> Outcome | None:
        """Store the first state of an order not seen before, with what became of it; None if
        the order is known (nothing stored)."""
        erp_order = mapped if isinstance(mapped, ErpOrder) else None
        held = mapped if isinstance(mapped, MappingHeld) else None
        inserted = await ctx.conn.fetchval(
            _FIRST_STATE,
            shop_id,
            str(order.id),
            order.status,
            order.number or str(order.id),
            order.date_modified_gmt,
            _order_json.encode(order),
            paid,
            fingerprint(erp_order) if erp_order is not None else None,
            held.reasons if held is not None else None,
        )
        if not inserted:
            return None
        if held is not None:
            return _held(held)
        if erp_order is None:
            return Outcome("recorded")
        await self._send(ctx, shop_id, order, erp_order, "paid")
        return Outcome("sent")

    async def _send(
        self, ctx: HandlerContext, shop_id: str, order: WooOrder, erp_order: ErpOrder, reason: str
    ) -> None:
        await ctx.publish(
            ErpOrderRequested(
                **new_event_fields(shop_id, order.id),
                action="create",
                erp_order=erp_order,
                reason=reason,
            )
        )

    async def _transfer(
        self,
        ctx: HandlerContext,
        shop_id: str,
        order: WooOrder,
        reason: str,
        mapped: ErpOrder | MappingHeld,
    ) -> Outcome:
        if isinstance(mapped, MappingHeld):
            held = mapped
            await ctx.conn.execute(
                "UPDATE orders SET held_reasons = $3, held_at = coalesce(held_at, now())"
                " WHERE shop_id = $1 AND order_id = $2",
                shop_id,
                str(order.id),
                held.reasons,
            )
            return _held(held)
        erp_order = mapped
        await self._send(ctx, shop_id, order, erp_order, reason)
        await ctx.conn.execute(
            "UPDATE orders SET transferred_at = now(), transferred_fingerprint = $3,"
            " held_reasons = NULL, held_at = NULL WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            str(order.id),
            fingerprint(erp_order),
        )
        return Outcome("sent")

    async def _after_transfer(
        self,
        ctx: HandlerContext,
        shop_id: str,
        order: WooOrder,
        sent_fingerprint: str | None,
        mapped: ErpOrder | MappingHeld,
    ) -> Outcome:
        if isinstance(mapped, MappingHeld):
            held = mapped
            note = "changed after transfer; the new state cannot be mapped: " + "; ".join(
                held.reasons
            )
            await _mark_changed(ctx.conn, shop_id, order, note)
            return Outcome("changed", tuple(held.reasons))
        erp_order = mapped
        new_fingerprint = fingerprint(erp_order)
        if new_fingerprint == sent_fingerprint:
            return Outcome("recorded")
        if self.rules.apply_changes_to_erp:
            await ctx.publish(
                ErpOrderRequested(
                    **new_event_fields(shop_id, order.id),
                    action="update",
                    erp_order=erp_order,
                    reason="changed",
                )
            )
            await ctx.conn.execute(
                "UPDATE orders SET transferred_fingerprint = $3 WHERE shop_id = $1 AND order_id = $2",
                shop_id,
                str(order.id),
                new_fingerprint,
            )
            note = f"changed after transfer (status {order.status}); update sent to the ERP"
        else:
            note = f"changed after transfer (status {order.status}); not applied to the ERP"
        await _mark_changed(ctx.conn, shop_id, order, note)
        log.warning(note)
        return Outcome("changed")

    async def release(self, ctx: HandlerContext, shop_id: str, order_id: str) -> Outcome | None:
        """Map a held order's latest state again (after the cause was fixed) and send it."""
        row = await ctx.conn.fetchrow(
            "SELECT latest, transferred_at FROM orders WHERE shop_id = $1 AND order_id = $2 FOR UPDATE",
            shop_id,
            order_id,
        )
        if row is None or not row["latest"]:
            return None
        if row["transferred_at"] is not None:
            return Outcome("duplicate-transfer")
        order = decode_order(bytes(row["latest"]))
        return await self._transfer(ctx, shop_id, order, "released", self._map(shop_id, order))


async def _mark_changed(conn: DbConn, shop_id: str, order: WooOrder, note: str) -> None:
    await conn.execute(
        "UPDATE orders SET changed_after_transfer = true, change_note = $3 WHERE shop_id = $1 AND order_id = $2",
        shop_id,
        str(order.id),
        note,
    )


def _held(held: MappingHeld) -> Outcome:
    log.warning("order held: %s", "; ".join(held.reasons))
    return Outcome("held", tuple(held.reasons))


def _is_older(new: datetime | None, known: datetime | None) -> bool:
    return new is not None and known is not None and new < known
