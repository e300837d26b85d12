"""Batch mode of the consumer (messages waiting handled in one transaction), against a real
RabbitMQ and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel

from ordreflyt_contracts import ErpOrderFailed, OrderDeleted, encode_event, new_event_fields
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.spec import ServiceSpec, no_config, on, stateless
from ordreflyt_runtime.topology import (
    EVENTS_EXCHANGE,
    H_REASON,
    declare_consumer_queue,
    declare_exchanges,
)
from ordreflyt_testkit.helpers import declare_tap, drain_queue, wait_for
from ordreflyt_testkit.service_harness import running_service, settings_for

pytestmark = pytest.mark.integration

Handler = Callable[[None, OrderDeleted, HandlerContext], Awaitable[None]]


def deleted(order_id: str) -> OrderDeleted:
    return OrderDeleted(**new_event_fields("demo", order_id), delivery_id=uuid.uuid4())


def batch_spec(name: str, handler: Handler) -> ServiceSpec[None, None]:
    return ServiceSpec(
        name=name,
        default_port=0,
        migrations=(
            (
                f"{name}/001",
                "CREATE TABLE effects (event_id uuid, shop_order_id text, tx bigint)",
            ),
        ),
        config=no_config,
        start=stateless,
        subscriptions=[on(OrderDeleted, handler)],
        retry_delays_ms=(100, 200),
        batch=True,
    )


async def record_and_pass_on(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
    """An effect with the id of the transaction it was written in, and a message out."""
    await ctx.conn.execute(
        "INSERT INTO effects VALUES ($1, $2, txid_current())", event.event_id, event.shop_order_id
    )
    if event.shop_order_id == "bad":
        raise ValueError("cannot handle order bad")
    await ctx.publish(
        ErpOrderFailed(
            **new_event_fields(event.shop_id, event.shop_order_id),
            erp="probe",
            code="1",
            message="passed on",
        )
    )


async def effects(database_url: str, schema: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(f"SELECT shop_order_id, tx FROM {schema}.effects"))
    finally:
        await conn.close()


async def queue_up(
    channel: AbstractChannel, spec: ServiceSpec[None, None], events: list[bytes]
) -> None:
    """Publish before the service starts, so that the messages are waiting for it together."""
    queue = spec.queue()
    assert queue is not None
    await declare_exchanges(channel)
    await declare_consumer_queue(channel, queue)
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    for body in events:
        await exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key="intake.order.deleted.v1",
        )


async def test_waiting_messages_are_handled_together_once_each_and_pass_messages_on(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"batch-{uuid.uuid4().hex[:6]}"
    schema = name.replace("-", "_")
    spec = batch_spec(name, record_and_pass_on)
    events = [deleted(str(n)) for n in range(40)]
    # One message twice (as after a relay crash between confirm and delete).
    bodies = [encode_event(e) for e in events] + [encode_event(events[7])]
    tap = await declare_tap(channel, f"tap-{name}", ("erp-writer.erp-order.failed.v1",))
    await queue_up(channel, spec, bodies)
    async with running_service(spec, settings_for(name, amqp_url, database_url)) as (_, rt):

        async def all_handled() -> bool:
            return len(await effects(database_url, schema)) >= 40

        await wait_for(all_handled, what="40 effects")
        passed_on = await wait_for(
            lambda: drain_queue(channel, tap, settle=0.3), what="messages passed on"
        )
        assert await drain_queue(channel, f"{name}", settle=0.2) == []  # all acked
        duplicates = rt.metrics.registry.get_sample_value(
            "ordreflyt_messages_duplicate_total", {"routing_key": "intake.order.deleted.v1"}
        )
    rows = await effects(database_url, schema)
    assert sorted(r["shop_order_id"] for r in rows) == sorted(str(n) for n in range(40))
    # Handled together: far fewer transactions than messages.
    assert len({r["tx"] for r in rows}) <= 5
    assert sorted(m.correlation_id or "" for m in passed_on) == sorted(str(n) for n in range(40))
    assert duplicates == 1
    await channel.queue_delete(tap)


async def test_a_failing_message_fails_alone_and_the_rest_of_its_batch_is_handled(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"batchbad-{uuid.uuid4().hex[:6]}"
    schema = name.replace("-", "_")
    spec = batch_spec(name, record_and_pass_on)
    bodies = [encode_event(deleted(str(n))) for n in range(10)]
    bodies.insert(5, encode_event(deleted("bad")))
    tap = await declare_tap(channel, f"tap-{name}", ("erp-writer.erp-order.failed.v1",))
    await queue_up(channel, spec, bodies)
    async with running_service(spec, settings_for(name, amqp_url, database_url)) as (_, _rt):
        dead = await wait_for(
            lambda: drain_queue(channel, f"{name}.dlq", settle=0.2), timeout=30, what="DLQ"
        )
        passed_on = await wait_for(
            lambda: drain_queue(channel, tap, settle=0.3), what="messages passed on"
        )
    rows = await effects(database_url, schema)
    # The batch with "bad" in it was rolled back and its messages handled one at a time:
    # every good one has exactly one effect and one message out, "bad" none.
    assert sorted(r["shop_order_id"] for r in rows) == sorted(str(n) for n in range(10))
    assert sorted(m.correlation_id or "" for m in passed_on) == sorted(str(n) for n in range(10))
    assert len(dead) == 1
    assert (dead[0].headers or {})[H_REASON] == "retries-exhausted"
    assert dead[0].body == bodies[5]
    await channel.queue_delete(tap)
