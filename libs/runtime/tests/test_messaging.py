"""Outbox relay, inbox dedupe, retries and the DLQ, against a real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel

from ordreflyt_contracts import OrderDeleted, decode_event, encode_event, new_event_fields
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.outbox import add_to_outbox
from ordreflyt_runtime.spec import ServiceSpec, no_config, on, stateless
from ordreflyt_runtime.topology import EVENTS_EXCHANGE, H_ATTEMPT, H_ERROR, H_REASON
from ordreflyt_testkit.helpers import declare_tap, drain_queue, wait_for
from ordreflyt_testkit.service_harness import running_service, settings_for

pytestmark = pytest.mark.integration


def deleted(order_id: int | str) -> OrderDeleted:
    return OrderDeleted(**new_event_fields("demo", order_id), delivery_id=uuid.uuid4())


def probe_spec(
    name: str, handler: Callable[[None, OrderDeleted, HandlerContext], Awaitable[None]]
) -> ServiceSpec[None, None]:
    return ServiceSpec(
        name=name,
        default_port=0,
        migrations=((f"{name}/001", "CREATE TABLE effects (event_id uuid, shop_order_id text)"),),
        config=no_config,
        start=stateless,
        subscriptions=[on(OrderDeleted, handler)],
        retry_delays_ms=(100, 200),
    )


async def record(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
    await ctx.conn.execute(
        "INSERT INTO effects VALUES ($1, $2)", event.event_id, event.shop_order_id
    )


async def count_effects(database_url: str, schema: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {schema}.effects"))
    finally:
        await conn.close()


async def publish_raw(
    channel: AbstractChannel, body: bytes, routing_key: str, message_id: str
) -> None:
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(
            body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        ),
        routing_key=routing_key,
    )


async def test_outbox_message_is_published_with_ids_and_handled_once(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"probe-{uuid.uuid4().hex[:6]}"
    async with running_service(
        probe_spec(name, record), settings_for(name, amqp_url, database_url)
    ) as (_, rt):
        event = deleted(4711)
        async with rt.db.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, event)
        rt.outbox_written()
        await wait_for(lambda: count_effects(database_url, name.replace("-", "_")), what="effect")
        # No duplicate so far (read before the copy below is sent: it is handled at once).
        duplicates = rt.metrics.registry.get_sample_value(
            "ordreflyt_messages_duplicate_total", {"routing_key": event.routing_key}
        )
        # The same event delivered again (as after a crash before the ack) has no second effect.
        await publish_raw(channel, encode_event(event), event.routing_key, str(event.event_id))

        async def duplicate_seen() -> bool:
            value = rt.metrics.registry.get_sample_value(
                "ordreflyt_messages_duplicate_total", {"routing_key": event.routing_key}
            )
            return value == 1

        assert duplicates is None
        await wait_for(duplicate_seen, what="the duplicate recognised")
        assert await count_effects(database_url, name.replace("-", "_")) == 1
        assert rt.relay is not None
        assert await rt.relay.backlog() == 0


async def test_published_message_carries_message_and_correlation_id(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"relay-{uuid.uuid4().hex[:6]}"
    tap = await declare_tap(channel, f"tap-{name}", ("intake.order.deleted.v1",))
    spec = ServiceSpec(name=name, default_port=0, config=no_config, start=stateless)
    async with running_service(spec, settings_for(name, amqp_url, database_url)) as (_, rt):
        event = deleted(991)
        async with rt.db.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, event)
        rt.outbox_written()
        messages = await wait_for(
            lambda: drain_queue(channel, tap, settle=0.2), what="published message"
        )
    assert len(messages) == 1
    msg = messages[0]
    assert msg.message_id == str(event.event_id)
    assert msg.correlation_id == "991"
    assert msg.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert decode_event(msg.body) == event
    await channel.queue_delete(tap)


async def test_undecodable_message_goes_to_dlq_with_reason_and_next_ones_flow(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"dlq-{uuid.uuid4().hex[:6]}"
    async with running_service(
        probe_spec(name, record), settings_for(name, amqp_url, database_url)
    ) as (_, _rt):
        await publish_raw(channel, b"{not json", "intake.order.deleted.v1", "poison-1")
        good = deleted(5)
        await publish_raw(channel, encode_event(good), good.routing_key, str(good.event_id))
        await wait_for(
            lambda: count_effects(database_url, name.replace("-", "_")),
            what="the next message handled",
        )
        dead = await wait_for(
            lambda: drain_queue(channel, f"{name}.dlq", settle=0.2), what="DLQ message"
        )
    assert len(dead) == 1
    headers = dead[0].headers or {}
    assert headers[H_REASON] == "undecodable"
    assert "cannot decode" in str(headers[H_ERROR])
    assert dead[0].body == b"{not json"


async def test_failing_handler_is_retried_with_growing_delay_then_dead_lettered(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"retry-{uuid.uuid4().hex[:6]}"
    attempts: list[float] = []

    async def always_fails(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
        await ctx.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", event.event_id, event.shop_order_id
        )
        attempts.append(asyncio.get_running_loop().time())
        if event.shop_order_id == "bad":
            raise ValueError("ERP said no to order bad")

    async with running_service(
        probe_spec(name, always_fails), settings_for(name, amqp_url, database_url)
    ) as (_, _rt):
        bad = deleted("bad")
        await publish_raw(channel, encode_event(bad), bad.routing_key, str(bad.event_id))
        dead = await wait_for(
            lambda: drain_queue(channel, f"{name}.dlq", settle=0.2), timeout=30, what="DLQ"
        )
        # A later good message is handled normally.
        good = deleted("good")
        await publish_raw(channel, encode_event(good), good.routing_key, str(good.event_id))
        await wait_for(
            lambda: count_effects(database_url, name.replace("-", "_")), what="good one handled"
        )
    assert len(attempts) == 4  # the first try and two retries for "bad", then "good"
    gaps = [b - a for a, b in itertools.pairwise(attempts[:3])]
    assert gaps[0] >= 0.09
    assert gaps[1] >= 0.19
    headers = dead[0].headers or {}
    assert headers[H_REASON] == "retries-exhausted"
    assert headers[H_ATTEMPT] == 3
    assert "ERP said no to order bad" in str(headers[H_ERROR])
    # The failed attempts' writes were rolled back: only the good message left an effect.
    assert await count_effects(database_url, name.replace("-", "_")) == 1
