"""Fixtures: a sandbox shop behind a test client, and a webhook receiver that records requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ordreflyt_sandbox_kit.testing import seen_from
from ordreflyt_sandbox_woocommerce.app import WooSettings, make_app
from ordreflyt_sandbox_woocommerce.rest import store_key

AUTH = {"Authorization": "Basic Y2tfc2FuZGJveDpjc19zYW5kYm94"}  # ck_sandbox:cs_sandbox
API = "/wp-json/wc/v3"


class Clock:
    """A clock the test moves by hand, so `date_modified` values are known."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int = 1) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint: records every request, answers with queued statuses (else 200)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(request.path, dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else self.default_status
        return web.Response(status=status, text="ok")

    def deliveries(self) -> list[Received]:
        return [r for r in self.requests if "X-WC-Webhook-Topic" in r.headers]


Shop = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    server = TestServer(app)
    await server.start_server()
    rec.url = str(server.make_url("/hooks/woo"))
    yield rec
    await server.close()


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """Start a shop with the given WooSettings fields; the clock is a `Clock` unless disabled,
    and `remote` makes the shop see every request as coming from that address."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(
        *, manual_clock: bool = True, remote: str | None = None, **settings: Any
    ) -> TestClient[web.Request, web.Application]:
        settings.setdefault("seed", 7)
        settings.setdefault("order_seed", 7)
        app = make_app(WooSettings(**settings))
        if manual_clock:
            app[store_key].clock = Clock()
        if remote is not None:
            seen_from(app, remote)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


class Helpers:
    """What the tests share, handed out by the `h` fixture (test modules do not import)."""

    auth = AUTH
    api = API

    @staticmethod
    def clock(client: TestClient[web.Request, web.Application]) -> Clock:
        clock = client.app[store_key].clock
        assert isinstance(clock, Clock)
        return clock

    @staticmethod
    async def drain(client: TestClient[web.Request, web.Application]) -> None:
        """Wait until every queued webhook delivery has been attempted."""
        response = await client.post("/_sandbox/deliveries/wait")
        assert response.status == 200

    @staticmethod
    async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
            await asyncio.sleep(0.02)

    @staticmethod
    async def order(
        client: TestClient[web.Request, web.Application], **pins: Any
    ) -> dict[str, Any]:
        response = await client.post("/_sandbox/orders", json=pins)
        assert response.status == 201, await response.text()
        data: dict[str, Any] = await response.json()
        return data


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
