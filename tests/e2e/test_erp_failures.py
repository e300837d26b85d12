"""erp-writer under failure: killed after Fortnox accepted a create, and Fortnox answering 429,
503 and slowly while two erp-writer processes share its rate limit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.processes import ServiceProcess
from ordreflyt_testkit.service_harness import AUTH_HEADERS
from ordreflyt_testkit.stack import Stack, running_stack

pytestmark = pytest.mark.e2e


async def first_sku(stack: Stack) -> str:
    articles = {a["ArticleNumber"] for a in (await stack.fortnox_state())["articles"]}
    state = await stack.get("woo", "/_sandbox/state")
    sku: str = next(
        p["sku"] for p in state["products"] if p["type"] == "simple" and p["sku"] in articles
    )
    return sku


async def place(stack: Stack, sku: str, email: str) -> dict[str, Any]:
    status, order = await stack.post(
        "woo",
        "/_sandbox/orders",
        {
            "country": "SE",
            "status": "processing",
            "email": email,
            "lines": [{"sku": sku, "quantity": 1}],
        },
    )
    assert status == 201, order
    return dict(order)


async def test_killed_after_fortnox_accepted_the_create_still_one_order(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        amqp_url, database_url, tmp_path, env={"FORTNOX_TIMEOUT": "60"}
    ) as stack:
        sku = await first_sku(stack)
        # Fortnox stores the order but its answer never comes back.
        status, _ = await stack.post(
            "fortnox",
            "/_sandbox/faults",
            {
                "timeout": True,
                "after": True,
                "count": 1,
                "path_prefix": "/3/orders",
                "methods": ["POST"],
            },
        )
        assert status == 201
        order = await place(stack, sku, "crash.test@example.se")
        await wait_for(
            lambda: stack.fortnox_orders_for(order["id"]), timeout=30, what="the order in Fortnox"
        )
        writer = stack.processes["erp-writer-0"]
        assert writer.kill() == -9
        async with aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
            await http.delete(stack.url("fortnox") + "/_sandbox/faults")
        restarted = ServiceProcess(writer.argv, writer.env, tmp_path, name="erp-writer-0-restarted")
        stack.processes["erp-writer-0-restarted"] = restarted
        restarted.start()
        await restarted.wait_ready()
        link = await wait_for(
            lambda: _link(stack, restarted, order["id"]),
            timeout=60,
            what="the link after the restart",
        )
        assert link["adopted"] is True
        await asyncio.sleep(1.0)
        orders = await stack.fortnox_orders_for(order["id"])
        assert len(orders) == 1
        assert orders[0]["DocumentNumber"] == link["document_number"]


async def _link(stack: Stack, proc: ServiceProcess, order_id: int) -> dict[str, Any] | None:
    async with (
        aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
        http.get(f"{proc.url}/links/demo/{order_id}") as r,
    ):
        return dict(await r.json()) if r.status == 200 else None


async def test_429_503_and_slow_fortnox_every_order_once_within_the_limit(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(amqp_url, database_url, tmp_path, erp_writers=2) as stack:
        sku = await first_sku(stack)
        for fault in (
            {"status": 503, "seconds": 4},
            {"status": 429, "count": 3},
            {"latency_ms": 400, "seconds": 12},
        ):
            status, _ = await stack.post(
                "fortnox", "/_sandbox/faults", {**fault, "path_prefix": "/3/"}
            )
            assert status == 201
        orders = [await place(stack, sku, f"kund{i % 4}@example.se") for i in range(12)]

        async def all_arrived() -> bool:
            return all(await asyncio.gather(*(stack.fortnox_orders_for(o["id"]) for o in orders)))

        await wait_for(all_arrived, timeout=120, interval=0.5, what="every order in Fortnox")
        await asyncio.sleep(2.0)
        counts = [len(await stack.fortnox_orders_for(o["id"])) for o in orders]
        assert counts == [1] * len(orders)
        stats = await stack.get("fortnox", "/_sandbox/stats")
        assert stats["max_in_window"] <= 25, stats
        assert stats["tokens"]["sandbox-token"]["rejected_429"] >= 3
        # Both writers took part, so the budget really was shared between processes.
        for name in ("erp-writer-0", "erp-writer-1"):
            metrics = await stack.text(name, "/metrics")
            assert (
                'ordreflyt_messages_consumed_total{routing_key="order-mapper.erp-order.requested.v1"}'
                in metrics
            )
