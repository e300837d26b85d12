"""The one bootstrap every service uses: an aiohttp app whose `cleanup_ctx` owns the database
pool, the broker connection, the outbox relay and the consumer, plus the health and metrics
endpoints. A service's own `__main__` is a few lines: a `ServiceSpec` and `run_service(spec)`.

Start: settings are read (a bad one stops the process with a message naming it), PostgreSQL and
RabbitMQ are waited for (up to STARTUP_TIMEOUT), migrations applied, the topology declared.
Stop (SIGTERM): HTTP stops accepting, the consumer stops taking messages and lets in-flight ones
finish, the relay flushes the outbox, connections close, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import aio_pika
import asyncpg
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ordreflyt_contracts import Event
from ordreflyt_runtime.consumer import AfterCommit, Consumer, Handler
from ordreflyt_runtime.db import Migration, create_pool, migrate, schema_name, wait_for_database
from ordreflyt_runtime.logs import setup_logging
from ordreflyt_runtime.metrics import Metrics
from ordreflyt_runtime.outbox import OutboxRelay, OutboxRow
from ordreflyt_runtime.settings import ServiceSettings, SettingsError
from ordreflyt_runtime.topology import ConsumerQueue, declare_exchanges

log = logging.getLogger(__name__)

# Adds a service's own routes, app state and cleanup contexts (run after the shared ones).
Setup = Callable[["Runtime", web.Application], None]


@dataclass
class ServiceSpec:
    """What makes a service: its name, port, schema migrations, what it consumes and serves."""

    name: str
    default_port: int
    migrations: Sequence[Migration] = ()
    consumes: ConsumerQueue | None = None
    handlers: Mapping[type[Event], Handler] = field(default_factory=dict)
    setup: Setup | None = None
    after_commit: AfterCommit | None = None
    # Handle the messages waiting together, in one transaction (handlers that only touch the
    # database); see consumer.py.
    batch: bool = False


@dataclass
class Runtime:
    """The shared resources of a running service, available to its routes and handlers."""

    spec: ServiceSpec
    settings: ServiceSettings
    metrics: Metrics
    pool: asyncpg.Pool | None = None
    connection: AbstractRobustConnection | None = None
    exchange: AbstractExchange | None = None
    relay: OutboxRelay | None = None
    consumer: Consumer | None = None
    # The message handlers; a service's setup may set them once its config is loaded.
    handlers: dict[type[Event], Handler] = field(default_factory=dict)

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


runtime_key = web.AppKey("runtime", Runtime)


async def connect_broker(url: str, timeout: float) -> AbstractRobustConnection:
    deadline = asyncio.get_running_loop().time() + timeout
    delay = 0.5
    while True:
        try:
            return await aio_pika.connect_robust(
                url, client_properties={"connection_name": "ordreflyt"}
            )
        except (OSError, aio_pika.exceptions.AMQPError) as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise ConnectionError(f"AMQP_URL: cannot reach RabbitMQ: {exc}") from exc
            log.warning("broker not reachable yet, retrying: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _database(app: web.Application) -> AsyncIterator[None]:
    rt = app[runtime_key]
    schema = schema_name(rt.spec.name)
    await wait_for_database(rt.settings.database_url, rt.settings.startup_timeout)
    rt.pool = await create_pool(rt.settings.database_url, schema, max_size=rt.settings.db_pool_size)
    await migrate(rt.pool, schema, rt.spec.migrations)
    yield
    await rt.pool.close()


async def _broker(app: web.Application) -> AsyncIterator[None]:
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


async def _consumer(app: web.Application) -> AsyncIterator[None]:
    rt = app[runtime_key]
    if rt.spec.consumes is None:
        yield
        return
    assert rt.connection is not None
    rt.consumer = Consumer(
        rt.spec.consumes,
        rt.handlers,
        rt.db,
        rt.metrics,
        prefetch=rt.settings.prefetch,
        on_outbox_written=rt.outbox_written,
        after_commit=rt.spec.after_commit,
        batch=rt.spec.batch,
    )
    await rt.consumer.start(rt.connection)
    yield
    await rt.consumer.stop(timeout=rt.settings.shutdown_timeout)


async def livez(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[runtime_key].spec.name})


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[runtime_key]
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(rt.db.fetchval("SELECT 1"), 2.0)
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
    if rt.spec.consumes is not None:
        checks["consumer"] = "ok" if rt.consumer is not None and rt.consumer.running else "stopped"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "service": rt.spec.name, "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    rt = request.app[runtime_key]
    if rt.relay is not None:
        try:
            rt.metrics.outbox_backlog.set(await asyncio.wait_for(rt.relay.backlog(), 2.0))
        except Exception as exc:
            log.warning("outbox backlog not readable: %r", exc)
    return web.Response(
        body=generate_latest(rt.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def create_app(
    spec: ServiceSpec, settings: ServiceSettings, client_max_size: int = 1024**2
) -> web.Application:
    """The service's app: resources in cleanup_ctx (unwound in reverse at stop), health routes."""
    app = web.Application(client_max_size=client_max_size)
    rt = Runtime(spec=spec, settings=settings, metrics=Metrics(), handlers=dict(spec.handlers))
    app[runtime_key] = rt
    app.cleanup_ctx.extend([_database, _broker, _relay, _consumer])
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if spec.setup is not None:
        spec.setup(rt, app)
    return app


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """uvloop (libuv; the same asyncio API, a good deal less overhead per message and request)
    unless EVENT_LOOP=asyncio asks for the standard library's loop."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_service(spec: ServiceSpec, argv: Sequence[str] | None = None) -> None:
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
            loop=new_event_loop(settings.event_loop),
        )
    except ConnectionError as exc:
        print(f"{spec.name}: {exc}", file=sys.stderr)
        sys.exit(3)
