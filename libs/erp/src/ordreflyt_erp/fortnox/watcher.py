"""Fortnox as a `DocumentWatcher`: which orders changed, and what their change needs.

The budget rule: the watcher reads a document only when its listed state says something changed
that matters (never a document erp-writer just created and already knows), and each change once.

- `changes`: `GET /3/orders?lastmodified=<watermark less the overlap>&limit=500`, page by page
  (`MetaInformation.@TotalPages`). A list entry has no rows: it is a `ListedDocument` with a
  digest of the header fields that move when something that matters to the shop happens
  (`documents.LISTED_FIELDS`). The next watermark is the latest `LastModified` listed, never
  later than the minute the poll began, and the old one when nothing was listed (`times.py`).
- `verdict`, for a listed order and the state already known of it:
  - nothing known (a link from before states were kept, or an event without one): `read`;
  - the listed digest equals the known one: `unchanged` (so an order erp-writer created and
    announced with its state is never read for its creation);
  - listed as invoiced or cancelled while the known state is not closed, and nothing else in
    the listing moved: `listed`. The state is the known one with the invoice or cancellation
    (`from_listing`, no request): Fortnox's createinvoice invoices the ordered quantity of
    every row, and a cancelled order's rows no longer matter. When another listed field moved
    too (a delivery with its shipments, in the sandbox), the order is read, so that delivery
    is not lost behind the invoice;
  - anything else: `read`.
  A closed state (invoiced or cancelled) is final: the poller neither reads nor lists it again.
- Real Fortnox lists no rows and no shipments: a partial delivery that moves none of the listed
  fields is seen when a listed field moves later, by a push (`POST /shipments/{shop}` of
  fulfillment-listener), or on an account with `read_every_change` (`ErpOptions`). Then the old
  rule holds: a listed order is read on every change of its `LastModified`, and not read again
  only when the state known was read after that minute was over (plus the clock skew tolerated;
  two changes within one minute share a `LastModified`).
- `read`: `GET /3/orders/{n}` as an `ErpDocumentState` (`documents.order_state`); None when
  Fortnox has no such order.

Every request goes through `_get`, the one place this watcher calls Fortnox.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import msgspec

from ordreflyt_contracts.erp import ErpDocumentState
from ordreflyt_erp.capabilities import DocumentChanges, ListedDocument, Verdict
from ordreflyt_erp.fortnox.client import FortnoxClient
from ordreflyt_erp.fortnox.documents import listed_digest, listed_order, order_state
from ordreflyt_erp.fortnox.times import (
    local_minute_text,
    minute_text,
    next_watermark,
    parse_minute,
    query_from,
    read_after_minute,
    utc_to_local_minute,
)
from ordreflyt_erp.options import ErpOptions
from ordreflyt_erp.ratelimit import Priority

PAGE_LIMIT = 500
# What an order that is neither invoiced nor cancelled shows in those fields.
_OPEN = {"InvoiceReference": "0", "Cancelled": False}


class FortnoxListed(ListedDocument, frozen=True, kw_only=True):
    """A listed order, with the digest its listing would have were it neither invoiced nor
    cancelled: equal to the known state's digest when nothing else in the listing moved."""

    open_listed: str = ""


def _pages(body: Any) -> int:
    meta = body.get("MetaInformation") if isinstance(body, Mapping) else None
    pages = meta.get("@TotalPages") if isinstance(meta, Mapping) else None
    try:
        return max(1, int(pages)) if pages is not None else 1
    except (TypeError, ValueError):
        return 1


def _entries(body: Any) -> list[Mapping[str, Any]]:
    orders = body.get("Orders") if isinstance(body, Mapping) else None
    return [entry for entry in orders or [] if isinstance(entry, Mapping)]


class FortnoxWatcher:
    """The orders of one Fortnox account, watched through its listing of changes."""

    def __init__(self, client: FortnoxClient, options: ErpOptions) -> None:
        self.client = client
        self.options = options
        self._zone = ZoneInfo(client.settings.timezone)

    async def _get(
        self, path: str, params: Mapping[str, str] | None = None, *, missing_ok: bool = False
    ) -> Any:
        """Every request of the watcher: after any waiting order write (its priority)."""
        return await self.client.request(
            "GET", path, params=params, missing_ok=missing_ok, priority=Priority.WATCH
        )

    def first_watermark(self, first_document_at: datetime) -> str:
        return local_minute_text(first_document_at, self._zone)

    def listed(self, entry: Mapping[str, Any], fallback: datetime) -> FortnoxListed:
        """An entry of `GET /3/orders`; `fallback`: the time when it has no `LastModified`."""
        document = listed_order(entry, self._zone, fallback)
        return FortnoxListed(
            **msgspec.structs.asdict(document), open_listed=listed_digest({**entry, **_OPEN})
        )

    async def changes(self, watermark: str, started: datetime) -> DocumentChanges:
        mark = parse_minute(watermark)
        since = minute_text(query_from(mark, self.options.overlap_minutes, self._zone, started))
        started_minute = utc_to_local_minute(started, self._zone)
        documents: list[ListedDocument] = []
        latest: datetime | None = None
        page = 1
        while True:
            body = await self._get(
                "/orders",
                {"lastmodified": since, "limit": str(PAGE_LIMIT), "page": str(page)},
            )
            for entry in _entries(body):
                document = self.listed(entry, started)
                documents.append(document)
                seen = self._minute(document.version, started_minute)
                latest = seen if latest is None else max(latest, seen)
            if page >= _pages(body):
                break
            page += 1
        moved = next_watermark(mark, latest, started_minute) or mark
        return DocumentChanges(since=since, documents=documents, watermark=minute_text(moved))

    @staticmethod
    def _minute(version: str, fallback: datetime) -> datetime:
        """The local minute of a listed `LastModified`; a list without one: the poll's start."""
        try:
            return parse_minute(version)
        except ValueError:
            return fallback

    def verdict(
        self, listed: ListedDocument, known: ErpDocumentState | None, read_at: datetime | None
    ) -> Verdict:
        if known is None:
            return "read"
        if self.options.read_every_change:
            fresh = listed.version == known.version and read_after_minute(
                listed.version, read_at, self._zone, self.options.clock_skew
            )
            return "unchanged" if fresh else "read"
        if listed.listed == known.listed:
            return "unchanged"
        if (listed.invoiced or listed.cancelled) and not known.closed:
            # A listing this watcher made tells whether anything besides that moved.
            only_closed = (
                listed.open_listed == known.listed if isinstance(listed, FortnoxListed) else True
            )
            if only_closed:
                return "listed"
        return "read"

    def from_listing(self, listed: ListedDocument, known: ErpDocumentState) -> ErpDocumentState:
        return msgspec.structs.replace(
            known,
            version=listed.version,
            changed_at=listed.changed_at,
            listed=listed.listed,
            invoiced=listed.invoiced,
            cancelled=listed.cancelled,
        )

    async def read(self, number: str) -> ErpDocumentState | None:
        body = await self._get(f"/orders/{quote(number, safe='')}", missing_ok=True)
        order = body.get("Order") if isinstance(body, Mapping) else None
        if not isinstance(order, Mapping):
            return None
        return order_state(order, self._zone)
