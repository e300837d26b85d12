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
from ordreflyt_order_mapper.store import OrderStore
from ordreflyt_runtime.consumer import HandlerContext

log = logging.getLogger(__name__)

_fingerprint_json = msgspec.json.Encoder(decimal_format="string", order="sorted")


def fingerprint(erp_order: ErpOrder) -> str:
    """What the ERP would see of the order; equal fingerprints mean no change worth sending."""
    return hashlib.sha256(_fingerprint_json.encode(erp_order)).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """What happened to a state, for logs, the HTTP answer of a release, and tests."""

    action: str  # sent, held, changed, recorded, stale, duplicate-transfer
    reasons: tuple[str, ...] = ()


class OrderMapper:
    """The decisions; every statement goes through the store (the handler's transaction)."""

    def __init__(self, rules: MappingRules) -> None:
        self.rules = rules

    async def order_received(
        self, event: OrderReceived | OrderRestored, ctx: HandlerContext
    ) -> None:
        outcome = await self.apply_state(
            ctx,
            event.shop_id,
            event.order,
            paid=event.paid,
            restored=isinstance(event, OrderRestored),
        )
        log.info(
            "order state %s: %s",
            event.order.status,
            outcome.action,
            extra={"reasons": list(outcome.reasons)},
        )

    async def order_deleted(self, event: OrderDeleted, ctx: HandlerContext) -> None:
        await OrderStore(ctx.conn).mark_deleted(event.shop_id, event.shop_order_id)
        log.info("order moved to the trash in the shop")

    async def apply_state(
        self,
        ctx: HandlerContext,
        shop_id: str,
        order: WooOrder,
        *,
        paid: bool,
        restored: bool = False,
    ) -> Outcome:
        """A new state of an order; `paid` as intake decided it for this state."""
        store = OrderStore(ctx.conn)
        mapped = self._map(shop_id, order) if paid else None
        first = await self._first_state(ctx, store, shop_id, order, paid, mapped)
        if first is not None:
            return first
        # A known order (a first state being inserted meanwhile by another delivery is waited
        # for above, by the insert's conflict).
        known = await store.lock(shop_id, str(order.id))
        assert known is not None  # orders are never deleted
        if _is_older(order.date_modified_gmt, known.date_modified_gmt):
            return Outcome("stale")
        await store.add_state(shop_id, order, paid, restored)
        if not known.transferred:
            if not paid:
                return Outcome("recorded")
            assert mapped is not None
            return await self._transfer(ctx, store, shop_id, order, "paid", mapped)
        return await self._after_transfer(
            ctx,
            store,
            shop_id,
            order,
            known.transferred_fingerprint,
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

    def preview(self, shop_id: str, order: WooOrder, paid: bool) -> tuple[str, list[str]]:
        """What a first paid state of `order` would lead to, without storing anything:
        ("would-send" | "would-hold" | "not-paid", reasons)."""
        if not paid:
            return "not-paid", []
        mapped = self._map(shop_id, order)
        if isinstance(mapped, MappingHeld):
            return "would-hold", mapped.reasons
        return "would-send", []

    async def hold_failed(self, event: Event, reason: str, ctx: HandlerContext) -> bool:
        """The hold hook: a paid state whose handling failed is held with the error as its
        reason (listed at /holds, released like any hold once the cause is fixed)."""
        if not isinstance(event, OrderReceived | OrderRestored) or not event.paid:
            return False  # nothing to send: the message takes the retry path (and the DLQ)
        await OrderStore(ctx.conn).hold_failed(event.shop_id, event.order, reason)
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
        await OrderStore(ctx.conn).set_erp_status(event.shop_id, event.shop_order_id, status, note)

    async def _first_state(
        self,
        ctx: HandlerContext,
        store: OrderStore,
        shop_id: str,
        order: WooOrder,
        paid: bool,
        mapped: ErpOrder | MappingHeld | None,
    ) -> Outcome | None:
        """Store the first state of an order not seen before, with what became of it; None if
        the order is known (nothing stored)."""
        erp_order = mapped if isinstance(mapped, ErpOrder) else None
        held = mapped if isinstance(mapped, MappingHeld) else None
        inserted = await store.add_first_state(
            shop_id,
            order,
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
        store: OrderStore,
        shop_id: str,
        order: WooOrder,
        reason: str,
        mapped: ErpOrder | MappingHeld,
    ) -> Outcome:
        if isinstance(mapped, MappingHeld):
            await store.hold(shop_id, str(order.id), mapped.reasons)
            return _held(mapped)
        await self._send(ctx, shop_id, order, mapped, reason)
        await store.mark_transferred(shop_id, str(order.id), fingerprint(mapped))
        return Outcome("sent")

    async def _after_transfer(
        self,
        ctx: HandlerContext,
        store: OrderStore,
        shop_id: str,
        order: WooOrder,
        sent_fingerprint: str | None,
        mapped: ErpOrder | MappingHeld,
    ) -> Outcome:
        if isinstance(mapped, MappingHeld):
            note = "changed after transfer; the new state cannot be mapped: " + "; ".join(
                mapped.reasons
            )
            await store.mark_changed(shop_id, str(order.id), note)
            return Outcome("changed", tuple(mapped.reasons))
        new_fingerprint = fingerprint(mapped)
        if new_fingerprint == sent_fingerprint:
            return Outcome("recorded")
        if self.rules.apply_changes_to_erp:
            await ctx.publish(
                ErpOrderRequested(
                    **new_event_fields(shop_id, order.id),
                    action="update",
                    erp_order=mapped,
                    reason="changed",
                )
            )
            await store.mark_update_sent(shop_id, str(order.id), new_fingerprint)
            note = f"changed after transfer (status {order.status}); update sent to the ERP"
        else:
            note = f"changed after transfer (status {order.status}); not applied to the ERP"
        await store.mark_changed(shop_id, str(order.id), note)
        log.warning(note)
        return Outcome("changed")

    async def release(self, ctx: HandlerContext, shop_id: str, order_id: str) -> Outcome | None:
        """Map a held order's latest state again (after the cause was fixed) and send it."""
        store = OrderStore(ctx.conn)
        known = await store.lock(shop_id, order_id)
        if known is None or not known.latest:
            return None
        if known.transferred:
            return Outcome("duplicate-transfer")
        if not known.paid:
            return Outcome("not-paid")
        order = decode_order(known.latest)
        return await self._transfer(
            ctx, store, shop_id, order, "released", self._map(shop_id, order)
        )


def _held(held: MappingHeld) -> Outcome:
    log.warning("order held: %s", "; ".join(held.reasons))
    return Outcome("held", tuple(held.reasons))


def _is_older(new: datetime | None, known: datetime | None) -> bool:
    return new is not None and known is not None and new < known
