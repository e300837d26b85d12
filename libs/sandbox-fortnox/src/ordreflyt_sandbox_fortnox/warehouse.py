"""The warehouse ("Lager") module's routes: stock points and stock balances per stock point.

These answer bare JSON arrays (the newer Fortnox APIs use no envelope). Without the module
licence (`warehouse` off) both answer 403 with code 2001103, as Fortnox does.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_fortnox.errors import NO_LICENCE, FortnoxError, invalid_parameter
from ordreflyt_sandbox_fortnox.jsonio import respond
from ordreflyt_sandbox_fortnox.store import Store, store_key

routes = web.RouteTableDef()

_NAMES = {"HUVUD": "Huvudlager", "BUTIK": "Butikslager", "RESERV": "Reservlager"}
# Stable ids, so a client may keep them between runs.
_ID_NAMESPACE = uuid.UUID("6f6a2d0e-6b1e-4f57-9d8e-0f0a7c1a2b3c")


def _licensed_store(request: web.Request) -> Store:
    store = request.app[store_key]
    if not store.warehouse:
        raise FortnoxError(403, NO_LICENCE, "Det saknas licens för lagermodulen (Lager).")
    return store


def _point_id(code: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, code))


def _comma_list(request: web.Request, name: str) -> list[str] | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


@routes.get("/api/warehouse/stockpoints-v1")
async def stock_points(request: web.Request) -> web.Response:
    store = _licensed_store(request)
    points = [
        {
            "id": _point_id(code),
            "code": code,
            "name": _NAMES.get(code, code.title()),
            "active": True,
            "stockLocations": [],
        }
        for code in store.stock.stock_points
    ]
    return respond(points)


@routes.get("/api/warehouse/status-v1/stockbalance")
async def stock_balance(request: web.Request) -> web.Response:
    store = _licensed_store(request)
    item_ids = _comma_list(request, "itemIds")
    point_codes = _comma_list(request, "stockPointCodes")
    if point_codes is not None:
        unknown = [code for code in point_codes if code not in store.stock.stock_points]
        if unknown:
            raise invalid_parameter(f"Okända lagerställen: {', '.join(unknown)}")
    rows: list[dict[str, Any]] = []
    for number, article in store.articles.items():
        if not article.stock_goods or (item_ids is not None and number not in item_ids):
            continue
        for balance in store.stock.balances(number):
            if point_codes is not None and balance.stock_point_code not in point_codes:
                continue
            rows.append(
                {
                    "ItemId": number,
                    "StockPointCode": balance.stock_point_code,
                    "StockPointId": _point_id(balance.stock_point_code),
                    "StockLocationCode": None,
                    "InStock": balance.in_stock,
                    "ReservedStock": balance.reserved,
                    "AvailableStock": balance.available,
                }
            )
    return respond(rows)
