"""Every paid order reaches the ERP once, under the faults an operator meets: PostgreSQL stopped
while intake takes webhooks, a webhook disabled in the shop, Fortnox storing a create but
failing its answer, Fortnox down longer than the retry ladder. Real processes, a real
RabbitMQ, PostgreSQL (a server of the test's own where it is stopped), the sandboxes."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.pgcluster import temp_postgres
from ordreflyt_testkit.samples import woo_signature
from ordreflyt_testkit.service_harness import AUTH_HEADERS
from ordreflyt_testkit.stack import E2E_SECRET, Stack, running_stack

pytestmark = pytest.mark.e2e

SHOP_AUTH = {"Authorization": "Basic " + base64.b64encode(b"ck_sandbox:cs_sandbox").decode()}


async def shop_order_json(stack: Stack, order_id: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(headers=SHOP_AUTH) as http,
        http.get(f"{stack.url('woo')}/wp-json/wc/v3/orders/{order_id}") as r,
    ):
        assert r.status == 200
        return dict(await r.json())


async def test_postgres_stopped_while_intake_takes_webhooks(amqp_url: str, tmp_path: Path) -> None:
    with temp_postgres() as pg:
        async with running_stack(amqp_url, pg.database_url("postgres"), tmp_path) as stack:
            template = await stack.place_order()
            await stack.all_in_fortnox_once([template["id"]])
            order = await shop_order_json(stack, template["id"])
            url = stack.url("intake") + "/webhooks/woocommerce/demo"
            answers: dict[int, int] = {}

            async def deliver(http: aiohttp.ClientSession, order_id: int) -> None:
                body = json.dumps(
                    {**order, "id": order_id, "number": str(order_id)}, ensure_ascii=False
                ).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-WC-Webhook-Topic": "order.created",
                    "X-WC-Webhook-Signature": woo_signature(E2E_SECRET, body),
                }
                try:
                    async with http.post(url, data=body, headers=headers) as r:
                        answers[order_id] = r.status
                except aiohttp.ClientError:
                    answers[order_id] = 0

            ids = itertools.count(900_001)

            async def steady(seconds: float) -> None:
                async with aiohttp.ClientSession() as http:
                    for _ in range(int(seconds * 20)):
                        await deliver(http, next(ids))
                        await asyncio.sleep(0.05)

            before = asyncio.create_task(steady(9.0))
            await asyncio.sleep(1.5)
            pg.stop()  # as if it died: connections cut
            await asyncio.sleep(4.0)
            pg.start()
            await before
            statuses = set(answers.values())
            assert statuses <= {200, 202, 503}, answers
            accepted = sorted(i for i, status in answers.items() if status in (200, 202))
            assert 202 in statuses, "nothing was spooled: the database was never missed"
            await stack.all_in_fortnox_once(accepted, timeout=180)
            assert await stack.dead_letters() == {
                "order-mapper": 0,
                "erp-writer-0": 0,
            }


async def test_a_disabled_webhook_is_reenabled_and_reconciliation_brings_the_missed_orders(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        amqp_url,
        database_url,
        tmp_path,
        intake_extra="reconcile_interval = 3\nwatchdog_interval = 3",
        env={"HTTP_HEADER_TIMEOUT": "2"},
    ) as stack:
        first = await stack.place_order()
        await stack.all_in_fortnox_once([first["id"]])
        hooks = await _webhooks(stack)
        created = next(h for h in hooks if h["topic"] == "order.created")
        # Disabled as WooCommerce does after five failed deliveries (created and updated both
        # fire for a new order, so both are off).
        for hook in hooks:
            if hook["topic"] in ("order.created", "order.updated"):
                await _set_status(stack, hook["id"], "disabled")
        missed = [await stack.place_order() for _ in range(20)]
        await stack.all_in_fortnox_once([o["id"] for o in missed], timeout=90)

        async def active_again() -> bool:
            hooks = await _webhooks(stack)
            return any(h["id"] == created["id"] and h["status"] == "active" for h in hooks)

        await wait_for(active_again, timeout=30, what="the webhook active again")
        metrics = await stack.text("intake", "/metrics")
        assert (
            'ordreflyt_intake_webhook_repairs_total{problem="disabled",shop="demo",'
            'topic="order.created"}' in metrics
        )
        reconciled = _sample(metrics, 'ordreflyt_intake_reconciled_states_total{shop="demo"}')
        assert reconciled >= 20
        deliveries = (await stack.get("woo", "/_sandbox/deliveries"))["deliveries"]
        assert not any(d["resource_id"] in {o["id"] for o in missed} for d in deliveries), (
            "a missed order was delivered by a webhook after all"
        )

        # Operator routes want the token, on the real process too.
        async with aiohttp.ClientSession() as http:
            async with http.get(stack.url("intake") + "/reconciliation") as r:
                assert r.status == 401
            async with http.get(stack.url("intake") + "/reconciliation", headers=AUTH_HEADERS) as r:
                assert r.status == 200
                assert (await r.json())["shops"][0]["shop_id"] == "demo"
        # A connection that never finishes its request head is closed (HTTP_HEADER_TIMEOUT).
        assert await asyncio.wait_for(_slow_client_closed(stack.ports["intake"]), 20)


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def _slow_client_closed(port: int) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /webhooks/woocommerce/demo HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaa")
    await writer.drain()
    data = await reader.read()  # b"" once the server closes the connection
    writer.close()
    return data == b"" or data.startswith(b"HTTP/1.1 4")


async def _webhooks(stack: Stack) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession(headers=SHOP_AUTH) as http,
        http.get(f"{stack.url('woo')}/wp-json/wc/v3/webhooks") as r,
    ):
        return list(await r.json())


async def _set_status(stack: Stack, webhook_id: int, status: str) -> None:
    async with (
        aiohttp.ClientSession(headers=SHOP_AUTH) as http,
        http.put(
            f"{stack.url('woo')}/wp-json/wc/v3/webhooks/{webhook_id}", json={"status": status}
        ) as r,
    ):
        assert r.status == 200


async def test_fortnox_failing_after_it_stored_gives_one_order_and_one_customer(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        amqp_url, database_url, tmp_path, env={"FORTNOX_TIMEOUT": "3"}
    ) as stack:
        faults = [
            # The customer is stored, its answer never comes (the client times out) ...
            {"timeout": True, "after": True, "count": 1, "path_prefix": "/3/customers"},
            # ... and the order is stored, but Fortnox answers 503.
            {"status": 503, "after": True, "count": 1, "path_prefix": "/3/orders"},
        ]
        for fault in faults:
            status, _ = await stack.post(
                "fortnox", "/_sandbox/faults", {**fault, "methods": ["POST"]}
            )
            assert status == 201
        order = await stack.place_order(email="efter.lagring@example.se")
        await stack.all_in_fortnox_once([order["id"]], timeout=60)
        customers = [
            c
            for c in (await stack.fortnox_state())["customers"]
            if c["Email"] == "efter.lagring@example.se"
        ]
        assert len(customers) == 1, customers
        link = await stack.get("erp-writer-0", f"/links/demo/{order['id']}")
        assert link["adopted"] is True
        assert link["customer_number"] == customers[0]["CustomerNumber"]
        metrics = await stack.text("erp-writer-0", "/metrics")
        assert (
            'ordreflyt_erp_requests_total{erp="fortnox",method="POST",outcome="ambiguous"} 2.0'
            in (metrics)
        )


async def test_fortnox_down_longer_than_the_retry_ladder_orders_wait_and_arrive_once(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        amqp_url,
        database_url,
        tmp_path,
        env={"RETRY_DELAYS_MS": "200,400,800", "FORTNOX_TIMEOUT": "3"},
    ) as stack:
        status, _ = await stack.post(
            "fortnox", "/_sandbox/faults", {"status": 503, "seconds": 25, "path_prefix": "/3/"}
        )
        assert status == 201
        orders = [await stack.place_order(email=f"vantar{i}@example.se") for i in range(6)]

        async def unavailable() -> Any:
            ready = await stack.get("erp-writer-0", "/readyz")
            return ready if "unavailable since" in ready["details"]["erp"]["fortnox"] else None

        ready = await wait_for(unavailable, timeout=30, what="the ERP reported unavailable")
        assert ready["status"] == "ready"  # waiting for the ERP is not being broken
        metrics = await stack.text("erp-writer-0", "/metrics")
        assert _sample(metrics, 'ordreflyt_erp_unavailable_since{erp="fortnox"}') > 0
        await stack.all_in_fortnox_once([o["id"] for o in orders], timeout=120)
        assert await stack.dead_letters() == {"order-mapper": 0, "erp-writer-0": 0}
        waited = _sample(
            await stack.text("erp-writer-0", "/metrics"),
            'ordreflyt_messages_waiting_total{routing_key="order-mapper.erp-order.requested.v1"}',
        )
        assert waited >= len(orders)  # they waited, well past the 3 attempts of the ladder
