"""fulfillment-listener as a service, in-process against a real RabbitMQ and PostgreSQL and the
sandbox shop and Fortnox served in-process: links from erp-order.created, conflicts with a
person's later change (and accepting them), and parking on a refusal by the shop (and retrying),
without holding up other orders. Polls are started by `POST /poll`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ordreflyt_contracts import ErpOrderCreated, encode_event, new_event_fields
from ordreflyt_fulfillment_listener.app import SPEC
from ordreflyt_runtime.topology import EVENTS_EXCHANGE, declare_exchanges
from ordreflyt_sandbox_fortnox.app import FortnoxSettings
from ordreflyt_sandbox_fortnox.app import make_app as fortnox_app
from ordreflyt_sandbox_woocommerce.app import make_app as woo_app
from ordreflyt_sandbox_woocommerce.settings import WooSettings
from ordreflyt_testkit.helpers import purge_queue, wait_for
from ordreflyt_testkit.service_harness import running_service, settings_for

pytestmark = pytest.mark.integration

TOKEN = {"Authorization": "Bearer sandbox-token"}
SHOP = {"Authorization": "Basic Y2tfc2FuZGJveDpjc19zYW5kYm94"}  # ck_sandbox:cs_sandbox


@dataclass
class Harness:
    service: TestClient[web.Request, web.Application]
    woo: TestClient[web.Request, web.Application]
    fortnox: TestClient[web.Request, web.Application]
    channel: AbstractChannel

    async def json(self, client: TestClient[Any, Any], method: str, path: str, **kw: Any) -> Any:
        async with client.request(method, path, **kw) as r:
            body = await r.json()
            assert r.status < 300, (r.status, body)
            return body

    async def poll(self) -> dict[str, Any]:
        return dict(await self.json(self.service, "POST", "/poll"))

    async def shop_order(self, order_id: int) -> dict[str, Any]:
        return dict(
            await self.json(self.woo, "GET", f"/wp-json/wc/v3/orders/{order_id}", headers=SHOP)
        )

    async def set_status(self, order_id: int, status: str) -> None:
        await self.json(
            self.woo,
            "PUT",
            f"/wp-json/wc/v3/orders/{order_id}",
            json={"status": status},
            headers=SHOP,
        )

    async def notes(self, order_id: int) -> list[dict[str, Any]]:
        return list(
            await self.json(
                self.woo, "GET", f"/wp-json/wc/v3/orders/{order_id}/notes", headers=SHOP
            )
        )

    async def linked_order(self) -> tuple[int, str]:
        """A paid shop order with a Fortnox order, announced as erp-writer announces it."""
        state = await self.json(self.woo, "GET", "/_sandbox/state")
        sku = next(p["sku"] for p in state["products"] if p["type"] == "simple" and p["sku"])
        shop = await self.json(
            self.woo,
            "POST",
            "/_sandbox/orders",
            json={"country": "SE", "status": "processing", "lines": [{"sku": sku, "quantity": 1}]},
        )
        customer = await self.json(
            self.fortnox, "POST", "/3/customers", json={"Customer": {"Name": "Test"}}, headers=TOKEN
        )
        order = await self.json(
            self.fortnox,
            "POST",
            "/3/orders",
            json={
                "Order": {
                    "CustomerNumber": customer["Customer"]["CustomerNumber"],
                    "ExternalInvoiceReference1": f"demo-{shop['id']}",
                    "OrderRows": [{"ArticleNumber": sku, "OrderedQuantity": 1}],
                }
            },
            headers=TOKEN,
        )
        number = str(order["Order"]["DocumentNumber"])
        event = ErpOrderCreated(
            **new_event_fields("demo", shop["id"]),
            erp="fortnox",
            document_kind="order",
            document_number=number,
            customer_number=str(customer["Customer"]["CustomerNumber"]),
            external_reference=f"demo-{shop['id']}",
        )
        exchange = await self.channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                encode_event(event), message_id=str(event.event_id), type=event.routing_key
            ),
            routing_key=event.routing_key,
        )

        async def linked() -> bool:
            async with self.service.get(f"/orders/demo/{shop['id']}") as r:
                return r.status == 200

        await wait_for(linked, timeout=10, what="the link")
        return int(shop["id"]), number


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def harness(
    amqp_url: str,
    database_url: str,
    channel: AbstractChannel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Harness]:
    conn = await asyncpg.connect(database_url)
    await conn.execute("DROP SCHEMA IF EXISTS fulfillment_listener CASCADE")
    await conn.close()
    await declare_exchanges(channel)
    await purge_queue(amqp_url, "fulfillment-listener")
    async with (
        serving(fortnox_app(FortnoxSettings(rate_limit=None, catalogue_products=10))) as fortnox,
        serving(woo_app(WooSettings(products=10, countries=("SE",)))) as woo,
    ):
        monkeypatch.setenv("FORTNOX_API_URL", str(fortnox.make_url("")).rstrip("/"))
        monkeypatch.setenv("FORTNOX_RATE_LIMIT", "off")
        monkeypatch.delenv("FULFILLMENT_PUSH_SECRET", raising=False)
        config = tmp_path / "ordreflyt.toml"
        config.write_text(
            f"""
