"""The broker restarts while intake (a real process) takes webhooks: every delivery answered
2xx is published once the broker is back."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aio_pika
import aiohttp
import pytest

from ordreflyt_contracts import decode_event
from ordreflyt_testkit.helpers import declare_tap, drain_queue
from ordreflyt_testkit.infra import Infra
from ordreflyt_testkit.processes import ServiceProcess, free_port
from ordreflyt_testkit.samples import WEBHOOK_SECRET, woo_body, woo_headers, woo_order
from ordreflyt_testkit.service_harness import AUTH_HEADERS

pytestmark = pytest.mark.integration


async def test_deliveries_accepted_during_a_broker_restart_are_all_published(
    infra: Infra, amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "ordreflyt.toml"
    config.write_text(f'[shops.demo]\nwebhook_secret = "{WEBHOOK_SECRET}"\n')
    intake = ServiceProcess(
        "ordreflyt-intake",
        {
            "AMQP_URL": amqp_url,
            "DATABASE_URL": database_url,
            "HTTP_PORT": str(free_port()),
            "ORDREFLYT_CONFIG": str(config),
            # Its own spool: no other intake may take its deliveries, nor it theirs.
            "INTAKE_SPOOL_DIR": str(tmp_path / "spool"),
        },
        tmp_path,
    )
    setup = await aio_pika.connect(amqp_url)
    tap = await declare_tap(
        await setup.channel(), f"tap-restart-{uuid.uuid4().hex[:6]}", ("intake.order.received.v1",)
    )
    await setup.close()

    accepted: set[str] = set()
    base = 900_000 + (uuid.uuid4().int % 1000) * 1000

    async def post(http: aiohttp.ClientSession, order_id: int) -> None:
        body = woo_body(woo_order(order_id))
        async with http.post(
            f"{intake.url}/webhooks/woocommerce/demo",
            data=body,
            headers=woo_headers(WEBHOOK_SECRET, body),
        ) as r:
            if 200 <= r.status < 300:
                accepted.add(str(order_id))

    intake.start()
    try:
        await intake.wait_ready()
        async with aiohttp.ClientSession(headers=AUTH_HEADERS) as http:
            next_id = base

            async def burst(n: int) -> None:
                nonlocal next_id
                await asyncio.gather(*(post(http, next_id + i) for i in range(n)))
                next_id += n

            await burst(20)
            await asyncio.to_thread(infra.stop_broker)
            try:
                for _ in range(5):  # deliveries keep coming while the broker is away
                    await burst(20)
                    await asyncio.sleep(0.2)
                async with http.get(f"{intake.url}/readyz") as r:
                    readiness = await r.json()
                assert (
                    readiness["checks"]["broker"] != "ok"
                    or readiness["checks"]["outbox_relay"] != "ok"
                )
            finally:
                await asyncio.to_thread(infra.start_broker)
            await burst(20)
        assert len(accepted) == 140, "intake must keep answering 2xx while the broker is away"

        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel()
            seen: dict[str, set[str]] = {}
            deadline = asyncio.get_running_loop().time() + 60
            while set(seen) != accepted and asyncio.get_running_loop().time() < deadline:
                for message in await drain_queue(channel, tap, settle=0.5):
                    event = decode_event(message.body)
                    seen.setdefault(event.shop_order_id, set()).add(str(event.event_id))
            await channel.queue_delete(tap)
        finally:
            await connection.close()
        assert set(seen) == accepted, f"missing: {sorted(accepted - set(seen))[:10]}"
        # At most a re-publish of the same event (dropped by consumers' inboxes), never a new one.
        assert all(len(ids) == 1 for ids in seen.values())
    finally:
        intake.stop_quietly()
