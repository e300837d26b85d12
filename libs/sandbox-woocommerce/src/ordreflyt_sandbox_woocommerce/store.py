"""The shop's state in memory: records, id sequences, the clock and the events to deliver.

Ids follow WordPress: products, variations, orders and refunds share one post-id sequence (so
order ids are not contiguous), while order items, meta rows, notes and webhooks have their own.
Every change that WooCommerce would announce through a webhook hook is recorded with `emit`;
whoever finishes a unit of work (an HTTP request, a generator step) passes `take_events()` to
the webhook dispatcher, which applies WooCommerce's once-per-request rule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ordreflyt_sandbox_woocommerce.errors import WooError
from ordreflyt_sandbox_woocommerce.models import (
    CORE_ORDER_STATUSES,
    DeliveryRecord,
    Meta,
    Note,
    Order,
    Product,
    Refund,
    Webhook,
)
from ordreflyt_sandbox_woocommerce.pricing import CouponInput

Clock = Callable[[], datetime]

# A post-id sequence that does not start at 1, as on a shop with some history.
FIRST_POST_ID = 100


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Sequences:
    """The next id of each of WordPress's id sequences."""

    post: int = FIRST_POST_ID
    item: int = 1
    meta: int = 1
    note: int = 1
    webhook: int = 1


@dataclass(frozen=True)
class Event:
    """A WooCommerce action that webhooks listen to: topic plus the resource id."""

    topic: str
    resource_id: int


@dataclass
class ItemFault:
    """A sandbox rule: updates of the product with this SKU fail with this error, `count`
    times (None: until the rules are cleared), so a client's per-item error path can be tested."""

    sku: str
    status: int
    code: str
    message: str
    count: int | None = None


# Batch calls remembered for `GET /_sandbox/requests` (oldest dropped first).
BATCH_LOG_LIMIT = 1000


class Store:
    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        custom_statuses: tuple[str, ...] = (),
        prices_include_tax: bool = False,
    ) -> None:
        self.clock = clock
        self.custom_statuses = custom_statuses
        self.prices_include_tax = prices_include_tax
        self.clear()

    def clear(self) -> None:
        self.products: dict[int, Product] = {}
        self.orders: dict[int, Order] = {}
        self.refunds: dict[int, Refund] = {}
        self.notes: dict[int, list[Note]] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.coupons: dict[str, CouponInput] = {}
        self.deliveries: list[DeliveryRecord] = []
        # REST requests seen, by "METHOD route", and the batch calls with their item ids.
        self.requests: Counter[str] = Counter()
        self.batches: list[dict[str, Any]] = []
        self.item_faults: dict[str, ItemFault] = {}
        self._events: list[Event] = []
        self.sequences = Sequences()

    # -- ids, time, events ----------------------------------------------------------------

    def now(self) -> datetime:
        """The current time in whole seconds, the resolution WordPress stores."""
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def next_post_id(self) -> int:
        self.sequences.post += 1
        return self.sequences.post - 1

    def next_item_id(self) -> int:
        self.sequences.item += 1
        return self.sequences.item - 1

    def next_note_id(self) -> int:
        self.sequences.note += 1
        return self.sequences.note - 1

    def next_webhook_id(self) -> int:
        self.sequences.webhook += 1
        return self.sequences.webhook - 1

    def meta(self, key: str, value: Any, **display: str) -> Meta:
        self.sequences.meta += 1
        return Meta(
            self.sequences.meta - 1,
            key,
            value,
            display.get("display_key"),
            display.get("display_value"),
        )

    def emit(self, topic: str, resource_id: int) -> None:
        self._events.append(Event(topic, resource_id))

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def log_batch(self, path: str, parts: dict[str, list[Any]]) -> None:
        update_ids = [i.get("id") if isinstance(i, dict) else None for i in parts["update"]]
        self.batches.append(
            {
                "path": path,
                "create": len(parts["create"]),
                "update": update_ids,
                "delete": len(parts["delete"]),
            }
        )
        del self.batches[:-BATCH_LOG_LIMIT]

    def check_item_fault(self, sku: str) -> None:
        """Raise the error a sandbox rule sets for updates of this SKU, if there is one."""
        fault = self.item_faults.get(sku) if sku else None
        if fault is None:
            return
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                del self.item_faults[sku]
        raise WooError(fault.status, fault.code, fault.message)

    # -- lookups ----------------------------------------------------------------------------

    @property
    def order_statuses(self) -> list[str]:
        return [*CORE_ORDER_STATUSES, *self.custom_statuses]

    def order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise WooError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return order

    def product(self, product_id: int, *, error_status: int = 404) -> Product:
        product = self.products.get(product_id)
        if product is None:
            raise WooError(error_status, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return product

    def variations_of(self, product: Product) -> list[Product]:
        return [self.products[v] for v in product.variation_ids if v in self.products]

    def product_by_sku(self, sku: str) -> Product | None:
        for product in self.products.values():
            if product.sku == sku and product.status != "trash":
                return product
        return None

    def refunds_of(self, order: Order) -> list[Refund]:
        return [self.refunds[r] for r in order.refund_ids if r in self.refunds]

    def add_note(self, order: Order, text: str, *, customer_note: bool = False) -> Note:
        """Notes are comments: adding one does not save the order or fire a webhook."""
        note = Note(self.next_note_id(), order.id, self.now(), text, customer_note)
        self.notes.setdefault(order.id, []).append(note)
        return note
