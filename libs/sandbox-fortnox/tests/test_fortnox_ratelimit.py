"""The sliding-window rate limit per access token, and what the stats report about it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ordreflyt_sandbox_fortnox.ratelimit import RateLimiter

if TYPE_CHECKING:
    from conftest import FortnoxFactory

TOKEN = "sandbox-token"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_and_refusals_do_not_use_up_the_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, clock)
    assert limiter.admit("t")
    clock.now = 0.5
    assert limiter.admit("t")
    clock.now = 0.9
    assert not limiter.admit("t")
    # At t=1.0 the request of t=0 has left the window (t - 1.0, t].
    clock.now = 1.0
    assert limiter.admit("t")
    assert limiter.stats()["tokens"]["t"] == {"requests": 4, "rejected_429": 0, "max_in_window": 3}


def test_max_in_window_counts_requests_seen_not_requests_let_through() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, 5.0, clock)
    for i in range(30):
        clock.now = i * 0.1
        assert limiter.admit("t")
    clock.now = 100.0
    limiter.admit("t")
    assert limiter.stats()["max_in_window"] == 30


async def test_the_26th_request_within_five_seconds_gets_429(start_fortnox: FortnoxFactory) -> None:
    fortnox = await start_fortnox()  # Fortnox's own numbers: 25 per 5 s
    statuses = [(await fortnox.get("/3/articles", limit="1"))[0] for _ in range(26)]
    assert statuses == [200] * 25 + [429]
    _, stats = await fortnox.as_token(None).get("/_sandbox/stats")
    assert stats["tokens"][TOKEN] == {"requests": 26, "rejected_429": 1, "max_in_window": 26}
    assert stats["max_in_window"] == 26
    assert stats["requests_by_route"]["GET /3/articles"] == 26

    status, body = await fortnox.get("/3/articles")
    assert status == 429
    assert body == {
        "ErrorInformation": {"error": 1, "message": "Too many requests", "code": 2003429}
    }


async def test_429_carries_no_retry_after(start_fortnox: FortnoxFactory) -> None:
    fortnox = await start_fortnox(rate_limit=1)
    await fortnox.get("/3/customers")
    async with fortnox.client.get(
        "/3/customers", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as response:
        assert response.status == 429
        assert "Retry-After" not in response.headers


async def test_requests_spread_over_more_than_the_window_all_pass(
    start_fortnox: FortnoxFactory,
) -> None:
    fortnox = await start_fortnox(rate_limit=3, rate_window_seconds=0.3)
    statuses = []
    for _ in range(3):
        for _ in range(3):
            statuses.append((await fortnox.get("/3/customers"))[0])
        await asyncio.sleep(0.35)
    assert statuses == [200] * 9
    _, stats = await fortnox.get("/_sandbox/stats")
    assert stats["tokens"][TOKEN]["max_in_window"] == 3


async def test_each_access_token_has_its_own_budget(start_fortnox: FortnoxFactory) -> None:
    fortnox = await start_fortnox(rate_limit=2, access_tokens=["first", "second"])
    first, second = fortnox.as_token("first"), fortnox.as_token("second")
    assert [(await first.get("/3/customers"))[0] for _ in range(3)] == [200, 200, 429]
    assert [(await second.get("/3/customers"))[0] for _ in range(2)] == [200, 200]
    _, stats = await fortnox.get("/_sandbox/stats")
    assert stats["tokens"]["first"]["rejected_429"] == 1
    assert stats["tokens"]["second"] == {"requests": 2, "rejected_429": 0, "max_in_window": 2}


async def test_an_injected_503_still_counts_as_a_request_seen(
    start_fortnox: FortnoxFactory,
) -> None:
    fortnox = await start_fortnox(rate_limit=3, rate_window_seconds=5)
    status, _ = await fortnox.post("/_sandbox/faults", {"status": 503, "count": 2})
    assert status == 201
    first, second = await fortnox.get("/3/orders"), await fortnox.get("/3/orders")
    assert first[0] == second[0] == 503
    assert first[1]["ErrorInformation"]["code"] == 1000003
    assert (await fortnox.get("/3/orders"))[0] == 200
    # The two faulted requests used the budget as they would have at Fortnox.
    assert (await fortnox.get("/3/orders"))[0] == 429
    _, stats = await fortnox.get("/_sandbox/stats")
    assert stats["tokens"][TOKEN] == {"requests": 4, "rejected_429": 1, "max_in_window": 4}


async def test_an_injected_429_is_counted_as_a_429(start_fortnox: FortnoxFactory) -> None:
    fortnox = await start_fortnox(rate_limit=None)
    await fortnox.post("/_sandbox/faults", {"status": 429, "count": 1})
    status, body = await fortnox.get("/3/orders")
    assert status == 429
    assert body["ErrorInformation"]["message"] == "Too many requests"
    _, stats = await fortnox.get("/_sandbox/stats")
    assert stats["tokens"][TOKEN]["rejected_429"] == 1


async def test_the_limit_can_be_lifted_and_restored_at_runtime(
    start_fortnox: FortnoxFactory,
) -> None:
    fortnox = await start_fortnox(rate_limit=1)
    assert (await fortnox.post("/_sandbox/config", {"rate_limit": None}))[0] == 200
    assert [(await fortnox.get("/3/customers"))[0] for _ in range(5)] == [200] * 5
    _, config = await fortnox.post("/_sandbox/config", {"rate_limit": 5})
    assert config["rate_limit"] == 5
    assert (await fortnox.get("/3/customers"))[0] == 429
    assert (await fortnox.post("/_sandbox/config", {"rate_limit": 0}))[0] == 400
    # A reset brings back the configured limit and empty stats.
    await fortnox.post("/_sandbox/reset")
    _, config = await fortnox.get("/_sandbox/config")
    assert config["rate_limit"] == 1
    _, stats = await fortnox.get("/_sandbox/stats")
    assert stats["tokens"] == {}


async def test_control_routes_are_not_rate_limited(start_fortnox: FortnoxFactory) -> None:
    fortnox = await start_fortnox(rate_limit=1)
    assert [(await fortnox.get("/_sandbox/stats"))[0] for _ in range(5)] == [200] * 5
    _, stats = await fortnox.get("/_sandbox/stats")
    assert stats["tokens"] == {}
