"""What every REST route shares: app state keys, auth, errors, JSON bodies, parameters, paging.

Requests to `/wp-json` need the consumer key and secret, by HTTP Basic auth or as the
`consumer_key` / `consumer_secret` query parameters (WooCommerce accepts both over HTTPS; the
sandbox also over plain HTTP). Failures answer like WordPress: 401 with a
`woocommerce_rest_cannot_*` code when no credentials are given, `woocommerce_rest_authentication_error`
when they are wrong; `rest_no_route` for an unknown route; `rest_invalid_param` for a bad argument.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from ordreflyt_sandbox_woocommerce.errors import WooError, invalid_param
from ordreflyt_sandbox_woocommerce.generator import Generator, SampleOrders
from ordreflyt_sandbox_woocommerce.render import Site, php_json
from ordreflyt_sandbox_woocommerce.settings import WooSettings
from ordreflyt_sandbox_woocommerce.store import Store
from ordreflyt_sandbox_woocommerce.webhooks import Dispatcher

API_PREFIX = "/wp-json/wc/v3"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")

settings_key = web.AppKey("settings", WooSettings)
store_key = web.AppKey("store", Store)
site_key = web.AppKey("site", Site)
dispatcher_key = web.AppKey("dispatcher", Dispatcher)
samples_key = web.AppKey("samples", SampleOrders)
generator_key = web.AppKey("generator", Generator)

_DENIED = {
    "GET": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "POST": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "PUT": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "DELETE": (
        "woocommerce_rest_cannot_delete",
        "Sorry, you are not allowed to delete this resource.",
    ),
}
_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?$"
)


def respond(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=php_json(data),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="UTF-8",
    )


def _credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        key, _, secret = decoded.partition(":")
        return key, secret
    if "consumer_key" in request.query:
        return request.query["consumer_key"], request.query.get("consumer_secret", "")
    return None


@web.middleware
async def count_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts every REST request by method and route, faulted ones included, so a test can
    check how many calls a client made (`GET /_sandbox/requests`)."""
    if request.path.startswith("/wp-json"):
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else request.path
        request.app[store_key].requests[f"{request.method} {route}"] += 1
    return await handler(request)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WooError as exc:
        return respond(exc.body(), exc.status)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        if not request.path.startswith("/wp-json"):
            raise
        return respond(
            WooError(
                404, "rest_no_route", "No route was found matching the URL and request method."
            ).body(),
            404,
        )


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/wp-json") or request.match_info.http_exception is not None:
        return await handler(request)
    settings = request.app[settings_key]
    creds = _credentials(request)
    if creds is None:
        if request.path.endswith("/batch"):
            code, message = (
                "woocommerce_rest_cannot_batch",
                "Sorry, you are not allowed to batch manipulate this resource.",
            )
        elif request.method == "GET" and request.path.rstrip("/")[-1:].isdigit():
            code, message = "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."
        else:
            code, message = _DENIED.get(request.method, _DENIED["PUT"])
        raise WooError(401, code, message)
    key, secret = creds
    if not hmac.compare_digest(key.encode(), settings.consumer_key.encode()):
        raise WooError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
    if not hmac.compare_digest(secret.encode(), settings.consumer_secret.encode()):
        raise WooError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
    return await handler(request)


@web.middleware
async def events_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One request is one unit of work: its events go to the webhooks when it ends."""
    try:
        return await handler(request)
    finally:
        flush(request.app)


def flush(app: web.Application) -> None:
    app[dispatcher_key].dispatch(app[store_key].take_events())


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        # Numbers with a fraction become Decimal, so no money ever passes through a float.
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WooError(
            400,
            "rest_invalid_json",
            "Invalid JSON body passed.",
            json_error_code=4,
            json_error_message="Syntax error",
        ) from exc
    if not isinstance(body, dict):
        raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")
    return body


def path_id(request: web.Request, name: str = "id") -> int:
    return int(request.match_info[name])


def int_param(
    request: web.Request,
    name: str,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise invalid_param(name, f"{name} is not of type integer.")
    value = int(raw)
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise invalid_param(
            name, f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)"
        )
    if minimum is not None and value < minimum:
        raise invalid_param(name, f"{name} must be greater than or equal to {minimum}")
    return value


def bool_value(raw: Any, name: str, default: bool) -> bool:
    """rest_sanitize_boolean after rest_is_boolean: true/false, 1/0, "true"/"false", "1"/"0"."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise invalid_param(name, f"{name} is not of type boolean.")


def bool_param(request: web.Request, name: str, default: bool) -> bool:
    return bool_value(request.query.get(name), name, default)


def choice_param(request: web.Request, name: str, allowed: Sequence[str], default: str) -> str:
    value = request.query.get(name, default)
    if value not in allowed:
        raise invalid_param(name, f"{name} is not one of {', '.join(allowed)}.")
    return value


def list_param(request: web.Request, name: str) -> list[str]:
    raw = request.query.getall(name, []) + request.query.getall(f"{name}[]", [])
    return [part.strip() for value in raw for part in value.split(",") if part.strip()]


def date_param(request: web.Request, name: str, timezone: ZoneInfo) -> datetime | None:
    """An ISO 8601 date argument as an instant.

    With an offset or `Z` it is taken as written; without one it is site-local time, or UTC
    when `dates_are_gmt=true`.
    """
    raw = request.query.get(name)
    if raw is None:
        return None
    match = _DATE.match(raw)
    if match is None:
        raise invalid_param(name, "Invalid date.")
    try:
        value = datetime.fromisoformat(raw.replace("t", "T").replace("z", "Z"))
    except ValueError as exc:
        raise invalid_param(name, "Invalid date.") from exc
    if value.tzinfo is None:
        gmt = bool_param(request, "dates_are_gmt", False)
        value = value.replace(tzinfo=UTC if gmt else timezone)
    return value.astimezone(UTC)


def paginate(request: web.Request, items: list[T], route: str) -> tuple[list[T], dict[str, str]]:
    """One page of `items` with X-WP-Total, X-WP-TotalPages and the Link header."""
    page = int_param(request, "page", 1, minimum=1)
    per_page = int_param(request, "per_page", 10, minimum=1, maximum=100)
    total = len(items)
    pages = math.ceil(total / per_page)
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    base = f"{request.app[site_key].api_base}{route}"
    query = [(k, v) for k, v in request.query.items() if k != "page"]
    links = []

    def link(n: int) -> str:
        return f"{base}?{urlencode([*query, ('page', str(n))])}"

    if page > 1:
        links.append(f'<{link(min(page - 1, max(pages, 1)))}>; rel="prev"')
    if pages > page:
        links.append(f'<{link(page + 1)}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    start = (page - 1) * per_page
    return items[start : start + per_page], headers
