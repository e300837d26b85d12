"""How a service is declared: one `ServiceSpec` listing everything it is.

    SPEC = ServiceSpec(
        name="order-mapper",
        default_port=8001,
        config=load_config,                  # (TOML document, environment) -> the service's config
        start=OrderMapperService.running,    # (runtime, config) -> async context of the service
        migrations=MIGRATIONS,               # its schema, from its store module
        subscriptions=[
            on(OrderReceived, OrderMapperService.order_received),
            on(OrderDeleted, OrderMapperService.order_deleted),
        ],
        routes=[get("/holds", OrderMapperService.list_holds)],
    )

- A subscription names the event type a handler takes; the queue's binding keys come from
  those types, nothing else. `on()` is typed so that mypy refuses a handler registered for an
  event type it does not take.
- Handlers, routes and hooks are called with the running service object `S` that `start`
  yields, so they are plain (typed) methods or functions, not closures over app state.
- The runtime starts, in order, the database (migrations), the broker, the outbox relay,
  retention, then the service's own `start` (its clients and background tasks), then the
  consumer; and stops them in reverse. A service cannot get that order wrong.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiohttp import web

from ordreflyt_contracts import Event
from ordreflyt_runtime.consumer import AfterCommit, HandlerContext
from ordreflyt_runtime.db import Migration
from ordreflyt_runtime.retention import RetentionRule
from ordreflyt_runtime.settings import DEFAULT_RETRY_DELAYS_MS
from ordreflyt_runtime.topology import ConsumerQueue

if TYPE_CHECKING:
    from ordreflyt_runtime.service import Runtime

S = TypeVar("S")  # the running service's object, made by `start`
C = TypeVar("C")  # the service's configuration
E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Subscription(Generic[S, E]):
    event: type[E]
    handler: Callable[[S, E, HandlerContext], Awaitable[None]]


def on(
    event: type[E], handler: Callable[[S, E, HandlerContext], Awaitable[None]]
) -> Subscription[S, E]:
    """Handle `event` with `handler(service, event, ctx)`; the queue is bound to its key."""
    return Subscription(event, handler)


RouteHandler = Callable[[S, web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route(Generic[S]):
    method: str
    path: str
    handler: Callable[[S, web.Request], Awaitable[web.StreamResponse]]
    # Needs no operator token: it checks a signature of its own (webhooks, pushes).
    public: bool = False


def get(path: str, handler: Callable[[S, web.Request], Awaitable[web.StreamResponse]]) -> Route[S]:
    return Route("GET", path, handler)


def post(
    path: str,
    handler: Callable[[S, web.Request], Awaitable[web.StreamResponse]],
    *,
    public: bool = False,
) -> Route[S]:
    return Route("POST", path, handler, public)


LoadConfig = Callable[[Mapping[str, Any], Mapping[str, str]], C]
Start = Callable[["Runtime[S, C]", C], AbstractAsyncContextManager[S]]
# A handler failed on a message's content: hold/park its order (see consumer.py).
Hold = Callable[[S, Event, str, HandlerContext], Awaitable[bool]]
# Brings the service's gauges up to date on each /metrics scrape (held, parked, ...).
Scrape = Callable[[S], Awaitable[None]]
# Extra facts for /readyz `details`: shown, they do not make the service unready.
Details = Callable[[S], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class ServiceSpec(Generic[S, C]):
    """What makes a service: everything the runtime needs to run it."""

    name: str
    default_port: int
    config: LoadConfig[C]
    start: Start[S, C]
    migrations: Sequence[Migration] = ()
    subscriptions: Sequence[Subscription[S, Any]] = ()
    routes: Sequence[Route[S]] = ()
    # Handle the messages waiting together, in one transaction (handlers that only touch the
    # database); see consumer.py.
    batch: bool = False
    hold: Hold[S] | None = None
    # The service's own records pruned after an age from [retention] (the inbox always is).
    retention: Sequence[RetentionRule] = ()
    on_scrape: Sequence[Scrape[S]] = ()
    ready_details: Details[S] | None = None
    # intake stays ready while PostgreSQL is away, because it spools deliveries meanwhile.
    ready_without_database: bool = False
    retry_delays_ms: tuple[int, ...] = DEFAULT_RETRY_DELAYS_MS
    after_commit: AfterCommit | None = None

    def queue(self, retry_delays_ms: tuple[int, ...] | None = None) -> ConsumerQueue | None:
        """The service's queue, bound to the keys of the events it subscribes to."""
        if not self.subscriptions:
            return None
        keys = tuple(dict.fromkeys(s.event.routing_key for s in self.subscriptions))
        return ConsumerQueue(
            service=self.name,
            binding_keys=keys,
            retry_delays_ms=retry_delays_ms or self.retry_delays_ms,
        )


def no_config(document: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """For a service (or a test's probe) that reads no business config."""
    return None


@contextlib.asynccontextmanager
async def stateless(runtime: Runtime[None, Any], config: object) -> AsyncIterator[None]:
    """For a service whose handlers need nothing but their messages and the database."""
    yield None
