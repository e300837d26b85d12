"""Stock per article and stock point: what is in stock, and what orders have reserved.

An article's `QuantityInStock` is the sum over its stock points and `ReservedQuantity` the sum of
reservations, so the article register and the warehouse module's balances can never disagree.
Orders and invoices move stock by lists of `Movement`s; a document remembers the movements it
made, so an edit or a cancellation first takes exactly those back and then applies the new ones.
Stock may go negative, as Fortnox allows by default.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Movement:
    article_number: str
    stock_point_code: str
    in_stock: Decimal
    reserved: Decimal

    def reversed(self) -> Movement:
        return Movement(self.article_number, self.stock_point_code, -self.in_stock, -self.reserved)


@dataclass(frozen=True)
class Balance:
    article_number: str
    stock_point_code: str
    in_stock: Decimal
    reserved: Decimal

    @property
    def available(self) -> Decimal:
        return self.in_stock - self.reserved


class StockLedger:
    def __init__(self, stock_points: Sequence[str]) -> None:
        if not stock_points:
            raise ValueError("at least one stock point is needed")
        self.stock_points = list(stock_points)
        self._in_stock: dict[tuple[str, str], Decimal] = {}
        self._reserved: dict[tuple[str, str], Decimal] = {}

    @property
    def default_point(self) -> str:
        return self.stock_points[0]

    def set_in_stock(self, article_number: str, stock_point_code: str, quantity: Decimal) -> None:
        self._in_stock[article_number, stock_point_code] = quantity

    def apply(self, movements: Iterable[Movement]) -> set[str]:
        """Apply movements; answers the article numbers whose stock changed."""
        touched: set[str] = set()
        for move in movements:
            key = (move.article_number, move.stock_point_code)
            self._in_stock[key] = self._in_stock.get(key, ZERO) + move.in_stock
            self._reserved[key] = self._reserved.get(key, ZERO) + move.reserved
            touched.add(move.article_number)
        return touched

    def balance(self, article_number: str, stock_point_code: str) -> Balance:
        key = (article_number, stock_point_code)
        return Balance(
            article_number,
            stock_point_code,
            self._in_stock.get(key, ZERO),
            self._reserved.get(key, ZERO),
        )

    def balances(self, article_number: str) -> list[Balance]:
        return [self.balance(article_number, point) for point in self.stock_points]

    def in_stock(self, article_number: str) -> Decimal:
        return sum((b.in_stock for b in self.balances(article_number)), ZERO)

    def reserved(self, article_number: str) -> Decimal:
        return sum((b.reserved for b in self.balances(article_number)), ZERO)
