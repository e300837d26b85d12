"""What a service does when things fail, and what an operator can do about it: waiting for an
unavailable dependency (never the DLQ), holding a message that fails on its content, listing and
replaying the DLQ, the operator token, retention. Real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel
from aiohttp import web

from ordreflyt_contracts import Event, OrderDeleted, encode_event, new_event_fields
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_runtime.errors import Unavailable
from ordreflyt_runtime.retention import Pruner, RetentionConfig, RetentionRule
from ordreflyt_runtime.spec import ServiceSpec, get, no_config, on, post, stateless
from ordreflyt_runtime.topology import EVENTS_EXCHANGE
from ordreflyt_testkit.helpers import drain_queue, wait_for
from ordreflyt_testkit.service_harness import AUTH_HEADERS, running_service, settings_for

pytestmark = pytest.mark.integration

Handler = Callable[[None, OrderDeleted, HandlerContext], Awaitable[None]]


def deleted(order_id: str) -> OrderDeleted:
    return OrderDeleted(**new_event_fields("demo", order_id), delivery_id=uuid.uuid4())


def spec_for(name: str, handler: Handler, **extra: Any) -> ServiceSpec[None, None]:
    return ServiceSpec(
        name=name,
        default_port=0,
        migrations=(
            (
                f"{name}/001",
                "CREATE TABLE effects (event_id uuid, shop_order_id text);"
                " CREATE TABLE held (shop_order_id text, reason text)",
            ),
        ),
        config=no_config,
        start=stateless,
        subscriptions=[on(OrderDeleted, handler)],
        retry_delays_ms=(100, 200),
        **extra,
    )


async def publish(channel: AbstractChannel, event: Event) -> None:
    import aio_pika

    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(
            encode_event(event),
            message_id=str(event.event_id),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=event.routing_key,
    )


async def rows(database_url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def metric(rt: Any, name: str, labels: dict[str, str]) -> float:
    return rt.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_a_message_waits_for_an_unavailable_dependency_and_is_never_dead_lettered(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"wait-{uuid.uuid4().hex[:6]}"
    calls: list[str] = []

    async def erp_down_for_a_while(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
        calls.append(event.shop_order_id)
        # Unavailable far more often than the retry ladder (2 retries) has attempts.
        if len(calls) <= 6:
            raise Unavailable("ERP answered 503")
        await ctx.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", event.event_id, event.shop_order_id
        )

    spec = spec_for(name, erp_down_for_a_while)
    async with running_service(spec, settings_for(name, amqp_url, database_url)) as (_, rt):
        event = deleted("w1")
        await publish(channel, event)
        schema = name.replace("-", "_")
        await wait_for(
            lambda: rows(database_url, f"SELECT * FROM {schema}.effects"),
            timeout=30,
            what="the order handled once the dependency is back",
        )
        waits = metric(rt, "ordreflyt_messages_waiting_total", {"routing_key": event.routing_key})
    assert calls == ["w1"] * 7
    assert waits == 6
    assert await drain_queue(channel, f"{name}.dlq", settle=0.2) == []
    assert len(await rows(database_url, f"SELECT * FROM {schema}.effects")) == 1


async def test_a_message_failing_on_its_content_is_held_at_once_and_the_rest_flow(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"hold-{uuid.uuid4().hex[:6]}"
    calls: list[str] = []

    async def handler(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
        calls.append(event.shop_order_id)
        if event.shop_order_id == "bad":
            raise ArithmeticError("total is NaN")
        await ctx.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", event.event_id, event.shop_order_id
        )

    async def hold(_: None, event: Event, reason: str, ctx: HandlerContext) -> bool:
        await ctx.conn.execute("INSERT INTO held VALUES ($1, $2)", event.shop_order_id, reason)
        return True

    spec = spec_for(name, handler, hold=hold)
    schema = name.replace("-", "_")
    async with running_service(spec, settings_for(name, amqp_url, database_url)) as (_, rt):
        bad, good = deleted("bad"), deleted("good")
        await publish(channel, bad)
        await publish(channel, good)
        await wait_for(
            lambda: rows(database_url, f"SELECT * FROM {schema}.effects"), what="the good one"
        )
        held = await wait_for(
            lambda: rows(database_url, f"SELECT * FROM {schema}.held"), what="the bad one held"
        )
        # A copy of the held message (a redelivery) is not held twice: the inbox knows it.
        await publish(channel, bad)
        await wait_for(
            lambda: _async(
                metric(rt, "ordreflyt_messages_duplicate_total", {"routing_key": bad.routing_key})
            ),
            what="the copy recognised",
        )
    assert calls.count("bad") == 1  # held at once, not retried
    assert [(r["shop_order_id"], r["reason"]) for r in held] == [
        ("bad", "could not be handled: ArithmeticError: total is NaN")
    ]
    assert len(await rows(database_url, f"SELECT * FROM {schema}.held")) == 1
    assert await drain_queue(channel, f"{name}.dlq", settle=0.2) == []


async def _async(value: Any) -> Any:
    return value


async def test_dead_letters_are_listed_with_reasons_and_replayed_once(
    amqp_url: str, database_url: str, channel: AbstractChannel
) -> None:
    name = f"replay-{uuid.uuid4().hex[:6]}"
    fixed = False

    async def handler(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
        if event.shop_order_id.startswith("bad") and not fixed:
            raise ValueError(f"cannot handle {event.shop_order_id}")
        await ctx.conn.execute(
            "INSERT INTO effects VALUES ($1, $2)", event.event_id, event.shop_order_id
        )

    schema = name.replace("-", "_")
    spec = spec_for(name, handler)
    async with running_service(spec, settings_for(name, amqp_url, database_url)) as (client, _):
        first, second = deleted("bad-1"), deleted("bad-2")
        await publish(channel, first)
        await publish(channel, second)

        async def dead() -> Any:
            body = await (await client.get("/dlq")).json()
            return body if body["count"] == 2 else None

        listing = await wait_for(dead, timeout=30, what="two messages in the DLQ")
        assert listing["reasons"] == {"retries-exhausted": 2}
        assert {m["event_id"] for m in listing["messages"]} == {
            str(first.event_id),
            str(second.event_id),
        }
        assert {m["shop_order_id"] for m in listing["messages"]} == {"bad-1", "bad-2"}
        assert "cannot handle" in listing["messages"][0]["error"]
        # Listing took nothing out.
        assert (await (await client.get("/dlq")).json())["count"] == 2

        answer = await client.post("/dlq/replay")
        assert answer.status == 400

        fixed = True
        answer = await client.post(f"/dlq/replay?event_id={first.event_id}")
        assert (await answer.json())["replayed"] == 1
        effects = await wait_for(
            lambda: rows(database_url, f"SELECT shop_order_id FROM {schema}.effects"),
            what="the replayed one handled",
        )
        assert [r["shop_order_id"] for r in effects] == ["bad-1"]
        assert (await (await client.get("/dlq")).json())["count"] == 1

        answer = await client.post("/dlq/replay?reason=retries-exhausted")
        assert (await answer.json())["replayed"] == 1

        async def both() -> Any:
            found = await rows(database_url, f"SELECT shop_order_id FROM {schema}.effects")
            return found if len(found) == 2 else None

        await wait_for(both, what="both handled")
        assert (await (await client.get("/dlq")).json())["count"] == 0
        # Replaying a message that was already handled (its copy) has no second effect.
        await publish(channel, first)
        metrics = await (await client.get("/metrics")).text()
        assert f'ordreflyt_dlq_depth{{queue="{name}.dlq"}} 0.0' in metrics


async def test_operator_routes_need_the_token_and_health_does_not(
    amqp_url: str, database_url: str
) -> None:
    name = f"auth-{uuid.uuid4().hex[:6]}"

    async def nothing(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
        return None

    async def secret_route(_: None, request: web.Request) -> web.Response:
        return web.json_response({"orders": ["customer data"]})

    async def signed_route(_: None, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def broken_route(_: None, request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    routes = [
        get("/secret", secret_route),
        post("/signed", signed_route, public=True),
        get("/broken", broken_route),
    ]
    spec = spec_for(name, nothing, routes=routes)
    async with running_service(spec, settings_for(name, amqp_url, database_url)) as (client, _):
        url = str(client.make_url(""))
        async with aiohttp.ClientSession() as http:
            for path in ("/secret", "/dlq"):
                async with http.get(url + path) as r:
                    assert r.status == 401
                    assert "OPERATOR_TOKEN" in (await r.json())["error"]
                async with http.get(url + path, headers={"Authorization": "Bearer wrong"}) as r:
                    assert r.status == 401
                    assert (await r.json())["error"] == "wrong operator token"
            for path in ("/livez", "/readyz", "/metrics"):
                async with http.get(url + path) as r:
                    assert r.status == 200, path
            async with http.post(url + "/signed") as r:
                assert r.status == 200
            async with http.get(url + "/secret", headers=AUTH_HEADERS) as r:
                assert r.status == 200
            async with http.get(url + "/broken", headers=AUTH_HEADERS) as r:
                assert r.status == 500
                body = await r.json()
                assert body["error"].startswith("unexpected error (error id ")
                assert len(body["error_id"]) == 12


async def test_a_service_without_operator_token_keeps_its_operator_routes_closed(
    amqp_url: str, database_url: str
) -> None:
    name = f"closed-{uuid.uuid4().hex[:6]}"

    async def nothing(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
        return None

    settings = settings_for(name, amqp_url, database_url, operator_token=None)
    async with running_service(spec_for(name, nothing), settings) as (client, _):
        answer = await client.get("/dlq")  # with a token, but the service has none
        assert answer.status == 401
        assert "no OPERATOR_TOKEN set" in (await answer.json())["error"]


async def test_old_inbox_rows_are_pruned_and_recent_ones_kept(
    amqp_url: str, database_url: str
) -> None:
    name = f"prune-{uuid.uuid4().hex[:6]}"

    async def nothing(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
        return None

    schema = name.replace("-", "_")
    async with running_service(
        spec_for(name, nothing), settings_for(name, amqp_url, database_url)
    ) as (_, rt):
        await rt.db.execute(
            "INSERT INTO inbox (event_id, routing_key, received_at)"
            " SELECT gen_random_uuid(), 'x.y.z.v1', now() - make_interval(days => d)"
            " FROM generate_series(1, 40) AS d"
        )
        assert rt.pruner is not None
        deleted_rows = await rt.pruner.prune_once()
        left = await rt.db.fetch(
            f"SELECT min(received_at) AS oldest, count(*) AS n FROM {schema}.inbox"
        )
    # Default 30 days: rows 31..40 days old go (the row of exactly 30 days is a hair older
    # than 30 days by the time the pass runs, so it goes too).
    assert RetentionConfig().inbox_days == 30
    assert deleted_rows == {"inbox": 11}
    assert left[0]["n"] == 29


async def test_a_retention_rule_prunes_only_the_rows_its_condition_allows(
    database_url: str,
) -> None:
    schema = f"prune_{uuid.uuid4().hex[:6]}"
    pool = await create_pool(database_url, schema)
    try:
        await migrate(
            pool,
            schema,
            [
                (
                    "t/001",
                    "CREATE TABLE effects (state text, updated_at timestamptz);"
                    " INSERT INTO effects VALUES"
                    " ('applied', now() - interval '500 days'),"
                    " ('conflict', now() - interval '500 days'),"
                    " ('applied', now() - interval '10 days')",
                )
            ],
            runtime_tables=False,
        )
        rule = RetentionRule("effects", "updated_at", "effects_days", where="state = 'applied'")
        pruner = Pruner(pool, schema, [rule], RetentionConfig(effects_days=400))
        assert await pruner.prune_once() == {"effects": 1}
        left = await pool.fetch("SELECT state FROM effects ORDER BY updated_at")
        assert [r["state"] for r in left] == ["conflict", "applied"]
    finally:
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()


async def test_a_pool_busy_with_work_is_not_an_unready_database(
    amqp_url: str, database_url: str
) -> None:
    # Every connection held by a handler (waiting for a rate-limited ERP inside its
    # transaction, say): the database still answers, so the service stays ready.
    name = f"busy-{uuid.uuid4().hex[:6]}"

    async def nothing(_: None, event: OrderDeleted, ctx: HandlerContext) -> None:
        return None

    spec = spec_for(name, nothing)
    async with running_service(spec, settings_for(name, amqp_url, database_url)) as (client, rt):
        held = [await rt.db.acquire() for _ in range(rt.db.get_max_size())]
        try:
            assert rt.db.get_idle_size() == 0
            async with client.get("/readyz") as r:
                body = await r.json()
            assert (r.status, body["checks"]["database"]) == (200, "ok")
        finally:
            for conn in held:
                await rt.db.release(conn)
