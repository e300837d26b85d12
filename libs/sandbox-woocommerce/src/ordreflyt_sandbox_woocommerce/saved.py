"""The shop kept in a state file (`--state-file` / `WOO_STATE_FILE`), so a restart continues it.

Everything the shop holds is saved: the id sequences (so the next order id continues), products
and their stock, orders with their items and meta, refunds, notes, coupons, webhooks with their
status and failure counts, the delivery log, and the deliveries still queued (sent after the
restart). Not saved, as they describe one run rather than the shop: the request counts and
batch log, item faults and fault rules, and the generator's rate and countries (the start flags
decide them again).

The webhooks configured at start (`--webhook-url`) are matched to the saved ones by URL and
topic: a match keeps its id, status and failure count (a disabled webhook stays disabled, as in
WooCommerce) and takes the configured secret; a topic without a match gets a new webhook. A
catalogue size or seed other than the file's stops the start (see `StateKeeper`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ordreflyt_sandbox_kit.statefile import StateKeeper, from_plain, to_plain
from ordreflyt_sandbox_woocommerce.models import (
    DeliveryRecord,
    Note,
    Order,
    Product,
    Refund,
    Webhook,
)
from ordreflyt_sandbox_woocommerce.pricing import CouponInput
from ordreflyt_sandbox_woocommerce.sandbox import add_start_webhook
from ordreflyt_sandbox_woocommerce.settings import WooSettings
from ordreflyt_sandbox_woocommerce.store import Sequences, Store
from ordreflyt_sandbox_woocommerce.webhooks import Dispatcher, QueuedDelivery, WebhookSpec

log = logging.getLogger(__name__)

KIND = "ordreflyt-sandbox-woocommerce"
# Raise when a change to the records cannot read the files written before it.
VERSION = 1


@dataclass
class SavedShop:
    sequences: Sequences
    products: list[Product]
    orders: list[Order]
    refunds: list[Refund]
    notes: list[Note]
    coupons: list[CouponInput]
    webhooks: list[Webhook]
    deliveries: list[DeliveryRecord]
    queued_deliveries: list[QueuedDelivery]


def keeper(path: Path, settings: WooSettings, store: Store, dispatcher: Dispatcher) -> StateKeeper:
    """Load the shop from `path` if it is there (StateFileError if it cannot be used)."""
    state_keeper = StateKeeper(
        path,
        KIND,
        VERSION,
        made_with={"products": settings.products, "seed": settings.seed},
        snapshot=lambda: snapshot(store, dispatcher),
        summary=lambda: summary(store),
    )
    if state_keeper.load(lambda state, skip: restore(store, dispatcher, state, skip)):
        _match_webhooks(store, settings.webhooks)
    return state_keeper


def snapshot(store: Store, dispatcher: Dispatcher) -> dict[str, Any]:
    saved = SavedShop(
        sequences=store.sequences,
        products=list(store.products.values()),
        orders=list(store.orders.values()),
        refunds=list(store.refunds.values()),
        notes=[note for notes in store.notes.values() for note in notes],
        coupons=list(store.coupons.values()),
        webhooks=list(store.webhooks.values()),
        deliveries=store.deliveries,
        queued_deliveries=dispatcher.queued(),
    )
    plain: dict[str, Any] = to_plain(saved)
    return plain


def summary(store: Store) -> dict[str, Any]:
    return {
        "orders": len(store.orders),
        "next_id": store.sequences.post,
        "products": len(store.products),
        "webhooks": len(store.webhooks),
    }


def restore(store: Store, dispatcher: Dispatcher, state: dict[str, Any], skip: int = 0) -> None:
    """The shop as saved; every id sequence `skip` further on (see `StateKeeper.load`)."""
    saved = from_plain(SavedShop, state)
    store.clear()
    store.sequences = Sequences(
        **{name: value + skip for name, value in dataclasses.asdict(saved.sequences).items()}
    )
    store.products = {p.id: p for p in saved.products}
    store.orders = {o.id: o for o in saved.orders}
    store.refunds = {r.id: r for r in saved.refunds}
    for note in saved.notes:
        store.notes.setdefault(note.order_id, []).append(note)
    store.coupons = {c.code: c for c in saved.coupons}
    store.webhooks = {w.id: w for w in saved.webhooks}
    store.deliveries = saved.deliveries
    dispatcher.clear()
    dispatcher.requeue(saved.queued_deliveries)


def _match_webhooks(store: Store, specs: list[WebhookSpec]) -> None:
    now = store.now()
    for spec in specs:
        for topic in spec.topics:
            found = next(
                (
                    w
                    for w in store.webhooks.values()
                    if (w.delivery_url, w.topic) == (spec.delivery_url, topic)
                ),
                None,
            )
            if found is None:
                add_start_webhook(store, spec, topic)
                continue
            if found.secret != spec.secret:
                found.secret = spec.secret
                found.date_modified = now
            if found.status != "active":
                log.warning(
                    "webhook %s (%s to %s) is %s, as saved; a shop admin would activate it "
                    'again: PUT /wp-json/wc/v3/webhooks/%s {"status": "active"}',
                    found.id,
                    topic,
                    found.delivery_url,
                    found.status,
                    found.id,
                )
