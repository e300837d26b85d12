"""The Fortnox API v3 routes under `/3`: customers, articles, orders and invoices.

Handlers only unwrap the envelope, call the operation and wrap the answer; the rules live in
`registers.py`, `documents.py` and `listing.py`. Authentication and the rate limit are applied
before these run (see `app.py`).
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from ordreflyt_sandbox_fortnox import documents, registers
from ordreflyt_sandbox_fortnox.clock import minute_text
from ordreflyt_sandbox_fortnox.errors import invalid_parameter
from ordreflyt_sandbox_fortnox.fields import Fields
from ordreflyt_sandbox_fortnox.jsonio import loads, respond
from ordreflyt_sandbox_fortnox.listing import ARTICLES, CUSTOMERS, INVOICES, ORDERS, list_page
from ordreflyt_sandbox_fortnox.models import Customer
from ordreflyt_sandbox_fortnox.store import Store, store_key

routes = web.RouteTableDef()


async def _envelope(request: web.Request, name: str) -> Fields:
    body = loads(await request.read())
    if not isinstance(body, dict) or list(body) != [name] or not isinstance(body[name], dict):
        raise invalid_parameter(f'Anropet ska ha formen {{"{name}": {{...}}}}')
    return Fields(body[name], name)


def _store(request: web.Request) -> Store:
    return request.app[store_key]


# ---------------------------------------------------------------- customers


@routes.get("/3/customers")
async def list_customers(request: web.Request) -> web.Response:
    store = _store(request)
    customers: Iterable[Customer] = store.customers.values()
    needle = request.query.get("email")
    if needle is not None:
        # Narrow through the index: a register of thousands is searched on every new customer.
        # list_page applies the same substring match again (and rejects repeated parameters).
        customers = store.customers_with_email(needle)
    # `lastmodified=` filters on when a customer last changed, which its JSON does not show.
    items = [{**c.to_json(), "LastModified": minute_text(c.last_modified)} for c in customers]
    return respond(list_page(CUSTOMERS, items, request.query, store.now().date()))


@routes.post("/3/customers")
async def create_customer(request: web.Request) -> web.Response:
    store = _store(request)
    customer = registers.create_customer(store, await _envelope(request, "Customer"))
    return respond({"Customer": customer.to_json()}, status=201)


@routes.get("/3/customers/{CustomerNumber}")
async def get_customer(request: web.Request) -> web.Response:
    customer = _store(request).customer(request.match_info["CustomerNumber"])
    return respond({"Customer": customer.to_json()})


@routes.put("/3/customers/{CustomerNumber}")
async def update_customer(request: web.Request) -> web.Response:
    store = _store(request)
    number = request.match_info["CustomerNumber"]
    customer = registers.update_customer(store, number, await _envelope(request, "Customer"))
    return respond({"Customer": customer.to_json()})


# ---------------------------------------------------------------- articles


@routes.get("/3/articles")
async def list_articles(request: web.Request) -> web.Response:
    store = _store(request)
    items = [store.article_json(a) for a in store.articles.values()]
    return respond(list_page(ARTICLES, items, request.query, store.now().date()))


@routes.post("/3/articles")
async def create_article(request: web.Request) -> web.Response:
    store = _store(request)
    article = registers.create_article(store, await _envelope(request, "Article"))
    return respond({"Article": store.article_json(article)}, status=201)


@routes.get("/3/articles/{ArticleNumber}")
async def get_article(request: web.Request) -> web.Response:
    store = _store(request)
    return respond(
        {"Article": store.article_json(store.article(request.match_info["ArticleNumber"]))}
    )


@routes.put("/3/articles/{ArticleNumber}")
async def update_article(request: web.Request) -> web.Response:
    store = _store(request)
    number = request.match_info["ArticleNumber"]
    article = registers.update_article(store, number, await _envelope(request, "Article"))
    return respond({"Article": store.article_json(article)})


# ---------------------------------------------------------------- orders


@routes.get("/3/orders")
async def list_orders(request: web.Request) -> web.Response:
    store = _store(request)
    items = [o.to_json() for o in store.orders.values()]
    return respond(list_page(ORDERS, items, request.query, store.now().date()))


@routes.post("/3/orders")
async def create_order(request: web.Request) -> web.Response:
    store = _store(request)
    order = documents.create_order(store, await _envelope(request, "Order"))
    return respond({"Order": order.to_json()}, status=201)


@routes.get("/3/orders/{DocumentNumber}")
async def get_order(request: web.Request) -> web.Response:
    return respond({"Order": _store(request).order(request.match_info["DocumentNumber"]).to_json()})


@routes.put("/3/orders/{DocumentNumber}")
async def update_order(request: web.Request) -> web.Response:
    store = _store(request)
    number = request.match_info["DocumentNumber"]
    order = documents.update_order(store, number, await _envelope(request, "Order"))
    return respond({"Order": order.to_json()})


@routes.put("/3/orders/{DocumentNumber}/createinvoice")
async def create_invoice_from_order(request: web.Request) -> web.Response:
    invoice = documents.create_invoice_from_order(
        _store(request), request.match_info["DocumentNumber"]
    )
    return respond({"Invoice": invoice.to_json()})


@routes.put("/3/orders/{DocumentNumber}/cancel")
async def cancel_order(request: web.Request) -> web.Response:
    order = documents.cancel_order(_store(request), request.match_info["DocumentNumber"])
    return respond({"Order": order.to_json()})


# ---------------------------------------------------------------- invoices


@routes.get("/3/invoices")
async def list_invoices(request: web.Request) -> web.Response:
    store = _store(request)
    items = [i.to_json() for i in store.invoices.values()]
    return respond(list_page(INVOICES, items, request.query, store.now().date()))


@routes.post("/3/invoices")
async def create_invoice(request: web.Request) -> web.Response:
    store = _store(request)
    invoice = documents.create_invoice(store, await _envelope(request, "Invoice"))
    return respond({"Invoice": invoice.to_json()}, status=201)


@routes.get("/3/invoices/{DocumentNumber}")
async def get_invoice(request: web.Request) -> web.Response:
    invoice = _store(request).invoice(request.match_info["DocumentNumber"])
    return respond({"Invoice": invoice.to_json()})


@routes.put("/3/invoices/{DocumentNumber}/credit")
async def credit_invoice(request: web.Request) -> web.Response:
    credit = documents.credit_invoice(_store(request), request.match_info["DocumentNumber"])
    return respond({"Invoice": credit.to_json()})


@routes.put("/3/invoices/{DocumentNumber}/cancel")
async def cancel_invoice(request: web.Request) -> web.Response:
    invoice = documents.cancel_invoice(_store(request), request.match_info["DocumentNumber"])
    return respond({"Invoice": invoice.to_json()})


@routes.put("/3/invoices/{DocumentNumber}/bookkeep")
async def bookkeep_invoice(request: web.Request) -> web.Response:
    invoice = documents.bookkeep_invoice(_store(request), request.match_info["DocumentNumber"])
    return respond({"Invoice": invoice.to_json()})
