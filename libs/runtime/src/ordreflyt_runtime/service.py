"""The one bootstrap every service uses: an aiohttp app whose `cleanup_ctx` owns the database
pool, the broker connection, the outbox relay, retention, the service's own resources (its
spec's `start`) and the consumer, plus the health and metrics endpoints. A service is declared
by a `ServiceSpec` (spec.py); its `__main__` is `run_service(SPEC)`.

Start: settings are read (a bad one stops the process with a message naming it), PostgreSQL and
RabbitMQ are waited for (up to STARTUP_TIMEOUT), migrations applied, the topology declared.
Stop (SIGTERM): HTTP stops accepting, the consumer stops taking messages and lets in-flight ones
finish, the relay flushes the outbox, connections close, exit 0.

Every service also gets: operator routes guarded by OPERATOR_TOKEN and errors answered with a
reason (http.py); its DLQ listed and replayed (`GET /dlq`, `POST /dlq/replay`); the depth of
its DLQ and of `ordreflyt.unrouted` as metrics; old inbox rows (and the service's own records,
`ServiceSpec.retention`) pruned after the ages in `[retention]` (retention.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

import aio_pika
import asyncpg
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ordreflyt_runtime import dlq
from ordreflyt_runtime.config import section
from ordreflyt_runtime.consumer import Consumer
from ordreflyt_runtime.db import create_pool, migrate, schema_name, wait_for_database
from ordreflyt_runtime.http import (
    error_response,
    json_response,
    no_bare_errors,
    operator_auth,
    public,
)
from ordreflyt_runtime.logs import setup_logging
from ordreflyt_runtime.metrics import Metrics
from ordreflyt_runtime.outbox import OutboxRelay, OutboxRow
from ordreflyt_runtime.retention import INBOX_RULE, Pruner, RetentionConfig
from ordreflyt_runtime.retry import until_ready
from ordreflyt_runtime.settings import ServiceSettings, SettingsError, load_toml, redact_url
from ordreflyt_runtime.spec import C, Route, S, ServiceSpec
from ordreflyt_runtime.topology import UNROUTED_QUEUE, ConsumerQueue, declare_exchanges

log = logging.getLogger(__name__)


@dataclass
class Runtime(Generic[S, C]):
    """The shared resources of a running service, available to its routes and handlers."""

    spec: ServiceSpec[S, C]
    settings: ServiceSettings
    config: C
    # The whole TOML document (for what the runtime itself reads: [retention]).
    document: Mapping[str, Any]
    metrics: Metrics
    pool: asyncpg.Pool | None = None
    connection: AbstractRobustConnection | None = None
    exchange: AbstractExchange | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    pruner: Pruner | None = None
    service: S | None = None
    started: bool = False

    @property
    def queue(self) -> ConsumerQueue | None:
        """The service's queue, with the retry delays of its settings (RETRY_DELAYS_MS)."""
        return self.spec.queue(self.settings.retry_delays_ms)

    @property
    def running(self) -> S:
        """The service's own object (what its spec's `start` made)."""
        assert self.started, "the service has not started"
        return self.service  # type: ignore[return-value]  # S itself may be None

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "database not started"
        return self.pool

    def outbox_written(self, rows: Sequence[OutboxRow] = ()) -> None:
        """After a commit that wrote to the outbox: the relay publishes `rows` from memory, or
        reads the table at once when the rows are not at hand."""
        if self.relay is None:
            return
        if rows:
            self.relay.hand_over(rows)
        else:
            self.relay.wake()


runtime_key = web.AppKey("runtime", Runtime[Any, Any])


async def connect_broker(url: str, timeout: float) -> AbstractRobustConnection:
    errors = (OSError, aio_pika.exceptions.AMQPError)
    try:
        async for attempt in until_ready("reaching RabbitMQ", timeout, errors):
            with attempt:
                return await aio_pika.connect_robust(
                    url, client_properties={"connection_name": "ordreflyt"}
                )
    except errors as exc:
        raise ConnectionError(
            f"AMQP_URL: cannot reach RabbitMQ at {redact_url(url)}: {exc}"
        ) from exc
    raise AssertionError("unreachable")


async def _database(app: web.Application) -> AsyncIterator[None]:
    rt = app[runtime_key]
    schema = schema_name(rt.spec.name)
    await wait_for_database(rt.settings.database_url, rt.settings.startup_timeout)
    rt.pool = await create_pool(rt.settings.database_url, schema, max_size=rt.settings.db_pool_size)
    await migrate(rt.pool, schema, rt.spec.migrations)
    yield
    await rt.pool.close()


