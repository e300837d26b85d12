"""Fault injection, the sandbox control routes and the command line."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ordreflyt_sandbox_woocommerce.__main__ import add_arguments, settings_from
from ordreflyt_sandbox_woocommerce.settings import WooSettings


async def test_fault_rule_applies_then_expires(shop: Any, h: Any) -> None:
    client = await shop()
    added = await client.post("/_sandbox/faults", json={"status": 503, "count": 2})
    assert added.status == 201
    for _ in range(2):
        response = await client.get(f"{h.api}/orders", headers=h.auth)
        assert response.status == 503
        body = await response.json()
        assert body["data"] == {"status": 503}
        assert set(body) == {"code", "message", "data"}
    assert (await client.get(f"{h.api}/orders", headers=h.auth)).status == 200
    assert (await client.get("/_sandbox/faults")).status == 200


async def test_state_reset_and_generator(shop: Any, h: Any) -> None:
    client = await shop(manual_clock=False)
    await h.order(client, status="checkout-draft")
    state = await (await client.get("/_sandbox/state")).json()
    assert state["counts"]["orders"] == 1
    assert state["orders"][0]["status"] == "checkout-draft"
    assert state["counts"]["products"] == 40
    rate = await client.post("/_sandbox/generator", json={"orders_per_second": 40})
    assert rate.status == 200

    async def placed() -> int:
        data = await (await client.get("/_sandbox/state")).json()
        return int(data["generator"]["placed"])

    for _ in range(100):
        if await placed() >= 3:
            break
        await asyncio.sleep(0.05)
    assert await placed() >= 3
    await client.post("/_sandbox/generator", json={"orders_per_second": 0})
    await client.post("/_sandbox/reset")
    state = await (await client.get("/_sandbox/state")).json()
    assert state["counts"]["orders"] == 0
    assert state["generator"]["orders_per_second"] == 0


def _parse(argv: list[str]) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from(parser.parse_args(argv))


def test_command_line_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WOO_ORDERS_PER_SECOND", "2.5")
    monkeypatch.setenv("WOO_WEBHOOK_URL", "http://127.0.0.1:9000/hooks")
    monkeypatch.setenv("WOO_WEBHOOK_SECRET", "s3cret")
    settings = _parse(["--shop-url", "https://butikk.example", "--seed", "3"])
    assert settings.orders_per_second == 2.5
    assert settings.seed == 3
    assert settings.shop_url == "https://butikk.example/"
    assert settings.webhooks[0].secret == "s3cret"
    monkeypatch.setenv("WOO_ORDERS_PER_SECOND", "fast")
    with pytest.raises(SystemExit, match="WOO_ORDERS_PER_SECOND"):
        _parse([])
    with pytest.raises(SystemExit, match="--webhook-topics"):
        _parse(["--orders-per-second", "1", "--webhook-topics", "order.exploded"])


def test_catalogue_seed_order_seed_and_countries_from_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = _parse([])
    assert (defaults.products, defaults.seed, defaults.order_seed) == (40, 1, None)
    assert defaults.countries == ("NO", "SE")
    settings = _parse(["--countries", "se", "--seed", "random", "--order-seed", "5"])
    assert (settings.countries, settings.seed, settings.order_seed) == (("SE",), None, 5)
    monkeypatch.setenv("WOO_COUNTRIES", "SE,NO")
    monkeypatch.setenv("WOO_PRODUCTS", "12")
    monkeypatch.setenv("WOO_SEED", "9")
    settings = _parse([])
    assert (settings.countries, settings.products, settings.seed) == (("SE", "NO"), 12, 9)
    assert _parse(["--countries", "NO"]).countries == ("NO",)
    monkeypatch.setenv("WOO_COUNTRIES", "SE,DK")
    with pytest.raises(SystemExit, match="WOO_COUNTRIES"):
        _parse([])
    with pytest.raises(SystemExit, match="--countries"):
        _parse(["--countries", ","])
    with pytest.raises(ValueError, match="countries"):
        WooSettings(countries=("FI",))


async def test_swedish_sample_orders_only(shop: Any, h: Any) -> None:
    client = await shop(countries=("SE",))
    for _ in range(8):
        order = await h.order(client)
        assert order["billing"]["country"] == "SE"
        assert order["currency"] == "SEK"
        assert {t["rate_code"] for t in order["tax_lines"]} <= {"SE-MOMS-1"}
    state = await (await client.get("/_sandbox/state")).json()
    assert state["generator"]["countries"] == ["SE"]
    # A request may name its own countries; an unknown one is refused.
    assert (await h.order(client, countries=["NO"]))["currency"] == "NOK"
    refused = await client.post("/_sandbox/orders", json={"countries": ["DK"]})
    assert (refused.status, (await refused.json())["code"]) == (400, "sandbox_invalid_country")


async def test_the_generator_s_countries_can_change_until_reset(shop: Any, h: Any) -> None:
    client = await shop()
    changed = await client.post("/_sandbox/generator", json={"countries": ["SE"]})
    assert await changed.json() == {"orders_per_second": 0, "countries": ["SE"]}
    assert {(await h.order(client))["currency"] for _ in range(6)} == {"SEK"}
    bad = await client.post("/_sandbox/generator", json={"countries": "SE", "orders_per_second": 1})
    assert bad.status == 400
    assert (await client.post("/_sandbox/generator", json={})).status == 400
    state = await (await client.get("/_sandbox/state")).json()
    assert state["generator"] == {"orders_per_second": 0, "placed": 0, "countries": ["SE"]}
    await client.post("/_sandbox/reset")
    state = await (await client.get("/_sandbox/state")).json()
    assert state["generator"]["countries"] == ["NO", "SE"]


@pytest.mark.parametrize(("open_control", "status"), [(False, 403), (True, 200)])
async def test_control_routes_answer_other_hosts_only_when_opened(
    shop: Any, h: Any, open_control: bool, status: int
) -> None:
    client = await shop(remote="198.51.100.4", open_control=open_control)
    state = await client.get("/_sandbox/state")
    assert state.status == status
    if status == 403:
        assert "--open-control" in (await state.json())["error"]
    assert (await client.post("/_sandbox/orders", json={})).status == (
        status if status == 403 else 201
    )
    # The REST API keeps its own Basic auth, whatever the address.
    assert (await client.get(f"{h.api}/orders", headers=h.auth)).status == 200
    assert (await client.get(f"{h.api}/orders")).status == 401


def test_open_control_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _parse([]).open_control is False
    assert _parse(["--open-control"]).open_control is True
    monkeypatch.setenv("SANDBOX_OPEN_CONTROL", "1")
    assert _parse([]).open_control is True
    monkeypatch.setenv("SANDBOX_OPEN_CONTROL", "perhaps")
    with pytest.raises(SystemExit, match="SANDBOX_OPEN_CONTROL"):
        _parse([])
