"""Fortnox's rate limit (a sliding window per access token) and the traffic statistics behind it.

Admission: a request is let through when fewer than `limit` requests of the same token were let
through in the last `window` seconds; otherwise it gets 429. Refused requests do not use up the
budget, so a client that waits for the window to slide is served again.

Observation: every request the emulator receives with a token is recorded, refused ones
included, and `max_in_window` keeps the most requests seen within any one window (counted, on
each arrival, over (t - window, t]). That is the number a test compares with 25 to prove a client
never overran the limit, whatever the emulator itself answered.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class TokenTraffic:
    requests: int = 0
    rejected_429: int = 0
    max_in_window: int = 0
    seen: deque[float] = field(default_factory=deque)
    admitted: deque[float] = field(default_factory=deque)

    def to_json(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "rejected_429": self.rejected_429,
            "max_in_window": self.max_in_window,
        }


def _slide(times: deque[float], now: float, window: float) -> None:
    while times and times[0] <= now - window:
        times.popleft()


class RateLimiter:
    def __init__(
        self,
        limit: int | None,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self.tokens: dict[str, TokenTraffic] = {}
        self.routes: Counter[str] = Counter()

    def reset(self) -> None:
        self.tokens.clear()
        self.routes.clear()

    def count_route(self, route: str) -> None:
        self.routes[route] += 1

    def admit(self, token: str) -> bool:
        """Record a request of `token`; answers whether it is within the limit."""
        now = self._clock()
        traffic = self.tokens.setdefault(token, TokenTraffic())
        traffic.requests += 1
        traffic.seen.append(now)
        _slide(traffic.seen, now, self.window_seconds)
        traffic.max_in_window = max(traffic.max_in_window, len(traffic.seen))
        _slide(traffic.admitted, now, self.window_seconds)
        if self.limit is not None and len(traffic.admitted) >= self.limit:
            return False
        traffic.admitted.append(now)
        return True

    def count_429(self, token: str) -> None:
        """Any 429 a token got, from the limit or from an injected fault."""
        self.tokens.setdefault(token, TokenTraffic()).rejected_429 += 1

    def stats(self) -> dict[str, Any]:
        return {
            "tokens": {token: traffic.to_json() for token, traffic in self.tokens.items()},
            "max_in_window": max((t.max_in_window for t in self.tokens.values()), default=0),
            "requests_by_route": dict(self.routes),
            "rate_limit": self.limit,
            "rate_window_seconds": self.window_seconds,
        }


limiter_key = web.AppKey("fortnox_rate_limiter", RateLimiter)
