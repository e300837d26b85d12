"""Consuming with effectively-once effects: inbox dedupe, ack after commit, retries, DLQ.

For each delivery: decode by its tag; in ONE transaction insert `(event_id)` into the inbox and
run the handler (which writes its state and its outgoing messages to the outbox on the same
connection); commit; then ack. The transaction's BEGIN travels with the inbox insert, in one
round trip. A redelivery of a message whose transaction committed finds its
inbox row and is acked without effects. The next messages keep flowing whatever one does:

- A dependency is away (the ERP, the shop, the database: see errors.py): the message WAITS in
  the retry queues (growing delays, the longest one repeated) as long as it takes, with its
  attempt count untouched; it is never dead-lettered for that.
- Anything else is about the message itself. A service with a `hold` hook holds (or parks) the
  order at once, in its own transaction, with the reason, visible and releasable there. Without
  one, the message is retried through the retry queues with the attempt count and error in
  headers, and after the last attempt goes to the service's DLQ with the reason.
- A message that cannot be decoded or has no handler goes to the DLQ at once.

Batch mode (for handlers that only touch the database, e.g. order-mapper's): the messages that
have arrived while the previous batch was handled are handled together, in ONE transaction:
one inbox insert for all, the handlers one after the other, one outbox insert for all their
messages, one commit, one ack for all. If anything in the batch fails, it is rolled back and
its messages are handled one at a time as above, so a bad message still only affects itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import aio_pika
import asyncpg
import msgspec
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from ordreflyt_contracts import Event, decode_event
from ordreflyt_runtime.db import DbConn
from ordreflyt_runtime.errors import is_transient
from ordreflyt_runtime.logs import log_context
from ordreflyt_runtime.metrics import Metrics
from ordreflyt_runtime.outbox import OutboxRow, add_to_outbox, outbox_row
from ordreflyt_runtime.topology import (
    DEAD_EXCHANGE,
    H_ATTEMPT,
    H_ERROR,
    H_FAILED_AT,
    H_REASON,
    H_ROUTING_KEY,
    H_SERVICE,
    H_WAITS,
    ConsumerQueue,
    declare_consumer_queue,
)

log = logging.getLogger(__name__)

# Header values are cut to this length so a huge traceback cannot bloat the DLQ.
MAX_ERROR_TEXT = 2000


@dataclass
class HandlerContext:
    """What a handler gets besides its message: the connection of the open transaction
    (begun by the consumer with a plain BEGIN: use savepoints in SQL, not conn.transaction())."""

    conn: DbConn
    # Outbox rows written in this transaction, handed to the relay after the commit.
    written: list[OutboxRow] = field(default_factory=list)
    # Batch mode: messages to publish are kept here and written by the consumer for the batch.
    defer: bool = False
    deferred: list[Event] = field(default_factory=list)

    @property
    def wrote_outbox(self) -> bool:
        return bool(self.written)

    async def publish(self, *events: Event) -> None:
        """Emit messages atomically with the handler's other writes (through the outbox)."""
        if self.defer:
            self.deferred.extend(events)
        else:
            self.written.extend(await add_to_outbox(self.conn, *events))

    def outbox_row(self, event: Event) -> OutboxRow:
        """The outbox row of `event` for a handler that inserts it in one of its own statements
        (event_id, routing_key, correlation_id, body: a round trip saved); it is handed to the
        relay after the commit like what publish() wrote."""
        row = outbox_row(event)
        self.written.append(row)
        return row


Handler = Callable[[Any, HandlerContext], Awaitable[None]]
AfterCommit = Callable[[Event], Awaitable[None] | None]
# Holds (or parks) the order of a message its handler failed on, in the transaction of the
# given context (which can publish); returns False when it cannot (the message then takes the
# retry path).
HoldHook = Callable[[Event, str, "HandlerContext"], Awaitable[bool]]


