"""ERP changes back to the shop through real processes: sandbox shop and Fortnox, intake,
order-mapper, erp-writer and fulfillment-listener (polling every second).

Invoicing completes the shop order once; parcels become one customer note with tracking links
and the tracking meta; a partial delivery keeps the order processing; a cancel cancels; a shop
order a person completed is not moved back; a SIGKILL in the middle of a poll loses nothing and
doubles nothing; pushed shipments are signed and applied once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.processes import ServiceProcess
from ordreflyt_testkit.service_harness import AUTH_HEADERS
from ordreflyt_testkit.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

SERVICE = "fulfillment-listener"
PUSH_SECRET = "e2e-push-secret"
# The test's own Fortnox token: its requests do not use up the services' rate-limit window.
TEST_TOKEN = "e2e-test-token"
SHOP_AUTH = "Basic " + base64.b64encode(b"ck_sandbox:cs_sandbox").decode()
META_KEY = "_wc_shipment_tracking_items"


@pytest.fixture(scope="module")
async def stack(
    amqp_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with running_stack(
        amqp_url,
        database_url,
        tmp_path_factory.mktemp("fulfillment"),
        fortnox_args=("--access-token", f"sandbox-token,{TEST_TOKEN}"),
        env={"FULFILLMENT_PUSH_SECRET": PUSH_SECRET},
        fulfillment=True,
        fulfillment_extra="poll_interval = 1\nerp_clock_skew = 2\n",
    ) as s:
        yield s


# ---------------------------------------------------------------- helpers


async def skus(stack: Stack) -> list[str]:
    state = await stack.get("woo", "/_sandbox/state")
    articles = {a["ArticleNumber"] for a in (await stack.fortnox_state())["articles"]}
    return [
        p["sku"]
        for p in state["products"]
        if p["type"] == "simple" and p["sku"] in articles and p.get("manage_stock") is not False
    ]


async def sent_order(stack: Stack, lines: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """A paid shop order, once it is in Fortnox and fulfillment-listener knows its document."""
    status, order = await stack.post(
        "woo", "/_sandbox/orders", {"country": "SE", "status": "processing", "lines": lines}
    )
    assert status == 201, order

    known = await wait_for(
        lambda: stack.found(SERVICE, f"/orders/demo/{order['id']}"),
        timeout=30,
        interval=0.1,
        what=f"the link of order {order['id']}",
    )
    return dict(order), str(known["document_number"])


async def fortnox(stack: Stack, method: str, path: str) -> Any:
    async with (
        aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
        http.request(
            method,
            stack.url("fortnox") + "/3" + path,
            headers={"Authorization": f"Bearer {TEST_TOKEN}"},
        ) as r,
    ):
        body = await r.json()
        assert r.status < 300, body
        return body


async def deliver(stack: Stack, document: str, **body: Any) -> None:
    status, answer = await stack.post("fortnox", f"/_sandbox/orders/{document}/deliver", body)
    assert status == 200, answer


async def shop(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    async with (
        aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
        http.request(
            method,
            stack.url("woo") + "/wp-json/wc/v3" + path,
            json=body,
            headers={"Authorization": SHOP_AUTH},
        ) as r,
    ):
        answer = await r.json()
        assert r.status < 300, answer
        return answer


async def shop_status(stack: Stack, order_id: int) -> str:
    return str((await shop(stack, "GET", f"/orders/{order_id}"))["status"])


async def notes(stack: Stack, order_id: int) -> list[dict[str, Any]]:
    return list(await shop(stack, "GET", f"/orders/{order_id}/notes"))


async def notes_with(stack: Stack, order_id: int, text: str) -> list[dict[str, Any]]:
    return [n for n in await notes(stack, order_id) if text in n["note"]]


async def tracking_meta(stack: Stack, order_id: int) -> list[dict[str, Any]]:
    state = await stack.get("woo", "/_sandbox/state")
    for meta in state["protected_meta"].get(str(order_id), []):
        if meta["key"] == META_KEY:
            return list(meta["value"])
    return []


async def poll(stack: Stack) -> dict[str, Any]:
    status, summary = await stack.post(SERVICE, "/poll")
    assert status == 200, summary
    return dict(summary)


async def wait_status(stack: Stack, order_id: int, status: str, timeout: float = 20) -> None:
    async def reached() -> bool:
        return await shop_status(stack, order_id) == status

    await wait_for(reached, timeout=timeout, interval=0.2, what=f"order {order_id} {status}")


async def status_notes(stack: Stack, order_id: int, label: str) -> int:
    return len(await notes_with(stack, order_id, f"to {label}."))


def signed(body: dict[str, Any], secret: str = PUSH_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return raw, {"Content-Type": "application/json", "X-Ordreflyt-Signature": signature}


async def push(stack: Stack, raw: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
        http.post(stack.url(SERVICE) + "/shipments/demo", data=raw, headers=headers) as r,
    ):
        return r.status, await r.json()


# ---------------------------------------------------------------- tests


async def test_invoiced_in_the_erp_completes_the_shop_order_once(stack: Stack) -> None:
    sku = (await skus(stack))[0]
    order, document = await sent_order(stack, [{"sku": sku, "quantity": 1}])
    await fortnox(stack, "PUT", f"/orders/{document}/createinvoice")
    await wait_status(stack, order["id"], "completed")
    # The overlap makes every poll list the order again; its change is recognised.
    seen_again = [await poll(stack) for _ in range(2)]
    assert all(s["linked"] >= 1 for s in seen_again), seen_again
    assert await status_notes(stack, order["id"], "Completed") == 1
    effects = (await stack.get(SERVICE, f"/orders/demo/{order['id']}"))["effects"]
    assert [(e["key"], e["state"]) for e in effects] == [("status:invoiced", "applied")]


async def test_two_parcels_give_one_note_with_links_and_the_tracking_meta(stack: Stack) -> None:
    sku_a, sku_b = (await skus(stack))[:2]
    order, document = await sent_order(
        stack, [{"sku": sku_a, "quantity": 2}, {"sku": sku_b, "quantity": 1}]
    )
    await deliver(
        stack,
        document,
        tracking=[
            {"number": "PN00371234SE", "carrier": "PostNord"},
            {"number": "JVGL0612345", "carrier": "DHL Freight"},
        ],
    )
    found = await wait_for(
        lambda: notes_with(stack, order["id"], "PN00371234SE"), timeout=20, what="tracking note"
    )
    await poll(stack)
    await poll(stack)
    found = await notes_with(stack, order["id"], "PN00371234SE")
    assert len(found) == 1, found
    note = found[0]
    assert note["customer_note"] is True
    assert "JVGL0612345" in note["note"]
    assert "https://tracking.postnord.com/tracking.html?id=PN00371234SE" in note["note"]
    assert "tracking-id=JVGL0612345" in note["note"]
    assert sku_a in note["note"]
    assert sku_b in note["note"]
    assert note["note"].startswith("Din beställning har skickats.")  # a Swedish order: sv
    meta = await tracking_meta(stack, order["id"])
    assert [m["tracking_number"] for m in meta] == ["PN00371234SE", "JVGL0612345"]
    assert meta[0]["custom_tracking_provider"] == "PostNord"
    assert meta[1]["custom_tracking_link"].endswith("tracking-id=JVGL0612345")
    # Shipped is not a status change unless configured: the order stays processing.
    assert await shop_status(stack, order["id"]) == "processing"


async def test_partial_delivery_keeps_processing_with_a_note_and_the_rest_follows(
    stack: Stack,
) -> None:
    sku_a, sku_b = (await skus(stack))[2:4]
    order, document = await sent_order(
        stack, [{"sku": sku_a, "quantity": 2}, {"sku": sku_b, "quantity": 1}]
    )
    await deliver(
        stack, document, rows={sku_a: 1}, tracking=[{"number": "70712345678", "carrier": "Bring"}]
    )
    first = await wait_for(
        lambda: notes_with(stack, order["id"], "70712345678"), timeout=20, what="partial note"
    )
    assert first[0]["note"].startswith("En del av din beställning har skickats.")
    assert "1 x" in first[0]["note"]
    assert sku_a in first[0]["note"]
    assert sku_b not in first[0]["note"]
    assert await shop_status(stack, order["id"]) == "processing"

    await deliver(stack, document, tracking=[{"number": "70712345679", "carrier": "Bring"}])
    rest = await wait_for(
        lambda: notes_with(stack, order["id"], "70712345679"), timeout=20, what="second note"
    )
    assert rest[0]["note"].startswith("Din beställning har skickats.")
    assert sku_b in rest[0]["note"]
    await poll(stack)
    assert len(await notes_with(stack, order["id"], "70712345678")) == 1
    assert len(await notes_with(stack, order["id"], "70712345679")) == 1
    meta = await tracking_meta(stack, order["id"])
    assert [m["tracking_number"] for m in meta] == ["70712345678", "70712345679"]
    assert await shop_status(stack, order["id"]) == "processing"


async def test_cancelled_in_the_erp_cancels_the_shop_order(stack: Stack) -> None:
    sku = (await skus(stack))[0]
    order, document = await sent_order(stack, [{"sku": sku, "quantity": 1}])
    await fortnox(stack, "PUT", f"/orders/{document}/cancel")
    await wait_status(stack, order["id"], "cancelled")
    await poll(stack)
    assert await status_notes(stack, order["id"], "Cancelled") == 1


async def test_an_order_a_person_completed_is_not_moved_back(stack: Stack) -> None:
    sku = (await skus(stack))[1]
    order, document = await sent_order(stack, [{"sku": sku, "quantity": 1}])
    await shop(stack, "PUT", f"/orders/{order['id']}", {"status": "completed"})
    await fortnox(stack, "PUT", f"/orders/{document}/cancel")

    async def conflict() -> list[dict[str, Any]]:
        found = (await stack.get(SERVICE, "/conflicts"))["conflicts"]
        return [c for c in found if c["order_id"] == str(order["id"])]

    found = await wait_for(conflict, timeout=20, interval=0.2, what="the conflict")
    assert found[0]["key"] == "status:cancelled"
    assert "completed" in found[0]["reason"]
    await poll(stack)
    assert await shop_status(stack, order["id"]) == "completed"
    assert len(await conflict()) == 1


async def test_killed_mid_poll_loses_nothing_and_doubles_nothing(stack: Stack) -> None:
    sku = (await skus(stack))[0]
    placed = await asyncio.gather(
        *(sent_order(stack, [{"sku": sku, "quantity": 1}]) for _ in range(4))
    )
    # Slow shop writes (each answered 0.6 s after it took effect) make one poll take seconds.
    status, _ = await stack.post(
        "woo",
        "/_sandbox/faults",
        {
            "latency_ms": 600,
            "after": True,
            "methods": ["POST", "PUT"],
            "path_prefix": "/wp-json/wc/v3/orders",
            "seconds": 60,
        },
    )
    assert status == 201
    numbers = {}
    for n, (order, document) in enumerate(placed):
        numbers[order["id"]] = f"KILL{n}-{order['id']}"
        await deliver(
            stack, document, tracking=[{"number": numbers[order["id"]], "carrier": "Budbee"}]
        )
        await fortnox(stack, "PUT", f"/orders/{document}/createinvoice")

    async def first_effect() -> bool:
        for order_id, number in numbers.items():
            if await notes_with(stack, order_id, number):
                return True
        return False

    await wait_for(first_effect, timeout=20, interval=0.05, what="the first effect")
    listener = stack.processes[SERVICE]
    assert listener.kill() == -9
    done = [await shop_status(stack, order_id) == "completed" for order_id in numbers]
    assert not all(done), "the poll was over before the kill"
    async with aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        await http.delete(stack.url("woo") + "/_sandbox/faults")

    restarted = ServiceProcess(listener.argv, listener.env, stack.log_dir, name=f"{SERVICE}-2")
    stack.processes[SERVICE] = restarted
    restarted.start()
    await restarted.wait_ready()
    for order_id in numbers:
        await wait_status(stack, order_id, "completed", timeout=30)
    await poll(stack)
    await poll(stack)
    outcomes = []
    for order_id, number in numbers.items():
        effects = (await stack.get(SERVICE, f"/orders/demo/{order_id}"))["effects"]
        outcomes += [e["outcome"] for e in effects]
        assert len(await notes_with(stack, order_id, number)) == 1, order_id
        assert await status_notes(stack, order_id, "Completed") == 1
        meta = await tracking_meta(stack, order_id)
        assert [m["tracking_number"] for m in meta] == [number]
    # The note whose answer the kill cut off was found in the shop, not written again.
    assert "note found after a restart" in outcomes, outcomes


async def test_pushed_shipment_is_signed_and_reaches_the_shop_once(stack: Stack) -> None:
    sku = (await skus(stack))[3]
    order, document = await sent_order(stack, [{"sku": sku, "quantity": 3}])
    event = {
        "erp_document_number": document,
        "parcels": [
            {"tracking_number": "1Z999AA10123456784", "carrier": "UPS"},
            {
                "tracking_number": "BUD-77",
                "carrier": "Budbee",
                "url": "https://example.com/track/BUD-77",
            },
        ],
        "complete": False,
        "lines": {sku: 2},
        "event_id": f"wms-{order['id']}-1",
    }
    raw, headers = signed(event, secret="not-the-secret")
    status, answer = await push(stack, raw, headers)
    assert status == 401, answer
    raw, headers = signed({**event, "parcels": []})
    status, answer = await push(stack, raw, headers)
    assert status == 400
    assert "parcels" in answer["error"]
    raw, headers = signed({**event, "erp_document_number": "999999"})
    status, answer = await push(stack, raw, headers)
    assert status == 404

    raw, headers = signed(event)
    first, second = await push(stack, raw, headers), await push(stack, raw, headers)
    assert first[0] == 202, first
    assert first[1]["effects"][0]["new"] is True
    assert second == (200, {"status": "duplicate", "order_id": str(order["id"])})
    # The same parcels under another event id: recognised by their tracking numbers.
    raw, headers = signed({**event, "event_id": f"wms-{order['id']}-again"})
    status, answer = await push(stack, raw, headers)
    assert status == 202
    assert answer["effects"][0]["new"] is False

    found = await wait_for(
        lambda: notes_with(stack, order["id"], "1Z999AA10123456784"), timeout=20, what="push note"
    )
    await poll(stack)
    found = await notes_with(stack, order["id"], "1Z999AA10123456784")
    assert len(found) == 1
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in found[0]["note"]
    assert "https://example.com/track/BUD-77" in found[0]["note"]
    assert found[0]["note"].startswith("En del av din beställning har skickats.")
    meta = await tracking_meta(stack, order["id"])
    assert [m["tracking_number"] for m in meta] == ["1Z999AA10123456784", "BUD-77"]
    assert await shop_status(stack, order["id"]) == "processing"


async def test_unsigned_or_unknown_pushes_change_nothing(stack: Stack) -> None:
    async with aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
        async with http.post(stack.url(SERVICE) + "/shipments/demo", data=b"{}", headers={}) as r:
            assert r.status == 401
        async with http.post(stack.url(SERVICE) + "/shipments/nope", data=b"{}") as r:
            assert r.status == 404
        async with http.post(stack.url(SERVICE) + "/shipments/demo", data=b"x" * 70_000) as r:
            assert r.status == 413
