"""`/wp-json/wc/v3/products` (with variations and batches) and `/wp-json/wc/v3/taxes`.

Batches take `{create: [], update: [], delete: []}` with at most 100 items in all (413 above);
each item succeeds or fails on its own and a failure is reported in place as
`{"id": N, "error": {"code", "message", "data"}}`. Batch deletes are permanent, as in WooCommerce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_woocommerce import products
from ordreflyt_sandbox_woocommerce.errors import WooError
from ordreflyt_sandbox_woocommerce.models import Product
from ordreflyt_sandbox_woocommerce.render import product_json, variation_json
from ordreflyt_sandbox_woocommerce.rest import (
    API_PREFIX,
    bool_param,
    choice_param,
    date_param,
    json_body,
    list_param,
    paginate,
    path_id,
    respond,
    site_key,
    store_key,
)
from ordreflyt_sandbox_woocommerce.store import Store
from ordreflyt_sandbox_woocommerce.taxes import RATES, RATES_BY_ID, tax_rate_json

BATCH_LIMIT = 100
ORDERBY = ("date", "id", "include", "title", "slug", "modified", "price", "popularity", "rating")


def _product_json(request: web.Request, product: Product) -> dict[str, Any]:
    store = request.app[store_key]
    return product_json(product, store.variations_of(product), request.app[site_key])


def _parent(request: web.Request) -> Product:
    product = request.app[store_key].product(path_id(request))
    if product.type == "variation":
        raise WooError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return product


def _variation(request: web.Request, parent: Product, *, status: int = 404) -> Product:
    variation_id = path_id(request, "variation_id")
    if variation_id not in parent.variation_ids:
        raise WooError(status, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
    return request.app[store_key].products[variation_id]


async def list_products(request: web.Request) -> web.Response:
    store = request.app[store_key]
    tz = request.app[site_key].timezone
    skus = set(list_param(request, "sku"))
    include = {int(i) for i in list_param(request, "include") if i.isdigit()}
    status = request.query.get("status", "any")
    kind = request.query.get("type")
    search = request.query.get("search", "").lower()
    after = date_param(request, "after", tz)
    before = date_param(request, "before", tz)
    modified_after = date_param(request, "modified_after", tz)
    orderby = choice_param(request, "orderby", ORDERBY, "date")
    descending = choice_param(request, "order", ("asc", "desc"), "desc") == "desc"
    bool_param(request, "dates_are_gmt", False)

    def wanted(p: Product) -> bool:
        return (
            p.type != "variation"
            and (p.status != "trash" if status == "any" else p.status == status)
            and (not skus or p.sku in skus)
            and (not include or p.id in include)
            and (kind is None or p.type == kind)
            and (not search or search in p.name.lower())
            and (after is None or p.date_created > after)
            and (before is None or p.date_created < before)
            and (modified_after is None or p.date_modified > modified_after)
        )

    found = [p for p in store.products.values() if wanted(p)]
    if orderby == "modified":
        found.sort(key=lambda p: (p.date_modified, p.id), reverse=descending)
    elif orderby == "date":
        found.sort(key=lambda p: (p.date_created, p.id), reverse=descending)
    elif orderby in ("title", "slug"):
        found.sort(key=lambda p: (p.name.lower(), p.id), reverse=descending)
    else:
        found.sort(key=lambda p: p.id, reverse=descending)
    page, headers = paginate(request, found, "/products")
    return respond([_product_json(request, p) for p in page], headers=headers)


async def get_product(request: web.Request) -> web.Response:
    return respond(_product_json(request, request.app[store_key].product(path_id(request))))


async def create_product(request: web.Request) -> web.Response:
    product = products.create(request.app[store_key], await json_body(request))
    return respond(_product_json(request, product), 201)


async def update_product(request: web.Request) -> web.Response:
    store = request.app[store_key]
    product = store.product(path_id(request), error_status=400)
    products.update(store, product, await json_body(request))
    return respond(_product_json(request, product))


async def delete_product(request: web.Request) -> web.Response:
    store = request.app[store_key]
    product = store.product(path_id(request))
    data = _product_json(request, product)
    if bool_param(request, "force", False):
        products.delete(store, product)
        return respond(data)
    products.trash(store, product)
    return respond(_product_json(request, product))


async def list_variations(request: web.Request) -> web.Response:
    store = request.app[store_key]
    parent = _parent(request)
    found = sorted(store.variations_of(parent), key=lambda v: v.id)
    page, headers = paginate(request, found, f"/products/{parent.id}/variations")
    site = request.app[site_key]
    return respond([variation_json(v, site) for v in page], headers=headers)


async def get_variation(request: web.Request) -> web.Response:
    variation = _variation(request, _parent(request))
    return respond(variation_json(variation, request.app[site_key]))


async def create_variation(request: web.Request) -> web.Response:
    store = request.app[store_key]
    variation = products.create(store, await json_body(request), parent=_parent(request))
    return respond(variation_json(variation, request.app[site_key]), 201)


async def update_variation(request: web.Request) -> web.Response:
    store = request.app[store_key]
    variation = _variation(request, _parent(request), status=400)
    products.update(store, variation, await json_body(request))
    return respond(variation_json(variation, request.app[site_key]))


def _batch(
    store: Store,
    body: dict[str, Any],
    *,
    path: str,
    lookup: Callable[[int, int], Product],
    create: Callable[[dict[str, Any]], Product],
    show: Callable[[Product], dict[str, Any]],
) -> dict[str, list[dict[str, Any]]]:
    """WC_REST_Controller::batch_items: each item on its own, errors reported in place."""
    parts = _batch_parts(body)
    store.log_batch(path, parts)
    items = _BatchItems(store, lookup, create, show)
    out: dict[str, list[dict[str, Any]]] = {}
    if parts["create"]:
        out["create"] = [_attempt(0, items.created, item) for item in parts["create"]]
    if parts["update"]:
        out["update"] = [_attempt(_item_id(item), items.updated, item) for item in parts["update"]]
    if parts["delete"]:
        out["delete"] = [_attempt(raw_id, items.deleted, raw_id) for raw_id in parts["delete"]]
    return out


def _batch_parts(body: dict[str, Any]) -> dict[str, list[Any]]:
    """The create, update and delete lists (400 if one is not a list, 413 over the limit)."""
    parts: dict[str, list[Any]] = {}
    for action in ("create", "update", "delete"):
        items = body.get(action, [])
        if not isinstance(items, list):
            raise WooError(400, "rest_invalid_param", f"Invalid parameter(s): {action}")
        parts[action] = items
    total = sum(len(items) for items in parts.values())
    if total > BATCH_LIMIT:
        raise WooError(
            413,
            "woocommerce_rest_request_entity_too_large",
            f"Unable to accept more than {BATCH_LIMIT} items for this request.",
        )
    return parts


def _attempt(item_id: Any, action: Callable[[Any], dict[str, Any]], item: Any) -> dict[str, Any]:
    """One item's result, or its error in its place."""
    try:
        return action(item)
    except WooError as exc:
        return {"id": item_id, "error": exc.body()}


