"""Signed and unsigned garbage gets a clear 4xx naming the problem, never a 5xx, and nothing of
it is stored or published. The last test fuzzes mutated order JSON with hypothesis (200
examples here; `ORDREFLYT_FUZZ_EXAMPLES=20000 deploy/local/test.sh -k fuzz` for a long run)."""

from __future__ import annotations

import json
import os
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordreflyt_testkit.helpers import drain_queue
from ordreflyt_testkit.samples import WEBHOOK_SECRET as SECRET
from ordreflyt_testkit.samples import woo_body, woo_headers, woo_order, woo_signature
from ordreflyt_testkit.service_harness import ServiceUnderTest as Intake

pytestmark = pytest.mark.integration

URL = "/webhooks/woocommerce/demo"


def mutated(**changes: Any) -> bytes:
    order = woo_order(9100)
    for path, value in changes.items():
        target: Any = order
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        target[int(last) if last.isdigit() else last] = value
    return json.dumps(order).encode()


def raw_json(field: str, literal: str) -> bytes:
    """The order with `field` set to a JSON literal json.dumps would not write (1e400)."""
    return mutated(**{field: "__literal__"}).replace(b'"__literal__"', literal.encode())


GARBAGE: list[tuple[str, bytes, str]] = [
    ("id -1", mutated(id=-1), "id: expected int >= 1"),
    ("id 0", mutated(id=0), "id: expected int >= 1"),
    ("id 2^63", mutated(id=2**63), "id: expected int <= 9223372036854775807"),
    (
        "quantity 10^18",
        mutated(line_items__0__quantity=10**18),
        "line_items[0].quantity: expected int <= 1000000",
    ),
    (
        "quantity 2^63",
        mutated(line_items__0__quantity=2**63),
        "line_items[0].quantity: expected int <= 1000000",
    ),
    ("total NaN", mutated(total="NaN"), "total: NaN is not an amount"),
    ("total Infinity", mutated(total="Infinity"), "total: Infinity is not an amount"),
    ("total 1e400", raw_json("total", "1e400"), "total: 1E+400 is larger than any order amount"),
    ("NUL in e-mail", mutated(billing__email="a\x00@example.no"), "billing.email: contains a NUL"),
    ("NUL in SKU", mutated(line_items__0__sku="ULL\x00"), "line_items[0].sku: contains a NUL"),
    ("NUL in status", mutated(status="processing\x00"), "status: contains a NUL"),
    ("not an order", b'{"id":777001}', "status: missing"),
    (
        "a product",
        json.dumps({"id": 42, "name": "Ullsokker", "type": "simple", "status": "publish"}).encode(),
        "status: 'publish' is not a status of this shop",
    ),
    ("PROCESSING", mutated(status="PROCESSING"), "status: 'PROCESSING' is not a status"),
    (" processing ", mutated(status=" processing "), "status: ' processing ' is not a status"),
    ("tax amount text", mutated(line_items__0__taxes__0__total="abc"), "is not an amount"),
    (
        "nested 1,000 deep",
        raw_json("meta_data__0__value", "[" * 1000 + "]" * 1000),
        "nested too deeply",
    ),
    (
        "invalid UTF-8",
        woo_body(woo_order(9100)).replace(b"Storgata", b"Storg\xff\xfeta"),
        "body is not valid UTF-8",
    ),
    ("lower-case currency", mutated(currency="nok"), "currency: 'nok' is not a currency code"),
]


