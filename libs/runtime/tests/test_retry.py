"""`attempts`: a bounded number of tries with growing delays, the last error raised."""

from __future__ import annotations

import logging

import pytest
from tenacity import AsyncRetrying

from ordreflyt_runtime.retry import attempts


class Flaky(Exception):
    pass


class Fatal(Exception):
    pass


def recording(retrying: AsyncRetrying) -> tuple[AsyncRetrying, list[float]]:
    """The same retrying with its sleeps recorded instead of slept."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return retrying.copy(sleep=sleep), slept


async def test_a_call_that_fails_then_works_is_tried_again_with_doubling_delays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    retrying, slept = recording(attempts("fetching the thing", Flaky, tries=5))
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Flaky(f"try {calls}")
        return "done"

    with caplog.at_level(logging.WARNING, logger="ordreflyt_runtime.retry"):
        assert await retrying(call) == "done"
    assert calls == 3
    assert slept == [0.5, 1.0]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert warnings[0].startswith("fetching the thing failed (Flaky('try 1'))")


async def test_after_the_last_try_the_last_error_is_raised() -> None:
    retrying, slept = recording(attempts("x", (Flaky, TimeoutError), tries=4, first=0.25))
    raised: list[BaseException] = []

    async def call() -> None:
        error = Flaky(len(raised)) if len(raised) % 2 == 0 else TimeoutError(len(raised))
        raised.append(error)
        raise error

    with pytest.raises(TimeoutError) as caught:
        await retrying(call)
    assert len(raised) == 4
    assert caught.value is raised[-1]
    assert slept == [0.25, 0.5, 1.0]


async def test_one_try_means_no_retry() -> None:
    retrying, slept = recording(attempts("x", Flaky, tries=1))
    calls = 0

    async def run() -> None:  # the `async for` form, as the services use it
        nonlocal calls
        async for attempt in retrying:
            with attempt:
                calls += 1
                raise Flaky

    with pytest.raises(Flaky):
        await run()
    assert calls == 1
    assert slept == []


async def test_an_error_not_listed_is_raised_at_once() -> None:
    retrying, slept = recording(attempts("x", Flaky, tries=5))
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise Fatal("no")

    with pytest.raises(Fatal):
        await retrying(call)
    assert calls == 1
    assert slept == []


async def test_the_delay_stops_growing_at_the_ceiling() -> None:
    retrying, slept = recording(attempts("x", Flaky, tries=7, first=0.5, ceiling=2.0))

    async def call() -> None:
        raise Flaky

    with pytest.raises(Flaky):
        await retrying(call)
    assert slept == [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]


def test_fewer_than_one_try_is_refused() -> None:
    with pytest.raises(ValueError, match="tries must be at least 1"):
        attempts("x", Flaky, tries=0)
