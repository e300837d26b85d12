"""Polling each ERP account for changes to the documents Ordreflyt created.

One poll, by one process at a time across replicas (a PostgreSQL advisory lock on a connection
of its own, released by the server if the process dies), goes through every ERP account the
shops book into (`ErpDirectory.accounts()`), using only its `DocumentWatcher`, in named steps:

1. `list_changes`: the documents changed since the account's watermark (`poll_state`, by the
   account's key; before the first poll, from the first linked document on), all pages.
2. `handle_listed`: each listed document with a link gets what its watcher's verdict says,
   against the state known of it (`links.state`: from erp-writer's event, then from each read or
   listing): nothing when unchanged, the state from the listing alone when that tells all (an
   invoice, a cancellation), else a read. The budget rule is the watcher's: a document is read
   only when its listing says something that matters changed, and each change once. Documents
   without a link are not Ordreflyt's; parked ones wait for their retry. **Closed rule:** a link
   whose known state is closed (invoiced or cancelled) is never read or listed again.
   A new state is planned (`effects.plan_effects`) against the keys already recorded and
   recorded as pending in one transaction with the state; then applied (see `applier`).
3. `check_late_links`: links that still need a look and were not handled above (they came in
   after their document was listed, or it was not listed): with this listing's entry when it
   has one, else read. A state erp-writer sent is planned here without a request.
4. `move_watermark`: only when every document was handled does the watermark move on (to the
   one the watcher gave); an ERP that failed midway leaves it where it was, and the next poll
   lists the same changes again, recognising what was recorded by its keys. A document the ERP
   refuses to show is parked with the reason and does not hold the others up.

Every poll also applies effects still pending from earlier runs (a shop that was down, a pushed
shipment, a process that died). The summary (`PollSummary`) is what `POST /poll` answers and
`poll_state.last_result` keeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import msgspec
from msgspec import UNSET, UnsetType

from ordreflyt_contracts.erp import ErpDocumentState
from ordreflyt_erp import ErpRejected, ErpUnavailable
from ordreflyt_erp.capabilities import DocumentChanges, Erp, ListedDocument
from ordreflyt_erp.factory import ErpDirectory
from ordreflyt_fulfillment_listener import store
from ordreflyt_fulfillment_listener.applier import Applier, DrainResult
from ordreflyt_fulfillment_listener.config import FulfillmentConfig
from ordreflyt_fulfillment_listener.effects import erp_state, plan_effects
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

POLL_LOCK = "fulfillment-listener:poll:fortnox"


class DrainSummary(msgspec.Struct, kw_only=True):
    """Effects applied, conflicting, failed and still pending, as `shop/order key`."""

    applied: list[str] = []
    conflicts: list[str] = []
    failed: list[str] = []
    pending: list[str] = []

    @classmethod
    def of(cls, result: DrainResult) -> DrainSummary:
        return cls(
            applied=list(result.applied),
            conflicts=list(result.conflicts),
            failed=list(result.failed),
            pending=list(result.pending),
        )


class PollSummary(msgspec.Struct, kw_only=True):
    """What a poll did: listed documents, those Ordreflyt linked, documents read, effects
    recorded and what applying them came to; `since` where the listing began and `watermark`
    where it stands (one ERP account; with several, `watermarks` by account); `error` when an
    ERP could not be listed; `retried`: effects pending from earlier runs."""

    listed: int = 0
    linked: int = 0
    read: int = 0
    recorded: int = 0
    since: str | UnsetType = UNSET
    applied: list[str] = []
    conflicts: list[str] = []
    failed: list[str] = []
    pending: list[str] = []
    watermark: str | UnsetType | None = UNSET
    watermarks: dict[str, str | None] | UnsetType = UNSET
    error: str | UnsetType = UNSET
    retried: DrainSummary | UnsetType = UNSET

    @property
    def erp_failed(self) -> bool:
        return self.error is not UNSET


class PollSkipped(msgspec.Struct, kw_only=True):
    """Another process was polling (and the caller did not wait)."""

    skipped: str


@dataclass(frozen=True)
class Listing:
    """Step 1: the account's watermark before the poll, and what changed since (None before
    the account's first link)."""

    watermark: str | None
    changes: DocumentChanges | None

    @property
    def documents(self) -> dict[str, ListedDocument]:
        """The listed documents by number (the last entry of one listed twice)."""
        return {d.number: d for d in self.changes.documents} if self.changes else {}


@dataclass(frozen=True)
class Looked:
    """One linked document looked at: whether it was read, whether its state is settled
    (False: the ERP could not be read now, try again next poll), what applying it did."""

    read: bool = False
    settled: bool = True
    drained: DrainResult = field(default_factory=DrainResult)


@dataclass
class Handled:
    """Steps 2 and 3: the linked documents looked at and what came of them."""

    linked: int = 0
    read: int = 0
    complete: bool = True
    numbers: set[str] = field(default_factory=set)
    drained: DrainResult = field(default_factory=DrainResult)

    def add(self, number: str, looked: Looked) -> None:
        self.numbers.add(number)
        self.read += looked.read
        self.complete &= looked.settled
        self.drained.merge(looked.drained)

    def merge(self, other: Handled) -> None:
        self.linked += other.linked
        self.read += other.read
        self.complete &= other.complete
        self.numbers |= other.numbers
        self.drained.merge(other.drained)


