"""Customers and articles: numbering, substring searches, checks, and the seeded catalogue."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Fortnox


async def test_customers_get_string_numbers_and_keep_their_fields(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer(
        Type="PRIVATE", ZipCode="0150", City="Oslo", CountryCode="NO", DeliveryName="Ola"
    )
    assert customer["CustomerNumber"] == "1"
    assert customer["Type"] == "PRIVATE"
    assert customer["VATType"] == "SEVAT"
    assert customer["DeliveryName"] == "Ola"
    _, body = await fortnox.get("/3/customers/1")
    assert body["Customer"] == customer


async def test_a_customer_number_in_use_is_refused(fortnox: Fortnox) -> None:
    await fortnox.add_customer(CustomerNumber="K-7")
    status, body = await fortnox.post(
        "/3/customers", {"Customer": {"CustomerNumber": "K-7", "Name": "X"}}
    )
    assert (status, body["ErrorInformation"]["code"]) == (400, 2000637)


async def test_customer_checks(fortnox: Fortnox) -> None:
    for bad in (
        {"Name": ""},
        {"Email": "not-an-address"},
        {"Type": "PERSON"},
        {"VATType": "NOVAT"},
    ):
        status, body = await fortnox.post("/3/customers", {"Customer": {"Name": "X", **bad}})
        assert status == 400, bad
        assert body["ErrorInformation"]["code"] == 2000588


async def test_customer_search_is_a_case_insensitive_substring_match(fortnox: Fortnox) -> None:
    await fortnox.add_customer(Email="anna@example.se", Name="Anna Berg")
    await fortnox.add_customer(Email="hanna@example.se", Name="Hanna Lind")
    _, body = await fortnox.get("/3/customers", email="ANNA@")
    assert sorted(c["Email"] for c in body["Customers"]) == ["anna@example.se", "hanna@example.se"]
    _, body = await fortnox.get("/3/customers", name="lind")
    assert [c["Name"] for c in body["Customers"]] == ["Hanna Lind"]


async def test_customer_search_by_email_pages_like_fortnox(fortnox: Fortnox) -> None:
    for name in ("ola", "kari.ola", "ola.nordmann"):
        await fortnox.add_customer(Email=f"{name}@example.no", Name=name)
    _, body = await fortnox.get("/3/customers", email="ola", limit="1", page="3")
    assert body["MetaInformation"] == {"@TotalResources": 3, "@TotalPages": 3, "@CurrentPage": 3}
    assert [c["Email"] for c in body["Customers"]] == ["ola.nordmann@example.no"]
    _, body = await fortnox.get("/3/customers", email="ola", limit="1", page="4")
    assert body["Customers"] == []


async def test_customer_search_by_email_follows_creates_and_changes(fortnox: Fortnox) -> None:
    async def numbers(needle: str) -> list[str]:
        _, body = await fortnox.get("/3/customers", email=needle)
        return sorted(c["CustomerNumber"] for c in body["Customers"])

    first = (await fortnox.add_customer(Email="per@example.se"))["CustomerNumber"]
    assert await numbers("per@example.se") == [first]
    # Searched, then another customer with the same e-mail and one that contains it.
    second = (await fortnox.add_customer(Email="Per@Example.se"))["CustomerNumber"]
    third = (await fortnox.add_customer(Email="asper@example.se"))["CustomerNumber"]
    assert await numbers("PER@example.se") == sorted([first, second, third])
    assert await numbers("asper") == [third]
    # A changed e-mail is found by the new one only.
    await fortnox.put(f"/3/customers/{first}", {"Customer": {"Email": "pia@example.no"}})
    assert await numbers("per@example.se") == sorted([second, third])
    assert await numbers("pia@") == [first]
    assert await numbers("example.") == sorted([first, second, third])
    assert await numbers("nobody@") == []


async def test_updating_a_customer(fortnox: Fortnox) -> None:
    number = (await fortnox.add_customer())["CustomerNumber"]
    _, body = await fortnox.put(f"/3/customers/{number}", {"Customer": {"City": "Bergen"}})
    assert body["Customer"]["City"] == "Bergen"
    assert body["Customer"]["Name"] == "Kari Nordmann"
    assert (await fortnox.put("/3/customers/404", {"Customer": {"City": "Bergen"}}))[0] == 404


async def test_the_seeded_catalogue_looks_like_a_nordic_shop(fortnox: Fortnox) -> None:
    _, body = await fortnox.get("/3/articles", limit="500")
    articles = body["Articles"]
    # 40 products: 28 simple ones and 12 variable ones with 28 variations between them.
    assert len(articles) == 56
    numbers = {a["ArticleNumber"] for a in articles}
    assert {"ULL-SOKK-1001", "REGN-JAKKE-1003-XL", "ULL-GENSER-1011-GRA"} <= numbers
    assert "REGN-JAKKE-1003" not in numbers  # a variable product is not sold itself
    assert all(re.fullmatch(r"[A-Z0-9-]+", n) for n in numbers)
    assert {a["VAT"] for a in articles} == {25, 12, 6, 0}
    socks = next(a for a in articles if a["ArticleNumber"] == "ULL-SOKK-1001")
    assert (socks["Description"], socks["SalesPrice"], socks["Weight"]) == (
        "Ullsokker",
        Decimal("149.00"),
        100,
    )
    assert socks["StockGoods"] is True
    assert socks["QuantityInStock"] >= 120
    assert socks["DisposableQuantity"] == socks["QuantityInStock"] - socks["ReservedQuantity"]
    # Gift cards and tickets are not kept in stock.
    gift_card = next(a for a in articles if a["ArticleNumber"] == "GAVEKORT-500-1010")
    assert (gift_card["VAT"], gift_card["StockGoods"], gift_card["QuantityInStock"]) == (
        0,
        False,
        0,
    )


async def test_article_search_and_create(fortnox: Fortnox) -> None:
    _, body = await fortnox.get("/3/articles", articlenumber="t-skj-1")
    assert {a["ArticleNumber"] for a in body["Articles"]} == {
        "T-SKJ-1005-S",
        "T-SKJ-1005-M",
        "T-SKJ-1005-L",
        "T-SKJ-1025-S",
        "T-SKJ-1025-M",
        "T-SKJ-1025-L",
    }
    status, body = await fortnox.post(
        "/3/articles",
        {"Article": {"ArticleNumber": "FRAKT", "Description": "Frakt", "SalesPrice": "39.20"}},
    )
    assert status == 201
    assert body["Article"]["StockGoods"] is False
    assert (
        await fortnox.post(
            "/3/articles", {"Article": {"ArticleNumber": "FRAKT", "Description": "x"}}
        )
    )[0] == 400
    assert (await fortnox.post("/3/articles", {"Article": {"Description": "x", "VAT": 15}}))[
        0
    ] == 400


async def test_article_stock_is_read_only_with_the_warehouse_module(fortnox: Fortnox) -> None:
    _, before = await fortnox.get("/3/articles/T-SKJ-1005-L")
    _, after = await fortnox.put(
        "/3/articles/T-SKJ-1005-L", {"Article": {"QuantityInStock": 999, "Unit": "par"}}
    )
    assert after["Article"]["Unit"] == "par"
    assert after["Article"]["QuantityInStock"] == before["Article"]["QuantityInStock"]


async def test_reset_restores_the_started_state(fortnox: Fortnox) -> None:
    await fortnox.add_customer()
    await fortnox.put("/3/articles/T-SKJ-1005-L", {"Article": {"Description": "Endret"}})
    assert (await fortnox.post("/_sandbox/reset"))[0] == 200
    _, state = await fortnox.get("/_sandbox/state")
    assert state["customers"] == []
    assert len(state["articles"]) == 56
    assert (
        next(a for a in state["articles"] if a["ArticleNumber"] == "T-SKJ-1005-L")["Description"]
        == "T-skjorte - L"
    )
    # Tokens survive a reset.
    assert (await fortnox.get("/3/customers"))[0] == 200


async def test_customers_listed_by_lastmodified_without_showing_it(fortnox: Fortnox) -> None:
    customer = await fortnox.add_customer(Email="kari@example.no")
    _, body = await fortnox.get("/3/customers", lastmodified="2000-01-01 00:00")
    assert [c["CustomerNumber"] for c in body["Customers"]] == [customer["CustomerNumber"]]
    assert "LastModified" not in body["Customers"][0]
    _, body = await fortnox.get("/3/customers", lastmodified="2999-01-01 00:00")
    assert body["Customers"] == []
