"""Deliveries on locked orders: Fortnox locks an invoiced or cancelled order, so the warehouse
can deliver nothing more on it (`POST /_sandbox/orders/{n}/deliver` answers as Fortnox would)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ordreflyt_sandbox_fortnox.errors import DOCUMENT_LOCKED

if TYPE_CHECKING:
    from conftest import Fortnox


async def test_an_invoiced_order_cannot_be_delivered(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    number = (await fortnox.add_order(customer["CustomerNumber"]))["DocumentNumber"]
    invoice = (await fortnox.ok("PUT", f"/3/orders/{number}/createinvoice"))["Invoice"]
    _, before = await fortnox.get(f"/3/orders/{number}")

    status, body = await fortnox.post(
        f"/_sandbox/orders/{number}/deliver", {"tracking": [{"number": "L1", "carrier": "Bring"}]}
    )
    assert status == 400
    error = body["ErrorInformation"]
    assert error["code"] == DOCUMENT_LOCKED
    assert "fakturerad" in error["message"]
    assert invoice["DocumentNumber"] in error["message"]
    # Nothing changed: no shipment, no delivered quantity, the same LastModified.
    _, after = await fortnox.get(f"/3/orders/{number}")
    assert after == before
    assert after["Order"]["Shipments"] == []


async def test_a_cancelled_order_cannot_be_delivered(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    number = (await fortnox.add_order(customer["CustomerNumber"]))["DocumentNumber"]
    await fortnox.ok("PUT", f"/3/orders/{number}/cancel")
    status, body = await fortnox.post(f"/_sandbox/orders/{number}/deliver")
    assert status == 400
    assert body["ErrorInformation"]["code"] == DOCUMENT_LOCKED
    assert "makulerad" in body["ErrorInformation"]["message"]