class Consumer:
    def __init__(
        self,
        spec: ConsumerQueue,
        handlers: Mapping[type[Event], Handler],
        pool: asyncpg.Pool,
        metrics: Metrics,
        *,
        prefetch: int = 64,
        on_outbox_written: Callable[[Sequence[OutboxRow]], None] | None = None,
        after_commit: AfterCommit | None = None,
        batch: bool = False,
        hold: HoldHook | None = None,
    ) -> None:
        self.spec = spec
        self._hold = hold
        self._handlers = dict(handlers)
        self._pool = pool
        self._metrics = metrics
        self._prefetch = prefetch
        self._on_outbox_written = on_outbox_written
        self._after_commit = after_commit
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._batch = batch
        self._waiting: list[AbstractIncomingMessage] = []
        self._batch_task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._tag is not None and self._channel is not None and not self._channel.is_closed

    async def start(self, connection: aio_pika.abc.AbstractRobustConnection) -> None:
        self._channel = await connection.channel(publisher_confirms=True)
        await self._channel.set_qos(prefetch_count=self._prefetch)
        self._queue = await declare_consumer_queue(self._channel, self.spec)
        self._tag = await self._queue.consume(self._on_message)
        log.info(
            "consuming",
            extra={"queue": self.spec.queue, "prefetch": self._prefetch, "batch": self._batch},
        )

    async def stop(self, timeout: float) -> None:
        """Stop taking messages; let the ones in flight finish (unacked ones are redelivered)."""
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._tag)
        self._tag = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._batch:
            self._waiting.append(message)
            if self._batch_task is None or self._batch_task.done():
                self._batch_task = asyncio.create_task(self._run_batches())
                self._in_flight.add(self._batch_task)
                self._batch_task.add_done_callback(self._in_flight.discard)
            return
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        decoded = await self._decode(message)
        if decoded is not None:
            await self._process_decoded(decoded, started)

    async def _decode(self, message: AbstractIncomingMessage) -> _Decoded | None:
        """The message's event and handler; None (dead-lettered) if it has neither."""
        routing_key = _original_routing_key(message)
        try:
            event = decode_event(message.body)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            await self._dead_letter(message, routing_key, "undecodable", f"cannot decode: {exc}")
            return None
        handler = self._handlers.get(type(event))
        if handler is None:
            with _event_log_context(event):
                await self._dead_letter(
                    message,
                    routing_key,
                    "no-handler",
                    f"{self.spec.service} has no handler for {routing_key}",
                )
            return None
        return _Decoded(message, routing_key, event, handler)

    async def _process_decoded(self, decoded: _Decoded, started: float) -> None:
        message, routing_key, event, handler = decoded
        with _event_log_context(event):
            try:
                duplicate = await self._handle_in_transaction(event, handler)
            except Exception as exc:
                await self._failed(message, routing_key, event, exc)
                return
            await self._finish(event)
            await message.ack()
            self._metrics.handler_seconds.labels(routing_key).observe(time.perf_counter() - started)
            (self._metrics.duplicates if duplicate else self._metrics.consumed).labels(
                routing_key
            ).inc()

    async def _run_batches(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._prefetch], self._waiting[self._prefetch :]
            try:
                await self._process_batch(batch)
            except Exception:
                # E.g. the channel closed under an ack: unacked messages are delivered again
                # (and their inbox rows make the repeats no-ops).
                log.exception("a batch of %d could not be finished", len(batch))

    async def _process_batch(self, batch: list[AbstractIncomingMessage]) -> None:
        started = time.perf_counter()
        decoded = [d for d in [await self._decode(m) for m in batch] if d is not None]
        if not decoded:
            return
        try:
            duplicates = await self._handle_batch(decoded)
        except Exception as exc:
            log.warning(
                "a batch of %d failed (%s: %s); handling its messages one at a time",
                len(decoded),
                type(exc).__name__,
                exc,
            )
            for one in decoded:
                await self._process_decoded(one, started)
            return
        for one in decoded:
            await self._finish(one.event)
        await self._ack_batch([d.message for d in decoded])
        elapsed = time.perf_counter() - started
        for one in decoded:
            self._metrics.handler_seconds.labels(one.routing_key).observe(elapsed)
            counter = self._metrics.duplicates if one in duplicates else self._metrics.consumed
            counter.labels(one.routing_key).inc()

    async def _handle_batch(self, batch: list[_Decoded]) -> list[_Decoded]:
        """Handle the batch in one transaction; returns the duplicates (handled before)."""
        duplicates: list[_Decoded] = []
        async with self._pool.acquire() as conn, conn.transaction():
            fresh_ids = {
                r["event_id"]
                for r in await conn.fetch(
                    "INSERT INTO inbox (event_id, routing_key)"
                    " SELECT * FROM unnest($1::uuid[], $2::text[])"
                    " ON CONFLICT DO NOTHING RETURNING event_id",
                    [d.event.event_id for d in batch],
                    [d.event.routing_key for d in batch],
                )
            }
            ctx = HandlerContext(conn, defer=True)
            for one in batch:
                with _event_log_context(one.event):
                    if one.event.event_id not in fresh_ids:
                        log.info("duplicate message ignored")
                        duplicates.append(one)
                        continue
                    fresh_ids.discard(one.event.event_id)  # a second copy in the batch
                    await one.handler(one.event, ctx)
            rows = ctx.written + await add_to_outbox(conn, *ctx.deferred)
        if rows and self._on_outbox_written is not None:
            self._on_outbox_written(rows)
        return duplicates

    async def _ack_batch(self, messages: list[AbstractIncomingMessage]) -> None:
        """One ack for the batch ("up to and including" its last delivery) when no message
        still waiting was delivered before that one; otherwise one ack each."""
        last = max(messages, key=lambda m: m.delivery_tag or 0)
        tag = last.delivery_tag or 0
        if all((m.delivery_tag or 0) > tag for m in self._waiting):
            await last.ack(multiple=True)
            return
        for message in messages:
            await message.ack()

    async def _finish(self, event: Event) -> None:
        if self._after_commit is not None:
            result = self._after_commit(event)
            if result is not None:
                await result

    async def _handle_in_transaction(self, event: Event, handler: Handler) -> bool:
        """Run the handler once per event id; returns True if the event was a duplicate."""
        async with self._pool.acquire() as conn:
            claimed = await conn.execute(_begin_and_claim(event))
            try:
                if claimed != "INSERT 0 1":
                    await conn.execute("ROLLBACK")
                    log.info("duplicate message ignored")
                    return True
                ctx = HandlerContext(conn)
                await handler(event, ctx)
                await conn.execute("COMMIT")
            except BaseException:
                # The pool would roll back too, but with a warning and only on release.
                if not conn.is_closed() and conn.is_in_transaction():
                    with contextlib.suppress(Exception):
                        await conn.execute("ROLLBACK")
                raise
        if ctx.written and self._on_outbox_written is not None:
            self._on_outbox_written(ctx.written)
        return False

    async def _failed(
        self, message: AbstractIncomingMessage, routing_key: str, event: Event, exc: Exception
    ) -> None:
        if is_transient(exc):
            await self._wait(message, routing_key, exc)
            return
        if self._hold is not None and await self._held(event, exc):
            await message.ack()
            return
        await self._retry_or_dead_letter(message, routing_key, exc)

    async def _wait(
        self, message: AbstractIncomingMessage, routing_key: str, exc: Exception
    ) -> None:
        """A dependency is away: back into the retry queues, without counting an attempt."""
        waits = _header_int(message, H_WAITS) + 1
        target = self.spec.retry_queue(waits)
        self._metrics.waiting.labels(routing_key).inc()
        log.warning(
            "waiting (%d) for a dependency, again via %s: %s: %s",
            waits,
            target,
            type(exc).__name__,
            exc,
        )
        await self._republish(message, "", target, routing_key, {H_WAITS: waits})
        await message.ack()

    async def _held(self, event: Event, exc: Exception) -> bool:
        """Hold the message's order with the error as its reason, once (inbox); False if the
        hold itself failed."""
        assert self._hold is not None
        reason = f"could not be handled: {type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT]
        log.error("handler failed on the message's content; holding it: %s", reason, exc_info=exc)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                claimed = await conn.execute(
                    "INSERT INTO inbox (event_id, routing_key) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING",
                    event.event_id,
                    event.routing_key,
                )
                if claimed != "INSERT 0 1":
                    return True  # handled meanwhile (a redelivery on another replica)
                ctx = HandlerContext(conn)
                if not await self._hold(event, reason, ctx):
                    raise RuntimeError("the service could not hold this message")
        except Exception as hold_exc:
            log.error("could not hold the message: %r", hold_exc)
            return False
        if ctx.written and self._on_outbox_written is not None:
            self._on_outbox_written(ctx.written)
        self._metrics.held.labels(event.routing_key).inc()
        return True

    async def _retry_or_dead_letter(
        self, message: AbstractIncomingMessage, routing_key: str, exc: Exception
    ) -> None:
        attempt = _attempt(message) + 1
        error = f"{type(exc).__name__}: {exc}"
        self._metrics.failed.labels(routing_key).inc()
        if attempt >= self.spec.max_attempts:
            log.error("handler failed on the last attempt %d: %s", attempt, error, exc_info=exc)
            detail = error + "\n" + "".join(traceback.format_exception(exc))[-MAX_ERROR_TEXT:]
            await self._dead_letter(message, routing_key, "retries-exhausted", detail, attempt)
            return
        target = self.spec.retry_queue(attempt)
        log.warning("handler failed (attempt %d), retrying via %s: %s", attempt, target, error)
        await self._republish(
            message, "", target, routing_key, {H_ATTEMPT: attempt, H_ERROR: error[:MAX_ERROR_TEXT]}
        )
        await message.ack()

    async def _dead_letter(
        self,
        message: AbstractIncomingMessage,
        routing_key: str,
        reason: str,
        error: str,
        attempt: int | None = None,
    ) -> None:
        log.error(
            "dead-lettered (%s): %s",
            reason,
            error.splitlines()[0] if error else "",
            extra={"reason": reason},
        )
        headers: dict[str, Any] = {
            H_REASON: reason,
            H_ERROR: error[:MAX_ERROR_TEXT],
            H_FAILED_AT: datetime.now(UTC).isoformat(),
        }
        if attempt is not None:
            headers[H_ATTEMPT] = attempt
        await self._republish(message, DEAD_EXCHANGE, self.spec.service, routing_key, headers)
        await message.ack()
        self._metrics.dead_lettered.labels(routing_key, reason).inc()

    async def _republish(
        self,
        message: AbstractIncomingMessage,
        exchange_name: str,
        routing_key: str,
        original_routing_key: str,
        headers: dict[str, Any],
    ) -> None:
        assert self._channel is not None
        exchange = (
            self._channel.default_exchange
            if exchange_name == ""
            else await self._channel.get_exchange(exchange_name, ensure=False)
        )
        copy = aio_pika.Message(
            body=message.body,
            headers={
                **{k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")},
                **headers,
                H_ROUTING_KEY: original_routing_key,
                H_SERVICE: self.spec.service,
            },
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            app_id=message.app_id,
            timestamp=message.timestamp,
        )
        await exchange.publish(copy, routing_key=routing_key)


class _Decoded(NamedTuple):
    message: AbstractIncomingMessage
    routing_key: str
    event: Event
    handler: Handler


def _event_log_context(event: Event) -> contextlib.AbstractContextManager[None]:
    return log_context(
        event_id=str(event.event_id), shop_order_id=event.shop_order_id, shop_id=event.shop_id
    )


_ROUTING_KEY = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _begin_and_claim(event: Event) -> str:
    """BEGIN and the inbox insert as one simple query (no parameters there): the event id is a
    UUID and the routing key a contract's name, both checked before they are written into it.
    Its status is `INSERT 0 1` for a new event, `INSERT 0 0` for one handled before."""
    event_id = str(uuid.UUID(str(event.event_id)))
    if not _ROUTING_KEY.fullmatch(event.routing_key):
        raise ValueError(f"unexpected routing key {event.routing_key!r}")
    return (
        "BEGIN; INSERT INTO inbox (event_id, routing_key)"
        f" VALUES ('{event_id}', '{event.routing_key}') ON CONFLICT DO NOTHING"
    )


def _attempt(message: AbstractIncomingMessage) -> int:
    return _header_int(message, H_ATTEMPT)


def _header_int(message: AbstractIncomingMessage, name: str) -> int:
    value = (message.headers or {}).get(name, 0)
    return value if isinstance(value, int) else 0


def _original_routing_key(message: AbstractIncomingMessage) -> str:
    """The key the message was first published with (a retried copy arrives with the queue name)."""
    original = (message.headers or {}).get(H_ROUTING_KEY)
    if isinstance(original, str):
        return original
    return message.type or message.routing_key or ""
