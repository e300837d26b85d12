"""Reading the shop's catalogue and open orders, and sending batch updates, over WooCommerce
REST v3 (through the shared shop client: auth, retries, paging).

- The catalogue as SKU -> (product id, parent id) plus the values the shop shows. In full:
  every product (100 a page) and the variations of every variable product (8 parents at a
  time). In between: only products modified since the last read (`modified_after`, GMT, from a
  minute before that read) and the variations of those that are variable. A changed variation
  whose parent did not move is seen at the next full read.
- Open orders: the orders in the open statuses, with their lines.
- Batches: one `POST <path>/batch` with `update` items per call; the answer lists each item's
  result in place, an error as `{"id", "error": {"code", "message"}}`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ordreflyt_shop import ShopRejected, WooClient
from ordreflyt_stock_syncer.plan import Batch, ShopItem

# Products that stand for a group of variations, and products that cannot be stocked.
PARENT_TYPES = ("variable", "variable-subscription")
NOT_SELLABLE_TYPES = ("grouped", "external")
VARIATION_READS_AT_ONCE = 8


@dataclass
class CatalogueRead:
    """What one read of the shop's catalogue found."""

    items: list[ShopItem] = field(default_factory=list)
    # Products seen (simple ones and parents): their earlier rows are replaced by `items`.
    product_ids: set[int] = field(default_factory=set)
    parent_ids: set[int] = field(default_factory=set)
    parent_skus: set[str] = field(default_factory=set)
    without_sku: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ItemResult:
    sku: str
    ok: bool
    code: str = ""
    message: str = ""


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(Decimal(str(value)))
    except InvalidOperation:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def item_from(raw: Mapping[str, Any], parent: Mapping[str, Any] | None = None) -> ShopItem:
    """A product or (with its parent) a variation as a ShopItem."""
    tax_class = _text(raw.get("tax_class"))
    if parent is not None and tax_class == "parent":
        tax_class = _text(parent.get("tax_class"))
    return ShopItem(
        sku=str(raw.get("sku") or ""),
        product_id=int(raw["id"]),
        parent_id=int(parent["id"]) if parent is not None else 0,
        # A variation may say "parent": its stock is the parent's, not its own.
        manage_stock=raw.get("manage_stock") is True,
        stock_quantity=_int(raw.get("stock_quantity")),
        name=None if parent is not None else _text(raw.get("name")),
        regular_price=_text(raw.get("regular_price")),
        weight=_text(raw.get("weight")),
        tax_class=tax_class,
    )


class TimedWooClient(WooClient):
    """The shop client, also adding up the time during which any of its calls was under way
    (concurrent calls count once), so a pass can tell its own time from the shop's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds = 0.0
        self._in_flight = 0
        self._busy_since = 0.0

    async def request(
        self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None
    ) -> tuple[Any, Mapping[str, str]]:
        if self._in_flight == 0:
            self._busy_since = time.perf_counter()
        self._in_flight += 1
        try:
            return await super().request(method, path, body, params)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self.seconds += time.perf_counter() - self._busy_since


def gmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class ShopSide:
    """One shop's REST API as the stock sync uses it."""

    def __init__(self, client: WooClient) -> None:
        self.client = client

    @property
    def seconds_in_calls(self) -> float:
        return float(getattr(self.client, "seconds", 0.0))

    async def read_catalogue(self, modified_after: datetime | None = None) -> CatalogueRead:
        """The whole catalogue, or (with `modified_after`, UTC) what changed since then."""
        params = {}
        if modified_after is not None:
            params = {"modified_after": gmt(modified_after), "dates_are_gmt": "true"}
        read = CatalogueRead()
        parents: list[Mapping[str, Any]] = []
        async for raw in self.client.list_all("/products", params):
            kind = raw.get("type")
            read.product_ids.add(int(raw["id"]))
            if kind in PARENT_TYPES:
                parents.append(raw)
                read.parent_ids.add(int(raw["id"]))
                if raw.get("sku"):
                    read.parent_skus.add(str(raw["sku"]))
            elif kind not in NOT_SELLABLE_TYPES:
                self._add(read, item_from(raw))
        gate = asyncio.Semaphore(VARIATION_READS_AT_ONCE)

        async def variations(parent: Mapping[str, Any]) -> list[ShopItem]:
            async with gate:
                return [
                    item_from(raw, parent)
                    async for raw in self.client.list_all(f"/products/{parent['id']}/variations")
                ]

        for found in await asyncio.gather(*(variations(p) for p in parents)):
            for item in found:
                self._add(read, item)
        return read

    @staticmethod
    def _add(read: CatalogueRead, item: ShopItem) -> None:
        if item.sku:
            read.items.append(item)
        else:
            read.without_sku.append(item.product_id)

    async def open_orders(
        self, statuses: Iterable[str], created_after: datetime | None
    ) -> list[dict[str, Any]]:
        params = {"status": ",".join(statuses)}
        if created_after is not None:
            params.update(after=gmt(created_after), dates_are_gmt="true")
        return [order async for order in self.client.list_all("/orders", params)]

    async def send(self, batch: Batch) -> list[ItemResult]:
        """One batch call; a refusal of the whole call counts as an error of every item."""
        items = [update.item() for update in batch.updates]
        try:
            answer = await self.client.post(f"{batch.path}/batch", {"update": items})
        except ShopRejected as rejected:
            return [
                ItemResult(u.sku, False, rejected.code or str(rejected.status), rejected.message)
                for u in batch.updates
            ]
        results = answer.get("update", []) if isinstance(answer, dict) else []
        by_id = {r.get("id"): r for r in results if isinstance(r, dict) and r.get("id") is not None}
        out = []
        for position, update in enumerate(batch.updates):
            # WooCommerce answers in the order of the request; the id confirms the match.
            result = results[position] if position < len(results) else None
            if not isinstance(result, dict) or result.get("id") != update.product_id:
                result = by_id.get(update.product_id)
            if result is None:
                out.append(ItemResult(update.sku, False, "no_result", "no result for this item"))
                continue
            error = result.get("error")
            if isinstance(error, dict):
                out.append(
                    ItemResult(
                        update.sku, False, str(error.get("code", "")), str(error.get("message", ""))
                    )
                )
            else:
                out.append(ItemResult(update.sku, True))
        return out
