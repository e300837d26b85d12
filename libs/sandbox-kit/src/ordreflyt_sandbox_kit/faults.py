"""Fault injection for the emulators: answer some requests with an error, late, or not at all.

A rule is added with `POST /_sandbox/faults` and a JSON body such as
`{"status": 503, "count": 5}` (the next 5 requests get 503), `{"status": 429, "seconds": 3}`
(every request for 3 s), `{"latency_ms": 800, "seconds": 10}` (slow answers) or
`{"timeout": true, "count": 1}` (the request hangs until the client gives up). `path_prefix`
and `methods` narrow a rule to some requests. With `"after": true` the request is handled first
and only its answer is lost (replaced by the fault): the client cannot know its write happened. `DELETE /_sandbox/faults` clears all rules,
`GET /_sandbox/faults` lists them. Control routes under `/_sandbox` are never faulted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_kit.control import is_control_path

ErrorBody = Callable[[int], dict[str, Any]]

# A hung request is held this long at most, so a test run never waits forever on one.
HANG_SECONDS = 120.0


@dataclass
class FaultRule:
    status: int | None = None
    latency_ms: int = 0
    timeout: bool = False
    count: int | None = None
    until: float | None = None
    path_prefix: str = ""
    methods: frozenset[str] = field(default_factory=frozenset)
    after: bool = False
    hits: int = 0

    def matches(self, request: web.Request, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.count is not None and self.hits >= self.count:
            return False
        if self.methods and request.method not in self.methods:
            return False
        return request.path.startswith(self.path_prefix)

    def expired(self, now: float) -> bool:
        return (self.until is not None and now >= self.until) or (
            self.count is not None and self.hits >= self.count
        )

    def describe(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "latency_ms": self.latency_ms,
            "timeout": self.timeout,
            "count": self.count,
            "seconds_left": None if self.until is None else max(0.0, self.until - time.monotonic()),
            "path_prefix": self.path_prefix,
            "methods": sorted(self.methods),
            "after": self.after,
            "hits": self.hits,
        }


def _rule_from_json(body: dict[str, Any]) -> FaultRule:
    allowed = {
        "status",
        "latency_ms",
        "timeout",
        "count",
        "seconds",
        "path_prefix",
        "methods",
        "after",
    }
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}; allowed: {sorted(allowed)}")
    status = body.get("status")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise ValueError("status must be an HTTP error status (400..599)")
    latency = body.get("latency_ms", 0)
    if not isinstance(latency, int) or latency < 0:
        raise ValueError("latency_ms must be a non-negative integer")
    count = body.get("count")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer")
    seconds = body.get("seconds")
    if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
        raise ValueError("seconds must be a positive number")
    timeout = bool(body.get("timeout", False))
    if status is None and not latency and not timeout:
        raise ValueError("a fault needs at least one of status, latency_ms, timeout")
    return FaultRule(
        status=status,
        latency_ms=latency,
        timeout=timeout,
        count=count,
        until=None if seconds is None else time.monotonic() + float(seconds),
        path_prefix=str(body.get("path_prefix", "")),
        methods=frozenset(m.upper() for m in body.get("methods", [])),
        after=bool(body.get("after", False)),
    )


class Faults:
    """The active fault rules of one emulator, applied by its middleware in the order added."""

    def __init__(self, error_body: ErrorBody) -> None:
        self._rules: list[FaultRule] = []
        self._error_body = error_body

    def add(self, rule: FaultRule) -> None:
        self._rules.append(rule)

    def clear(self) -> None:
        self._rules.clear()

    def _take(self, request: web.Request) -> FaultRule | None:
        now = time.monotonic()
        self._rules = [r for r in self._rules if not r.expired(now)]
        for rule in self._rules:
            if rule.matches(request, now):
                rule.hits += 1
                return rule
        return None

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if is_control_path(request.path):
            return await handler(request)
        rule = self._take(request)
        if rule is None:
            return await handler(request)
        handled = await handler(request) if rule.after else None
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.timeout:
            await asyncio.sleep(HANG_SECONDS)
            raise web.HTTPGatewayTimeout()
        if rule.status is not None:
            return web.json_response(self._error_body(rule.status), status=rule.status)
        return handled if handled is not None else await handler(request)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/_sandbox/faults", self._list)
        app.router.add_post("/_sandbox/faults", self._add)
        app.router.add_delete("/_sandbox/faults", self._clear)

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": [r.describe() for r in self._rules]})

    async def _add(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            rule = _rule_from_json(body)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.add(rule)
        return web.json_response({"fault": rule.describe()}, status=201)

    async def _clear(self, request: web.Request) -> web.Response:
        self.clear()
        return web.json_response({"faults": []})


faults_key = web.AppKey("faults", Faults)
