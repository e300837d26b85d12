"""Invoices: direct creation, credit, bookkeeping and cancellation, and their filters."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Fortnox


async def add_invoice(fortnox: Fortnox, **fields: Any) -> dict[str, Any]:
    customer = await fortnox.add_customer()
    body = {
        "CustomerNumber": customer["CustomerNumber"],
        "YourOrderNumber": "1042",
        "Freight": 39.20,
        "InvoiceRows": [{"ArticleNumber": "STR-LUE-1002", "DeliveredQuantity": "2"}],
        **fields,
    }
    status, answer = await fortnox.post("/3/invoices", {"Invoice": body})
    assert status == 201, answer
    invoice: dict[str, Any] = answer["Invoice"]
    return invoice


async def test_an_invoice_is_created_unbooked_and_unpaid(fortnox: Fortnox) -> None:
    invoice = await add_invoice(fortnox)
    assert isinstance(invoice["DocumentNumber"], str)
    assert invoice["InvoiceRows"][0]["DeliveredQuantity"] == "2.00"
    assert invoice["Total"] == Decimal("796.50")  # (2 x 299.00 + 39.20) x 1.25
    assert invoice["Balance"] == invoice["Total"]
    assert invoice["Booked"] is False
    assert invoice["Credit"] is False
    assert invoice["CreditInvoiceReference"] == "0"
    assert invoice["OrderReference"] == "0"


async def test_invoice_rows_have_no_ordered_quantity(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    status, body = await fortnox.post(
        "/3/invoices",
        {
            "Invoice": {
                "CustomerNumber": customer["CustomerNumber"],
                "InvoiceRows": [{"ArticleNumber": "T-SKJ-1005-S", "OrderedQuantity": 1}],
            }
        },
    )
    assert status == 400
    assert "OrderedQuantity" in body["ErrorInformation"]["message"]


async def test_crediting_makes_a_full_credit_invoice_linked_both_ways(fortnox: Fortnox) -> None:
    invoice = await add_invoice(fortnox)
    number = invoice["DocumentNumber"]
    status, body = await fortnox.put(f"/3/invoices/{number}/credit")
    assert status == 200
    credit = body["Invoice"]
    assert credit["Credit"] is True
    assert credit["CreditInvoiceReference"] == number
    assert credit["InvoiceRows"][0]["DeliveredQuantity"] == "-2.00"
    assert credit["Total"] == -invoice["Total"]
    assert credit["TotalVAT"] == -invoice["TotalVAT"]
    assert credit["Freight"] == -invoice["Freight"]
    _, body = await fortnox.get(f"/3/invoices/{number}")
    assert body["Invoice"]["CreditInvoiceReference"] == credit["DocumentNumber"]
    assert body["Invoice"]["Balance"] == 0
    # Once credited, neither credited again nor cancelled.
    assert (await fortnox.put(f"/3/invoices/{number}/credit"))[0] == 400
    assert (await fortnox.put(f"/3/invoices/{credit['DocumentNumber']}/credit"))[0] == 400
    assert (await fortnox.put(f"/3/invoices/{number}/cancel"))[0] == 400


async def test_a_booked_invoice_cannot_be_cancelled(fortnox: Fortnox) -> None:
    number = (await add_invoice(fortnox))["DocumentNumber"]
    _, body = await fortnox.put(f"/3/invoices/{number}/bookkeep")
    assert body["Invoice"]["Booked"] is True
    assert (await fortnox.put(f"/3/invoices/{number}/bookkeep"))[0] == 400
    status, body = await fortnox.put(f"/3/invoices/{number}/cancel")
    assert status == 400
    assert "bokförd" in body["ErrorInformation"]["message"]


async def test_invoice_filters_and_search(fortnox: Fortnox) -> None:
    booked = await add_invoice(fortnox, YourOrderNumber="2001")
    cancelled = await add_invoice(fortnox, YourOrderNumber="20011")
    await fortnox.ok("PUT", f"/3/invoices/{booked['DocumentNumber']}/bookkeep")
    await fortnox.ok("PUT", f"/3/invoices/{cancelled['DocumentNumber']}/cancel")

    async def numbers(**params: str) -> list[str]:
        status, body = await fortnox.get("/3/invoices", **params)
        assert status == 200, body
        return [i["DocumentNumber"] for i in body["Invoices"]]

    assert await numbers(filter="cancelled") == [cancelled["DocumentNumber"]]
    assert await numbers(filter="unbooked") == []
    assert await numbers(filter="unpaid") == [booked["DocumentNumber"]]
    assert await numbers(filter="unpaidoverdue") == []
    assert await numbers(yourordernumber="2001") == [
        booked["DocumentNumber"],
        cancelled["DocumentNumber"],
    ]
    assert (await fortnox.get("/3/invoices", filter="paid"))[0] == 400


async def test_a_direct_invoice_takes_stock_and_its_credit_brings_it_back(fortnox: Fortnox) -> None:
    async def in_stock() -> Decimal:
        _, body = await fortnox.get("/3/articles/STR-LUE-1002")
        quantity: Decimal = body["Article"]["QuantityInStock"]
        return quantity

    before = await in_stock()
    invoice = await add_invoice(fortnox)
    assert await in_stock() == before - 2
    await fortnox.ok("PUT", f"/3/invoices/{invoice['DocumentNumber']}/credit")
    assert await in_stock() == before