class Poller:
    def __init__(
        self,
        pool: asyncpg.Pool,
        database_url: str,
        erps: ErpDirectory,
        applier: Applier,
        config: FulfillmentConfig,
        metrics: FulfillmentMetrics,
    ) -> None:
        self._pool = pool
        self._database_url = database_url
        self._erps = erps
        self._applier = applier
        self._config = config
        self._metrics = metrics
        self._lock = asyncio.Lock()
        # How far each account's changes were read (for the watermark gauge: the least).
        self._reached: dict[str, datetime] = {}

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

    async def poll_once(self, wait: bool = False) -> PollSummary | PollSkipped:
        """One poll of every ERP account and a run over pending effects. `wait`: wait for
        another replica's poll to end instead of skipping this one."""
        async with self._lock:
            conn = await asyncpg.connect(self._database_url)
            try:
                while not await store.try_lock(conn, POLL_LOCK):
                    if not wait:
                        self._metrics.polls.labels("skipped").inc()
                        return PollSkipped(skipped="another process is polling")
                    await asyncio.sleep(0.2)
                try:
                    summary = await self._poll()
                    # Effects already recorded are applied even when an ERP failed.
                    summary.retried = DrainSummary.of(await self.drain_pending())
                    return summary
                finally:
                    await store.unlock(conn, POLL_LOCK)
            finally:
                await conn.close()

    async def drain_pending(self) -> DrainResult:
        total = DrainResult()
        for shop_id, order_id in await orders_with_pending(self._pool):
            total.merge(await self._applier.drain(shop_id, order_id))
        return total

    async def _poll(self) -> PollSummary:
        summaries = {erp.key: await self.poll_account(erp) for erp in self._erps.accounts()}
        if self._reached:
            self._metrics.watermark.set(min(self._reached.values()).timestamp())
        return _combined(summaries)

    async def poll_account(self, erp: Erp) -> PollSummary:
        """The four steps for one ERP account."""
        started = datetime.now(UTC)
        with log_context(erp=erp.key):
            try:
                listing = await self.list_changes(erp, started)
            except (ErpUnavailable, ErpRejected) as exc:
                self._metrics.polls.labels("error").inc()
                log.warning("%s (%s) could not be listed: %s", erp.title, erp.key, exc)
                return PollSummary(error=f"the ERP ({erp.key}) could not be read: {exc}")
            handled = await self.handle_listed(erp, listing)
            handled.merge(await self.check_late_links(erp, listing, handled.numbers))
            return await self.move_watermark(erp, listing, handled, started)

    async def list_changes(self, erp: Erp, started: datetime) -> Listing:
        """Step 1: what changed since the account's watermark."""
        watermark = await store.watermark_of(self._pool, erp.key)
        since = watermark
        if since is None:
            first = await store.first_document_at(self._pool, erp.key)
            if first is None:
                return Listing(None, None)
            since = erp.watcher.first_watermark(first)
        return Listing(watermark, await erp.watcher.changes(since, started))

    async def handle_listed(self, erp: Erp, listing: Listing) -> Handled:
        """Step 2: every listed document Ordreflyt linked, by its verdict."""
        handled = Handled()
        documents = listing.documents
        links = await links_for_documents(self._pool, erp.key, list(documents))
        for number, listed in documents.items():
            link = links.get(number)
            if link is None:
                continue
            handled.linked += 1
            handled.add(number, await self.look(erp, link, listed))
        return handled

    async def check_late_links(
        self, erp: Erp, listing: Listing, handled: Collection[str]
    ) -> Handled:
        """Step 3: links still to look at that step 2 did not handle."""
        late = Handled()
        documents = listing.documents
        for link in await store.links_to_check(self._pool, erp.key, sorted(handled)):
            late.add(
                link.document_number,
                await self.look(erp, link, documents.get(link.document_number)),
            )
        return late

    async def move_watermark(
        self, erp: Erp, listing: Listing, handled: Handled, started: datetime
    ) -> PollSummary:
        """Step 4: the watermark moves on only when every document was handled."""
        drained = handled.drained
        summary = PollSummary(
            listed=len(listing.changes.documents) if listing.changes else 0,
            linked=handled.linked,
            read=handled.read,
            recorded=len(drained.applied) + len(drained.conflicts) + len(drained.failed),
            since=listing.changes.since if listing.changes else UNSET,
            **msgspec.structs.asdict(DrainSummary.of(drained)),
        )
        if not handled.complete:
            summary.watermark = listing.watermark
            await store.save_poll(self._pool, erp.key, None, encode_json(summary))
            self._metrics.polls.labels("incomplete").inc()
            log.warning("poll incomplete: the watermark stays at %s", listing.watermark)
            return summary
        new = listing.changes.watermark if listing.changes else None
        if new is None and handled.numbers:
            new = erp.watcher.first_watermark(started)
        summary.watermark = new
        await store.save_poll(self._pool, erp.key, new, encode_json(summary))
        self._note_reached(erp, listing, started)
        self._metrics.polls.labels("complete").inc()
        return summary

    def _note_reached(self, erp: Erp, listing: Listing, started: datetime) -> None:
        documents = listing.changes.documents if listing.changes else []
        if documents:
            latest = max(d.changed_at for d in documents)
            self._reached[erp.key] = min(latest, started.replace(second=0, microsecond=0))

    async def look(self, erp: Erp, link: Link, listed: ListedDocument | None) -> Looked:
        """One linked document: its verdict (a read when it was not listed), then its state
        planned and applied. Parked and closed links are left alone."""
        known = link.state
        if link.parked_reason is not None:
            return Looked()
        with log_context(shop_id=link.shop_id, shop_order_id=link.order_id):
            if known is not None and known.closed:
                # Final: the state known is planned once (a state from the event), never read.
                return await self._record(link, known, None) if link.needs_check else Looked()
            verdict = (
                erp.watcher.verdict(listed, known, link.fetched_at)
                if listed is not None
                else "read"
            )
            if verdict == "read" or known is None or listed is None:
                return await self.read(erp, link)
            if verdict == "listed":
                return await self._record(link, erp.watcher.from_listing(listed, known), None)
            return await self._record(link, known, None) if link.needs_check else Looked()

    async def read(self, erp: Erp, link: Link) -> Looked:
        """Read one document and record its state (parked when the ERP refuses or lacks it)."""
        number = link.document_number
        # Taken before the request: the state read is at least this recent.
        read_at = datetime.now(UTC)
        try:
            state = await erp.watcher.read(number)
        except ErpUnavailable as exc:
            log.warning("order %s not readable now: %s", number, exc)
            return Looked(read=True, settled=False)
        except ErpRejected as exc:
            return await self._park(link, f"{erp.title} refused to show order {number}: {exc}")
        except ValueError as exc:
            return await self._park(link, f"order {number} unreadable: {exc}")
        finally:
            self._metrics.erp_reads.inc()
        if state is None:
            return await self._park(link, f"order {number} is not in {erp.title}")
        looked = await self._record(link, state, read_at)
        return Looked(read=True, drained=looked.drained)

    async def _record(
        self, link: Link, state: ErpDocumentState, read_at: datetime | None
    ) -> Looked:
        """Plan the state's effects against those recorded, record them as pending with the
        state in one transaction, then apply them."""
        async with self._pool.acquire() as conn, conn.transaction():
            current = await store.lock_link(conn, link.shop_id, link.order_id)
            if current is None or (current.erp, current.document_number) != (
                link.erp,
                link.document_number,
            ):
                return Looked()  # linked to another document meanwhile: that one is checked
            done = await effect_keys(conn, link.shop_id, link.order_id)
            changed = erp_state(state, read_at or datetime.now(UTC))
            effects, covered = plan_effects(changed, done, current.covered, self._config)
            fresh = await record_effects(conn, link.shop_id, link.order_id, effects)
            await store.keep_state(conn, current, state, covered, read_at)
        if fresh:
            log.info("ERP order %s changed: %s", link.document_number, ", ".join(fresh))
        return Looked(drained=await self._applier.drain(link.shop_id, link.order_id))

    async def _park(self, link: Link, reason: str) -> Looked:
        await store.park_link(self._pool, link.shop_id, link.order_id, reason)
        log.error("order parked: %s", reason)
        return Looked(read=True)

    async def refresh_one(self, shop_id: str, order_id: str) -> DrainResult | None:
        """Read one linked order now and apply what changed (a retry, a resync: a person asked,
        so even a closed document is read)."""
        link = await get_link(self._pool, shop_id, order_id)
        if link is None:
            return None
        if link.document_kind != "order":
            return await self._applier.drain(shop_id, order_id)
        erp = self._erps.get(link.erp)
        if erp is None:
            raise ErpUnavailable(f"the ERP account {link.erp!r} of this order is not configured")
        with log_context(shop_id=shop_id, shop_order_id=order_id):
            looked = await self.read(erp, link)
        if not looked.settled:
            raise ErpUnavailable(f"order {link.document_number} could not be read; try again")
        return looked.drained


def _combined(summaries: dict[str, PollSummary]) -> PollSummary:
    """One account's summary as it is; several added up, their watermarks by account."""
    if len(summaries) == 1:
        return next(iter(summaries.values()))
    total = PollSummary(watermarks={})
    errors = []
    for key, summary in summaries.items():
        total.listed += summary.listed
        total.linked += summary.linked
        total.read += summary.read
        total.recorded += summary.recorded
        total.applied += summary.applied
        total.conflicts += summary.conflicts
        total.failed += summary.failed
        total.pending += summary.pending
        if isinstance(total.watermarks, dict) and isinstance(summary.watermark, str | None):
            total.watermarks[key] = summary.watermark
        if isinstance(summary.error, str):
            errors.append(summary.error)
    if errors:
        total.error = "; ".join(errors)
    return total
