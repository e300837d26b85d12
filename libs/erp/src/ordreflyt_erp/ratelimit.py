"""A request budget shared by every process that uses one ERP credential, kept in PostgreSQL.

Fortnox allows 25 requests per 5 s sliding window per access token, and every process sharing
the token shares that budget, so a per-process limiter is not enough. Each request first takes
a slot: under an advisory lock (one bucket at a time across all processes) the slots taken in
the last `window` seconds are counted by the database's clock; below the limit a slot is taken
at once, otherwise the caller sleeps until the oldest slot leaves the window. `margin` widens
the window a little because requests reach the ERP a few milliseconds after taking their slot.

Priorities: every caller says what it is (`Priority`): order and customer writes (WRITE) go
before the fulfillment watcher's polls (WATCH), which go before stock and article reads
(STOCK). A caller that has to wait registers in `rate_limit_waiters` (its priority, `seen_at`
refreshed on every try, the row removed when it gets its slot or gives up), and no caller takes
a slot while a caller of a higher priority is registered for the same bucket, in any process.
So a poll or a stock pass delays a waiting write by at most the slot it was already taking when
the write began to wait (for concurrent lower-priority requests: the ones whose transaction was
already under way). A registration not refreshed for two windows (at least 1 s; its process
died) is ignored, and removed by the next caller that gets its slot after waiting. Cheap paths
stay cheap: a WRITE with budget free is the one transaction it always was (it never reads the
waiters), lower priorities with budget free add one subquery to it, and the lowest priority
never registers (nobody waits for it). Within one priority there is no order.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from datetime import timedelta

import asyncpg

from ordreflyt_runtime.db import DbConn

log = logging.getLogger(__name__)

MIGRATION = (
    "erp/001_rate_limit",
    """
    CREATE TABLE rate_limit_slots (
        bucket text NOT NULL,
        taken_at timestamptz NOT NULL
    );
    CREATE INDEX rate_limit_slots_bucket ON rate_limit_slots (bucket, taken_at);
    """,
)


class Priority(enum.IntEnum):
    """Who goes first for a shared budget: a higher value goes first."""

    STOCK = 1  # stock and article reads
    WATCH = 2  # the fulfillment watcher's polls
    WRITE = 3  # order and customer writes


WAITERS_MIGRATION = (
    "erp/003_rate_limit_waiters",
    """
    CREATE TABLE rate_limit_waiters (
        waiter uuid PRIMARY KEY,
        bucket text NOT NULL,
        priority int NOT NULL,
        seen_at timestamptz NOT NULL
    );
    CREATE INDEX rate_limit_waiters_bucket ON rate_limit_waiters (bucket, priority);
    """,
)

# Everything the limiter needs, in order (a client lists these among its shared migrations).
MIGRATIONS = (MIGRATION, WAITERS_MIGRATION)

# How soon a caller that let a higher-priority waiter go first looks again when the budget had
# room (that waiter is about to take it).
STAND_ASIDE_POLL = 0.05

_HIGHEST = max(Priority)
_LOWEST = min(Priority)

_COUNT = (
    "SELECT clock_timestamp() AS now, count(*) AS taken, min(taken_at) AS oldest,"
    " false AS outranked"
    " FROM ordreflyt_erp.rate_limit_slots"
    " WHERE bucket = $1 AND taken_at > clock_timestamp() - $2::interval"
)
_COUNT_AND_OUTRANKED = (
    "SELECT clock_timestamp() AS now, count(*) AS taken, min(taken_at) AS oldest,"
    " EXISTS (SELECT 1 FROM ordreflyt_erp.rate_limit_waiters"
    "  WHERE bucket = $1 AND priority > $3 AND seen_at > clock_timestamp() - $4::interval)"
    " AS outranked"
    " FROM ordreflyt_erp.rate_limit_slots"
    " WHERE bucket = $1 AND taken_at > clock_timestamp() - $2::interval"
)


class SharedRateLimiter:
    def __init__(
        self, pool: asyncpg.Pool, bucket: str, limit: int, window: float, margin: float = 0.3
    ) -> None:
        self._pool = pool
        self._bucket = bucket
        self._limit = limit
        self._window = timedelta(seconds=window + margin)
        # A waiter refreshes its row at least once a window (no wait is longer), so a row
        # older than two (and than a second, for tiny windows) has no live waiter behind it.
        self._stale = max(self._window * 2, timedelta(seconds=1))
        # Per process, for metrics: seconds waited (all, and by priority), acquires that had to
        # wait, and tries that found room but let a higher-priority waiter go first.
        self.waited = 0.0
        self.waited_by: dict[Priority, float] = dict.fromkeys(Priority, 0.0)
        self.waits: dict[Priority, int] = dict.fromkeys(Priority, 0)
        self.stood_aside: dict[Priority, int] = dict.fromkeys(Priority, 0)

    async def acquire(self, priority: Priority = Priority.WRITE) -> None:
        """Take a slot: at once if the budget has room and no caller of a higher priority is
        waiting (in any process), else when it does."""
        priority = Priority(priority)
        waiter = uuid.uuid4()
        registered = False  # our row is in rate_limit_waiters
        tries = 0
        try:
            while True:
                wait = await self._try_take(priority, waiter, registered)
                if wait <= 0:
                    registered = False  # removed by the transaction that took the slot
                    return
                tries += 1
                if tries == 1:
                    self.waits[priority] += 1
                registered = priority > _LOWEST
                self.waited += wait
                self.waited_by[priority] += wait
                await asyncio.sleep(wait)
        finally:
            if registered:  # cancelled or failed while waiting
                await self._forget(waiter)

    async def _try_take(self, priority: Priority, waiter: uuid.UUID, registered: bool) -> float:
        """Take a slot (returns 0) or register as waiting and say how long to wait before
        trying again."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"rate:{self._bucket}")
            if priority == _HIGHEST:
                row = await conn.fetchrow(_COUNT, self._bucket, self._window)
            else:
                row = await conn.fetchrow(
                    _COUNT_AND_OUTRANKED, self._bucket, self._window, int(priority), self._stale
                )
            assert row is not None
            room = row["taken"] < self._limit
            if room and not row["outranked"]:
                await self._take(conn, waiter if registered else None, idle=row["taken"] == 0)
                return 0.0
            if priority > _LOWEST:
                await conn.execute(
                    "INSERT INTO ordreflyt_erp.rate_limit_waiters (waiter, bucket, priority, seen_at)"
                    " VALUES ($1, $2, $3, clock_timestamp())"
                    " ON CONFLICT (waiter) DO UPDATE SET seen_at = excluded.seen_at",
                    waiter,
                    self._bucket,
                    int(priority),
                )
            if room:
                self.stood_aside[priority] += 1
                return STAND_ASIDE_POLL
            free_at = row["oldest"] + self._window
            wait: float = (free_at - row["now"]).total_seconds()
            return max(0.01, wait)

    async def _take(self, conn: DbConn, waiter: uuid.UUID | None, idle: bool) -> None:
        await conn.execute(
            "INSERT INTO ordreflyt_erp.rate_limit_slots (bucket, taken_at) VALUES ($1, clock_timestamp())",
            self._bucket,
        )
        if waiter is not None:
            # Our registration, and any a dead process left behind.
            await conn.execute(
                "DELETE FROM ordreflyt_erp.rate_limit_waiters"
                " WHERE waiter = $1 OR (bucket = $2 AND seen_at < clock_timestamp() - $3::interval)",
                waiter,
                self._bucket,
                self._stale,
            )
        if idle:
            # Forget slots that left the window long ago (cheap, and only when idle-ish).
            await conn.execute(
                "DELETE FROM ordreflyt_erp.rate_limit_slots"
                " WHERE bucket = $1 AND taken_at < clock_timestamp() - $2::interval",
                self._bucket,
                self._window * 2,
            )

    async def _forget(self, waiter: uuid.UUID) -> None:
        try:
            async with self._pool.acquire() as conn:
                await conn.execute(
                    "DELETE FROM ordreflyt_erp.rate_limit_waiters WHERE waiter = $1", waiter
                )
        except Exception:
            # Left behind, the row is ignored once stale.
            log.warning(
                "could not remove a rate limit waiter; it is ignored after %.1fs",
                self._stale.total_seconds(),
                exc_info=True,
            )

    async def penalise(self) -> None:
        """After a 429 the ERP's window is full whatever we counted: wait a whole window."""
        log.warning(
            "ERP answered 429; waiting %.1fs for the window to clear", self._window.total_seconds()
        )
        self.waited += self._window.total_seconds()
        await asyncio.sleep(self._window.total_seconds())
