"""Transactional outbox: messages are written in the same transaction as the state that caused
them, and a relay publishes them afterwards with publisher confirms.

The relay takes a batch with `FOR UPDATE SKIP LOCKED` (replicas share the work), publishes every
message persistent with `message_id` = event id and `correlation_id` = shop order id, waits for
all confirms, and deletes the batch in the same transaction. A crash between confirm and delete
republishes the batch; consumers' inboxes drop the copies. While the broker is away the rows
wait in PostgreSQL and the relay retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

import aio_pika
import asyncpg
from aio_pika.abc import AbstractExchange

from ordreflyt_contracts import Event, encode_event
from ordreflyt_runtime.db import DbConn
from ordreflyt_runtime.metrics import Metrics

log = logging.getLogger(__name__)

# A confirm slower than this fails the batch (it is retried; the rows stay locked meanwhile).
PUBLISH_TIMEOUT = 15.0

INSERT_SQL = (
    "INSERT INTO outbox (event_id, routing_key, correlation_id, body) VALUES ($1, $2, $3, $4)"
)


async def add_to_outbox(conn: DbConn, *events: Event) -> None:
    """Write messages to the outbox on `conn` (inside the caller's transaction)."""
    await conn.executemany(
        INSERT_SQL,
        [(e.event_id, e.routing_key, e.shop_order_id, encode_event(e)) for e in events],
    )


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
    ) -> None:
        self._pool = pool
        # A robust channel's exchange: it survives reconnects, publishes fail while away.
        self._exchange = exchange
        self._metrics = metrics
        self._service = service
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.healthy = True

    def wake(self) -> None:
        """Called after a commit that wrote to the outbox, so the relay publishes at once."""
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
        try:
            await asyncio.wait_for(self._drain(), flush_timeout)
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
        delay = 0.2
        while not self._stopping:
            try:
                await self._drain()
                self.healthy = True
                delay = 0.2
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)
                self._wakeup.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.healthy = False
                self._metrics.relay_errors.inc()
                log.warning("outbox relay: publish failed, retrying in %.1fs: %r", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _drain(self) -> None:
        while await self._publish_batch() == self._batch_size:
            pass

    async def _publish_batch(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, event_id, routing_key, correlation_id, body FROM outbox"
                " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            await asyncio.gather(
                *(
                    self._exchange.publish(
                        amqp_message(
                            r["event_id"],
                            r["routing_key"],
                            r["correlation_id"],
                            r["body"],
                            self._service,
                        ),
                        routing_key=r["routing_key"],
                        timeout=PUBLISH_TIMEOUT,
                    )
                    for r in rows
                )
            )
            await conn.execute(
                "DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        for r in rows:
            self._metrics.published.labels(r["routing_key"]).inc()
        return len(rows)
