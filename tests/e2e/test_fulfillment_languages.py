"""Notes in the customer's language: a Swedish and a Norwegian shop in one stack (sandbox
shops and Fortnox, intake, order-mapper, erp-writer, fulfillment-listener as real processes).

The Swedish shop names its language (`locale = "sv"`), the Norwegian one only its country;
a delivery with tracking in Fortnox becomes a customer note in each shop's own language.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.stack import ExtraShop, Stack, running_stack

pytestmark = pytest.mark.e2e

SERVICE = "fulfillment-listener"
SHOP_AUTH = "Basic " + base64.b64encode(b"ck_sandbox:cs_sandbox").decode()
NORWAY = ExtraShop("norge", config='country = "NO"', woo_args=("--countries", "NO"))


@pytest.fixture(scope="module")
async def stack(
    amqp_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with running_stack(
        amqp_url,
        database_url,
        tmp_path_factory.mktemp("languages"),
        fulfillment=True,
        fulfillment_extra="poll_interval = 1\nerp_clock_skew = 2\n",
        shop_extra='locale = "sv"',
        extra_shops=(NORWAY,),
    ) as s:
        yield s


async def standard_rate_sku(stack: Stack, woo: str) -> str:
    """A SKU at the standard rate (25 % in both countries, a rate Fortnox has)."""
    products = (await stack.get(woo, "/_sandbox/state"))["products"]
    articles = {a["ArticleNumber"] for a in (await stack.fortnox_state())["articles"]}
    sku: str = next(
        p["sku"]
        for p in products
        if p["type"] == "simple" and p["tax_class"] == "" and p["sku"] in articles
    )
    return sku


async def shop_notes(stack: Stack, woo: str, order_id: int) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            stack.url(woo) + f"/wp-json/wc/v3/orders/{order_id}/notes",
            headers={"Authorization": SHOP_AUTH},
        ) as r,
    ):
        assert r.status == 200
        return list(await r.json())


async def shipped_note(
    stack: Stack, woo: str, shop_id: str, country: str, tracking: str, carrier: str
) -> str:
    """Place a paid order in a shop, deliver it in Fortnox with a parcel: the note it gets."""
    sku = await standard_rate_sku(stack, woo)
    status, order = await stack.post(
        woo,
        "/_sandbox/orders",
        {"country": country, "status": "processing", "lines": [{"sku": sku, "quantity": 1}]},
    )
    assert status == 201, order

    known = await wait_for(
        lambda: stack.found(SERVICE, f"/orders/{shop_id}/{order['id']}"),
        timeout=30,
        interval=0.1,
        what=f"the {shop_id} order in Fortnox",
    )
    status, answer = await stack.post(
        "fortnox",
        f"/_sandbox/orders/{known['document_number']}/deliver",
        {"tracking": [{"number": tracking, "carrier": carrier}]},
    )
    assert status == 200, answer

    async def note() -> list[str]:
        return [
            n["note"] for n in await shop_notes(stack, woo, order["id"]) if tracking in n["note"]
        ]

    (text,) = await wait_for(note, timeout=30, interval=0.2, what=f"the {shop_id} note")
    return text


async def test_swedish_and_norwegian_shops_get_notes_in_their_language(stack: Stack) -> None:
    swedish = await shipped_note(stack, "woo", "demo", "SE", "PN00370001SE", "PostNord")
    norwegian = await shipped_note(stack, NORWAY.key, "norge", "NO", "70700000001", "Bring")

    assert swedish.splitlines()[0] == "Din beställning har skickats."
    assert "tracking.postnord.com" in swedish
    assert norwegian.splitlines()[0] == "Bestillingen din er sendt."
    assert "https://tracking.bring.com/tracking/70700000001" in norwegian
