"""When passes run: the schedule after the last pass of any replica, and one debounced pass
for a burst of ERP signals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from ordreflyt_stock_syncer.config import StockConfig
from ordreflyt_stock_syncer.syncer import Scheduler


class FakePool:
    def __init__(self, last_pass_age: float | None) -> None:
        self.age = last_pass_age

    async def fetchrow(self, query: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        last = None if self.age is None else now - timedelta(seconds=self.age)
        return {"last": last, "now": now}


class FakeSyncer:
    def __init__(self) -> None:
        self.triggers: list[str] = []

    async def run_pass(self, trigger: str) -> dict[str, Any]:
        self.triggers.append(trigger)
        return {}


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    await scheduler.stop(task, timeout=1.0)


async def test_a_burst_of_signals_makes_one_pass_after_the_debounce() -> None:
    syncer = FakeSyncer()
    scheduler = Scheduler(
        cast(Any, syncer), cast(Any, FakePool(last_pass_age=1.0)), StockConfig(debounce=0.2)
    )
    task = asyncio.create_task(scheduler.run())
    for _ in range(5):
        scheduler.poke("erp-order.created")
        await asyncio.sleep(0.02)
    assert syncer.triggers == []
    await asyncio.sleep(0.4)
    await scheduler.stop(task, timeout=1.0)
    assert syncer.triggers == ["erp-order.created"]


async def test_the_first_pass_runs_at_start_and_a_recent_one_elsewhere_defers_it() -> None:
    syncer = FakeSyncer()
    await run_for(Scheduler(cast(Any, syncer), cast(Any, FakePool(None)), StockConfig()), 0.1)
    assert syncer.triggers == ["schedule"]
    syncer = FakeSyncer()
    recent = FakePool(last_pass_age=10.0)  # another replica passed 10 s ago
    await run_for(Scheduler(cast(Any, syncer), cast(Any, recent), StockConfig(interval=300)), 0.1)
    assert syncer.triggers == []
