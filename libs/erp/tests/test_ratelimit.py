"""The request budget shared through PostgreSQL by every process using one ERP credential, and
its priorities (a waiting write first, then the watcher's polls, then stock reads).

Each "process" is a limiter with a pool of its own. Orders of events are asserted, not
durations: `events` is one list the takers append to as they get their slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import asyncpg
import pytest

from ordreflyt_erp.ratelimit import MIGRATIONS, Priority, SharedRateLimiter
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_testkit.helpers import wait_for

pytestmark = pytest.mark.integration

SCHEMA = "ordreflyt_erp"  # the schema the limiter's SQL names

Pools = Callable[[], Awaitable[asyncpg.Pool]]


@pytest.fixture
async def pools(database_url: str) -> AsyncIterator[Pools]:
    """A new pool per call (one per "process"), on a migrated schema."""
    made: list[asyncpg.Pool] = []

    async def make() -> asyncpg.Pool:
        pool = await create_pool(database_url, SCHEMA)
        made.append(pool)
        return pool

    await migrate(await make(), SCHEMA, MIGRATIONS, runtime_tables=False)
    yield make
    for pool in made:
        await pool.close()


def new_bucket() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def waiters(pool: asyncpg.Pool, bucket: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM ordreflyt_erp.rate_limit_waiters WHERE bucket = $1", bucket
    )


async def keep_taking(
    limiter: SharedRateLimiter, priority: Priority, events: list[str], label: str
) -> None:
    """A stock pass (or a poll) that never ends: one slot after the other."""
    while True:
        await limiter.acquire(priority)
        events.append(label)


async def next_event(events: list[str], label: str) -> None:
    """Returns once `events` has one more `label` than now."""
    before = events.count(label)
    await wait_for(
        lambda: _true(events.count(label) > before), interval=0.005, what=f"another {label}"
    )


async def _true(value: bool) -> bool:
    return value


def between(events: list[str], start: str, end: str, label: str) -> int:
    """How many `label` events come after `start` and before `end`."""
    first, last = events.index(start), events.index(end)
    assert first < last
    return events[first:last].count(label)


@contextlib.asynccontextmanager
async def running(*coroutines: Awaitable[None]) -> AsyncIterator[None]:
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_shared_limiter_never_allows_more_than_the_limit_in_a_window(pools: Pools) -> None:
    # Two "processes" (separate pools and limiters) share one bucket: 5 per 0.5 s.
    bucket = new_bucket()
    limiters = [SharedRateLimiter(await pools(), bucket, 5, 0.5, margin=0.0) for _ in range(2)]
    stamps: list[float] = []
    loop = asyncio.get_running_loop()

    async def take(limiter: SharedRateLimiter, priority: Priority) -> None:
        await limiter.acquire(priority)
        stamps.append(loop.time())

    await asyncio.gather(*(take(limiters[i % 2], Priority(1 + i % 3)) for i in range(20)))
    stamps.sort()
    worst = max(sum(1 for t in stamps if s <= t < s + 0.45) for s in stamps)
    assert worst <= 5
    assert stamps[-1] - stamps[0] >= 1.4  # 20 slots at 5 per 0.5 s need at least 3 windows


async def test_a_waiting_write_goes_before_a_running_stock_pass(pools: Pools) -> None:
    bucket = new_bucket()
    stock = SharedRateLimiter(await pools(), bucket, 2, 1.0, margin=0.0)
    writer = SharedRateLimiter(await pools(), bucket, 2, 1.0, margin=0.0)
    events: list[str] = []
    async with running(keep_taking(stock, Priority.STOCK, events, "stock")):
        for n in range(3):
            # Each write starts right after a stock slot, while the pass keeps the budget full.
            await next_event(events, "stock")
            events.append(f"write {n} waits")
            await writer.acquire(Priority.WRITE)
            events.append(f"write {n}")
    for n in range(3):
        # At most the stock slot already being taken when the write began to wait.
        assert between(events, f"write {n} waits", f"write {n}", "stock") <= 1, events
    assert writer.waits[Priority.WRITE] >= 2  # the budget was full: the writes did wait
    assert await waiters(await pools(), bucket) == []


async def test_waiting_callers_go_in_priority_order(pools: Pools) -> None:
    bucket = new_bucket()
    stock = SharedRateLimiter(await pools(), bucket, 1, 1.0, margin=0.0)
    watcher = SharedRateLimiter(await pools(), bucket, 1, 1.0, margin=0.0)
    writer = SharedRateLimiter(await pools(), bucket, 1, 1.0, margin=0.0)
    events: list[str] = []

    async def take(limiter: SharedRateLimiter, priority: Priority, label: str) -> None:
        await limiter.acquire(priority)
        events.append(label)

    pool = await pools()
    async with running(keep_taking(stock, Priority.STOCK, events, "stock")):
        await next_event(events, "stock")
        # The watcher starts waiting first, the write after it: the write still goes first.
        watch = asyncio.ensure_future(take(watcher, Priority.WATCH, "watch"))
        await wait_for(lambda: waiters(pool, bucket), what="the watcher waiting")
        events.append("both wait")
        write = asyncio.ensure_future(take(writer, Priority.WRITE, "write"))
        await asyncio.gather(watch, write)
    assert events.index("write") < events.index("watch"), events
    assert between(events, "both wait", "watch", "stock") <= 1, events
    assert await waiters(pool, bucket) == []


async def test_lower_priorities_alone_get_the_full_rate(pools: Pools) -> None:
    # Each in a bucket of its own, 2 per 0.5 s; a write is the pace to keep.
    events: list[str] = []
    limiters = {
        p: SharedRateLimiter(await pools(), new_bucket(), 2, 0.5, margin=0.0) for p in Priority
    }

    async def take(priority: Priority) -> None:
        for n in range(6):
            await limiters[priority].acquire(priority)
            events.append(f"{priority.name} {n}")

    await asyncio.gather(*(take(p) for p in Priority))
    for priority in (Priority.WATCH, Priority.STOCK):
        # Never a window behind the write: its n-th slot before the write's (n + 2)-th.
        for n in range(4):
            assert events.index(f"{priority.name} {n}") < events.index(f"WRITE {n + 2}"), events
        assert limiters[priority].waits[priority] >= 2  # it did use up the budget
        assert limiters[priority].stood_aside[priority] == 0


async def test_a_waiter_of_a_dead_process_stops_counting_after_two_windows(
    pools: Pools,
) -> None:
    bucket = new_bucket()
    pool = await pools()
    limiter = SharedRateLimiter(pool, bucket, 1, 0.2, margin=0.0)  # stale after 1 s
    old, recent = uuid.uuid4(), uuid.uuid4()
    insert = (
        "INSERT INTO ordreflyt_erp.rate_limit_waiters (waiter, bucket, priority, seen_at)"
        " VALUES ($1, $2, $3, clock_timestamp() - $4::interval)"
    )
    await pool.execute(insert, old, bucket, int(Priority.WRITE), timedelta(hours=1))
    # A write waiting an hour ago does not hold anyone up: the slot is taken at once.
    await limiter.acquire(Priority.STOCK)
    assert limiter.waits[Priority.STOCK] == 0
    # One seen just now (its process died since) holds lower priorities up until it is stale.
    await pool.execute(insert, recent, bucket, int(Priority.WRITE), timedelta(0))
    await pool.execute("SELECT pg_sleep(0.25)")  # the slot taken above leaves the window
    async with asyncio.timeout(10):
        await limiter.acquire(Priority.WATCH)
    assert limiter.stood_aside[Priority.WATCH] >= 1
    # The watcher waited, so on getting its slot it cleared both dead rows (and its own).
    assert await waiters(pool, bucket) == []


async def test_a_cancelled_waiter_leaves_no_row(pools: Pools) -> None:
    bucket = new_bucket()
    pool = await pools()
    limiter = SharedRateLimiter(pool, bucket, 1, 60.0, margin=0.0)
    await limiter.acquire(Priority.WRITE)
    waiting = asyncio.ensure_future(limiter.acquire(Priority.WATCH))
    rows = await wait_for(lambda: waiters(pool, bucket), what="the waiter's row")
    assert [r["priority"] for r in rows] == [Priority.WATCH]
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await waiters(pool, bucket) == []
    assert limiter.waits[Priority.WATCH] == 1
