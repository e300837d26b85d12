"""A request budget shared by every process that uses one ERP credential, kept in PostgreSQL.

Fortnox allows 25 requests per 5 s sliding window per access token, and every process sharing
the token shares that budget, so a per-process limiter is not enough. Each request first takes
a slot: under an advisory lock (one bucket at a time across all processes) the slots taken in
the last `window` seconds are counted by the database's clock; below the limit a slot is taken
at once, otherwise the caller sleeps until the oldest slot leaves the window. `margin` widens
the window a little because requests reach the ERP a few milliseconds after taking their slot.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg

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


class SharedRateLimiter:
    def __init__(
        self, pool: asyncpg.Pool, bucket: str, limit: int, window: float, margin: float = 0.3
    ) -> None:
        self._pool = pool
        self._bucket = bucket
        self._limit = limit
        self._window = timedelta(seconds=window + margin)
        self.waited = 0.0

    async def acquire(self) -> None:
        while True:
            wait = await self._try_take()
            if wait <= 0:
                return
            self.waited += wait
            await asyncio.sleep(wait)

    async def _try_take(self) -> float:
        """Take a slot (returns 0) or say how long to wait before trying again."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"rate:{self._bucket}")
            row = await conn.fetchrow(
                "SELECT clock_timestamp() AS now, count(*) AS taken, min(taken_at) AS oldest"
                " FROM ordreflyt_erp.rate_limit_slots WHERE bucket = $1 AND taken_at > clock_timestamp() - $2::interval",
                self._bucket,
                self._window,
            )
            assert row is not None
            if row["taken"] < self._limit:
                await conn.execute(
                    "INSERT INTO ordreflyt_erp.rate_limit_slots (bucket, taken_at) VALUES ($1, clock_timestamp())",
                    self._bucket,
                )
                if row["taken"] == 0:
                    # Forget slots that left the window long ago (cheap, and only when idle-ish).
                    await conn.execute(
                        "DELETE FROM ordreflyt_erp.rate_limit_slots WHERE bucket = $1 AND taken_at < $2",
                        self._bucket,
                        row["now"] - self._window * 2,
                    )
                return 0.0
            free_at = row["oldest"] + self._window
            wait: float = (free_at - row["now"]).total_seconds()
            return max(0.01, wait)

    async def penalise(self) -> None:
        """After a 429 the ERP's window is full whatever we counted: wait a whole window."""
        log.warning(
            "ERP answered 429; waiting %.1fs for the window to clear", self._window.total_seconds()
        )
        self.waited += self._window.total_seconds()
        await asyncio.sleep(self._window.total_seconds())
