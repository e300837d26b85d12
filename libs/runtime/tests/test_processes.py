"""A service as a real process: health and metrics endpoints, SIGTERM, and SIGKILL between
commit and ack (the redelivered message must be recognised as a duplicate)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import aio_pika
import aiohttp
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel

from ordreflyt_contracts import OrderDeleted, encode_event, new_event_fields
from ordreflyt_runtime.topology import EVENTS_EXCHANGE
from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.processes import ServiceProcess, free_port
from ordreflyt_testkit.service_harness import AUTH_HEADERS

pytestmark = pytest.mark.integration


def probe(name: str, amqp_url: str, database_url: str, log_dir: Path, **env: str) -> ServiceProcess:
    return ServiceProcess(
        [sys.executable, "-m", "ordreflyt_testkit.probe_service"],
        {
            "PROBE_SERVICE": name,
            "AMQP_URL": amqp_url,
            "DATABASE_URL": database_url,
            "HTTP_PORT": str(free_port()),
            **env,
        },
        log_dir,
        name=name,
    )


async def publish(channel: AbstractChannel, event: OrderDeleted) -> None:
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(
            encode_event(event),
            message_id=str(event.event_id),
            type=event.routing_key,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=event.routing_key,
    )


async def metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession(headers=AUTH_HEADERS) as http, http.get(url + "/metrics") as r:
        text = await r.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def effects(database_url: str, schema: str, order_id: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                f"SELECT count(*) FROM {schema}.effects WHERE shop_order_id = $1", order_id
            )
        )
    finally:
        await conn.close()


async def test_killed_after_commit_before_ack_the_redelivery_is_a_duplicate(
    amqp_url: str, database_url: str, channel: AbstractChannel, log_dir: Path
) -> None:
    name = f"crash-{uuid.uuid4().hex[:6]}"
    schema = name.replace("-", "_")
    first = probe(name, amqp_url, database_url, log_dir, PROBE_KILL_AFTER_COMMIT="42")
    first.start()
    try:
        await first.wait_ready()
        event = OrderDeleted(**new_event_fields("demo", 42), delivery_id=uuid.uuid4())
        await publish(channel, event)
        assert await first.wait_exit(20) == -9, first.tail()
        # Committed: the effect is there, but the message was never acked.
        assert await effects(database_url, schema, "42") == 1
    finally:
        first.stop_quietly()

    second = probe(name, amqp_url, database_url, log_dir)
    second.start()
    try:
        await second.wait_ready()
        await wait_for(
            lambda: metric(second.url, "ordreflyt_messages_duplicate_total"),
            what="the redelivery seen as duplicate",
        )
        assert await effects(database_url, schema, "42") == 1
        assert await metric(second.url, "ordreflyt_messages_consumed_total") == 0
    finally:
        second.terminate()


async def test_health_metrics_and_sigterm_exit_zero(
    amqp_url: str, database_url: str, channel: AbstractChannel, log_dir: Path
) -> None:
    name = f"health-{uuid.uuid4().hex[:6]}"
    proc = probe(name, amqp_url, database_url, log_dir)
    proc.start()
    try:
        await proc.wait_ready()
        async with aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
            async with http.get(proc.url + "/livez") as r:
                assert r.status == 200
            async with http.get(proc.url + "/readyz") as r:
                body = await r.json()
                assert r.status == 200
                assert body["checks"] == {
                    "database": "ok",
                    "broker": "ok",
                    "outbox_relay": "ok",
                    "consumer": "ok",
                }
        await publish(
            channel, OrderDeleted(**new_event_fields("demo", 7), delivery_id=uuid.uuid4())
        )
        await wait_for(
            lambda: metric(proc.url, "ordreflyt_messages_consumed_total"), what="consumed"
        )
        async with (
            aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
            http.get(proc.url + "/metrics") as r,
        ):
            text = await r.text()
        for expected in (
            'ordreflyt_messages_consumed_total{routing_key="intake.order.deleted.v1"} 1.0',
            "ordreflyt_handler_seconds_bucket",
            "ordreflyt_outbox_backlog 0.0",
            "ordreflyt_messages_published_total",
            "ordreflyt_messages_dead_lettered_total",
        ):
            assert expected in text
        assert proc.terminate() == 0, proc.tail()
        lines = proc.log_path.read_text().splitlines()
        assert any('"msg":"consuming"' in line and f'"service":"{name}"' in line for line in lines)
    finally:
        proc.stop_quietly()
