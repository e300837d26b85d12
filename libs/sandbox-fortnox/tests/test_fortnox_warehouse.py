"""The warehouse module: stock points, balances per point, and how orders move stock."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Fortnox, FortnoxFactory


async def balances(fortnox: Fortnox, article: str) -> dict[str, dict[str, Any]]:
    status, rows = await fortnox.get("/api/warehouse/status-v1/stockbalance", itemIds=article)
    assert status == 200, rows
    return {row["StockPointCode"]: row for row in rows}


async def set_stock(fortnox: Fortnox, article: str, point: str, quantity: int) -> None:
    body = {"ArticleNumber": article, "StockPointCode": point, "InStock": quantity}
    await fortnox.ok("POST", "/_sandbox/stock", body)


async def test_stock_points_are_listed(fortnox: Fortnox) -> None:
    status, points = await fortnox.get("/api/warehouse/stockpoints-v1")
    assert status == 200
    assert [p["code"] for p in points] == ["HUVUD", "BUTIK", "RESERV"]
    assert all(p["id"] and p["name"] for p in points)


async def test_an_article_s_stock_is_the_sum_of_its_stock_points(fortnox: Fortnox) -> None:
    await set_stock(fortnox, "ULL-SOKK-1001", "HUVUD", 10)
    await set_stock(fortnox, "ULL-SOKK-1001", "BUTIK", 3)
    await set_stock(fortnox, "ULL-SOKK-1001", "RESERV", 0)
    rows = await balances(fortnox, "ULL-SOKK-1001")
    assert {code: row["InStock"] for code, row in rows.items()} == {
        "HUVUD": 10,
        "BUTIK": 3,
        "RESERV": 0,
    }
    assert rows["HUVUD"]["AvailableStock"] == 10
    _, body = await fortnox.get("/3/articles/ULL-SOKK-1001")
    assert body["Article"]["QuantityInStock"] == 13
    _, rows = await fortnox.get(
        "/api/warehouse/status-v1/stockbalance",
        itemIds="ULL-SOKK-1001,T-SKJ-1005-S",
        stockPointCodes="BUTIK",
    )
    assert {(r["ItemId"], r["StockPointCode"]) for r in rows} == {
        ("ULL-SOKK-1001", "BUTIK"),
        ("T-SKJ-1005-S", "BUTIK"),
    }
    assert (await fortnox.get("/api/warehouse/status-v1/stockbalance", stockPointCodes="LAGER9"))[
        0
    ] == 400


async def test_setting_stock_bumps_last_modified(fortnox: Fortnox) -> None:
    await set_stock(fortnox, "T-SKJ-1005-S", "HUVUD", 5)
    _, body = await fortnox.get(
        "/3/articles", lastmodified="2000-01-01 00:00", articlenumber="T-SKJ-1005-S"
    )
    stamp = body["Articles"][0]["LastModified"]
    _, body = await fortnox.get("/3/articles", lastmodified=stamp)
    assert "T-SKJ-1005-S" in [a["ArticleNumber"] for a in body["Articles"]]


async def test_orders_move_stock_of_their_stock_point(fortnox: Fortnox) -> None:
    await set_stock(fortnox, "ULL-SOKK-1001", "HUVUD", 10)
    await set_stock(fortnox, "ULL-SOKK-1001", "BUTIK", 5)
    await set_stock(fortnox, "ULL-SOKK-1001", "RESERV", 0)
    customer = (await fortnox.add_customer())["CustomerNumber"]
    delivered = await fortnox.add_order(customer, DeliveryState="delivery", StockPointCode="BUTIK")
    assert delivered["OrderRows"][0]["DeliveredQuantity"] == "2.00"
    reserved = await fortnox.add_order(customer, DeliveryState="reservation")
    await fortnox.add_order(customer, DeliveryState="registration")
    rows = await balances(fortnox, "ULL-SOKK-1001")
    assert rows["BUTIK"]["InStock"] == 3
    assert (
        rows["HUVUD"]["InStock"],
        rows["HUVUD"]["ReservedStock"],
        rows["HUVUD"]["AvailableStock"],
    ) == (10, 2, 8)
    _, article = await fortnox.get("/3/articles/ULL-SOKK-1001")
    assert article["Article"]["ReservedQuantity"] == 2
    assert article["Article"]["DisposableQuantity"] == 11

    # Cancelling gives back what the order took or reserved.
    await fortnox.ok("PUT", f"/3/orders/{delivered['DocumentNumber']}/cancel")
    await fortnox.ok("PUT", f"/3/orders/{reserved['DocumentNumber']}/cancel")
    rows = await balances(fortnox, "ULL-SOKK-1001")
    assert (rows["BUTIK"]["InStock"], rows["HUVUD"]["ReservedStock"]) == (5, 0)


async def test_a_warehouse_worker_delivers_with_tracking_numbers(fortnox: Fortnox) -> None:
    await set_stock(fortnox, "ULL-SOKK-1001", "HUVUD", 10)
    customer = (await fortnox.add_customer())["CustomerNumber"]
    order = await fortnox.add_order(
        customer,
        DeliveryState="reservation",
        OrderRows=[
            {"ArticleNumber": "ULL-SOKK-1001", "OrderedQuantity": 3},
            {"ArticleNumber": "T-SKJ-1005-M", "OrderedQuantity": 1},
        ],
    )
    number = order["DocumentNumber"]
    _, body = await fortnox.post(
        f"/_sandbox/orders/{number}/deliver",
        {
            "rows": {"ULL-SOKK-1001": 2},
            "tracking": [{"number": "00370712345678901234", "carrier": "PostNord"}],
        },
    )
    partly = body["Order"]
    assert partly["OrderRows"][0]["DeliveredQuantity"] == "2.00"
    assert partly["DeliveryState"] == "reservation"
    assert partly["Shipments"][0]["Parcels"] == [
        {"TrackingNumber": "00370712345678901234", "Carrier": "PostNord"}
    ]
    rows = await balances(fortnox, "ULL-SOKK-1001")
    assert (rows["HUVUD"]["InStock"], rows["HUVUD"]["ReservedStock"]) == (8, 1)

    _, body = await fortnox.post(
        f"/_sandbox/orders/{number}/deliver", {"tracking": [{"number": "B2", "carrier": "Bring"}]}
    )
    done = body["Order"]
    assert done["DeliveryState"] == "delivery"
    assert [s["Rows"] for s in done["Shipments"]] == [
        {"ULL-SOKK-1001": "2.00"},
        {"ULL-SOKK-1001": "1.00", "T-SKJ-1005-M": "1.00"},
    ]
    rows = await balances(fortnox, "ULL-SOKK-1001")
    assert (rows["HUVUD"]["InStock"], rows["HUVUD"]["ReservedStock"]) == (7, 0)
    _, body = await fortnox.get("/3/orders", lastmodified=done["LastModified"])
    assert [o["DocumentNumber"] for o in body["Orders"]] == [number]

    too_many = {"rows": {"T-SKJ-1005-M": 1}}
    assert (await fortnox.post(f"/_sandbox/orders/{number}/deliver", too_many))[0] == 400
    five = {"tracking": [{"number": str(i), "carrier": "Bring"} for i in range(5)]}
    assert (await fortnox.post(f"/_sandbox/orders/{number}/deliver", five))[0] == 400


async def test_stock_points_must_exist(fortnox: Fortnox) -> None:
    customer = (await fortnox.add_customer())["CustomerNumber"]
    status, body = await fortnox.post(
        "/3/orders", {"Order": {"CustomerNumber": customer, "StockPointCode": "LAGER9"}}
    )
    assert status == 400
    assert "LAGER9" in body["ErrorInformation"]["message"]


async def test_without_the_module_the_warehouse_routes_need_a_licence(
    start_fortnox: FortnoxFactory,
) -> None:
    fortnox = await start_fortnox(warehouse=False)
    status, body = await fortnox.get("/api/warehouse/stockpoints-v1")
    assert (status, body["ErrorInformation"]["code"]) == (403, 2001103)
    # Articles then keep one stock, which clients may set directly.
    _, body = await fortnox.put("/3/articles/T-SKJ-1005-S", {"Article": {"QuantityInStock": "7"}})
    assert body["Article"]["QuantityInStock"] == Decimal(7)
    customer = (await fortnox.add_customer())["CustomerNumber"]
    status, body = await fortnox.post(
        "/3/orders", {"Order": {"CustomerNumber": customer, "StockPointCode": "HUVUD"}}
    )
    assert (status, body["ErrorInformation"]["code"]) == (400, 2001103)


async def test_moving_an_order_to_delivery_delivers_it_in_full(fortnox: Fortnox) -> None:
    await set_stock(fortnox, "T-SKJ-1005-S", "HUVUD", 4)
    customer = (await fortnox.add_customer())["CustomerNumber"]
    order = await fortnox.add_order(
        customer,
        DeliveryState="reservation",
        OrderRows=[{"ArticleNumber": "T-SKJ-1005-S", "OrderedQuantity": 3}],
    )
    assert (await balances(fortnox, "T-SKJ-1005-S"))["HUVUD"]["ReservedStock"] == 3
    _, body = await fortnox.put(
        f"/3/orders/{order['DocumentNumber']}", {"Order": {"DeliveryState": "delivery"}}
    )
    assert body["Order"]["OrderRows"][0]["DeliveredQuantity"] == "3.00"
    row = (await balances(fortnox, "T-SKJ-1005-S"))["HUVUD"]
    assert (row["InStock"], row["ReservedStock"]) == (1, 0)
