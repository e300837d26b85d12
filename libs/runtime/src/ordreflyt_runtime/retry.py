"""The one way Ordreflyt waits and tries again (tenacity): growing delays with a ceiling, a
warning per failed try, and a deadline, a number of tries or no end (`_retrying` builds each).

- `until_ready(what, timeout, errors)`: at start, for a dependency that may still be starting
  (the broker, the database): tries until it answers or `timeout` passes, then raises the last
  error.
- `forever(what, errors, on_failure)`: for a loop that must never give up (the outbox relay):
  tries again after each failure, the delay growing to the ceiling and back to the start after
  a success.
- `attempts(what, errors, tries)`: for one call that may fail now and then (an HTTP request):
  at most `tries` tries in all, `first` seconds before the second and twice as long before
  each next one (up to `ceiling`), then raises the last error. Errors not in `errors` are
  raised at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_never,
    wait_exponential,
)
from tenacity.stop import StopBaseT

log = logging.getLogger(__name__)

Errors = type[BaseException] | tuple[type[BaseException], ...]


def _warn(
    what: str, on_failure: Callable[[BaseException], None] | None = None
) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if error is not None and on_failure is not None:
            on_failure(error)
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s failed (%r), trying again in %.1fs", what, error, delay)

    return before_sleep


def _retrying(
    what: str,
    errors: Errors,
    stop: StopBaseT,
    first: float,
    ceiling: float,
    on_failure: Callable[[BaseException], None] | None = None,
) -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception_type(errors),
        wait=wait_exponential(multiplier=first, max=ceiling),
        stop=stop,
        before_sleep=_warn(what, on_failure),
        reraise=True,
    )


def until_ready(
    what: str, timeout: float, errors: Errors, first: float = 0.5, ceiling: float = 5.0
) -> AsyncRetrying:
    return _retrying(what, errors, stop_after_delay(timeout), first, ceiling)


def forever(
    what: str,
    errors: Errors = Exception,
    on_failure: Callable[[BaseException], None] | None = None,
    first: float = 0.2,
    ceiling: float = 5.0,
) -> AsyncRetrying:
    return _retrying(what, errors, stop_never, first, ceiling, on_failure)


def attempts(
    what: str, errors: Errors, tries: int, first: float = 0.5, ceiling: float = 30.0
) -> AsyncRetrying:
    if tries < 1:
        raise ValueError(f"tries must be at least 1, got {tries}")
    return _retrying(what, errors, stop_after_attempt(tries), first, ceiling)
