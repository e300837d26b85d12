"""Small helpers for tests: wait on a condition, read queues, sign like WooCommerce."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import ChannelNotFoundEntity

T = TypeVar("T")


async def wait_for(
    probe: Callable[[], Awaitable[T | None]],
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy (so never None); fail with `what` after
    `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def drain_queue(
    channel: AbstractChannel, queue: str, settle: float = 0.5
) -> list[AbstractIncomingMessage]:
    """Take (and ack) every message in `queue` until it stays empty for `settle` seconds."""
    q = await channel.get_queue(queue, ensure=False)
    messages: list[AbstractIncomingMessage] = []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < settle:
        msg = await q.get(no_ack=False, fail=False)
        if msg is None:
            await asyncio.sleep(0.05)
            continue
        await msg.ack()
        messages.append(msg)
        quiet_since = time.monotonic()
    return messages


async def purge_queue(amqp_url: str, name: str) -> None:
    """Empty the queue `name` if it exists (a service's queue, left by an earlier test). On a
    connection of its own: the broker closes the channel that asks for a missing queue."""
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        with contextlib.suppress(ChannelNotFoundEntity):
            queue = await channel.declare_queue(name, passive=True)
            await queue.purge()


async def declare_tap(channel: AbstractChannel, name: str, keys: tuple[str, ...]) -> str:
    """A test queue bound to the events exchange: sees every message published with `keys`."""
    from ordreflyt_runtime.topology import declare_exchanges

    exchange = await declare_exchanges(channel)
    queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    for key in keys:
        await queue.bind(exchange, routing_key=key)
    return name


__all__ = ["aio_pika", "declare_tap", "drain_queue", "wait_for"]