async def _broker_ctx(app: web.Application) -> AsyncIterator[None]:
    rt = app[runtime_key]
    rt.connection = await connect_broker(rt.settings.amqp_url, rt.settings.startup_timeout)
    channel = await rt.connection.channel(publisher_confirms=True)
    rt.exchange = await declare_exchanges(channel)
    yield
    await rt.connection.close()


async def _relay(app: web.Application) -> AsyncIterator[None]:
    rt = app[runtime_key]
    assert rt.exchange is not None
    rt.relay = OutboxRelay(rt.db, rt.exchange, rt.metrics, rt.spec.name)
    rt.relay.start()
    yield
    await rt.relay.stop(flush_timeout=rt.settings.shutdown_timeout)


async def _service(app: web.Application) -> AsyncIterator[None]:
    rt = app[runtime_key]
    async with rt.spec.start(rt, rt.config) as service:
        rt.service, rt.started = service, True
        try:
            yield
        finally:
            rt.started = False


async def _consumer(app: web.Application) -> AsyncIterator[None]:
    rt = app[runtime_key]
    queue = rt.queue
    if queue is None:
        yield
        return
    assert rt.connection is not None
    service = rt.running
    hold = rt.spec.hold
    rt.consumer = Consumer(
        queue,
        {sub.event: functools.partial(sub.handler, service) for sub in rt.spec.subscriptions},
        rt.db,
        rt.metrics,
        prefetch=rt.settings.prefetch,
        on_outbox_written=rt.outbox_written,
        after_commit=rt.spec.after_commit,
        batch=rt.spec.batch,
        hold=functools.partial(hold, service) if hold is not None else None,
    )
    await rt.consumer.start(rt.connection)
    yield
    await rt.consumer.stop(timeout=rt.settings.shutdown_timeout)


async def _retention(app: web.Application) -> AsyncIterator[None]:
    rt = app[runtime_key]
    rules = [*((INBOX_RULE,) if rt.spec.subscriptions else ()), *rt.spec.retention]
    if not rules:
        yield
        return
    config = section(rt.document, "retention", RetentionConfig)
    rt.pruner = Pruner(rt.db, schema_name(rt.spec.name), rules, config)
    rt.pruner.start()
    yield
    await rt.pruner.stop()


async def livez(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[runtime_key].spec.name})


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[runtime_key]
    checks = await _checks(rt)
    ignored = {"database", "outbox_relay"} if rt.spec.ready_without_database else set()
    ready = all(v == "ok" for k, v in checks.items() if k not in ignored)
    body: dict[str, Any] = {
        "status": "ready" if ready else "not ready",
        "service": rt.spec.name,
        "checks": checks,
    }
    if rt.spec.ready_details is not None and rt.started:
        try:
            body["details"] = await asyncio.wait_for(rt.spec.ready_details(rt.running), 3.0)
        except Exception as exc:
            body["details"] = {"error": f"not available: {exc!r}"}
    return json_response(body, status=200 if ready else 503)


async def _database_answers(rt: Runtime[Any, Any]) -> None:
    """SELECT 1 on a pool connection, or, when every one is busy with work (handlers waiting
    for a rate-limited ERP inside their transactions, say), on a connection of its own: a busy
    pool is load, not an unreachable database, and must not make the service unready."""
    pool = rt.db
    if pool.get_idle_size() > 0 or pool.get_size() < pool.get_max_size():
        await pool.fetchval("SELECT 1")
        return
    conn = await asyncpg.connect(rt.settings.database_url)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


async def _checks(rt: Runtime[Any, Any]) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(_database_answers(rt), 2.0)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {exc!r}"
    broker_up = rt.connection is not None and not rt.connection.is_closed
    checks["broker"] = "ok" if broker_up else "unreachable"
    if rt.relay is not None:
        checks["outbox_relay"] = (
            "ok"
            if rt.relay.running and rt.relay.healthy
            else "failing"
            if rt.relay.running
            else "stopped"
        )
    if rt.spec.subscriptions:
        checks["consumer"] = "ok" if rt.consumer is not None and rt.consumer.running else "stopped"
    return checks


