"""The request budget shared through PostgreSQL by every process using one ERP credential."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from ordreflyt_erp.fortnox import SHARED_MIGRATIONS, SHARED_SCHEMA
from ordreflyt_erp.ratelimit import SharedRateLimiter
from ordreflyt_runtime.db import create_pool, migrate

pytestmark = pytest.mark.integration


async def test_shared_limiter_never_allows_more_than_the_limit_in_a_window(
    database_url: str,
) -> None:
    pool_a = await create_pool(database_url, SHARED_SCHEMA)
    await migrate(pool_a, SHARED_SCHEMA, SHARED_MIGRATIONS, runtime_tables=False)
    pool_b = await create_pool(database_url, SHARED_SCHEMA)
    # Two "processes" (separate pools and limiters) share one bucket: 5 per 0.5 s.
    bucket = f"test-{uuid.uuid4().hex[:8]}"
    limiters = [SharedRateLimiter(p, bucket, 5, 0.5, margin=0.0) for p in (pool_a, pool_b)]
    stamps: list[float] = []
    loop = asyncio.get_running_loop()

    async def take(limiter: SharedRateLimiter) -> None:
        await limiter.acquire()
        stamps.append(loop.time())

    await asyncio.gather(*(take(limiters[i % 2]) for i in range(20)))
    stamps.sort()
    worst = max(sum(1 for t in stamps if s <= t < s + 0.45) for s in stamps)
    assert worst <= 5
    assert stamps[-1] - stamps[0] >= 1.4  # 20 slots at 5 per 0.5 s need at least 3 windows
    await pool_a.close()
    await pool_b.close()
