"""The sandbox Fortnox application: routes, and the middleware order that makes it faithful.

Middleware, outermost first:
0. The sandbox kit's control guard: `/_sandbox` answers only loopback unless `open_control`.
1. `traffic`: counts every request by route; for the API it checks the bearer token (401) and
   then the rate limit (429), recording the request against its token either way.
2. The sandbox kit's fault injection. It sits inside the rate-limit accounting on purpose: an
   injected 429 or 503 is still a request the emulator saw, and counts towards the token's
   window as it would at Fortnox.
3. With a state file, the keeper: a request that may write makes a save of the file due.
4. `errors`: turns the handlers' exceptions into Fortnox error bodies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ordreflyt_sandbox_fortnox import api, control, saved, warehouse
from ordreflyt_sandbox_fortnox.auth import OAuthError, Tokens, tokens_key
from ordreflyt_sandbox_fortnox.control import ControlError
from ordreflyt_sandbox_fortnox.errors import (
    INVALID_PARAMETER,
    RATE_LIMITED,
    ROUTE_NOT_FOUND,
    FortnoxError,
    error_body,
    fault_body,
    not_found_body,
)
from ordreflyt_sandbox_fortnox.jsonio import respond
from ordreflyt_sandbox_fortnox.ratelimit import RateLimiter, limiter_key
from ordreflyt_sandbox_fortnox.settings import FortnoxSettings, settings_key
from ordreflyt_sandbox_fortnox.store import Store, store_key
from ordreflyt_sandbox_kit import Faults, control_guard, faults_key
from ordreflyt_sandbox_kit.control import CONTROL_PREFIX

__all__ = ["FortnoxSettings", "make_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_PREFIXES = ("/3/", "/api/warehouse/")


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return f"{request.method} {resource.canonical if resource is not None else '(no route)'}"


@web.middleware
async def traffic(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    limiter = request.app[limiter_key]
    limiter.count_route(_route_name(request))
    if not request.path.startswith(API_PREFIXES):
        return await handler(request)
    try:
        token = request.app[tokens_key].authenticate(request.headers.get("Authorization"))
    except FortnoxError as exc:
        return respond(exc.body(), exc.status)
    if not limiter.admit(token):
        limiter.count_429(token)
        return respond(error_body(RATE_LIMITED, "Too many requests"), 429)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status == 429:
            limiter.count_429(token)
        raise
    if response.status == 429:
        limiter.count_429(token)
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except FortnoxError as exc:
        return respond(exc.body(), exc.status)
    except ControlError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except web.HTTPNotFound:
        if request.path.startswith(CONTROL_PREFIX):
            raise
        return respond(not_found_body(ROUTE_NOT_FOUND, f"Resursen {request.path} finns inte"), 404)
    except web.HTTPMethodNotAllowed as exc:
        if request.path.startswith(CONTROL_PREFIX):
            raise
        message = f"Metoden {request.method} stöds inte för {request.path}"
        return respond(error_body(INVALID_PARAMETER, message), exc.status)


async def oauth_token(request: web.Request) -> web.Response:
    form = {key: str(value) for key, value in (await request.post()).items()}
    try:
        grant = request.app[tokens_key].refresh(request.headers.get("Authorization"), form)
    except OAuthError as exc:
        return web.json_response(exc.body, status=exc.status)
    return web.json_response(grant)


def make_app(settings: FortnoxSettings) -> web.Application:
    """The emulator; with a state file that cannot be used, StateFileError (naming it)."""
    settings.validate()
    faults = Faults(fault_body)
    store = Store(settings)
    tokens = Tokens(
        access_tokens=settings.access_tokens,
        refresh_tokens=settings.refresh_tokens,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        lifetime_seconds=settings.token_lifetime_seconds,
    )
    keeper = None
    if settings.state_file is not None:
        keeper = saved.keeper(settings.state_file, settings, store, tokens)
    app = web.Application(
        middlewares=[
            control_guard(settings.open_control),
            traffic,
            faults.middleware,
            *([] if keeper is None else [keeper.middleware]),
            errors,
        ]
    )
    if keeper is not None:
        app.cleanup_ctx.append(keeper.run)
    app[settings_key] = settings
    app[faults_key] = faults
    app[store_key] = store
    app[tokens_key] = tokens
    app[limiter_key] = RateLimiter(settings.rate_limit, settings.rate_window_seconds)
    app.router.add_routes(api.routes)
    app.router.add_routes(warehouse.routes)
    app.router.add_routes(control.routes)
    app.router.add_post("/oauth-v1/token", oauth_token)
    faults.add_routes(app)
    return app