async def metrics(request: web.Request) -> web.Response:
    rt = request.app[runtime_key]
    hooks: list[Awaitable[None]] = [_scrape_runtime(rt)]
    if rt.started:
        hooks += [hook(rt.running) for hook in rt.spec.on_scrape]
    for result in await asyncio.gather(
        *(asyncio.wait_for(h, 3.0) for h in hooks), return_exceptions=True
    ):
        if isinstance(result, BaseException):
            log.warning("a metric could not be brought up to date: %r", result)
    return web.Response(
        body=generate_latest(rt.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def _scrape_runtime(rt: Runtime[Any, Any]) -> None:
    if rt.relay is not None:
        rt.metrics.outbox_backlog.set(await rt.relay.backlog())
    if rt.connection is None or rt.connection.is_closed:
        return
    rt.metrics.unrouted_depth.set(await dlq.depth(rt.connection, UNROUTED_QUEUE))
    if rt.queue is not None:
        rt.metrics.dlq_depth.labels(rt.queue.dlq).set(await dlq.depth(rt.connection, rt.queue.dlq))


def _broker(request: web.Request) -> tuple[Runtime[Any, Any], ConsumerQueue]:
    rt = request.app[runtime_key]
    if rt.queue is None or rt.connection is None:
        raise web.HTTPNotFound(
            text='{"error": "this service consumes no queue", "status": 404}',
            content_type="application/json",
        )
    return rt, rt.queue


async def list_dlq(request: web.Request) -> web.Response:
    """What is in the service's DLQ, with the reasons (nothing is taken out)."""
    rt, queue = _broker(request)
    assert rt.connection is not None
    letters = await dlq.list_dead_letters(rt.connection, queue)
    reasons: dict[str, int] = {}
    for letter in letters:
        reasons[letter.reason] = reasons.get(letter.reason, 0) + 1
    return json_response(
        {"queue": queue.dlq, "count": len(letters), "reasons": reasons, "messages": letters}
    )


async def replay_dlq(request: web.Request) -> web.Response:
    """Move DLQ messages back to the service's queue: `?event_id=` one, `?reason=` all of a
    reason, `?all=true` everything (one of them is required)."""
    rt, queue = _broker(request)
    assert rt.connection is not None
    event_id = request.query.get("event_id")
    reason = request.query.get("reason")
    if event_id is None and reason is None and request.query.get("all") != "true":
        return error_response(
            400, "say which messages: ?event_id=<id>, ?reason=<reason> or ?all=true"
        )
    moved = await dlq.replay(rt.connection, queue, dlq.selector(event_id, reason))
    return json_response({"queue": queue.dlq, "replayed": len(moved), "messages": moved})


def create_app(
    spec: ServiceSpec[S, C],
    settings: ServiceSettings,
    client_max_size: int = 1024**2,
    env: Mapping[str, str] | None = None,
) -> web.Application:
    """The service's app: its config read (a bad setting raises SettingsError), resources in
    cleanup_ctx (unwound in reverse at stop), health, metrics, DLQ and the service's routes."""
    document = load_toml(settings.config_path)
    config = spec.config(document, os.environ if env is None else env)
    app = web.Application(
        client_max_size=client_max_size,
        middlewares=[no_bare_errors, operator_auth(settings.operator_token)],
    )
    rt: Runtime[S, C] = Runtime(
        spec=spec, settings=settings, config=config, document=document, metrics=Metrics()
    )
    app[runtime_key] = rt
    app.cleanup_ctx.extend([_database, _broker_ctx, _relay, _retention, _service, _consumer])
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if spec.subscriptions:
        app.router.add_get("/dlq", list_dlq)
        app.router.add_post("/dlq/replay", replay_dlq)
    for route in spec.routes:
        app.router.add_route(route.method, route.path, _route_handler(rt, route))
    return app


def _route_handler(
    rt: Runtime[S, C], route: Route[S]
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await route.handler(rt.running, request)

    handle.__name__ = getattr(route.handler, "__name__", "route")
    return public(handle) if route.public else handle


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """uvloop (libuv; the same asyncio API, a good deal less overhead per message and request)
    unless EVENT_LOOP=asyncio asks for the standard library's loop."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_service(spec: ServiceSpec[Any, Any], argv: Sequence[str] | None = None) -> None:
    """Console-script entry: settings, logging, app, serve until SIGTERM/SIGINT."""
    setup_logging(spec.name)
    try:
        settings = ServiceSettings.from_env(spec.name, spec.default_port)
        app = create_app(spec, settings)
    except SettingsError as exc:
        print(f"{spec.name}: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        web.run_app(
            app,
            host=settings.http_host,
            port=settings.http_port,
            print=None,
            access_log=None,
            shutdown_timeout=settings.shutdown_timeout,
            # Also the time a new connection has to send its first request head.
            keepalive_timeout=settings.header_timeout,
            # No real client needs more; a flood of headers is refused (400) before any route.
            max_headers=64,
            max_field_size=8190,
            max_line_size=8190,
            loop=new_event_loop(settings.event_loop),
        )
    except ConnectionError as exc:
        print(f"{spec.name}: {exc}", file=sys.stderr)
        sys.exit(3)
