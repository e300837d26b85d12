"""The merchant's choices end to end: order then invoice, invoice only, changes after transfer,
missing articles (parked with Fortnox's message, retried; or created), changed addresses."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.service_harness import AUTH_HEADERS
from ordreflyt_testkit.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

WOO_AUTH = {"Authorization": "Basic " + base64.b64encode(b"ck_sandbox:cs_sandbox").decode()}


async def sku_in_both(stack: Stack) -> str:
    articles = {a["ArticleNumber"] for a in (await stack.fortnox_state())["articles"]}
    state = await stack.get("woo", "/_sandbox/state")
    return str(
        next(p["sku"] for p in state["products"] if p["type"] == "simple" and p["sku"] in articles)
    )


async def place(stack: Stack, sku: str, **pins: Any) -> dict[str, Any]:
    status, order = await stack.post(
        "woo",
        "/_sandbox/orders",
        {"country": "SE", "status": "processing", "lines": [{"sku": sku, "quantity": 1}], **pins},
    )
    assert status == 201, order
    return dict(order)


async def woo(stack: Stack, method: str, path: str, body: Any) -> Any:
    async with (
        aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
        http.request(
            method, f"{stack.url('woo')}/wp-json/wc/v3{path}", json=body, headers=WOO_AUTH
        ) as r,
    ):
        assert r.status < 300, await r.text()
        return await r.json()


async def test_order_then_invoice(amqp_url: str, database_url: str, tmp_path: Path) -> None:
    async with running_stack(
        amqp_url, database_url, tmp_path, order_mapper_extra='document = "order_then_invoice"'
    ) as stack:
        order = await place(stack, await sku_in_both(stack))
        erp = (
            await wait_for(lambda: _invoiced(stack, order["id"]), what="the order and its invoice")
        )[0]
        state = await stack.fortnox_state()
        invoice = next(
            i for i in state["invoices"] if i["DocumentNumber"] == erp["InvoiceReference"]
        )
        assert str(invoice["Total"]) == str(erp["Total"])
        link = await stack.get("erp-writer-0", f"/links/demo/{order['id']}")
        assert link["invoice_number"] == erp["InvoiceReference"]


async def _invoiced(stack: Stack, order_id: int) -> list[dict[str, Any]]:
    return [o for o in await stack.fortnox_orders_for(order_id) if o["InvoiceReference"] != "0"]


async def test_invoice_only_carries_the_reference_in_your_order_number(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        amqp_url, database_url, tmp_path, order_mapper_extra='document = "invoice"'
    ) as stack:
        order = await place(stack, await sku_in_both(stack))

        async def invoices() -> list[Any]:
            return [
                i
                for i in (await stack.fortnox_state())["invoices"]
                if i["YourOrderNumber"] == f"demo-{order['id']}"
            ]

        found = await wait_for(invoices, what="the invoice")
        assert len(found) == 1
        assert str(found[0]["Total"]) == str(float(order["total"])) or float(
            found[0]["Total"]
        ) == float(order["total"])
        assert await stack.fortnox_orders_for(order["id"]) == []


async def test_change_after_transfer_is_applied_until_the_order_is_invoiced(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        amqp_url, database_url, tmp_path, order_mapper_extra="apply_changes_to_erp = true"
    ) as stack:
        order = await place(stack, await sku_in_both(stack))
        erp = (await wait_for(lambda: stack.fortnox_orders_for(order["id"]), what="the order"))[0]
        await woo(stack, "PUT", f"/orders/{order['id']}", {"customer_note": "Ring på døra"})

        async def remarks_updated() -> bool:
            orders = await stack.fortnox_orders_for(order["id"])
            return bool(orders) and "Ring på døra" in orders[0]["Remarks"]

        await wait_for(remarks_updated, what="the change in Fortnox")
        changed = await stack.get("order-mapper", "/changed")
        assert [c["order_id"] for c in changed["changed"]] == [str(order["id"])]

        # Once invoiced, Fortnox no longer takes changes: recorded, not applied.
        async with (
            aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
            http.put(
                f"{stack.url('fortnox')}/3/orders/{erp['DocumentNumber']}/createinvoice",
                headers={"Authorization": "Bearer sandbox-token"},
            ) as r,
        ):
            assert r.status == 200
        await woo(stack, "PUT", f"/orders/{order['id']}", {"customer_note": "Lever til naboen"})

        async def note_recorded() -> bool:
            changed = await stack.get("order-mapper", f"/orders/demo/{order['id']}")
            return "update sent" in changed["change_note"]

        await wait_for(note_recorded, what="the second change recorded")
        await asyncio.sleep(2.0)
        orders = await stack.fortnox_orders_for(order["id"])
        assert "Lever til naboen" not in orders[0]["Remarks"]
        assert len(orders) == 1
        writer_log = stack.processes["erp-writer-0"].log_path.read_text()
        assert "change after transfer not applied" in writer_log


async def test_missing_article_is_parked_with_fortnox_message_and_retried(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(amqp_url, database_url, tmp_path) as stack:
        await woo(
            stack,
            "POST",
            "/products",
            {"name": "Lusekofte", "sku": "LUSEKOFTE-1", "regular_price": "1299.00"},
        )
        order = await place(stack, "LUSEKOFTE-1")

        async def parked() -> list[Any]:
            return list((await stack.get("erp-writer-0", "/parked"))["parked"])

        entry = (await wait_for(parked, what="the parked order"))[0]
        assert (entry["order_id"], entry["code"]) == (str(order["id"]), "2001302")
        assert "LUSEKOFTE-1" in entry["message"]
        # The merchant creates the article in Fortnox, then retries.
        async with (
            aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
            http.post(
                f"{stack.url('fortnox')}/3/articles",
                json={
                    "Article": {
                        "ArticleNumber": "LUSEKOFTE-1",
                        "Description": "Lusekofte",
                        "VAT": 25,
                    }
                },
                headers={"Authorization": "Bearer sandbox-token"},
            ) as r,
        ):
            assert r.status == 201, await r.text()
        status, _ = await stack.post("erp-writer-0", f"/parked/demo/{order['id']}/retry")
        assert status == 200
        await wait_for(
            lambda: stack.fortnox_orders_for(order["id"]), what="the order after the retry"
        )
        assert await parked() == []


async def test_missing_article_created_when_the_merchant_chose_so_and_address_change_updates_customer(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        amqp_url, database_url, tmp_path, erp_writer_extra="create_missing_articles = true"
    ) as stack:
        await woo(
            stack,
            "POST",
            "/products",
            {"name": "Kaffekopp", "sku": "KOPP-9", "regular_price": "149.00"},
        )
        first = await place(stack, "KOPP-9", email="ola@example.se")
        await wait_for(
            lambda: stack.fortnox_orders_for(first["id"]), what="the order with a new article"
        )
        assert any(
            a["ArticleNumber"] == "KOPP-9" for a in (await stack.fortnox_state())["articles"]
        )

        second = await place(stack, "KOPP-9", email="ola@example.se")
        erp = (
            await wait_for(lambda: stack.fortnox_orders_for(second["id"]), what="the second order")
        )[0]
        customer = next(
            c
            for c in (await stack.fortnox_state())["customers"]
            if c["CustomerNumber"] == erp["CustomerNumber"]
        )
        # The sample generator gives each order a new address: the customer follows the latest.
        assert customer["Address1"] == second["billing"]["address_1"]
        assert customer["City"] == second["billing"]["city"]
