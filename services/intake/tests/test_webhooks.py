"""intake's webhook endpoint against a real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from ordreflyt_contracts import OrderDeleted, OrderReceived, OrderRestored, decode_event
from ordreflyt_testkit.helpers import drain_queue, wait_for
from ordreflyt_testkit.samples import PREVIOUS_WEBHOOK_SECRET as PREVIOUS_SECRET
from ordreflyt_testkit.samples import WEBHOOK_SECRET as SECRET
from ordreflyt_testkit.samples import woo_body, woo_headers, woo_order
from ordreflyt_testkit.service_harness import ServiceUnderTest as Intake

pytestmark = pytest.mark.integration

URL = "/webhooks/woocommerce/demo"


async def post(
    intake: Intake, body: bytes, headers: dict[str, str], url: str = URL
) -> tuple[int, Any]:
    async with intake.client.post(url, data=body, headers=headers) as r:
        return r.status, await r.json()


async def published(intake: Intake, settle: float = 0.5) -> list[Any]:
    """Every message intake published (waits until the relay has been quiet for `settle`)."""
    return [decode_event(m.body) for m in await drain_queue(intake.channel, intake.tap, settle)]


async def test_paid_order_gives_one_event_and_its_stored_delivery(intake: Intake) -> None:
    body = woo_body(woo_order(1001))
    status, answer = await post(intake, body, woo_headers(SECRET, body, "order.created"))
    assert status == 200
    assert answer["outcome"] == "published"

    events = await wait_for(lambda: published(intake), what="order-received event")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, OrderReceived)
    assert (event.shop_id, event.shop_order_id, event.paid) == ("demo", "1001", True)
    assert event.order.billing.email == "ase.gronvold@example.no"
    assert str(event.delivery_id) == answer["delivery_id"]

    row = await intake.runtime.db.fetchrow(
        "SELECT * FROM deliveries WHERE id = $1", event.delivery_id
    )
    assert row is not None
    assert bytes(row["body"]) == body  # the raw body, byte for byte
    assert json.loads(row["headers"])["X-WC-Webhook-Topic"] == "order.created"
    assert (row["order_id"], row["status"], row["outcome"]) == (1001, "processing", "published")


async def test_same_delivery_posted_50_times_concurrently_gives_one_event(intake: Intake) -> None:
    body = woo_body(woo_order(2002))
    headers = woo_headers(SECRET, body, "order.updated")
    answers = await asyncio.gather(*(post(intake, body, headers) for _ in range(50)))
    assert [s for s, _ in answers] == [200] * 50
    outcomes = sorted(a["outcome"] for _, a in answers)
    assert outcomes == ["duplicate"] * 49 + ["published"]
    events = await wait_for(lambda: published(intake), what="event")
    assert len(events) == 1
    assert await intake.count("SELECT count(*) FROM deliveries WHERE order_id = 2002") == 50


async def test_created_then_updated_with_same_state_is_not_published_again(intake: Intake) -> None:
    body = woo_body(woo_order(3003))
    await post(intake, body, woo_headers(SECRET, body, "order.created"))
    await post(intake, body, woo_headers(SECRET, body, "order.updated"))
    later = woo_body(woo_order(3003, status="completed", modified="2026-11-21T08:00:00"))
    await post(intake, later, woo_headers(SECRET, later, "order.updated"))
    events = await wait_for(lambda: published(intake), what="events")
    assert [e.order.status for e in events] == ["processing", "completed"]


@pytest.mark.parametrize("status", ["pending", "on-hold", "failed", "checkout-draft"])
async def test_unpaid_states_are_stored_not_forwarded(intake: Intake, status: str) -> None:
    body = woo_body(woo_order(4004, status=status))
    code, answer = await post(intake, body, woo_headers(SECRET, body, "order.updated"))
    assert (code, answer["outcome"]) == (200, "not-forwarded")
    assert await published(intake) == []
    assert await intake.count("SELECT count(*) FROM deliveries WHERE order_id = 4004") == 1


async def test_cancelled_state_is_forwarded_as_unpaid(intake: Intake) -> None:
    body = woo_body(woo_order(4005, status="cancelled"))
    await post(intake, body, woo_headers(SECRET, body, "order.updated"))
    events = await wait_for(lambda: published(intake), what="event")
    assert [(type(e), e.paid) for e in events] == [(OrderReceived, False)]


async def test_deleted_and_restored_become_their_own_events(intake: Intake) -> None:
    deleted = b'{"id":5005}'
    assert (await post(intake, deleted, woo_headers(SECRET, deleted, "order.deleted")))[0] == 200
    restored = woo_body(woo_order(5005, modified="2026-11-22T09:00:00"))
    assert (await post(intake, restored, woo_headers(SECRET, restored, "order.restored")))[0] == 200
    events = await wait_for(lambda: published(intake), what="events")
    assert [type(e) for e in events] == [OrderDeleted, OrderRestored]
    assert {e.shop_order_id for e in events} == {"5005"}


async def test_previous_secret_is_accepted_during_rotation(intake: Intake) -> None:
    body = woo_body(woo_order(6006))
    status, _ = await post(intake, body, woo_headers(PREVIOUS_SECRET, body))
    assert status == 200


async def test_ping_gets_200_and_is_stored(intake: Intake) -> None:
    async with intake.client.post(
        URL, data=b"webhook_id=12", headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status == 200
    assert await intake.count("SELECT count(*) FROM deliveries WHERE outcome = 'ping'") == 1
    assert await published(intake) == []


async def test_bad_inputs_get_their_status_and_publish_nothing(intake: Intake) -> None:
    good = woo_body(woo_order(7007))
    not_json = b"{this is not json"
    product = b'{"id": 5, "name": "Ullsokker", "sku": "ULL"}'
    not_order = b'{"id": "seven", "status": 3}'
    too_big = woo_body(woo_order(7008, customer_note="x" * 70_000))
    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("/webhooks/woocommerce/nope", good, woo_headers(SECRET, good), 404, "unknown shop"),
        (
            URL,
            good,
            {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created"},
            401,
            "missing",
        ),
        (URL, good, woo_headers("wrong-secret", good), 401, "does not match"),
        (URL, good + b" ", woo_headers(SECRET, good), 401, "does not match"),
        (URL, not_json, woo_headers(SECRET, not_json), 400, "not JSON"),
        (URL, product, woo_headers(SECRET, product, "product.updated"), 400, "not an order"),
        (URL, not_order, woo_headers(SECRET, not_order), 400, "not an order: id: expected int"),
        (URL, too_big, woo_headers(SECRET, too_big), 413, "larger than"),
        (
            URL,
            b"webhook_id=abc",
            {"Content-Type": "application/x-www-form-urlencoded"},
            401,
            "missing",
        ),
    ]
    ok = 0
    for url, body, headers, expected, reason in cases:
        status, answer = await post(intake, body, headers, url)
        assert (status, reason in answer["error"]) == (expected, True), (url, answer)
    status, _ = await post(intake, good, woo_headers(SECRET, good))
    ok += status == 200
    events = await wait_for(lambda: published(intake), what="the one good event")
    assert [e.shop_order_id for e in events] == ["7007"]
    # Accepted deliveries stored = 2xx answers.
    assert await intake.count("SELECT count(*) FROM deliveries") == ok == 1


async def test_an_edit_within_the_same_second_is_a_new_state(intake: Intake) -> None:
    first = woo_body(woo_order(8008))
    edited = woo_body(
        woo_order(8008, customer_note="Ring på døra")
    )  # same date_modified_gmt and status
    for body in (first, edited, edited):
        assert (await post(intake, body, woo_headers(SECRET, body, "order.updated")))[0] == 200
    events = await wait_for(lambda: published(intake), what="events")
    assert [e.order.customer_note for e in events] == ["Leveres på døra, takk", "Ring på døra"]
