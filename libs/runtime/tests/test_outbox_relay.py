"""The outbox relay's two ways out of the table, against a real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable

import asyncpg
import pytest
from aio_pika.abc import AbstractChannel

from ordreflyt_contracts import OrderDeleted, decode_event, new_event_fields
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_runtime.metrics import Metrics
from ordreflyt_runtime.outbox import OutboxRelay, add_to_outbox
from ordreflyt_runtime.topology import declare_exchanges
from ordreflyt_testkit.helpers import declare_tap, drain_queue, wait_for

pytestmark = pytest.mark.integration


def deleted(order_id: int) -> OrderDeleted:
    return OrderDeleted(**new_event_fields("demo", order_id), delivery_id=uuid.uuid4())


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"relay_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(database_url, schema, min_size=1, max_size=3)
    await migrate(pool, schema, ())
    yield pool
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


@pytest.fixture
async def tap(channel: AbstractChannel) -> AsyncIterator[str]:
    name = await declare_tap(channel, f"tap-relay-{uuid.uuid4().hex[:6]}", ("intake.order.#",))
    yield name
    await channel.queue_delete(name)


@contextlib.asynccontextmanager
async def started_relay(
    pool: asyncpg.Pool, channel: AbstractChannel, poll_interval: float, settle: float
) -> AsyncIterator[OutboxRelay]:
    """A relay that has done its start-up read of the table."""
    exchange = await declare_exchanges(channel)
    relay = OutboxRelay(
        pool, exchange, Metrics(), "probe", poll_interval=poll_interval, settle=settle
    )
    relay.start()
    try:
        await wait_for(lambda: _read_table(relay), what="the start-up poll")
        yield relay
    finally:
        await relay.stop(flush_timeout=5)


async def backlog(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


async def test_rows_handed_over_are_published_and_deleted_without_a_poll(
    pool: asyncpg.Pool, channel: AbstractChannel, tap: str
) -> None:
    # No periodic poll during the test: only the hand-over can publish.
    async with started_relay(pool, channel, poll_interval=3600, settle=3600) as relay:
        events = [deleted(n) for n in range(1, 6)]
        async with pool.acquire() as conn, conn.transaction():
            rows = await add_to_outbox(conn, *events)
        assert await backlog(pool) == 5
        relay.hand_over(rows)
        messages = await wait_for(lambda: drain_queue(channel, tap, settle=0.3), what="messages")
        assert sorted(m.message_id or "" for m in messages) == sorted(
            str(e.event_id) for e in events
        )
        assert {m.correlation_id for m in messages} == {"1", "2", "3", "4", "5"}
        assert [
            decode_event(m.body) for m in messages if m.message_id == str(events[0].event_id)
        ] == [events[0]]
        await wait_for(lambda: _is_zero(backlog(pool)), what="the outbox emptied")


async def test_rows_not_handed_over_wait_for_the_periodic_poll_until_settled(
    pool: asyncpg.Pool, channel: AbstractChannel, tap: str
) -> None:
    async with started_relay(pool, channel, poll_interval=0.1, settle=1.5) as relay:
        event = deleted(77)
        async with pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, event)
        # Younger than `settle`: the periodic poll leaves it to the hand-over that never comes.
        await asyncio.sleep(0.8)
        assert await drain_queue(channel, tap, settle=0.1) == []
        assert await backlog(pool) == 1
        # Settled: a row left behind (a crash before the hand-over) is published.
        messages = await wait_for(lambda: drain_queue(channel, tap, settle=0.2), what="message")
        assert [m.message_id for m in messages] == [str(event.event_id)]
        await wait_for(lambda: _is_zero(backlog(pool)), what="the outbox emptied")
        # wake() reads the table at once, whatever the rows' age.
        fresh = deleted(78)
        async with pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, fresh)
        relay.wake()
        messages = await wait_for(
            lambda: drain_queue(channel, tap, settle=0.1), timeout=1.0, what="woken"
        )
        assert [m.message_id for m in messages] == [str(fresh.event_id)]


async def _read_table(relay: OutboxRelay) -> bool:
    return relay.running and relay.table_reads >= 1


async def _is_zero(count: Awaitable[int]) -> bool:
    return await count == 0
