"""A service's dead-letter queue: list what is in it with the reasons, and replay messages.

Listing takes the messages without acknowledging them and gives them all back at the end, so
nothing leaves the queue. Replaying publishes a matching message back to the service's own
queue (failure headers removed, attempt count reset; publisher-confirmed) and only then
removes it from the DLQ. A replay is safe: the service's inbox recognises a message it has
already handled, and its handlers are idempotent at the business level.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aio_pika
import msgspec
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from ordreflyt_contracts import decode_event
from ordreflyt_runtime.topology import (
    H_ATTEMPT,
    H_ERROR,
    H_FAILED_AT,
    H_REASON,
    H_ROUTING_KEY,
    H_SERVICE,
    H_WAITS,
    ConsumerQueue,
)

log = logging.getLogger(__name__)

# At most this many messages are looked at per call (a DLQ that large needs a reason filter).
MAX_PER_CALL = 5_000
_FAILURE_HEADERS = {H_ATTEMPT, H_ERROR, H_FAILED_AT, H_REASON, H_SERVICE, H_WAITS}


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str | None
    routing_key: str
    reason: str
    error: str
    failed_at: str | None
    attempt: int | None
    shop_id: str | None
    shop_order_id: str | None


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}

    def text(name: str) -> str:
        value = headers.get(name)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return "" if value is None else str(value)

    attempt = headers.get(H_ATTEMPT)
    failed_at = headers.get(H_FAILED_AT)
    shop_id: str | None = None
    shop_order_id = message.correlation_id
    try:
        event = decode_event(message.body)
        shop_id, shop_order_id = event.shop_id, event.shop_order_id
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass  # undecodable: the correlation id still names the order
    return DeadLetter(
        event_id=message.message_id,
        routing_key=text(H_ROUTING_KEY) or message.type or message.routing_key or "",
        # Dead-lettered by the broker itself (delivery limit): no reason header of ours.
        reason=text(H_REASON) or "delivery-limit",
        error=text(H_ERROR)[:500],
        failed_at=failed_at.isoformat()
        if isinstance(failed_at, datetime)
        else text(H_FAILED_AT) or None,
        attempt=attempt if isinstance(attempt, int) else None,
        shop_id=shop_id,
        shop_order_id=shop_order_id,
    )


Selector = Callable[[DeadLetter], bool]


def selector(event_id: str | None = None, reason: str | None = None) -> Selector:
    """Which messages a replay takes: one event id, every one of a reason, or (neither) all."""

    def chosen(letter: DeadLetter) -> bool:
        if event_id is not None and letter.event_id != event_id:
            return False
        return reason is None or letter.reason == reason

    return chosen


async def _take_all(
    connection: AbstractRobustConnection, queue_name: str
) -> tuple[aio_pika.abc.AbstractChannel, list[AbstractIncomingMessage]]:
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(queue_name, passive=True)
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < MAX_PER_CALL:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
    return channel, taken


async def list_dead_letters(
    connection: AbstractRobustConnection, spec: ConsumerQueue
) -> list[DeadLetter]:
    channel, taken = await _take_all(connection, spec.dlq)
    try:
        return [describe(m) for m in taken]
    finally:
        for message in taken:
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
        await channel.close()


async def replay(
    connection: AbstractRobustConnection, spec: ConsumerQueue, chosen: Selector
) -> list[DeadLetter]:
    """Move the chosen dead letters back to the service's queue; returns what was moved."""
    channel, taken = await _take_all(connection, spec.dlq)
    moved: list[DeadLetter] = []
    try:
        for message in taken:
            letter = describe(message)
            if not chosen(letter):
                await message.nack(requeue=True)
                continue
            headers: dict[str, Any] = {
                k: v
                for k, v in (message.headers or {}).items()
                if k not in _FAILURE_HEADERS and not k.startswith("x-")
            }
            headers[H_ROUTING_KEY] = letter.routing_key
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body=message.body,
                    headers=headers,
                    content_type=message.content_type,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    type=message.type,
                    app_id=message.app_id,
                    timestamp=message.timestamp,
                ),
                routing_key=spec.queue,
            )
            await message.ack()
            moved.append(letter)
            log.info(
                "replayed from %s: %s (%s)",
                spec.dlq,
                letter.event_id,
                letter.reason,
                extra={"event_id": letter.event_id, "shop_order_id": letter.shop_order_id},
            )
    finally:
        await channel.close()  # anything not acked or nacked yet goes back to the DLQ
    return moved


async def depth(connection: AbstractRobustConnection, queue_name: str) -> int:
    channel = await connection.channel()
    try:
        queue = await channel.declare_queue(queue_name, passive=True)
        count = queue.declaration_result.message_count
        return int(count or 0)
    finally:
        await channel.close()