[shops.demo]
url = "{woo.make_url("/")}"

[fulfillment]
poll_interval = 3600
"""
        )
        settings = settings_for("fulfillment-listener", amqp_url, database_url, config)
        async with running_service(SPEC, settings) as (client, _):
            harness = Harness(service=client, woo=woo, fortnox=fortnox, channel=channel)
            # The service polls once at start; a test's own changes must come after that poll
            # (else it may see them first). A poll asked for waits for the one running.
            await harness.poll()
            yield harness


async def test_a_status_a_person_set_after_the_erp_change_is_a_conflict_until_accepted(
    harness: Harness,
) -> None:
    order_id, number = await harness.linked_order()
    await harness.json(harness.fortnox, "PUT", f"/3/orders/{number}/createinvoice", headers=TOKEN)
    # The shop's dates have whole seconds: the person's change is a clear second later.
    await asyncio.sleep(1.1)
    await harness.set_status(order_id, "on-hold")
    summary = await harness.poll()
    assert summary["conflicts"] == [f"demo/{order_id} status:invoiced"], summary
    assert (await harness.shop_order(order_id))["status"] == "on-hold"
    conflicts = (await harness.json(harness.service, "GET", "/conflicts"))["conflicts"]
    assert [(c["order_id"], c["key"]) for c in conflicts] == [(str(order_id), "status:invoiced")]
    assert "after the ERP change" in conflicts[0]["reason"]
    # Polling again does not try again: the conflict waits for a person.
    assert (await harness.poll())["conflicts"] == []

    retried = await harness.json(harness.service, "POST", f"/conflicts/demo/{order_id}/retry")
    assert retried["applied"] == [f"demo/{order_id} status:invoiced"]
    assert (await harness.shop_order(order_id))["status"] == "completed"
    assert (await harness.json(harness.service, "GET", "/conflicts"))["conflicts"] == []


async def test_a_refusal_by_the_shop_parks_the_order_and_holds_no_other_up(
    harness: Harness,
) -> None:
    refused, refused_number = await harness.linked_order()
    other, other_number = await harness.linked_order()
    await harness.json(
        harness.woo,
        "POST",
        "/_sandbox/faults",
        json={
            "status": 400,
            "count": 1,
            "methods": ["POST"],
            "path_prefix": f"/wp-json/wc/v3/orders/{refused}/notes",
        },
    )
    await harness.json(
        harness.fortnox,
        "POST",
        f"/_sandbox/orders/{refused_number}/deliver",
        json={"tracking": [{"number": "PARK-1", "carrier": "PostNord"}]},
    )
    await harness.json(
        harness.fortnox, "PUT", f"/3/orders/{other_number}/createinvoice", headers=TOKEN
    )
    summary = await harness.poll()
    assert summary["failed"] == [f"demo/{refused} shipment:PARK-1"], summary
    assert summary["applied"] == [f"demo/{other} status:invoiced"]
    assert (await harness.shop_order(other))["status"] == "completed"
    parked = (await harness.json(harness.service, "GET", "/parked"))["parked"]
    assert [(p["order_id"], p["effects"]) for p in parked] == [(str(refused), ["shipment:PARK-1"])]
    assert "400" in parked[0]["reason"]
    assert not [n for n in await harness.notes(refused) if "PARK-1" in n["note"]]
    watermark = await harness.json(harness.service, "GET", "/watermark")
    assert watermark["watermark"] is not None

    # Later polls leave a parked order alone; a retry reads the ERP again and applies it.
    assert (await harness.poll())["failed"] == []
    retried = await harness.json(harness.service, "POST", f"/parked/demo/{refused}/retry")
    assert retried["status"] == "retried"
    assert retried["applied"] == [f"demo/{refused} shipment:PARK-1"]
    assert len([n for n in await harness.notes(refused) if "PARK-1" in n["note"]]) == 1
    assert (await harness.json(harness.service, "GET", "/parked"))["parked"] == []
    order = await harness.json(harness.service, "GET", f"/orders/demo/{refused}")
    assert [(e["key"], e["state"]) for e in order["effects"]] == [("shipment:PARK-1", "applied")]


async def test_routes_answer_for_unknown_orders(harness: Harness) -> None:
    for method, path in (
        ("GET", "/orders/demo/404"),
        ("POST", "/parked/demo/404/retry"),
        ("POST", "/conflicts/demo/404/retry"),
    ):
        async with harness.service.request(method, path) as r:
            assert r.status == 404, path
    # No push secret configured: pushes are refused, saying what to set.
    async with harness.service.post("/shipments/demo", data=b"{}") as r:
        assert r.status == 503
        assert "FULFILLMENT_PUSH_SECRET" in (await r.json())["error"]
