"""Fortnox kept in a state file (`--state-file` / `FORTNOX_STATE_FILE`), so a restart continues
it: the number series (the next DocumentNumber goes on from the last), customers, articles,
orders with their rows, shipments and stock movements, invoices, every stock balance and
reservation, and the OAuth tokens (access tokens until they expire, refresh tokens until used).

Not saved, as they describe one run: the traffic statistics and rate-limit windows, the rate
limit set with `/_sandbox/config`, and fault rules. A catalogue size, seed or set of stock
points other than the file's stops the start (see `StateKeeper`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ordreflyt_sandbox_fortnox.auth import SavedTokens, Tokens
from ordreflyt_sandbox_fortnox.models import Article, Customer, Invoice, Order
from ordreflyt_sandbox_fortnox.settings import FortnoxSettings
from ordreflyt_sandbox_fortnox.stock import Balance
from ordreflyt_sandbox_fortnox.store import Store
from ordreflyt_sandbox_kit.statefile import StateKeeper, from_plain, to_plain

KIND = "ordreflyt-sandbox-fortnox"
# Raise when a change to the records cannot read the files written before it.
VERSION = 1


@dataclass
class SavedFortnox:
    # The next number of each series: customer, article, order, invoice.
    number_series: dict[str, int]
    customers: list[Customer]
    articles: list[Article]
    orders: list[Order]
    invoices: list[Invoice]
    stock: list[Balance]
    tokens: SavedTokens


def keeper(path: Path, settings: FortnoxSettings, store: Store, tokens: Tokens) -> StateKeeper:
    """Load Fortnox from `path` if it is there (StateFileError if it cannot be used)."""
    state_keeper = StateKeeper(
        path,
        KIND,
        VERSION,
        made_with={
            "products": settings.catalogue_products,
            "seed": settings.seed,
            "stock_points": store.stock.stock_points,
        },
        snapshot=lambda: snapshot(store, tokens),
        summary=lambda: summary(store),
    )
    state_keeper.load(lambda state, skip: restore(store, tokens, state, skip))
    return state_keeper


def snapshot(store: Store, tokens: Tokens) -> dict[str, Any]:
    saved = SavedFortnox(
        number_series=store.series,
        customers=list(store.customers.values()),
        articles=list(store.articles.values()),
        orders=list(store.orders.values()),
        invoices=list(store.invoices.values()),
        stock=store.stock.recorded(),
        tokens=tokens.saved(),
    )
    plain: dict[str, Any] = to_plain(saved)
    return plain


def summary(store: Store) -> dict[str, Any]:
    return {
        "customers": len(store.customers),
        "orders": len(store.orders),
        "invoices": len(store.invoices),
        "next_order": store.upcoming_number("order", store.orders),
        "next_invoice": store.upcoming_number("invoice", store.invoices),
    }


def restore(store: Store, tokens: Tokens, state: dict[str, Any], skip: int = 0) -> None:
    """Fortnox as saved; every number series `skip` further on (see `StateKeeper.load`)."""
    saved = from_plain(SavedFortnox, state)
    if saved.number_series.keys() != store.series.keys():
        raise ValueError(
            f"its number series are {sorted(saved.number_series)}, expected {sorted(store.series)}"
        )
    store.reset()
    store.series = {series: number + skip for series, number in saved.number_series.items()}
    for customer in saved.customers:
        store.put_customer(customer)
    store.articles = {a.article_number: a for a in saved.articles}
    store.orders = {o.document_number: o for o in saved.orders}
    store.invoices = {i.document_number: i for i in saved.invoices}
    store.stock.load(saved.stock)
    tokens.restore(saved.tokens)
