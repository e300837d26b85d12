"""An ERP in memory implementing every capability, for unit tests of the services.

It behaves as the capabilities promise (exact reference and e-mail matches, a listing of
changes since a watermark, stock per point, the article register) and lets a test script what
an ERP does wrong: `fail_next(method, error)` makes the next call of a method raise (an
`ErpAmbiguous` after the create was stored, with `stored=True`, is a create that reached the
ERP and whose answer was lost), `totals` sets the ERP's own figures for the next document, and
`calls` counts every call by method, the way an ERP's request budget counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import msgspec

from ordreflyt_contracts.erp import ErpCustomer, ErpDocumentState, ErpOrder
from ordreflyt_erp.capabilities import (
    Articles,
    CustomerChanges,
    DocumentChanges,
    Erp,
    ErpArticle,
    ErpDocument,
    ListedDocument,
    StockLevels,
    Verdict,
)
from ordreflyt_erp.errors import ErpRejected, StockPointError
from ordreflyt_erp.vat import FORTNOX, ErpVatRates

UNKNOWN_ARTICLE = "unknown-article"


@dataclass
class _Failure:
    error: Exception
    stored: bool  # the call's effect happens before it raises


@dataclass
class _Document:
    document: ErpDocument
    reference: str
    state: ErpDocumentState
    changed: int  # the fake's clock tick of the last change


@dataclass
class FakeErp:
    """Every capability of one ERP account, in memory."""

    key: str = "fake"
    vat_rates: ErpVatRates = FORTNOX
    customers: dict[str, ErpCustomer] = field(default_factory=dict)  # number -> customer
    documents: dict[str, _Document] = field(default_factory=dict)  # number -> document
    articles_register: dict[str, ErpArticle] = field(default_factory=dict)
    stock_by_point: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    # The ERP's own totals for the next created document (None: the mapped order's).
    totals: tuple[Decimal, Decimal] | None = None
    _failures: dict[str, list[_Failure]] = field(default_factory=dict)
    _tick: int = 0
    _customer_ticks: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------ scripting

    def fail_next(self, method: str, error: Exception, *, stored: bool = False) -> None:
        self._failures.setdefault(method, []).append(_Failure(error, stored))

    def bundle(self) -> Erp:
        return Erp(
            key=self.key,
            kind="fake",
            title="Fake ERP",
            vat_rates=self.vat_rates,
            writer=self,
            watcher=self,
            stock=self,
            articles=self,
            requests=self,
        )

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    def change(self, number: str, **fields: object) -> None:
        """What a person does in the ERP: change a document's state (delivered, invoiced...)."""
        doc = self.documents[number]
        self._tick += 1
        state = msgspec.structs.replace(
            doc.state,
            **fields,
            version=str(self._tick),
            listed=f"v{self._tick}",
            changed_at=self._now(),
        )
        doc.state, doc.changed = state, self._tick

    def _call(self, method: str) -> _Failure | None:
        self.calls[method] += 1
        waiting = self._failures.get(method)
        if not waiting:
            return None
        failure = waiting.pop(0)
        if not failure.stored:
            raise failure.error
        return failure

    def _now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self._tick)

    # ------------------------------------------------------------ DocumentWriter

    async def find_customer(self, email: str) -> str | None:
        self._call("find_customer")
        for number, customer in self.customers.items():
            if customer.email == email:
                return number
        return None

    async def create_customer(self, customer: ErpCustomer) -> str:
        failure = self._call("create_customer")
        number = str(len(self.customers) + 1)
        self.customers[number] = customer
        self._tick += 1
        self._customer_ticks[number] = self._tick
        if failure is not None:
            raise failure.error
        return number

    async def update_customer(self, number: str, customer: ErpCustomer) -> None:
        self._call("update_customer")
        if number not in self.customers:
            raise ErpRejected("not-found", f"no customer {number}")
        self.customers[number] = customer
        self._tick += 1
        self._customer_ticks[number] = self._tick

    async def customers_changed(self, watermark: str | None) -> CustomerChanges:
        self._call("customers_changed")
        since = int(watermark or 0)
        return CustomerChanges(
            customers={
                c.email: n
                for n, c in self.customers.items()
                if self._customer_ticks.get(n, 0) > since
            },
            watermark=str(self._tick),
        )

    async def find_document(self, order: ErpOrder) -> ErpDocument | None:
        self._call("find_document")
        for doc in self.documents.values():
            if doc.reference == order.external_reference:
                return doc.document
        return None

    async def create_document(self, order: ErpOrder, customer_number: str) -> ErpDocument:
        failure = self._call("create_document")
        missing = [
            line.article_number
            for line in order.lines
            if line.article_number
            and self.articles_register
            and line.article_number not in self.articles_register
        ]
        if missing:
            raise ErpRejected(UNKNOWN_ARTICLE, f"no article {', '.join(missing)}")
        self._tick += 1
        number = str(len(self.documents) + 1)
        total, vat = self.totals or (order.total, order.total_vat)
        self.totals = None
        ordered: dict[str, Decimal] = {}
        for line in order.lines:
            if line.article_number:
                ordered[line.article_number] = ordered.get(line.article_number, Decimal(0)) + (
                    line.quantity
                )
        kind: Literal["order", "invoice"] = "invoice" if order.document == "invoice" else "order"
        state = ErpDocumentState(
            number=number,
            version=str(self._tick),
            changed_at=self._now(),
            listed=f"v{self._tick}",
            ordered=ordered,
            delivered=dict(ordered) if order.delivery_state == "delivery" else {},
        )
        document = ErpDocument(
            kind=kind,
            number=number,
            customer_number=customer_number,
            invoiced=kind == "invoice",
            total=total,
            total_vat=vat,
            state=state if kind == "order" else None,
        )
        self.documents[number] = _Document(document, order.external_reference, state, self._tick)
        if failure is not None:
            raise failure.error
        return document

    async def complete_document(self, order: ErpOrder, document: ErpDocument) -> ErpDocument:
        self._call("complete_document")
        if order.document != "order_then_invoice" or document.kind != "order" or document.invoiced:
            return document
        done = ErpDocument(
            kind="order",
            number=document.number,
            customer_number=document.customer_number,
            invoice_number=f"F{document.number}",
            invoiced=True,
            total=document.total,
            total_vat=document.total_vat,
        )
        self.documents[document.number].document = done
        self.change(document.number, invoiced=True)
        return done

    async def update_document(self, order: ErpOrder, document: ErpDocument) -> bool:
        self._call("update_document")
        doc = self.documents[document.number]
        if doc.state.closed:
            return False
        self.change(document.number)
        return True

    async def create_missing_articles(self, order: ErpOrder) -> list[str]:
        self._call("create_missing_articles")
        created = []
        for line in order.lines:
            number = line.article_number
            if number and number not in self.articles_register:
                self.articles_register[number] = ErpArticle(number=number)
                created.append(number)
        return created

    def unknown_article(self, error: ErpRejected) -> bool:
        return error.code == UNKNOWN_ARTICLE

    # ------------------------------------------------------------ DocumentWatcher

    def first_watermark(self, first_document_at: datetime) -> str:
        return "0"

    async def changes(self, watermark: str, started: datetime) -> DocumentChanges:
        self._call("changes")
        since = int(watermark)
        listed = [
            ListedDocument(
                number=number,
                version=doc.state.version,
                changed_at=doc.state.changed_at or self._now(),
                listed=doc.state.listed,
                invoiced=doc.state.invoiced,
                cancelled=doc.state.cancelled,
            )
            for number, doc in self.documents.items()
            if doc.changed >= since and doc.document.kind == "order"
        ]
        return DocumentChanges(since=watermark, documents=listed, watermark=str(self._tick))

    def verdict(
        self, listed: ListedDocument, known: ErpDocumentState | None, read_at: datetime | None
    ) -> Verdict:
        if known is None:
            return "read"
        if listed.listed == known.listed:
            return "unchanged"
        return "read"

    def from_listing(self, listed: ListedDocument, known: ErpDocumentState) -> ErpDocumentState:
        return self.documents[listed.number].state

    async def read(self, number: str) -> ErpDocumentState | None:
        self._call("read")
        doc = self.documents.get(number)
        return doc.state if doc is not None else None

    # ------------------------------------------------------------ StockReader, ArticleReader

    async def stock(self, stock_points: Sequence[str]) -> StockLevels:
        self._call("stock")
        points = sorted({p for levels in self.stock_by_point.values() for p in levels})
        unknown = [p for p in stock_points if p not in points]
        if unknown:
            raise StockPointError(f"no stock point {', '.join(unknown)}")
        chosen = list(stock_points) or points
        return StockLevels(
            by_article={
                article: {p: q for p, q in levels.items() if p in chosen}
                for article, levels in self.stock_by_point.items()
            },
            stock_points=chosen,
            per_point=True,
        )

    async def articles(self, *, full: bool, weights: bool) -> Articles:
        self._call("articles")
        return Articles(articles=dict(self.articles_register), full=full)
