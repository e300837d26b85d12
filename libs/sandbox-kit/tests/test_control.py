"""The control routes answer only this machine unless the emulator opens them on purpose."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ordreflyt_sandbox_kit import OPEN_CONTROL_ENV, OPEN_CONTROL_FLAG, control_guard
from ordreflyt_sandbox_kit.control import is_loopback
from ordreflyt_sandbox_kit.testing import seen_from


@pytest.mark.parametrize(
    ("remote", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("172.17.0.1", False),
        ("::ffff:10.0.0.5", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("not-an-address", False),
    ],
)
def test_loopback_addresses(remote: str | None, loopback: bool) -> None:
    assert is_loopback(remote) is loopback


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _client(
    open_control: bool, remote: str | None
) -> TestClient[web.Request, web.Application]:
    app = web.Application(middlewares=[control_guard(open_control)])
    app.router.add_get("/_sandbox/state", _ok)
    app.router.add_get("/api/thing", _ok)
    if remote is not None:
        seen_from(app, remote)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_other_hosts_get_403_with_the_way_to_opt_in() -> None:
    client = await _client(open_control=False, remote="203.0.113.9")
    try:
        refused = await client.get("/_sandbox/state")
        assert refused.status == 403
        body = await refused.json()
        assert OPEN_CONTROL_FLAG in body["error"]
        assert OPEN_CONTROL_ENV in body["error"]
        assert body["remote"] == "203.0.113.9"
        assert (await client.get("/api/thing")).status == 200
    finally:
        await client.close()


@pytest.mark.parametrize(("open_control", "remote"), [(False, None), (True, "203.0.113.9")])
async def test_loopback_or_an_opened_emulator_is_served(
    open_control: bool, remote: str | None
) -> None:
    client = await _client(open_control, remote)
    try:
        assert (await client.get("/_sandbox/state")).status == 200
    finally:
        await client.close()
