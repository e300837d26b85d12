"""`--state-file`: the shop continues after a restart (or a kill) where it stopped."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from ordreflyt_sandbox_kit.statefile import CRASH_SKIP, StateFileError
from ordreflyt_sandbox_kit.testing import EmulatorProcess
from ordreflyt_sandbox_woocommerce import saved
from ordreflyt_sandbox_woocommerce.__main__ import add_arguments, settings_from
from ordreflyt_sandbox_woocommerce.app import WebhookSpec, WooSettings, make_app
from ordreflyt_sandbox_woocommerce.rest import dispatcher_key, store_key
from ordreflyt_sandbox_woocommerce.store import Event

SECRET = "sandbox-webhook-secret"


async def _state(client: Any) -> dict[str, Any]:
    data: dict[str, Any] = await (await client.get("/_sandbox/state")).json()
    del data["generator"]  # the run's own: rate from the flags, orders placed by this run
    return data


async def test_a_restarted_shop_holds_everything_and_continues_the_ids(
    shop: Any, h: Any, receiver: Any, tmp_path: Path
) -> None:
    path = tmp_path / "woocommerce.json"
    webhooks = [WebhookSpec(receiver.url, SECRET, ("order.created", "order.updated"))]
    settings = {"state_file": path, "products": 6, "webhooks": webhooks}
    first = await shop(**settings)
    paid = await h.order(first, status="processing", payment_method="klarna")
    pending = await h.order(first, status="pending")
    url = f"{h.api}/orders/{paid['id']}"
    await first.post(f"{url}/notes", json={"note": "Pakket", "customer_note": True}, headers=h.auth)
    await first.post(
        f"{url}/refunds", json={"amount": "10.00", "api_refund": False}, headers=h.auth
    )
    await h.drain(first)
    receiver.default_status = 500  # a failed delivery: the failure count is state too
    await first.put(f"{h.api}/orders/{pending['id']}", json={"status": "on-hold"}, headers=h.auth)
    await h.drain(first)
    before = await _state(first)
    assert [w["id"] for w in before["webhooks"]] == [1, 2]
    await first.close()
    assert json.loads(path.read_text())["summary"]["orders"] == 2

    receiver.default_status = 200
    again = await shop(**settings)
    assert await _state(again) == before  # orders, refunds, notes, products, webhooks, log
    webhooks_after = (await _state(again))["webhooks"]
    assert [w["id"] for w in webhooks_after] == [1, 2]  # matched by URL and topic, not added
    store = again.app[store_key]
    assert [w.failure_count for w in store.webhooks.values()] == [0, 1]
    third = await h.order(again, status="processing")
    # The post-id sequence goes on after the refund, as WordPress's would.
    refund_id = before["refunds"][0]["id"]
    assert third["id"] == max(refund_id, pending["id"]) + 1
    await h.drain(again)
    assert receiver.deliveries()[-1].headers["X-WC-Webhook-ID"] in {"1", "2"}
    assert json.loads(receiver.deliveries()[-1].body)["id"] == third["id"]


async def test_without_a_state_file_every_start_is_fresh(shop: Any, h: Any) -> None:
    first = await shop(products=3)
    order = await h.order(first)
    second = await shop(products=3)
    assert (await h.order(second))["id"] == order["id"]


async def test_queued_deliveries_are_sent_after_a_restart(tmp_path: Path) -> None:
    settings = WooSettings(
        products=3,
        state_file=tmp_path / "shop.json",
        webhooks=[WebhookSpec("http://127.0.0.1:9/hooks", SECRET, ("order.updated",))],
    )
    app = make_app(settings)  # not started: what is queued stays queued
    app[dispatcher_key].dispatch([Event("order.updated", 164), Event("order.updated", 165)])
    state = saved.snapshot(app[store_key], app[dispatcher_key])
    assert [d["resource_id"] for d in state["queued_deliveries"]] == [164, 165]
    again = make_app(WooSettings(products=3))
    saved.restore(again[store_key], again[dispatcher_key], state)
    assert again[dispatcher_key].queued() == app[dispatcher_key].queued()


async def test_a_file_made_with_another_catalogue_is_refused(shop: Any, tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    await (await shop(state_file=path, products=3)).close()
    with pytest.raises(StateFileError, match="products = 3, and this one has 4"):
        make_app(WooSettings(state_file=path, products=4, seed=7))
    path.write_text(
        '{"kind": "ordreflyt-sandbox-woocommerce", "version": 1, "made_with": '
        '{"products": 3, "seed": 7}, "state": {"orders": "many"}}'
    )
    with pytest.raises(StateFileError, match="SavedShop lacks the field"):
        make_app(WooSettings(state_file=path, products=3, seed=7))


def test_the_state_file_comes_from_the_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def parse(*argv: str) -> WooSettings:
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        return settings_from(parser.parse_args(argv))

    assert parse().state_file is None
    assert parse("--state-file", "var/sandbox/woocommerce.json").state_file == Path(
        "var/sandbox/woocommerce.json"
    )
    monkeypatch.setenv("WOO_STATE_FILE", "/tmp/shop.json")
    assert parse().state_file == Path("/tmp/shop.json")


MODULE = "ordreflyt_sandbox_woocommerce"


async def _place(shop: EmulatorProcess) -> int:
    status, order = await shop.call("POST", "/_sandbox/orders", {})
    assert status == 201
    return int(order["id"])


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
async def test_the_process_continues_after_a_stop_or_a_kill(
    tmp_path: Path, stop: signal.Signals
) -> None:
    path = tmp_path / "sandbox" / "woocommerce.json"
    first = EmulatorProcess(MODULE, tmp_path, "--products", "4", env={"WOO_STATE_FILE": str(path)})
    await first.start("/_sandbox/state")
    ids = [await _place(first) for _ in range(3)]
    if stop == signal.SIGKILL:
        await asyncio.sleep(2.5)  # a periodic save
        ids.append(await _place(first))  # after the save: lost with the kill
    await first.stop(stop)
    assert first.logged("no state file at")
    saved = json.loads(path.read_text())
    second = EmulatorProcess(MODULE, tmp_path, "--products", "4", "--state-file", str(path))
    await second.start("/_sandbox/state")
    try:
        following = await _place(second)
        assert second.logged(f"continuing from {path}")
        if stop == signal.SIGTERM:
            assert saved["stopped_cleanly"] is True
            assert following == ids[-1] + 1
        else:
            # The last order's id may be lost, but it was answered: ids skip ahead, so none
            # comes twice.
            assert following == saved["summary"]["next_id"] + CRASH_SKIP
            assert following > ids[-1]
            assert second.logged("did not stop cleanly")
    finally:
        assert await second.stop() == 0


async def test_a_corrupt_file_stops_the_process_with_the_way_to_start_clean(
    tmp_path: Path,
) -> None:
    path = tmp_path / "woocommerce.json"
    path.write_text('{"kind": "ordreflyt-sandbox-woocommerce", "version": 1, "made_')
    shop = EmulatorProcess(MODULE, tmp_path, "--state-file", str(path))
    message = await shop.refusal()
    assert f"state file {path} cannot be used: it is not valid JSON" in message
    assert "to start clean, move the file away or delete it" in message
    assert path.read_text().endswith('"made_')  # untouched
