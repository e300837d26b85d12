"""HTTP helpers every service's routes use, and the middlewares every service runs.

- Operator routes (everything but `/livez`, `/readyz`, `/metrics` and routes marked `public`,
  i.e. the endpoints that check their own signature) answer only a request carrying
  `Authorization: Bearer <OPERATOR_TOKEN>`, compared in constant time; otherwise 401 with a
  reason. A service without OPERATOR_TOKEN keeps its operator routes closed.
- No route answers a bare 5xx: an unexpected error is logged with an error id and answered
  with a JSON body naming that id.
- Bodies are read with a size limit and a time limit (`read_body`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

log = logging.getLogger(__name__)

# msgspec: faster than json.dumps on hot paths, and it writes datetimes, UUIDs and Decimals
# (as strings) without conversion code in every route.
_encoder = msgspec.json.Encoder(decimal_format="string")

OPEN_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
_PUBLIC_ATTR = "__ordreflyt_public__"

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=RouteHandler)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(body), status=status, content_type="application/json")


def error_response(status: int, reason: str, **extra: Any) -> web.Response:
    return json_response({"error": reason, "status": status, **extra}, status=status)


def public(handler: H) -> H:
    """Mark a route that needs no operator token because it checks a signature of its own
    (webhooks, pushes). Everything not marked, and not a health route, needs the token."""
    setattr(handler, _PUBLIC_ATTR, True)
    return handler


def is_public(request: web.Request) -> bool:
    if request.path in OPEN_PATHS:
        return True
    handler = request.match_info.handler
    return bool(getattr(handler, _PUBLIC_ATTR, False))


def operator_auth(token: str | None) -> Any:
    """The middleware guarding operator routes with `token` (None: they are closed)."""
    expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def middleware(request: web.Request, handler: RouteHandler) -> web.StreamResponse:
        if is_public(request):
            return await handler(request)
        if expected is None:
            return error_response(
                401,
                "operator routes are closed: this service has no OPERATOR_TOKEN set",
            )
        given = request.headers.get("Authorization", "").strip().encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            reason = (
                "missing Authorization: Bearer <OPERATOR_TOKEN>"
                if not given
                else "wrong operator token"
            )
            log.warning("operator route refused: %s %s (%s)", request.method, request.path, reason)
            return error_response(401, reason)
        return await handler(request)

    return middleware


@web.middleware
async def no_bare_errors(request: web.Request, handler: RouteHandler) -> web.StreamResponse:
    """An unexpected error becomes a JSON answer naming an error id that is in the log."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return error_response(exc.status, exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception(
            "unexpected error in %s %s (error id %s)",
            request.method,
            request.path,
            error_id,
            extra={"error_id": error_id},
        )
        return error_response(
            500, f"unexpected error (error id {error_id}, in the service's log)", error_id=error_id
        )


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


async def read_body(request: web.Request, limit: int, timeout: float) -> bytes:
    """The raw body; raises BodyTooLarge over `limit` bytes, BodyTooSlow after `timeout` s."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"body larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTooSlow(f"body not received within {timeout:g} s") from None
    return b"".join(chunks)


async def read_json(request: web.Request, limit: int = 1024 * 1024, timeout: float = 30.0) -> Any:
    """A JSON request body (operator routes); raises HTTPBadRequest with the reason."""
    try:
        raw = await read_body(request, limit, timeout)
    except (BodyTooLarge, BodyTooSlow) as exc:
        raise web.HTTPBadRequest(
            text=_encoder.encode({"error": str(exc), "status": 400}).decode(),
            content_type="application/json",
        ) from None
    if not raw.strip():
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise web.HTTPBadRequest(
            text=_encoder.encode({"error": f"body is not JSON: {exc}", "status": 400}).decode(),
            content_type="application/json",
        ) from None
