"""Fixtures: a sandbox Fortnox served on a random local port, and a small client for it.

Test modules import `Fortnox` and `FortnoxFactory` for annotations only (under TYPE_CHECKING):
pytest loads this file itself, it is not importable as a module.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ordreflyt_sandbox_fortnox.app import FortnoxSettings, make_app
from ordreflyt_sandbox_kit.testing import seen_from

TOKEN = "sandbox-token"


class Fortnox:
    """Calls the emulator as a Fortnox client would; JSON numbers are read as Decimal."""

    def __init__(self, client: TestClient[Any, Any], token: str | None = TOKEN) -> None:
        self.client = client
        self.token = token

    def as_token(self, token: str | None) -> Fortnox:
        return Fortnox(self.client, token)

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        headers = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        data = None if body is None else json.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.client.request(
            method, path, data=data, params=params, headers=headers
        ) as response:
            text = await response.text()
            return response.status, json.loads(text, parse_float=Decimal) if text else None

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        return await self.call("GET", path, params=params or None)

    async def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.call("POST", path, body)

    async def put(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.call("PUT", path, body)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = await self.call(method, path, body)
        assert status in (200, 201), (status, answer)
        return answer

    async def add_customer(self, **fields: Any) -> dict[str, Any]:
        body = {"Name": "Kari Nordmann", "Email": "kari@example.no", **fields}
        answer = await self.ok("POST", "/3/customers", {"Customer": body})
        customer: dict[str, Any] = answer["Customer"]
        return customer

    async def add_order(self, customer_number: str, **fields: Any) -> dict[str, Any]:
        body = {
            "CustomerNumber": customer_number,
            "OrderRows": [
                {"ArticleNumber": "ULL-SOKK-1001", "OrderedQuantity": 2, "Price": "119.20"}
            ],
            **fields,
        }
        answer = await self.ok("POST", "/3/orders", {"Order": body})
        order: dict[str, Any] = answer["Order"]
        return order


FortnoxFactory = Callable[..., Awaitable[Fortnox]]


@pytest.fixture
async def start_fortnox() -> AsyncIterator[FortnoxFactory]:
    """Start an emulator with some settings changed; every one started is closed afterwards.
    `remote` makes it see every request as coming from that address."""
    clients: list[TestClient[Any, Any]] = []

    async def start(*, remote: str | None = None, **settings: Any) -> Fortnox:
        app = make_app(FortnoxSettings(**settings))
        if remote is not None:
            seen_from(app, remote)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return Fortnox(client)

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def fortnox(start_fortnox: FortnoxFactory) -> Fortnox:
    """An emulator without a rate limit, for tests about behaviour rather than throttling."""
    return await start_fortnox(rate_limit=None)
