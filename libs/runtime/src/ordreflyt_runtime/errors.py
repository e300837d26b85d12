"""Which failures are a dependency's (wait and try again) and which are the message's own.

A message whose handler fails because the ERP, the shop, the database or the broker is away is
not at fault: it waits (the retry queues, the longest delay repeated) and is never dead-lettered
for it. Any other failure is about the content of that one message: a service that can hold
or park the order does so at once, with the reason, instead of retrying what cannot succeed.
"""

from __future__ import annotations

import asyncio

import aio_pika.exceptions
import aiormq.exceptions
import asyncpg


class Unavailable(Exception):
    """A system Ordreflyt depends on did not answer usefully: try again later."""


_TRANSIENT: tuple[type[BaseException], ...] = (
    Unavailable,
    OSError,  # includes ConnectionError
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # e.g. the connection was closed under us
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.QueryCanceledError,
    aio_pika.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
)


def is_transient(exc: BaseException) -> bool:
    """True when `exc` says a dependency is away rather than that the message is bad."""
    return isinstance(exc, _TRANSIENT)
