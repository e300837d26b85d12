"""`--state-file`: Fortnox continues after a restart (or a kill) where it stopped."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ordreflyt_sandbox_fortnox.__main__ import _add_arguments, settings_from
from ordreflyt_sandbox_fortnox.app import FortnoxSettings, make_app
from ordreflyt_sandbox_fortnox.store import store_key
from ordreflyt_sandbox_kit.statefile import CRASH_SKIP, StateFileError
from ordreflyt_sandbox_kit.testing import EmulatorProcess

if TYPE_CHECKING:
    from conftest import Fortnox, FortnoxFactory

CLIENT = "Basic " + base64.b64encode(b"sandbox-client:sandbox-secret").decode()


async def _refresh(fortnox: Fortnox, refresh_token: str) -> tuple[int, Any]:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    async with fortnox.client.post(
        "/oauth-v1/token", data=form, headers={"Authorization": CLIENT}
    ) as response:
        return response.status, await response.json()


async def test_a_restarted_fortnox_holds_everything_and_continues_the_numbers(
    start_fortnox: FortnoxFactory, tmp_path: Path
) -> None:
    settings = {"state_file": tmp_path / "fortnox.json", "rate_limit": None}
    first = await start_fortnox(**settings)
    customer = await first.add_customer()
    number = customer["CustomerNumber"]
    reserved = await first.add_order(number, DeliveryState="reservation")
    invoiced = await first.add_order(number, YourOrderNumber="164")
    await first.ok("PUT", f"/3/orders/{invoiced['DocumentNumber']}/createinvoice")
    delivered = await first.add_order(number)
    await first.ok(
        "POST",
        f"/_sandbox/orders/{delivered['DocumentNumber']}/deliver",
        {"tracking": [{"number": "PN123", "carrier": "PostNord"}]},
    )
    await first.ok(
        "POST",
        "/_sandbox/stock",
        {"ArticleNumber": "STR-LUE-1002", "StockPointCode": "BUTIK", "InStock": 7},
    )
    status, grant = await _refresh(first, "sandbox-refresh")
    assert status == 200
    _, before = await first.get("/_sandbox/state")
    series = dict(first.client.app[store_key].series)
    assert any(b["ReservedStock"] for b in before["balances"])
    await first.client.close()
    assert json.loads((tmp_path / "fortnox.json").read_text())["summary"]["next_order"] == 4

    again = await start_fortnox(**settings)
    _, after = await again.get("/_sandbox/state")
    assert after == before  # customers, articles, orders, invoices, balances
    assert again.client.app[store_key].series == series
    assert (await again.add_order(number))["DocumentNumber"] == "4"
    newcomer = await again.add_customer(Email="ny@example.se")
    assert newcomer["CustomerNumber"] == str(int(number) + 1)
    _, found = await again.get("/3/customers", email="kari@example.no")
    assert [c["CustomerNumber"] for c in found["Customers"]] == [number]  # search index rebuilt
    _, orders = await again.get("/3/orders", filter="invoicecreated")
    assert [o["DocumentNumber"] for o in orders["Orders"]] == [invoiced["DocumentNumber"]]
    assert reserved["DocumentNumber"] == "1"
    # The issued access token still works; the rotated refresh token stays used up.
    assert (await again.as_token(grant["access_token"]).get("/3/customers"))[0] == 200
    assert (await _refresh(again, grant["refresh_token"]))[0] == 200
    assert (await _refresh(again, "sandbox-refresh"))[0] == 200  # configured: valid every start


async def test_a_file_made_with_other_stock_points_is_refused(
    start_fortnox: FortnoxFactory, tmp_path: Path
) -> None:
    path = tmp_path / "fortnox.json"
    await (await start_fortnox(state_file=path, catalogue_products=3)).client.close()
    with pytest.raises(StateFileError, match="stock_points = \\['HUVUD', 'BUTIK', 'RESERV'\\]"):
        make_app(FortnoxSettings(state_file=path, catalogue_products=3, stock_points=["HUVUD"]))
    document = json.loads(path.read_text())
    document["state"]["number_series"]["credit"] = 1
    path.write_text(json.dumps(document))
    with pytest.raises(StateFileError, match="its number series are"):
        make_app(FortnoxSettings(state_file=path, catalogue_products=3))


def test_the_state_file_comes_from_the_flag_or_the_environment() -> None:
    parser = argparse.ArgumentParser()
    _add_arguments(parser)
    assert settings_from(parser.parse_args([]), {}).state_file is None
    flag = parser.parse_args(["--state-file", "var/sandbox/fortnox.json"])
    assert settings_from(flag, {}).state_file == Path("var/sandbox/fortnox.json")
    env = {"FORTNOX_STATE_FILE": "/tmp/fortnox.json"}
    assert settings_from(parser.parse_args([]), env).state_file == Path("/tmp/fortnox.json")


MODULE = "ordreflyt_sandbox_fortnox"


async def _order(fortnox: EmulatorProcess) -> str:
    auth = {"Authorization": "Bearer sandbox-token"}
    customer = {"Customer": {"Name": "Kari", "Email": "kari@example.se"}}
    status, added = await fortnox.call("POST", "/3/customers", customer, auth)
    assert status == 201
    rows = [{"ArticleNumber": "ULL-SOKK-1001", "OrderedQuantity": 1}]
    order = {"Order": {"CustomerNumber": added["Customer"]["CustomerNumber"], "OrderRows": rows}}
    status, created = await fortnox.call("POST", "/3/orders", order, auth)
    assert status == 201
    return str(created["Order"]["DocumentNumber"])


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
async def test_the_process_continues_after_a_stop_or_a_kill(
    tmp_path: Path, stop: signal.Signals
) -> None:
    path = tmp_path / "sandbox" / "fortnox.json"
    env = {"FORTNOX_STATE_FILE": str(path)}
    first = EmulatorProcess(MODULE, tmp_path, "--products", "4", env=env)
    await first.start("/_sandbox/stats")
    numbers = [await _order(first) for _ in range(3)]
    assert numbers == ["1", "2", "3"]
    if stop == signal.SIGKILL:
        await asyncio.sleep(2.5)  # a periodic save
        numbers.append(await _order(first))  # after the save: lost with the kill
    await first.stop(stop)
    saved = json.loads(path.read_text())
    second = EmulatorProcess(MODULE, tmp_path, "--products", "4", env=env)
    await second.start("/_sandbox/stats")
    try:
        following = int(await _order(second))
        assert second.logged(f"continuing from {path}")
        if stop == signal.SIGTERM:
            assert following == 4
        else:
            # Order 4 may be lost, but it was answered: the numbers skip ahead, so none comes
            # twice.
            assert following == saved["summary"]["next_order"] + CRASH_SKIP
            assert following > int(numbers[-1])
    finally:
        assert await second.stop() == 0


async def test_a_corrupt_file_stops_the_process_with_the_way_to_start_clean(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fortnox.json"
    path.write_text('{"kind": "ordreflyt-sandbox-woocommerce", "version": 1}')
    message = await EmulatorProcess(MODULE, tmp_path, "--state-file", str(path)).refusal()
    assert f"state file {path} cannot be used: it is not a state file of" in message
    assert "its kind is 'ordreflyt-sandbox-woocommerce'" in message
