"""What an ERP is to Ordreflyt: four capabilities, typed, whatever the ERP.

- `DocumentWriter` (erp-writer): customers, orders and invoices, found by the shop order's
  external reference, completed (an order then its invoice), updated, missing articles created;
  the customer register read in step so a new customer costs only its create. Credit notes and
  cancellations come next, beside these.
- `DocumentWatcher` (fulfillment-listener): which documents changed since a watermark, from the
  ERP's listing, and a document's state (delivered quantities, invoiced, cancelled, parcels),
  read only when the listing says something that matters changed.
- `StockReader` (stock-syncer): available stock per article and stock point.
- `ArticleReader` (stock-syncer): the article register (names, prices, VAT, weights).

An `Erp` bundles one ERP account's implementations; `ordreflyt_erp.factory` opens the one each
shop's config names. Services use only these types: no ERP field name appears in a service.
Every implementation raises `ErpRejected` for a refusal (4xx), `ErpUnavailable` when the ERP
does not answer usefully, and `ErpAmbiguous` when a creating request may have reached it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

import msgspec

from ordreflyt_contracts.erp import (
    ErpCustomer,
    ErpDocumentState,
    ErpOrder,
    ErpParcel,
    ErpShipmentState,
)
from ordreflyt_erp.errors import ErpRejected
from ordreflyt_erp.vat import ErpVatRates

__all__ = [
    "ArticleReader",
    "Articles",
    "CustomerChanges",
    "DocumentChanges",
    "DocumentWatcher",
    "DocumentWriter",
    "Erp",
    "ErpArticle",
    "ErpDocument",
    "ErpDocumentState",
    "ErpParcel",
    "ErpShipmentState",
    "ListedDocument",
    "StockLevels",
    "StockReader",
    "Verdict",
]


# ---------------------------------------------------------------- writing documents


class ErpDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A document the writer created, found or completed."""

    kind: Literal["order", "invoice"]
    number: str
    customer_number: str
    invoice_number: str | None = None
    invoiced: bool = False
    cancelled: bool = False
    # The ERP's own figures for the document, VAT included, when its answer carries them.
    total: Decimal | None = None
    total_vat: Decimal | None = None
    # The document's state as the answer showed it (for its watcher), when the ERP says.
    state: ErpDocumentState | None = None


class CustomerChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Customers created or changed in the ERP since a watermark: e-mail (lower case) ->
    customer number; `watermark` is where the next read starts."""

    customers: dict[str, str]
    watermark: str


class DocumentWriter(Protocol):
    async def find_customer(self, email: str) -> str | None:
        """The customer number of the customer with exactly this e-mail, if any."""

    async def create_customer(self, customer: ErpCustomer) -> str: ...

    async def update_customer(self, number: str, customer: ErpCustomer) -> None: ...

    async def customers_changed(self, watermark: str | None) -> CustomerChanges:
        """The customer register (all of it when `watermark` is None, else what changed since),
        so a new customer can be created without looking it up first."""

    async def find_document(self, order: ErpOrder) -> ErpDocument | None:
        """The document carrying exactly `order.external_reference`, if an earlier attempt
        created one (ERP searches match substrings, so the match is checked exactly)."""

    async def create_document(self, order: ErpOrder, customer_number: str) -> ErpDocument: ...

    async def complete_document(self, order: ErpOrder, document: ErpDocument) -> ErpDocument:
        """Finish what the document kind asks for (an order then its invoice); idempotent."""

    async def update_document(self, order: ErpOrder, document: ErpDocument) -> bool:
        """Apply a changed order; False when the ERP no longer allows it (e.g. invoiced)."""

    async def create_missing_articles(self, order: ErpOrder) -> list[str]:
        """Create the order's articles the ERP does not have; returns their numbers."""

    def unknown_article(self, error: ErpRejected) -> bool:
        """Whether the ERP refused a document because a row names an article it lacks."""


# ---------------------------------------------------------------- watching documents


class ListedDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A document as the ERP's listing of changes shows it (no rows)."""

    number: str
    version: str  # the ERP's change mark (Fortnox: LastModified)
    changed_at: datetime  # UTC
    listed: str  # digest of the listed fields that matter (compare with ErpDocumentState.listed)
    invoiced: bool = False
    cancelled: bool = False


class DocumentChanges(msgspec.Struct, frozen=True, kw_only=True):
    """One listing: the documents changed since `since`, and the watermark to keep once every
    one of them was handled (an incomplete poll keeps the old one and lists them again)."""

    since: str
    documents: list[ListedDocument]
    watermark: str


Verdict = Literal["unchanged", "listed", "read"]


class DocumentWatcher(Protocol):
    def first_watermark(self, first_document_at: datetime) -> str:
        """The watermark of a watcher that never listed: the first linked document's time."""

    async def changes(self, watermark: str, started: datetime) -> DocumentChanges:
        """Every document changed since `watermark` (all pages); `started` is when the poll
        began (the next watermark never passes it)."""

    def verdict(
        self, listed: ListedDocument, known: ErpDocumentState | None, read_at: datetime | None
    ) -> Verdict:
        """What a listed document needs: nothing (`unchanged`), its state taken from the
        listing with what is known (`listed`, see `from_listing`), or a `read`."""

    def from_listing(self, listed: ListedDocument, known: ErpDocumentState) -> ErpDocumentState:
        """The state when the listing tells all that changed (for example: invoiced)."""

    async def read(self, number: str) -> ErpDocumentState | None:
        """The document's state; None when the ERP has no such document."""


# ---------------------------------------------------------------- stock and articles


class StockLevels(msgspec.Struct, frozen=True, kw_only=True):
    """Available stock (in stock less reserved) per article and stock point. An ERP without
    stock points reports everything under the point ""."""

    by_article: dict[str, dict[str, Decimal]]
    stock_points: list[str]  # the points read
    per_point: bool  # whether the ERP keeps stock per point (a warehouse module)
    warnings: list[str] = []


class ErpArticle(msgspec.Struct, frozen=True, kw_only=True):
    number: str
    description: str | None = None
    sales_price: Decimal | None = None  # net, in the ERP's currency
    vat: Decimal | None = None  # percent
    weight_grams: int | None = None
    stock_goods: bool | None = None  # None: the ERP did not say


class Articles(msgspec.Struct, frozen=True, kw_only=True):
    articles: dict[str, ErpArticle]
    full: bool  # read in full this time (else only the changed ones were read)


class StockReader(Protocol):
    async def stock(self, stock_points: Sequence[str]) -> StockLevels:
        """Available stock at the given points (all active points when empty). Raises
        `StockPointError` (ordreflyt_erp.errors) for a point the ERP does not have."""


class ArticleReader(Protocol):
    async def articles(self, *, full: bool, weights: bool) -> Articles:
        """The register, read in full when `full` or due, else only what changed; `weights`:
        make sure weights are known (some ERPs list them only on single reads)."""


# ---------------------------------------------------------------- one ERP account


@dataclass(frozen=True)
class Erp:
    """One ERP account and what it can do. `key` names it in stored links and watermarks
    ("fortnox" for the default Fortnox account, "fortnox:<account>" for others)."""

    key: str
    kind: str  # "fortnox"
    title: str
    vat_rates: ErpVatRates
    writer: DocumentWriter
    watcher: DocumentWatcher
    stock: StockReader
    articles: ArticleReader
    requests: _Counter

    @property
    def request_count(self) -> int:
        return self.requests.requests


class _Counter(Protocol):
    @property
    def requests(self) -> int: ...
