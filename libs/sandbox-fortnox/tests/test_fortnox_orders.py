"""Orders: shape, totals, searches and filters, and the rules on invoiced or cancelled orders."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ordreflyt_sandbox_fortnox.totals import document_totals

if TYPE_CHECKING:
    from conftest import Fortnox


async def test_an_order_is_created_with_string_numbers_and_computed_totals(
    fortnox: Fortnox,
) -> None:
    customer = await fortnox.add_customer()
    status, body = await fortnox.post(
        "/3/orders",
        {
            "Order": {
                "CustomerNumber": customer["CustomerNumber"],
                "ExternalInvoiceReference1": "woo-1001",
                "Freight": "39.20",
                "OrderRows": [
                    {"ArticleNumber": "ULL-SOKK-1001", "OrderedQuantity": "2", "Price": 119.20},
                    {"ArticleNumber": "BOK-NORD-1014", "OrderedQuantity": 1},
                ],
            }
        },
    )
    assert status == 201
    order = body["Order"]
    assert isinstance(order["DocumentNumber"], str)
    assert order["CustomerNumber"] == customer["CustomerNumber"]
    assert order["CustomerName"] == "Kari Nordmann"
    assert order["InvoiceReference"] == "0"
    assert order["Cancelled"] is False
    first, book = order["OrderRows"]
    assert first["OrderedQuantity"] == "2.00"
    assert first["DeliveredQuantity"] == "0.00"
    assert first["Total"] == Decimal("238.40")
    # The book takes its price (without VAT), VAT rate and description from the article.
    assert book["Price"] == Decimal("399.00")
    assert book["VAT"] == 6
    assert book["Description"] == "Kokebok: Nordisk mat"
    # Net 238.40 + 399.00 + 39.20; VAT 25 % of 238.40 + 39.20 (freight follows the highest
    # row rate) and 6 % of 399.00.
    assert order["Net"] == Decimal("676.60")
    assert order["TotalVAT"] == Decimal("69.40") + Decimal("23.94")
    assert order["Total"] == Decimal("676.60") + Decimal("93.34")


async def test_totals_of_an_order_with_vat_included(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    order = await fortnox.add_order(
        customer["CustomerNumber"],
        VATIncluded=True,
        Freight=49,
        OrderRows=[
            {"ArticleNumber": "ULL-SOKK-1001", "OrderedQuantity": 2},
            {
                "Description": "Gavepapir",
                "OrderedQuantity": 1,
                "Price": "10",
                "Discount": 10,
                "DiscountType": "PERCENT",
            },
        ],
    )
    socks, wrapping = order["OrderRows"]
    assert socks["Price"] == Decimal("186.25")  # the article's price (149.00) with VAT added
    assert wrapping["Total"] == Decimal("9.00")
    assert order["Total"] == Decimal("430.50")  # 372.50 + 9 + 49, VAT included
    assert order["TotalVAT"] == Decimal("86.10")  # 430.50 * 25 / 125
    assert order["Net"] == Decimal("344.40")


async def test_a_vat_rate_fortnox_does_not_have_is_refused(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    row = {"Description": "Brunost", "OrderedQuantity": 1, "Price": "125", "VAT": 15}
    status, body = await fortnox.post(
        "/3/orders",
        {"Order": {"CustomerNumber": customer["CustomerNumber"], "OrderRows": [row]}},
    )
    assert status == 400
    assert body["ErrorInformation"]["code"] == 2000588
    assert body["ErrorInformation"]["message"].startswith("Ogiltig momssats (15)")


def test_vat_is_rounded_per_rate_over_the_rate_s_rows() -> None:
    # Three rows of 0.10 at 25 %: 0.025 each, 0.075 for the rate, 0.08 once rounded.
    rows = [(Decimal("0.10"), Decimal(25))] * 3 + [(Decimal("10.00"), Decimal(12))]
    net = document_totals(rows, Decimal(0), vat_included=False)
    assert net.vat_by_rate == {Decimal(25): Decimal("0.08"), Decimal(12): Decimal("1.20")}
    assert (net.vat, net.total) == (Decimal("1.28"), Decimal("11.58"))
    # With VAT included the VAT is taken out of each rate's sum: 0.30 x 25 / 125 = 0.06.
    gross = document_totals(rows, Decimal("0.20"), vat_included=True)
    assert gross.vat_by_rate == {Decimal(25): Decimal("0.10"), Decimal(12): Decimal("1.07")}
    assert (gross.vat, gross.total, gross.net) == (
        Decimal("1.17"),
        Decimal("10.50"),
        Decimal("9.33"),
    )


async def test_money_keeps_its_exact_digits(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    order = await fortnox.add_order(
        customer["CustomerNumber"],
        OrderRows=[{"Description": "Tre", "OrderedQuantity": "3", "Price": "0.10"}],
    )
    async with fortnox.client.get(
        f"/3/orders/{order['DocumentNumber']}", headers={"Authorization": "Bearer sandbox-token"}
    ) as response:
        text = await response.text()
    assert '"Total":0.38' in text  # 0.30 + 25 % VAT, never 0.30000000000000004
    assert '"OrderedQuantity":"3.00"' in text


async def test_search_is_a_substring_match_so_clients_must_compare_exactly(
    fortnox: Fortnox,
) -> None:
    customer = await fortnox.add_customer()
    number = customer["CustomerNumber"]
    await fortnox.add_order(number, ExternalInvoiceReference1="123")
    await fortnox.add_order(number, ExternalInvoiceReference1="12")
    await fortnox.add_order(number, ExternalInvoiceReference1="99")
    status, body = await fortnox.get("/3/orders", externalinvoicereference1="12")
    assert status == 200
    found = sorted(o["ExternalInvoiceReference1"] for o in body["Orders"])
    assert found == ["12", "123"]
    assert body["MetaInformation"] == {"@TotalResources": 2, "@TotalPages": 1, "@CurrentPage": 1}
    assert "OrderRows" not in body["Orders"][0]


async def test_only_one_resource_filter_per_request(fortnox: Fortnox) -> None:
    status, body = await fortnox.call("GET", "/3/orders?filter=cancelled&filter=invoicecreated")
    assert status == 400
    assert body["ErrorInformation"]["code"] == 2000588
    status, body = await fortnox.get("/3/orders", filter="cancelled,invoicecreated")
    assert (status, body["ErrorInformation"]["code"]) == (400, 2000588)
    assert (await fortnox.get("/3/orders", sortby="nonsense"))[0] == 400
    assert (await fortnox.get("/3/orders", externalreference="1"))[0] == 400
    assert (await fortnox.get("/3/orders", limit="501"))[0] == 400


async def test_filters_follow_the_order_s_life(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    open_order = await fortnox.add_order(customer["CustomerNumber"])
    invoiced = await fortnox.add_order(customer["CustomerNumber"])
    cancelled = await fortnox.add_order(customer["CustomerNumber"])
    await fortnox.ok("PUT", f"/3/orders/{invoiced['DocumentNumber']}/createinvoice")
    await fortnox.ok("PUT", f"/3/orders/{cancelled['DocumentNumber']}/cancel")

    async def numbers(filter_name: str) -> list[str]:
        _, body = await fortnox.get("/3/orders", filter=filter_name)
        return [o["DocumentNumber"] for o in body["Orders"]]

    assert await numbers("invoicecreated") == [invoiced["DocumentNumber"]]
    assert await numbers("invoicenotcreated") == [open_order["DocumentNumber"]]
    assert await numbers("cancelled") == [cancelled["DocumentNumber"]]


async def test_an_invoiced_order_can_be_neither_cancelled_nor_changed(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    order = await fortnox.add_order(customer["CustomerNumber"], YourOrderNumber="1001")
    number = order["DocumentNumber"]
    status, body = await fortnox.put(f"/3/orders/{number}/createinvoice")
    assert status == 200
    invoice = body["Invoice"]
    assert invoice["OrderReference"] == number
    assert invoice["YourOrderNumber"] == "1001"
    assert invoice["Total"] == order["Total"]
    assert invoice["InvoiceRows"][0]["DeliveredQuantity"] == "2.00"
    _, body = await fortnox.get(f"/3/orders/{number}")
    assert body["Order"]["InvoiceReference"] == invoice["DocumentNumber"]

    status, body = await fortnox.put(f"/3/orders/{number}/cancel")
    assert status == 400
    assert "fakturerad" in body["ErrorInformation"]["message"]
    assert (await fortnox.put(f"/3/orders/{number}", {"Order": {"Remarks": "x"}}))[0] == 400
    assert (await fortnox.put(f"/3/orders/{number}/createinvoice"))[0] == 400


async def test_a_cancelled_order_cannot_be_changed_or_invoiced(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    number = (await fortnox.add_order(customer["CustomerNumber"]))["DocumentNumber"]
    _, body = await fortnox.put(f"/3/orders/{number}/cancel")
    assert body["Order"]["Cancelled"] is True
    assert (await fortnox.put(f"/3/orders/{number}", {"Order": {"Remarks": "x"}}))[0] == 400
    assert (await fortnox.put(f"/3/orders/{number}/createinvoice"))[0] == 400
    assert (await fortnox.put(f"/3/orders/{number}/cancel"))[0] == 400


async def test_an_order_can_be_edited_and_its_rows_replaced(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    number = (await fortnox.add_order(customer["CustomerNumber"]))["DocumentNumber"]
    _, body = await fortnox.put(
        f"/3/orders/{number}",
        {
            "Order": {
                "Remarks": "Ring før levering",
                "OrderRows": [{"ArticleNumber": "T-SKJ-1005-M", "OrderedQuantity": 1}],
            }
        },
    )
    order = body["Order"]
    assert order["Remarks"] == "Ring før levering"
    assert [r["ArticleNumber"] for r in order["OrderRows"]] == ["T-SKJ-1005-M"]
    assert order["ExternalInvoiceReference1"] == ""


async def test_unknown_customer_or_article_is_refused_with_a_clear_message(
    fortnox: Fortnox,
) -> None:
    customer = await fortnox.add_customer()
    status, body = await fortnox.post("/3/orders", {"Order": {"CustomerNumber": "999"}})
    assert status == 400
    assert '"999"' in body["ErrorInformation"]["message"]
    status, body = await fortnox.post(
        "/3/orders",
        {
            "Order": {
                "CustomerNumber": customer["CustomerNumber"],
                "OrderRows": [{"ArticleNumber": "NOPE", "OrderedQuantity": 1}],
            }
        },
    )
    assert status == 400
    assert "NOPE" in body["ErrorInformation"]["message"]
    assert body["ErrorInformation"]["code"] == 2001302
    # Nothing was stored by the refused requests.
    _, state = await fortnox.get("/_sandbox/state")
    assert state["orders"] == []


async def test_bad_bodies_are_refused_as_fortnox_does(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    async with fortnox.client.post(
        "/3/orders", data=b"{not json", headers={"Authorization": "Bearer sandbox-token"}
    ) as response:
        assert response.status == 400
        assert (await response.json())["ErrorInformation"]["code"] == 2002115
    # A misspelt field is refused, not silently dropped.
    status, body = await fortnox.post(
        "/3/orders",
        {"Order": {"CustomerNumber": customer["CustomerNumber"], "ExternalInvoiceReference": "1"}},
    )
    assert status == 400
    assert "ExternalInvoiceReference" in body["ErrorInformation"]["message"]
    status, body = await fortnox.post("/3/orders", {"CustomerNumber": customer["CustomerNumber"]})
    assert status == 400
    status, body = await fortnox.post(
        "/3/orders",
        {"Order": {"CustomerNumber": customer["CustomerNumber"], "YourOrderNumber": "9" * 31}},
    )
    assert status == 400
    assert "YourOrderNumber" in body["ErrorInformation"]["message"]
    status, body = await fortnox.post(
        "/3/orders",
        {"Order": {"CustomerNumber": customer["CustomerNumber"], "Freight": "tio"}},
    )
    assert (status, body["ErrorInformation"]["code"]) == (400, 2000108)


async def test_not_found_comes_capitalised(fortnox: Fortnox) -> None:
    status, body = await fortnox.get("/3/orders/4711")
    assert status == 404
    assert set(body["ErrorInformation"]) == {"Error", "Message", "Code"}
    assert body["ErrorInformation"]["Error"] == 1
    status, body = await fortnox.get("/3/nothing-here")
    assert status == 404
    assert "Code" in body["ErrorInformation"]


async def test_lastmodified_finds_what_changed_in_that_minute_or_later(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    order = await fortnox.add_order(customer["CustomerNumber"])
    stamp = order["LastModified"]
    assert len(stamp) == len("2026-01-01 12:00")
    _, body = await fortnox.get("/3/orders", lastmodified=stamp)
    assert [o["DocumentNumber"] for o in body["Orders"]] == [order["DocumentNumber"]]
    _, body = await fortnox.get("/3/orders", lastmodified="2999-01-01 00:00")
    assert body["Orders"] == []
    assert (await fortnox.get("/3/orders", lastmodified="yesterday"))[0] == 400


async def test_pages(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    for _ in range(5):
        await fortnox.add_order(customer["CustomerNumber"])
    _, body = await fortnox.get("/3/orders", limit="2", page="3")
    assert body["MetaInformation"] == {"@TotalResources": 5, "@TotalPages": 3, "@CurrentPage": 3}
    assert [o["DocumentNumber"] for o in body["Orders"]] == ["5"]
    _, body = await fortnox.get("/3/orders", sortorder="descending", limit="1")
    assert body["Orders"][0]["DocumentNumber"] == "5"


async def test_order_date_range(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer()
    order = await fortnox.add_order(customer["CustomerNumber"], OrderDate="2026-03-15")
    _, body = await fortnox.get("/3/orders", fromdate="2026-03-15", todate="2026-03-15")
    assert [o["DocumentNumber"] for o in body["Orders"]] == [order["DocumentNumber"]]
    _, body = await fortnox.get("/3/orders", fromdate="2026-03-16")
    assert body["Orders"] == []
    assert (await fortnox.get("/3/orders", todate="15.03.2026"))[0] == 400
