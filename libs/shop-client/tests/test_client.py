"""WooClient's retries: what is tried again, how often, and what is raised in the end."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tenacity import AsyncRetrying

import ordreflyt_shop.client
from ordreflyt_runtime.retry import attempts
from ordreflyt_shop import ShopApi, ShopRejected, ShopUnavailable, WooClient

Answer = tuple[int, Any]


class Shop:
    """A WooCommerce stand-in answering each call with the next scripted answer (the last one
    again when the script runs out)."""

    def __init__(self) -> None:
        self.script: list[Answer] = [(200, {})]
        self.paths: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        status, body = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(body, bytes):  # not JSON: a proxy's page
            return web.Response(body=body, status=status, content_type="text/html")
        return web.json_response(body, status=status)


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's delays between tries, recorded instead of slept."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    def recording(*args: Any, **kwargs: Any) -> AsyncRetrying:
        return attempts(*args, **kwargs).copy(sleep=sleep)

    monkeypatch.setattr(ordreflyt_shop.client, "attempts", recording)
    return delays


@pytest.fixture
async def shop() -> AsyncIterator[tuple[Shop, str]]:
    fake = Shop()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield fake, str(server.make_url("/"))
    finally:
        await server.close()


ClientFor = Callable[..., WooClient]


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFor]:
    async with aiohttp.ClientSession() as http:

        def make(url: str, **kwargs: Any) -> WooClient:
            return WooClient(ShopApi("demo", url, "ck_key", "cs_secret"), http, **kwargs)

        yield make


async def test_a_busy_shop_is_tried_again_with_doubling_delays(
    shop: tuple[Shop, str], client_for: ClientFor, slept: list[float]
) -> None:
    fake, url = shop
    fake.script = [(503, {}), (429, {}), (500, {}), (200, {"id": 7})]
    client = client_for(url)
    assert await client.get("/orders/7") == {"id": 7}
    assert client.calls == 4
    assert slept == [0.5, 1.0, 2.0]


async def test_after_the_last_retry_the_shop_is_unavailable(
    shop: tuple[Shop, str], client_for: ClientFor, slept: list[float]
) -> None:
    fake, url = shop
    fake.script = [(502, {})]
    client = client_for(url)
    with pytest.raises(ShopUnavailable, match=r"^PUT /orders/7: HTTP 502$"):
        await client.put("/orders/7", {"status": "completed"})
    assert client.calls == 5  # the first try and 4 retries (the default)
    assert slept == [0.5, 1.0, 2.0, 4.0]
    client = client_for(url, retries=0)
    with pytest.raises(ShopUnavailable):
        await client.get("/orders/7")
    assert client.calls == 1


async def test_a_refused_request_is_not_tried_again(
    shop: tuple[Shop, str], client_for: ClientFor, slept: list[float]
) -> None:
    fake, url = shop
    fake.script = [(400, {"code": "woocommerce_rest_invalid_id", "message": "Invalid ID."})]
    client = client_for(url)
    with pytest.raises(ShopRejected) as caught:
        await client.get("/orders/8")
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        400,
        "woocommerce_rest_invalid_id",
        "Invalid ID.",
    )
    # A 500 from the refund endpoint means "refused", not "busy".
    fake.script = [(500, {"code": "woocommerce_rest_cannot_create_order_refund", "message": "x"})]
    with pytest.raises(ShopRejected) as caught:
        await client.post("/orders/8/refunds", {"amount": "1.00"})
    assert caught.value.status == 500
    assert client.calls == 2
    assert slept == []


async def test_connection_errors_are_tried_again_then_the_shop_is_unavailable(
    client_for: ClientFor, slept: list[float]
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}/", retries=2)
    with pytest.raises(ShopUnavailable, match=r"^GET /orders: ClientConnectorError") as caught:
        await client.get("/orders")
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert client.calls == 3
    assert slept == [0.5, 1.0]


async def test_a_page_that_is_not_json_is_busy_or_refused_with_its_text(
    shop: tuple[Shop, str], client_for: ClientFor, slept: list[float]
) -> None:
    fake, url = shop
    page = b"<html><body>502 Bad Gateway</body></html>"
    fake.script = [(502, page), (200, {"id": 9})]
    client = client_for(url)
    assert await client.get("/orders/9") == {"id": 9}  # a proxy's HTML 502 is tried again
    assert slept == [0.5]
    fake.script = [(404, b"<html>Not Found</html>")]
    with pytest.raises(ShopRejected) as caught:
        await client.get("/orders/9")
    assert (caught.value.status, caught.value.message) == (404, "<html>Not Found</html>")
    fake.script = [(200, b"<html>Log in</html>")]
    with pytest.raises(ShopUnavailable, match="not JSON"):
        await client.get("/orders/9")