def _item_id(item: Any) -> Any:
    return item.get("id") if isinstance(item, dict) else None


def _valid_id(raw_id: Any, status: int) -> int:
    if not isinstance(raw_id, int) or isinstance(raw_id, bool):
        raise WooError(status, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return raw_id


@dataclass(frozen=True)
class _BatchItems:
    """A batch's single steps on products, or on one product's variations."""

    store: Store
    lookup: Callable[[int, int], Product]
    create: Callable[[dict[str, Any]], Product]
    show: Callable[[Product], dict[str, Any]]

    def created(self, item: Any) -> dict[str, Any]:
        return self.show(self.create(item if isinstance(item, dict) else {}))

    def updated(self, item: Any) -> dict[str, Any]:
        product = self.lookup(_valid_id(_item_id(item), 400), 400)
        return self.show(products.update(self.store, product, item))

    def deleted(self, raw_id: Any) -> dict[str, Any]:
        product = self.lookup(_valid_id(raw_id, 404), 404)
        data = self.show(product)
        products.delete(self.store, product)
        return data


async def batch_products(request: web.Request) -> web.Response:
    store = request.app[store_key]

    def lookup(product_id: int, status: int) -> Product:
        product = store.product(product_id, error_status=status)
        if product.type == "variation":
            raise WooError(status, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return product

    result = _batch(
        store,
        await json_body(request),
        path=request.path,
        lookup=lookup,
        create=lambda body: products.create(store, body),
        show=lambda p: _product_json(request, p),
    )
    return respond(result)


async def batch_variations(request: web.Request) -> web.Response:
    store = request.app[store_key]
    parent = _parent(request)
    site = request.app[site_key]

    def lookup(variation_id: int, status: int) -> Product:
        if variation_id not in parent.variation_ids:
            raise WooError(status, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        return store.products[variation_id]

    result = _batch(
        store,
        await json_body(request),
        path=request.path,
        lookup=lookup,
        create=lambda body: products.create(store, body, parent=parent),
        show=lambda v: variation_json(v, site),
    )
    return respond(result)


async def list_taxes(request: web.Request) -> web.Response:
    tax_class = request.query.get("class")
    found = [r for r in RATES if tax_class is None or (r.tax_class or "standard") == tax_class]
    page, headers = paginate(request, found, "/taxes")
    base = request.app[site_key].api_base
    return respond([tax_rate_json(r, base) for r in page], headers=headers)


async def get_tax(request: web.Request) -> web.Response:
    rate = RATES_BY_ID.get(path_id(request))
    if rate is None:
        raise WooError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
    return respond(tax_rate_json(rate, request.app[site_key].api_base))


def add_routes(app: web.Application) -> None:
    base = f"{API_PREFIX}/products"
    one = base + r"/{id:\d+}"
    variation = one + r"/variations/{variation_id:\d+}"
    app.router.add_get(base, list_products)
    app.router.add_post(base, create_product)
    app.router.add_post(base + "/batch", batch_products)
    app.router.add_get(one, get_product)
    app.router.add_delete(one, delete_product)
    app.router.add_get(one + "/variations", list_variations)
    app.router.add_post(one + "/variations", create_variation)
    app.router.add_post(one + "/variations/batch", batch_variations)
    app.router.add_get(variation, get_variation)
    for method in ("PUT", "PATCH", "POST"):
        app.router.add_route(method, one, update_product)
        app.router.add_route(method, variation, update_variation)
    app.router.add_get(f"{API_PREFIX}/taxes", list_taxes)
    app.router.add_get(API_PREFIX + r"/taxes/{id:\d+}", get_tax)
