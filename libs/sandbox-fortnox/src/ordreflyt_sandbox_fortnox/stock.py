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

    def recorded(self) -> list[Balance]:
        """Every balance that was ever set or moved, to be saved and `load`ed again."""
        keys = sorted(self._in_stock.keys() | self._reserved.keys())
        return [self.balance(article_number, point) for article_number, point in keys]

    def load(self, balances: Iterable[Balance]) -> None:
        """Replace every balance by those given (what `recorded` answered before)."""
        self._in_stock.clear()
        self._reserved.clear()
        for balance in balances:
            key = (balance.article_number, balance.stock_point_code)
            self._in_stock[key] = balance.in_stock
            self._reserved[key] = balance.reserved

    def replace(self, done: Iterable[Movement], wanted: Iterable[Movement]) -> set[str]:
        """Take back the movements `done` and make the `wanted` ones instead.

        Answers the article numbers whose stock really changed, so re-saving a document that
        moves the same stock leaves its articles untouched.
        """
        net: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        for move, sign in [*((m, -1) for m in done), *((m, 1) for m in wanted)]:
            key = (move.article_number, move.stock_point_code)
            in_stock, reserved = net.get(key, (ZERO, ZERO))
            net[key] = (in_stock + sign * move.in_stock, reserved + sign * move.reserved)
        touched: set[str] = set()
        for key, (in_stock, reserved) in net.items():
            if in_stock or reserved:
                self._in_stock[key] = self._in_stock.get(key, ZERO) + in_stock
                self._reserved[key] = self._reserved.get(key, ZERO) + reserved
                touched.add(key[0])
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
