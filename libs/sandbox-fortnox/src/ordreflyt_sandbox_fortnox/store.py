"""The emulator's state: registers, documents, number series and stock, all in memory.

The operations that change it live in `registers.py` (customers, articles) and `documents.py`
(orders, invoices); this module holds the data, the lookups that answer Fortnox's 404s, and the
one place where a document's stock movements are applied.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_fortnox.clock import Clock, swedish_now
from ordreflyt_sandbox_fortnox.errors import (
    ARTICLE_NOT_FOUND,
    CUSTOMER_NOT_FOUND,
    INVOICE_NOT_FOUND,
    ORDER_NOT_FOUND,
    not_found,
)
from ordreflyt_sandbox_fortnox.models import Article, Customer, Invoice, Order, SalesDocument
from ordreflyt_sandbox_fortnox.seed import seed_articles
from ordreflyt_sandbox_fortnox.settings import FortnoxSettings
from ordreflyt_sandbox_fortnox.stock import Movement, StockLedger

# Invoices are numbered from their own series, far from the orders' series, so a client that
# mixes an order number up with an invoice number gets a 404 instead of the wrong document.
FIRST_ORDER_NUMBER = 1
FIRST_INVOICE_NUMBER = 1001
FIRST_CUSTOMER_NUMBER = 1
FIRST_ARTICLE_NUMBER = 1


class Store:
    def __init__(self, settings: FortnoxSettings, clock: Clock = swedish_now) -> None:
        self.settings = settings
        self.now = clock
        self.reset()

    def reset(self) -> None:
        """Back to the freshly started state: the seeded catalogue and nothing else."""
        # Without the warehouse module there is one stock, kept on the first stock point.
        points = self.settings.stock_points if self.warehouse else self.settings.stock_points[:1]
        self.stock = StockLedger(points)
        self.customers: dict[str, Customer] = {}
        self._emails = _EmailIndex()
        self.articles: dict[str, Article] = {}
        self.orders: dict[str, Order] = {}
        self.invoices: dict[str, Invoice] = {}
        self.series = {
            "customer": FIRST_CUSTOMER_NUMBER,
            "article": FIRST_ARTICLE_NUMBER,
            "order": FIRST_ORDER_NUMBER,
            "invoice": FIRST_INVOICE_NUMBER,
        }
        settings = self.settings
        for seeded in seed_articles(settings.catalogue_products, settings.seed, points, self.now()):
            self.articles[seeded.article.article_number] = seeded.article
            for point, quantity in seeded.balances.items():
                self.stock.set_in_stock(seeded.article.article_number, point, quantity)

    @property
    def warehouse(self) -> bool:
        return self.settings.warehouse

    def next_number(self, series: str, taken: Container[str]) -> str:
        """The next free number of a series, skipping numbers clients chose themselves."""
        number = self.upcoming_number(series, taken)
        self.series[series] = number + 1
        return str(number)

    def upcoming_number(self, series: str, taken: Container[str]) -> int:
        """The number `next_number` would give now."""
        number = self.series[series]
        while str(number) in taken:
            number += 1
        return number

    def put_customer(self, customer: Customer) -> None:
        """Store a new or changed customer (the e-mail search index follows)."""
        self.customers[customer.customer_number] = customer
        self._emails.put(customer.customer_number, str(customer.fields.get("Email") or ""))

    def customers_with_email(self, needle: str) -> list[Customer]:
        """Customers whose e-mail contains `needle`, ignoring case (Fortnox's search)."""
        return [self.customers[n] for n in self._emails.containing(needle)]

    def customer(self, number: str) -> Customer:
        try:
            return self.customers[number]
        except KeyError:
            raise not_found(CUSTOMER_NOT_FOUND, f'Kan inte hitta kunden "{number}"') from None

    def article(self, number: str) -> Article:
        try:
            return self.articles[number]
        except KeyError:
            raise not_found(ARTICLE_NOT_FOUND, f'Kan inte hitta artikeln "{number}"') from None

    def order(self, number: str) -> Order:
        try:
            return self.orders[number]
        except KeyError:
            raise not_found(ORDER_NOT_FOUND, f'Kan inte hitta ordern "{number}"') from None

    def invoice(self, number: str) -> Invoice:
        try:
            return self.invoices[number]
        except KeyError:
            raise not_found(INVOICE_NOT_FOUND, f'Kan inte hitta fakturan "{number}"') from None

    def article_json(self, article: Article) -> dict[str, Any]:
        number = article.article_number
        return article.to_json(self.stock.in_stock(number), self.stock.reserved(number))

    def move_stock(self, document: SalesDocument, movements: list[Movement]) -> None:
        """Replace what a document has done to stock by `movements`."""
        touched = self.stock.replace(document.stock_moves, movements)
        document.stock_moves = movements
        self.touch_articles(touched)

    def touch_articles(self, numbers: Iterable[str]) -> None:
        # A stock change is a change of the article as its register shows it, so the stock
        # sync can find it with `lastmodified`.
        now = self.now()
        for number in numbers:
            if number in self.articles:
                self.articles[number].last_modified = now

    def balances_json(self) -> list[dict[str, Any]]:
        return [
            {
                "ArticleNumber": balance.article_number,
                "StockPointCode": balance.stock_point_code,
                "InStock": balance.in_stock,
                "ReservedStock": balance.reserved,
                "AvailableStock": balance.available,
            }
            for number, article in self.articles.items()
            if article.stock_goods
            for balance in self.stock.balances(number)
        ]

    def snapshot(self) -> dict[str, Any]:
        return {
            "customers": [c.to_json() for c in self.customers.values()],
            "articles": [self.article_json(a) for a in self.articles.values()],
            "orders": [o.to_json() for o in self.orders.values()],
            "invoices": [i.to_json() for i in self.invoices.values()],
            "balances": self.balances_json(),
        }


class _EmailIndex:
    """Customers by lower-cased e-mail, searchable by substring without visiting every one.

    A new customer is searched for by e-mail before it is created, so a scan of the register
    per search would make a long run quadratic. The e-mails are kept as one newline-separated
    text (rebuilt, in C, only after a change) and a match is widened to its whole line.
    """

    def __init__(self) -> None:
        self._email_of: dict[str, str] = {}
        self._numbers: dict[str, dict[str, None]] = {}
        self._text: str | None = None

    def put(self, number: str, email: str) -> None:
        email = email.lower().replace("\n", " ")
        old = self._email_of.get(number)
        if old == email:
            return
        if old is not None:
            numbers = self._numbers[old]
            numbers.pop(number, None)
            if not numbers:
                del self._numbers[old]
        self._email_of[number] = email
        if email in self._numbers:
            self._numbers[email][number] = None
        else:
            self._numbers[email] = {number: None}
            if old is None and self._text is not None:
                self._text += email + "\n"  # a new customer: no rebuild
                return
        self._text = None

    def containing(self, needle: str) -> list[str]:
        needle = needle.lower()
        if not needle:
            return list(self._email_of)
        if "\n" in needle:  # no e-mail holds a line break
            return []
        if self._text is None:
            self._text = "\n" + "\n".join(self._numbers) + "\n"
        text, start = self._text, 0
        found: list[str] = []
        while (at := text.find(needle, start)) >= 0:
            line_start = text.rfind("\n", 0, at) + 1
            line_end = text.find("\n", at + len(needle))
            found.extend(self._numbers.get(text[line_start:line_end], ()))
            start = line_end
        return found


store_key = web.AppKey("fortnox_store", Store)
