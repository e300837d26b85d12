"""The `/_sandbox` control routes tests and demos use to read and steer the emulator.

No authentication, no rate limit, never faulted; answered only to this machine unless the
emulator runs with `open_control` (see `ordreflyt_sandbox_kit.control`). Besides the fault routes of the sandbox kit:
- `GET /_sandbox/state`: customers, articles, orders, invoices and stock balances.
- `GET /_sandbox/stats`: requests per token (`requests`, `rejected_429`, `max_in_window`), the
  overall `max_in_window` and `requests_by_route`.
- `GET|POST /_sandbox/config`: read or change `rate_limit` (an integer, or null to lift it) and
  `rate_window_seconds` while running.
- `POST /_sandbox/reset`: back to the started state (seeded catalogue, empty stats, configured
  rate limit, no faults). Tokens are kept, so running clients stay logged in. With a state
  file, the reset state is what is saved from then on.
- `POST /_sandbox/stock {"ArticleNumber", "StockPointCode", "InStock"}`: set a balance, as a
  stock count in the warehouse would.
- `POST /_sandbox/orders/{n}/deliver {"rows": {"<ArticleNumber>": qty}, "tracking":
  [{"number", "carrier"}]}`: deliver rows (all that is left when `rows` is omitted) with up to
  four parcels; the order gets a `Shipments` entry (a sandbox-only field) and a new LastModified.
- `POST /_sandbox/tokens/expire {"access_token": "..."}`: expire one access token now (all when
  omitted), to test a client's refresh path.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_fortnox import documents
from ordreflyt_sandbox_fortnox.auth import tokens_key
from ordreflyt_sandbox_fortnox.errors import FortnoxError
from ordreflyt_sandbox_fortnox.jsonio import loads, respond
from ordreflyt_sandbox_fortnox.models import Parcel
from ordreflyt_sandbox_fortnox.ratelimit import limiter_key
from ordreflyt_sandbox_fortnox.settings import settings_key
from ordreflyt_sandbox_fortnox.store import store_key
from ordreflyt_sandbox_kit import faults_key

routes = web.RouteTableDef()

MAX_PARCELS = 4


class ControlError(Exception):
    """A malformed control request; answered as `{"error": ...}` with 400 (see `app.py`)."""


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = loads(raw)
    except FortnoxError as exc:
        raise ControlError(exc.message) from None
    if not isinstance(body, dict):
        raise ControlError("the body must be a JSON object")
    return body


def _quantity(value: Any, what: str) -> Decimal:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ControlError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ControlError(f"{what} must be a number, got {value!r}")
    return number


@routes.get("/_sandbox/state")
async def state(request: web.Request) -> web.Response:
    return respond(request.app[store_key].snapshot())


@routes.get("/_sandbox/stats")
async def stats(request: web.Request) -> web.Response:
    return respond(request.app[limiter_key].stats())


def _config(request: web.Request) -> dict[str, Any]:
    limiter = request.app[limiter_key]
    return {
        "rate_limit": limiter.limit,
        "rate_window_seconds": limiter.window_seconds,
        "warehouse": request.app[store_key].warehouse,
    }


@routes.get("/_sandbox/config")
async def get_config(request: web.Request) -> web.Response:
    return respond(_config(request))


@routes.post("/_sandbox/config")
async def set_config(request: web.Request) -> web.Response:
    body = await _body(request)
    unknown = set(body) - {"rate_limit", "rate_window_seconds"}
    if unknown:
        raise ControlError(
            f"unknown config fields {sorted(unknown)}; allowed: rate_limit, rate_window_seconds"
        )
    limiter = request.app[limiter_key]
    if "rate_limit" in body:
        limit = body["rate_limit"]
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ControlError("rate_limit must be a positive integer or null")
        limiter.limit = limit
    if "rate_window_seconds" in body:
        window = _quantity(body["rate_window_seconds"], "rate_window_seconds")
        if window <= 0:
            raise ControlError("rate_window_seconds must be positive")
        limiter.window_seconds = float(window)
    return respond(_config(request))


@routes.post("/_sandbox/reset")
async def reset(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    limiter = request.app[limiter_key]
    request.app[store_key].reset()
    limiter.reset()
    limiter.limit = settings.rate_limit
    limiter.window_seconds = settings.rate_window_seconds
    request.app[faults_key].clear()
    return respond({"reset": True})


@routes.post("/_sandbox/stock")
async def set_stock(request: web.Request) -> web.Response:
    store = request.app[store_key]
    body = await _body(request)
    number = str(body.get("ArticleNumber", ""))
    point = str(body.get("StockPointCode") or store.stock.default_point)
    if point not in store.stock.stock_points:
        raise ControlError(f"unknown StockPointCode {point!r}; known: {store.stock.stock_points}")
    article = store.article(number)
    store.stock.set_in_stock(number, point, _quantity(body.get("InStock"), "InStock"))
    store.touch_articles([number])
    return respond({"Article": store.article_json(article)})


def _parcels(body: dict[str, Any]) -> list[Parcel]:
    tracking = body.get("tracking", [])
    if not isinstance(tracking, list) or len(tracking) > MAX_PARCELS:
        raise ControlError(f"tracking must be a list of at most {MAX_PARCELS} parcels")
    parcels = []
    for parcel in tracking:
        if not isinstance(parcel, dict) or not isinstance(parcel.get("number"), str):
            raise ControlError('each parcel needs {"number": "...", "carrier": "..."}')
        parcels.append(
            Parcel(tracking_number=parcel["number"], carrier=str(parcel.get("carrier", "")))
        )
    return parcels


@routes.post("/_sandbox/orders/{DocumentNumber}/deliver")
async def deliver(request: web.Request) -> web.Response:
    body = await _body(request)
    rows = body.get("rows")
    if rows is not None and not isinstance(rows, dict):
        raise ControlError('rows must be an object {"<ArticleNumber>": quantity}')
    quantities = (
        None
        if rows is None
        else {str(number): _quantity(qty, f"rows[{number}]") for number, qty in rows.items()}
    )
    order = documents.deliver_order(
        request.app[store_key], request.match_info["DocumentNumber"], quantities, _parcels(body)
    )
    return respond({"Order": order.to_json()})


@routes.post("/_sandbox/tokens/expire")
async def expire_tokens(request: web.Request) -> web.Response:
    body = await _body(request)
    token = body.get("access_token")
    if token is not None and not isinstance(token, str):
        raise ControlError("access_token must be a string")
    return respond({"expired": request.app[tokens_key].expire(token)})