async def post(
    intake: Intake, body: bytes, headers: dict[str, str], url: str = URL
) -> tuple[int, Any]:
    async with intake.client.post(url, data=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def nothing_kept(intake: Intake) -> bool:
    stored = await intake.count("SELECT count(*) FROM deliveries")
    published = await drain_queue(intake.channel, intake.tap, settle=0.2)
    return stored == 0 and published == []


@pytest.mark.parametrize(("name", "body", "reason"), GARBAGE, ids=[g[0] for g in GARBAGE])
async def test_signed_garbage_gets_a_400_naming_the_field(
    intake: Intake, name: str, body: bytes, reason: str
) -> None:
    status, answer = await post(intake, body, woo_headers(SECRET, body, "order.updated"))
    assert status == 400, answer
    assert reason in answer["error"], answer
    assert await nothing_kept(intake)


async def test_garbage_headers_and_oversized_pings_are_refused_or_kept_small(
    intake: Intake,
) -> None:
    body = woo_body(woo_order(9101))
    url = str(intake.client.make_url(URL))
    async with aiohttp.ClientSession() as http:
        # A byte 0xff in a header value: a signature that cannot match (401), not a 5xx.
        headers = {**woo_headers(SECRET, body), "X-WC-Webhook-Signature": "\xff\xfe"}
        async with http.post(url, data=body, headers=headers) as r:
            assert r.status == 401
        headers = {**woo_headers(SECRET, body), "X-WC-Webhook-Source": "https://\xff.example/"}
        async with http.post(url, data=body, headers=headers) as r:
            assert r.status == 200
        # An unsigned ping with many large headers: answered, stored without them.
        ping_headers = {f"X-Junk-{i}": "j" * 8000 for i in range(60)}
        async with http.post(url, data=b"webhook_id=5", headers=ping_headers) as r:
            assert r.status in (200, 400, 431), r.status
    rows = await intake.runtime.db.fetch("SELECT outcome, headers::text FROM deliveries")
    assert all(len(r["headers"]) < 4096 for r in rows), rows


@settings(
    max_examples=int(os.environ.get("ORDREFLYT_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_fuzz_mutated_orders_never_get_a_5xx(intake: Intake, data: st.DataObject) -> None:
    order = woo_order(data.draw(st.integers(1, 10**6), label="id"))
    document = mutate(order, data)
    if data.draw(st.booleans(), label="as text"):
        body = json.dumps(document, allow_nan=True).encode()
    else:
        body = json.dumps(document).encode()
    if data.draw(st.integers(0, 9), label="break bytes") == 0:
        position = data.draw(st.integers(0, max(0, len(body) - 1)))
        body = body[:position] + data.draw(st.binary(min_size=1, max_size=4)) + body[position:]
    signed = data.draw(st.integers(0, 9), label="signed") > 0
    headers = woo_headers(SECRET, body, data.draw(st.sampled_from(TOPICS)))
    if not signed:
        headers["X-WC-Webhook-Signature"] = woo_signature("not-the-secret", body)
    status, answer = await post(intake, body, headers)
    assert status < 500, (status, answer, body[:300])
    if status >= 400:
        assert answer["error"], answer


TOPICS = ["order.created", "order.updated", "order.deleted", "order.restored", "product.updated"]

NASTY = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63, 2**63 - 1, 10**18, float("nan"), float("inf"), 1e308]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "NaN", "Infinity", "1e400", "-0", "processing\x00", "\ud800"]),
    st.none(),
    st.booleans(),
    st.just([]),
    st.just({}),
    st.integers(1, 1500).map(lambda n: json.loads("[" * n + "]" * n) if n < 900 else "deep"),
)


def mutate(document: Any, data: st.DataObject) -> Any:
    """Replace, delete or add values at random places in the order."""
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        container, key = pick(document, data)
        action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
        if action == "delete" and isinstance(container, dict) and key in container:
            del container[key]
        elif action == "add" and isinstance(container, dict):
            container[data.draw(st.text(max_size=8), label="new key")] = data.draw(NASTY)
        elif isinstance(container, dict) or (isinstance(container, list) and container):
            container[key] = data.draw(NASTY, label="value")
    return document


def pick(document: Any, data: st.DataObject) -> tuple[Any, Any]:
    container, key = document, None
    current = document
    while isinstance(current, dict | list) and current:
        keys = list(current.keys()) if isinstance(current, dict) else list(range(len(current)))
        key = data.draw(st.sampled_from(keys), label="key")
        container = current
        current = current[key]
        if not data.draw(st.booleans(), label="deeper"):
            break
    return container, key if key is not None else "id"
