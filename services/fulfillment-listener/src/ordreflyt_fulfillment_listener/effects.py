"""What an ERP change means for the shop order: the effects, their stable keys, and whether a
status may be set. Pure functions, no I/O.

An ERP document's state (what was ordered and delivered, shipments with their parcels,
invoiced, cancelled) is turned into effects, each with a key that is the same every time the
same change is seen, so recording the key makes the effect happen once:

- `shipment:<tracking numbers>`: a delivery with parcels: a note listing the parcels with their
  tracking links, and the parcels in the tracking meta. A pushed shipment with the same tracking
  numbers has the same key, so a parcel reported by both the ERP and a shipping system is
  announced once.
- `delivery:<delivered quantities after it>`: a delivery without parcels: a note of what was sent.
  When the ERP does not report shipments, this is the growth of its delivered quantities; not
  for an order whose parcels were pushed (their notes already say what was sent).
- `status:shipped`, `status:invoiced`, `status:cancelled`: the configured shop status for a full
  delivery, an invoice, a cancellation.

Before a status is set, `decide_status` compares it with the shop order: a shop order is never
moved backwards (by the configured rank), a terminal status (cancelled, refunded, ...) is never
changed, and a status a person set after the ERP change is not overwritten. Those cases are
conflicts: reported, not applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

from ordreflyt_contracts.erp import ErpDocumentState
from ordreflyt_fulfillment_listener.config import FulfillmentConfig

ZERO = Decimal(0)
# Longer keys are shortened to a digest (an order with very many articles).
MAX_KEY_LENGTH = 200


class Parcel(msgspec.Struct, frozen=True, kw_only=True):
    tracking_number: str
    carrier: str = ""
    url: str | None = None  # a link given by the sender wins over the carrier's template


class Effect(msgspec.Struct, frozen=True, kw_only=True):
    """One thing to do to a shop order, stored as JSON until it is done."""

    key: str
    kind: Literal["shipment", "status"]
    # When the ERP (or the pushing system) made the change, UTC.
    changed_at: datetime
    source: Literal["erp", "push"] = "erp"
    # Status effects: which ERP state ("shipped", "invoiced", "cancelled") and the shop status.
    erp_state: str = ""
    status: str = ""
    # Shipment effects: what was sent (article number / SKU -> quantity) and the parcels.
    lines: dict[str, Decimal] = {}
    parcels: tuple[Parcel, ...] = ()
    # Whether the order is delivered in full with this shipment (the note says so).
    complete: bool = False


@dataclass(frozen=True)
class ErpShipment:
    lines: Mapping[str, Decimal]
    parcels: tuple[Parcel, ...]


@dataclass(frozen=True)
class ErpState:
    """What Ordreflyt reads of one ERP document, ERP-neutral."""

    document_number: str
    changed_at: datetime  # of the latest change, UTC
    ordered: Mapping[str, Decimal]
    delivered: Mapping[str, Decimal]
    invoiced: bool
    cancelled: bool
    # None when the ERP does not report shipments (then delivered quantities are compared).
    shipments: tuple[ErpShipment, ...] | None = None

    @property
    def fully_delivered(self) -> bool:
        return bool(self.ordered) and all(
            self.delivered.get(article, ZERO) >= quantity
            for article, quantity in self.ordered.items()
        )


def erp_state(document: ErpDocumentState, seen_at: datetime) -> ErpState:
    """The ERP's account of a document as the effects see it; `seen_at` stands for the time of
    its change when the ERP did not say."""
    shipments = (
        None
        if document.shipments is None
        else tuple(
            ErpShipment(
                lines=dict(shipment.lines),
                parcels=tuple(
                    Parcel(tracking_number=p.tracking_number, carrier=p.carrier)
                    for p in shipment.parcels
                ),
            )
            for shipment in document.shipments
        )
    )
    return ErpState(
        document_number=document.number,
        changed_at=document.changed_at or seen_at,
        ordered=dict(document.ordered),
        delivered=dict(document.delivered),
        invoiced=document.invoiced,
        cancelled=document.cancelled,
        shipments=shipments,
    )


def quantity_text(quantity: Decimal) -> str:
    """2.00 -> "2", 1.50 -> "1.5" (as a person writes it)."""
    text = format(quantity.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _short(key: str) -> str:
    if len(key) <= MAX_KEY_LENGTH:
        return key
    prefix = key.split(":", 1)[0]
    return f"{prefix}:#{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def snapshot_text(quantities: Mapping[str, Decimal]) -> str:
    return ";".join(
        f"{article}={quantity_text(quantity)}"
        for article, quantity in sorted(quantities.items())
        if quantity != ZERO
    )


def shipment_key(parcels: Collection[Parcel], delivered_after: Mapping[str, Decimal]) -> str:
    """The key of a delivery: its tracking numbers, or (without parcels) what was delivered in
    total after it, which only grows from one delivery to the next."""
    if parcels:
        return _short("shipment:" + ",".join(sorted({p.tracking_number for p in parcels})))
    return _short("delivery:" + snapshot_text(delivered_after))


def status_key(erp_state: str) -> str:
    return f"status:{erp_state}"


def _add(total: dict[str, Decimal], more: Mapping[str, Decimal]) -> None:
    for article, quantity in more.items():
        total[article] = total.get(article, ZERO) + quantity


def plan_effects(
    state: ErpState,
    done: Collection[str],
    covered: Mapping[str, Decimal] | None,
    config: FulfillmentConfig,
) -> tuple[list[Effect], dict[str, Decimal]]:
    """The effects of `state` not in `done` (keys already recorded), in the order to apply them,
    and the delivered quantities they cover (`covered` is what earlier plans covered: a delivery
    without shipment details is what was delivered since)."""
    effects: list[Effect] = []
    when = state.changed_at
    if state.shipments is not None:
        cumulative: dict[str, Decimal] = {}
        last = len(state.shipments) - 1
        for i, shipment in enumerate(state.shipments):
            _add(cumulative, shipment.lines)
            effects.append(
                Effect(
                    key=shipment_key(shipment.parcels, cumulative),
                    kind="shipment",
                    changed_at=when,
                    lines=dict(shipment.lines),
                    parcels=shipment.parcels,
                    complete=i == last and state.fully_delivered,
                )
            )
    elif config.deliveries_from_quantities and not any(k.startswith("shipment:") for k in done):
        # Without shipment details the ERP's delivered quantities tell what was sent, unless a
        # shipping system pushes the order's parcels: then those notes say it, once.
        before = covered or {}
        sent = {
            article: quantity - before.get(article, ZERO)
            for article, quantity in state.delivered.items()
            if quantity > before.get(article, ZERO)
        }
        if sent:
            effects.append(
                Effect(
                    key=shipment_key((), state.delivered),
                    kind="shipment",
                    changed_at=when,
                    lines=sent,
                    complete=state.fully_delivered,
                )
            )
    if state.cancelled:
        wanted = [("cancelled", config.cancelled_status)]
    else:
        wanted = [
            ("shipped", config.shipped_status if state.fully_delivered else ""),
            ("invoiced", config.invoiced_status if state.invoiced else ""),
        ]
    for erp_state, status in wanted:
        if status:
            effects.append(
                Effect(
                    key=status_key(erp_state),
                    kind="status",
                    changed_at=when,
                    erp_state=erp_state,
                    status=status,
                )
            )
    seen: set[str] = set()
    fresh = []
    for effect in effects:
        if effect.key not in done and effect.key not in seen:
            fresh.append(effect)
        seen.add(effect.key)
    return fresh, dict(state.delivered)


@dataclass(frozen=True)
class ShopOrderView:
    """What the status decision needs of the shop order."""

    status: str
    modified_at: datetime | None  # date_modified_gmt, UTC


@dataclass(frozen=True)
class Decision:
    action: Literal["apply", "already", "conflict"]
    reason: str = ""


def decide_status(
    target: str,
    shop: ShopOrderView,
    known_status: str | None,
    changed_at: datetime,
    config: FulfillmentConfig,
    *,
    accept_later_change: bool = False,
) -> Decision:
    """May the shop order be set to `target` because of an ERP change at `changed_at`?

    `known_status` is the last status Ordreflyt set on the order (None: never set; then the
    paid statuses an order has when it reaches the ERP count as not set by a person).
    """
    current = shop.status
    rank = config.status_rank
    if current == target:
        return Decision("already")
    if current in config.terminal_statuses:
        return Decision("conflict", f"the shop order is {current}; it is not changed to {target}")
    if current not in rank:
        return Decision(
            "conflict",
            f"the shop order's status {current!r} has no rank in [fulfillment.status_rank], "
            f"so Ordreflyt cannot tell whether {target} is a step forward",
        )
    if target in config.terminal_statuses:
        # Ending an order is a step back once it is completed (paid and delivered).
        ceiling = rank.get("completed", max(rank.values()) + 1)
        if rank[current] >= ceiling:
            return Decision(
                "conflict", f"the shop order is already {current}; it is not set to {target}"
            )
    elif rank[target] <= rank[current]:
        return Decision(
            "conflict", f"setting {target} would move the shop order back from {current}"
        )
    set_by_person = (
        current != known_status if known_status is not None else current not in config.paid_statuses
    )
    if (
        set_by_person
        and not accept_later_change
        and shop.modified_at is not None
        and shop.modified_at > changed_at
    ):
        return Decision(
            "conflict",
            f"the status {current} was set in the shop at {shop.modified_at.isoformat()}, after "
            f"the ERP change at {changed_at.isoformat()}; it is not overwritten with {target}",
        )
    return Decision("apply")
