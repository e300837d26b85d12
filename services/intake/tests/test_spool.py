"""When PostgreSQL does not answer, intake keeps a verified delivery in its local spool (202)
and stores it once PostgreSQL answers again; when the spool cannot be written either, it
answers 503 with the reason. A body that does not arrive in time gets 408. (The same with a
real PostgreSQL stopped: tests/e2e/test_never_lose.py.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aio_pika.abc import AbstractChannel

from ordreflyt_contracts import OrderReceived, decode_event
from ordreflyt_intake import deliveries
from ordreflyt_intake.app import SPEC, IntakeService
from ordreflyt_testkit.helpers import declare_tap, drain_queue, wait_for
from ordreflyt_testkit.samples import WEBHOOK_SECRET, woo_body, woo_headers, woo_order
from ordreflyt_testkit.service_harness import ServiceUnderTest, running_service, settings_for

pytestmark = pytest.mark.integration

URL = "/webhooks/woocommerce/demo"


@pytest.fixture
async def spooling_intake(
    amqp_url: str,
    database_url: str,
    channel: AbstractChannel,
    tmp_path: Path,
    intake_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[ServiceUnderTest]:
    config = intake_config
    monkeypatch.setenv("INTAKE_SPOOL_DIR", str(tmp_path / "spool"))
    conn = await asyncpg.connect(database_url)
    await conn.execute("DROP SCHEMA IF EXISTS intake CASCADE")
    await conn.close()
    tap = await declare_tap(channel, f"tap-spool-{uuid.uuid4().hex[:6]}", ("intake.#",))
    settings = settings_for("intake", amqp_url, database_url, config, body_timeout=1.0)
    async with running_service(SPEC, settings) as (client, rt):
        yield ServiceUnderTest(client=client, runtime=rt, tap=tap, channel=channel)
    await channel.queue_delete(tap)


def database_away(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    monkeypatch.setattr(deliveries, "store_delivery", refused)


async def test_a_delivery_is_spooled_while_the_database_is_away_and_stored_after(
    spooling_intake: ServiceUnderTest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    intake = spooling_intake
    body = woo_body(woo_order(7301))
    with monkeypatch.context() as away:
        database_away(away)
        async with intake.client.post(
            URL, data=body, headers=woo_headers(WEBHOOK_SECRET, body)
        ) as r:
            assert r.status == 202
            answer = await r.json()
        assert answer["outcome"] == "spooled"
        assert [p.name for p in (tmp_path / "spool").glob("*.json")]
        assert await intake.count("SELECT count(*) FROM deliveries") == 0
        ready = await (await intake.client.get("/readyz")).json()
        assert ready["details"]["database"] == "spooling deliveries"
    # The database answers again: the spool drains into it, through the usual path.
    service: IntakeService = intake.runtime.running
    await service.intake.drain_spool()
    rows = await intake.runtime.db.fetch("SELECT id, outcome FROM deliveries")
    assert [(str(r["id"]), r["outcome"]) for r in rows] == [(answer["delivery_id"], "published")]
    assert not list((tmp_path / "spool").glob("*.json"))
    events = await wait_for(
        lambda: drain_queue(intake.channel, intake.tap, settle=0.3), what="the order published"
    )
    decoded = [decode_event(m.body) for m in events]
    assert [(type(e), e.shop_order_id) for e in decoded] == [(OrderReceived, "7301")]
    # Drained twice (a crash between commit and unlink): no second delivery, no second event.
    assert await service.intake.drain_spool() == 0


async def test_when_nothing_can_keep_a_delivery_the_answer_is_503_with_the_reason(
    spooling_intake: ServiceUnderTest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    intake = spooling_intake
    service: IntakeService = intake.runtime.running
    database_away(monkeypatch)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the spool directory should be")
    monkeypatch.setattr(service.intake.spool, "directory", blocked)
    body = woo_body(woo_order(7302))
    async with intake.client.post(URL, data=body, headers=woo_headers(WEBHOOK_SECRET, body)) as r:
        assert r.status == 503
        answer = await r.json()
    assert answer["error"].startswith("the delivery could not be kept: spool ")
    assert "not writable" in answer["error"]


async def test_a_body_that_does_not_arrive_in_time_gets_408(
    spooling_intake: ServiceUnderTest,
) -> None:
    port = spooling_intake.client.port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST " + URL.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"id": 1'
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readline(), 20)
    writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head
