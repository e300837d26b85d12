"""Transactional outbox: messages are written in the same transaction as the state that caused
them, and a relay publishes them afterwards with publisher confirms.

Two ways out of the table, both ending in a delete after the broker confirmed:
- Handed over: whoever committed outbox rows passes them to the relay (`hand_over`), which
  publishes them from memory and deletes them by event id in one statement per batch. No read
  of the table, no transaction: the usual path, one statement for everything handed over since
  the previous batch.
- Polled: at start, when woken without rows (`wake`), after a failed publish, and every
  `poll_interval` the relay takes a batch with `FOR UPDATE SKIP LOCKED` (replicas share the
  work), publishes it and deletes it in the same transaction. The periodic poll only takes rows
  older than `settle` seconds, so rows that are being handed over are not published twice in
  the normal course; rows left by a crash, a broker outage or a replica that stopped are.

Every message is persistent with `message_id` = event id and `correlation_id` = shop order id. A
crash between confirm and delete republishes; consumers' inboxes drop the copies. While the
broker is away the rows wait in PostgreSQL and the relay retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeAlias

import aio_pika
import asyncpg
from aio_pika.abc import AbstractExchange

from ordreflyt_contracts import Event, encode_event
from ordreflyt_runtime.db import DbConn
from ordreflyt_runtime.metrics import Metrics
from ordreflyt_runtime.retry import forever

log = logging.getLogger(__name__)

# A confirm slower than this fails the batch (it is retried; the rows stay locked meanwhile).
PUBLISH_TIMEOUT = 15.0

INSERT_SQL = (
    "INSERT INTO outbox (event_id, routing_key, correlation_id, body) VALUES ($1, $2, $3, $4)"
)


# Fields of a stored message: event id, routing key, correlation id (shop order id), body.
OutboxRow: TypeAlias = tuple[uuid.UUID, str, str | None, bytes]

INSERT_MANY_SQL = (
    "INSERT INTO outbox (event_id, routing_key, correlation_id, body)"
    " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])"
)

# Rows handed over are deleted once confirmed; one a poller holds is left to that poller.
DELETE_HANDED_OVER_SQL = (
    "DELETE FROM outbox WHERE id IN"
    " (SELECT id FROM outbox WHERE event_id = ANY($1::uuid[]) FOR UPDATE SKIP LOCKED)"
)


def outbox_insert(
    event_id: str,
    routing_key: str,
    correlation_id: str,
    body: str,
    *,
    source: str | None = None,
    where: str = "true",
) -> str:
    """The outbox insert, for a store that writes its state and the message it causes in ONE
    statement (as a CTE: a round trip saved on a hot path). The arguments are the SQL
    expressions of the row's fields (parameters such as `$12`), read from `source` (a CTE of
    that statement) when given, only when `where` holds. Only the runtime knows the outbox's
    shape; a store asks for the statement here and hands the row to the relay after the
    commit (`HandlerContext.outbox_row`)."""
    values = f"{event_id}, {routing_key}, {correlation_id}, {body}"
    head = "INSERT INTO outbox (event_id, routing_key, correlation_id, body)"
    if source is None:
        return f"{head} SELECT {values} WHERE {where}"
    return f"{head} SELECT {values} FROM {source} WHERE {where}"


def outbox_row(event: Event) -> OutboxRow:
    return (event.event_id, event.routing_key, event.shop_order_id, encode_event(event))


async def add_to_outbox(conn: DbConn, *events: Event) -> list[OutboxRow]:
    """Write messages to the outbox on `conn` (inside the caller's transaction), in one
    statement; returns the rows, to hand over to the relay once the transaction committed."""
    rows = [outbox_row(e) for e in events]
    if len(rows) == 1:
        await conn.execute(INSERT_SQL, *rows[0])
    elif rows:
        await conn.execute(INSERT_MANY_SQL, *(list(column) for column in zip(*rows, strict=True)))
    return rows


def amqp_message(
    event_id: uuid.UUID, routing_key: str, correlation_id: str | None, body: bytes, app_id: str
) -> aio_pika.Message:
    return aio_pika.Message(
        body=body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(event_id),
        correlation_id=correlation_id,
        type=routing_key,
        app_id=app_id,
        timestamp=datetime.now(UTC),
    )


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        exchange: AbstractExchange,
        metrics: Metrics,
        service: str,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        settle: float = 10.0,
    ) -> None:
        self._pool = pool
        # A robust channel's exchange: it survives reconnects, publishes fail while away.
        self._exchange = exchange
        self._metrics = metrics
        self._service = service
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._settle = settle
        self._handed_over: list[OutboxRow] = []
        # The table is read at start and whenever asked to; otherwise every poll_interval.
        self._poll_all = True
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_poll = 0.0
        self._stopping = False
        self.healthy = True
        self.table_reads = 0  # how often the table was polled (for tests and diagnosis)

    def wake(self) -> None:
        """Called after a commit that wrote to the outbox: the relay reads the table at once."""
        self._poll_all = True
        self._wakeup.set()

    def hand_over(self, rows: Sequence[OutboxRow]) -> None:
        """Called after a commit that wrote `rows` to the outbox: the relay publishes them
        without reading the table (they stay there until confirmed, so nothing is lost)."""
        if rows:
            self._handed_over.extend(rows)
            self._wakeup.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-outbox-relay")

    async def stop(self, flush_timeout: float) -> None:
        """Stop the loop, then publish what is left (bounded by `flush_timeout`)."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._handed_over.clear()  # still in the table: the drain below publishes them
        try:
            await asyncio.wait_for(self._drain(0.0), flush_timeout)
        except Exception as exc:  # a timeout, or the broker is away
            backlog = await self.backlog()
            log.error(
                "outbox not fully flushed at stop (%s); %d left for the next start", exc, backlog
            )

    async def backlog(self) -> int:
        value = await self._pool.fetchval("SELECT count(*) FROM outbox")
        assert isinstance(value, int)
        return value

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._next_poll = loop.time()
        while not self._stopping:
            try:
                await self._cycle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc)
                # Again, with growing delays, until a cycle succeeds (then the delays start
                # over at the next failure).
                async for attempt in forever("outbox relay: publishing", on_failure=self._failed):
                    with attempt:
                        await self._cycle()

    def _failed(self, exc: BaseException) -> None:
        self.healthy = False
        self._metrics.relay_errors.inc()
        # What was handed over is still in the table: read it from there when back.
        self._handed_over.clear()
        self._poll_all = True

    async def _cycle(self) -> None:
        """Publish what was handed over, poll the table when due, then wait for work."""
        loop = asyncio.get_running_loop()
        self._wakeup.clear()
        while self._handed_over:
            await self._publish_handed_over()
        if self._poll_all or loop.time() >= self._next_poll:
            settle = 0.0 if self._poll_all else self._settle
            self._poll_all = False
            await self._drain(settle)
            self._next_poll = loop.time() + self._poll_interval
        self.healthy = True
        if not self._handed_over and not self._poll_all and not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), max(0.0, self._next_poll - loop.time()))

    async def _publish_handed_over(self) -> None:
        rows, self._handed_over = (
            self._handed_over[: self._batch_size],
            self._handed_over[self._batch_size :],
        )
        await self._publish(rows)
        await self._pool.execute(DELETE_HANDED_OVER_SQL, [r[0] for r in rows])

    async def _drain(self, settle: float) -> None:
        self.table_reads += 1
        while await self._publish_batch(settle) == self._batch_size:
            pass

    async def _publish_batch(self, settle: float) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, event_id, routing_key, correlation_id, body FROM outbox"
                " WHERE created_at <= now() - make_interval(secs => $2)"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
                settle,
            )
            if not rows:
                return 0
            await self._publish(
                [(r["event_id"], r["routing_key"], r["correlation_id"], r["body"]) for r in rows]
            )
            await conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        return len(rows)

    async def _publish(self, rows: Sequence[OutboxRow]) -> None:
        """Publish persistent, and return once the broker confirmed every one."""
        await asyncio.gather(
            *(
                self._exchange.publish(
                    amqp_message(event_id, routing_key, correlation_id, body, self._service),
                    routing_key=routing_key,
                    timeout=PUBLISH_TIMEOUT,
                )
                for event_id, routing_key, correlation_id, body in rows
            )
        )
        for row in rows:
            self._metrics.published.labels(row[1]).inc()
