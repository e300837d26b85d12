"""fulfillment-listener as a service, in-process against a real RabbitMQ and PostgreSQL and the
sandbox shop and Fortnox served in-process: links from erp-order.created, conflicts with a
person's later change (and accepting them), parking on a refusal by the shop (and retrying),
without holding up other orders, and the ERP budget: a document is read only when its listing
says something that matters changed, and a closed one never again. Polls are started by
`POST /poll`. ERP documents are created as erp-writer creates them, through the ERP library."""

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
from ordreflyt_erp.capabilities import Erp
from ordreflyt_erp.factory import open_erps
from ordreflyt_fulfillment_listener.app import SPEC
from ordreflyt_runtime.topology import EVENTS_EXCHANGE, declare_exchanges
from ordreflyt_sandbox_fortnox.app import FortnoxSettings
from ordreflyt_sandbox_fortnox.app import make_app as fortnox_app
from ordreflyt_sandbox_fortnox.store import Store, store_key
from ordreflyt_sandbox_woocommerce.app import make_app as woo_app
from ordreflyt_sandbox_woocommerce.settings import WooSettings
from ordreflyt_testkit.helpers import purge_queue, wait_for
from ordreflyt_testkit.samples import erp_order_sample
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
    # The ERP as erp-writer uses it, to create documents.
    erp: Erp
    # The sandbox Fortnox's records.
    store: Store

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

    async def reads(self) -> int:
        """Single orders read from the sandbox Fortnox so far (by anyone)."""
        stats = await self.json(self.fortnox, "GET", "/_sandbox/stats")
        return sum(
            count
            for route, count in stats["requests_by_route"].items()
            if route.startswith("GET /3/orders/{")
        )

    async def linked_order(self, *, with_state: bool = True) -> tuple[int, str]:
        """A paid shop order with an ERP order, created and announced as erp-writer does (with
        the document's state, unless `with_state` is False as from an older erp-writer)."""
        state = await self.json(self.woo, "GET", "/_sandbox/state")
        sku = next(p["sku"] for p in state["products"] if p["type"] == "simple" and p["sku"])
        shop = await self.json(
            self.woo,
            "POST",
            "/_sandbox/orders",
            json={"country": "SE", "status": "processing", "lines": [{"sku": sku, "quantity": 1}]},
        )
        order = erp_order_sample(f"demo-{shop['id']}", article=sku)
        customer = await self.erp.writer.create_customer(order.customer)
        document = await self.erp.writer.create_document(order, customer)
        number = document.number
        event = ErpOrderCreated(
            **new_event_fields("demo", shop["id"]),
            erp=self.erp.key,
            document_kind="order",
            document_number=number,
            customer_number=customer,
            external_reference=order.external_reference,
            state=document.state if with_state else None,
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
    sandbox = fortnox_app(FortnoxSettings(rate_limit=None, catalogue_products=10))
    async with (
        serving(sandbox) as fortnox,
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
        async with (
            running_service(SPEC, settings) as (client, _),
            open_erps(database_url, {}) as erps,
        ):
            harness = Harness(
                service=client,
                woo=woo,
                fortnox=fortnox,
                channel=channel,
                erp=erps.accounts()[0],
                store=sandbox[store_key],
            )
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


async def test_the_erp_is_read_only_when_its_listing_says_something_changed(
    harness: Harness,
) -> None:
    order_id, number = await harness.linked_order()
    old_order_id, old_number = await harness.linked_order(with_state=False)

    # Created and announced with its state: planned from the event, never read. An order
    # announced without one (an older erp-writer) is read once.
    before = await harness.reads()
    summary = await harness.poll()
    assert summary["linked"] >= 2, summary
    assert summary["read"] == 1, summary
    assert await harness.reads() == before + 1
    assert (await harness.poll())["read"] == 0

    # Delivered with a parcel: the listing shows it, the order is read once.
    await harness.json(
        harness.fortnox,
        "POST",
        f"/_sandbox/orders/{number}/deliver",
        json={"tracking": [{"number": "BUDGET-1", "carrier": "PostNord"}]},
    )
    before = await harness.reads()
    summary = await harness.poll()
    assert summary["applied"] == [f"demo/{order_id} shipment:BUDGET-1"], summary
    assert await harness.reads() == before + 1
    assert (await harness.poll())["read"] == 0

    # Invoiced, or cancelled: taken from the listing, no read.
    await harness.json(harness.fortnox, "PUT", f"/3/orders/{number}/createinvoice", headers=TOKEN)
    await harness.json(harness.fortnox, "PUT", f"/3/orders/{old_number}/cancel", headers=TOKEN)
    before = await harness.reads()
    summary = await harness.poll()
    assert set(summary["applied"]) == {
        f"demo/{old_order_id} status:cancelled",
        f"demo/{order_id} status:invoiced",
    }, summary
    assert summary["read"] == 0
    assert await harness.reads() == before
    assert (await harness.shop_order(order_id))["status"] == "completed"
    assert (await harness.shop_order(old_order_id))["status"] == "cancelled"
    story = await harness.json(harness.service, "GET", f"/orders/demo/{order_id}")
    assert story["state"]["invoiced"] is True
    assert [p["tracking_number"] for p in story["state"]["shipments"][0]["parcels"]] == ["BUDGET-1"]

    # The sandbox locks an invoiced order as Fortnox does: nothing more is delivered on it.
    async with harness.fortnox.post(f"/_sandbox/orders/{number}/deliver", json={}) as r:
        assert r.status == 400

    # Closed rule: whatever the listing shows of a closed order later, it is not read again.
    for closed in (number, old_number):
        document = harness.store.orders[closed]
        document.warehouse_ready = not document.warehouse_ready
        document.last_modified = harness.store.now()
    before = await harness.reads()
    summary = await harness.poll()
    assert summary["linked"] >= 2, summary
    assert (summary["read"], summary["applied"]) == (0, []), summary
    assert await harness.reads() == before
