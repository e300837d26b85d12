"""order-mapper as a service: sends once, holds with reasons, releases, notices changes after
transfer. In-process against a real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel

from ordreflyt_contracts import (
    ErpOrderRequested,
    OrderReceived,
    decode_event,
    decode_order,
    encode_event,
    new_event_fields,
)
from ordreflyt_order_mapper.app import SPEC
from ordreflyt_runtime.topology import EVENTS_EXCHANGE
from ordreflyt_testkit.helpers import declare_tap, drain_queue, purge_queue, wait_for
from ordreflyt_testkit.samples import swedish_woo_order
from ordreflyt_testkit.service_harness import ServiceUnderTest, running_service, settings_for

pytestmark = pytest.mark.integration

CONFIG = """
[shops.demo]
webhook_secret = "s"

[order_mapper]
vat_rates = [{rates}]
shipping_article = "FRAKT"
apply_changes_to_erp = {apply}
"""


@contextlib.asynccontextmanager
async def mapper(
    amqp_url: str,
    database_url: str,
    channel: AbstractChannel,
    tmp_path: Path,
    rates: str = '"25", "12"',
    apply: str = "false",
) -> AsyncIterator[ServiceUnderTest]:
    config = tmp_path / f"mapper-{uuid.uuid4().hex[:4]}.toml"
    config.write_text(CONFIG.format(rates=rates, apply=apply))
    tap = await declare_tap(channel, f"tap-mapper-{uuid.uuid4().hex[:6]}", ("order-mapper.#",))
    async with running_service(
        SPEC, settings_for("order-mapper", amqp_url, database_url, config)
    ) as (client, rt):
        yield ServiceUnderTest(client=client, runtime=rt, tap=tap, channel=channel)
    await channel.queue_delete(tap)


@pytest.fixture
async def fresh(amqp_url: str, database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    await conn.execute("DROP SCHEMA IF EXISTS order_mapper CASCADE")
    await conn.close()
    await purge_queue(amqp_url, "order-mapper")


async def send(channel: AbstractChannel, order: dict[str, Any]) -> None:
    event = OrderReceived(
        **new_event_fields("demo", order["id"]),
        delivery_id=uuid.uuid4(),
        topic="order.updated",
        paid=order["status"] in ("processing", "completed"),
        order=decode_order(json.dumps(order).encode()),
    )
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(
            encode_event(event), message_id=str(event.event_id), type=event.routing_key
        ),
        routing_key=event.routing_key,
    )


async def requests(svc: ServiceUnderTest, settle: float = 0.6) -> list[ErpOrderRequested]:
    events = [decode_event(m.body) for m in await drain_queue(svc.channel, svc.tap, settle)]
    return [e for e in events if isinstance(e, ErpOrderRequested)]


async def order_row(svc: ServiceUnderTest, order_id: int) -> Any:
    async with svc.client.get(f"/orders/demo/{order_id}") as r:
        return await r.json()


async def test_paid_order_is_sent_once_and_repeats_are_recorded(
    amqp_url: str, database_url: str, channel: AbstractChannel, tmp_path: Path, fresh: None
) -> None:
    async with mapper(amqp_url, database_url, channel, tmp_path) as svc:
        pending = swedish_woo_order(11, status="pending", modified="2026-11-20T10:00:00")
        await send(channel, pending)
        paid = swedish_woo_order(11, modified="2026-11-20T10:15:00")
        await send(channel, paid)
        await send(channel, paid)  # the same state again, as a new message
        sent = await wait_for(lambda: requests(svc), what="the ERP request")
        assert [(e.action, e.shop_order_id, e.erp_order.total) for e in sent] == [
            ("create", "11", paid_total(paid))
        ]
        assert sent[0].erp_order.lines[-1].article_number == "FRAKT"
        await send(channel, paid)
        assert await requests(svc) == []
        assert (await order_row(svc, 11))["transferred_at"] is not None


def paid_total(order: dict[str, Any]) -> Any:
    from decimal import Decimal

    return Decimal(order["total"])


async def test_held_order_is_listed_with_its_reason_and_sent_when_fixed_in_the_shop(
    amqp_url: str, database_url: str, channel: AbstractChannel, tmp_path: Path, fresh: None
) -> None:
    async with mapper(amqp_url, database_url, channel, tmp_path) as svc:
        broken = swedish_woo_order(12, modified="2026-11-20T10:15:00")
        broken["line_items"][0]["sku"] = ""
        await send(channel, broken)
        await send(channel, swedish_woo_order(13))  # another order is not blocked by the held one

        async def holds() -> list[Any]:
            async with svc.client.get("/holds") as r:
                return list((await r.json())["holds"])

        held = await wait_for(holds, what="the hold")
        assert [(h["order_id"], h["reasons"]) for h in held] == [
            ("12", ['line 1 "Ullsockor": no SKU'])
        ]
        assert [
            e.shop_order_id for e in await wait_for(lambda: requests(svc), what="order 13")
        ] == ["13"]

        async with svc.client.post("/holds/demo/12/release") as r:
            assert r.status == 409
            assert (await r.json())["reasons"] == ['line 1 "Ullsockor": no SKU']
        fixed = swedish_woo_order(12, modified="2026-11-20T11:00:00")
        await send(channel, fixed)
        assert [
            e.shop_order_id for e in await wait_for(lambda: requests(svc), what="the fixed order")
        ] == ["12"]
        assert await holds() == []


async def test_release_after_a_config_fix_sends_the_held_order(
    amqp_url: str, database_url: str, channel: AbstractChannel, tmp_path: Path, fresh: None
) -> None:
    async with mapper(amqp_url, database_url, channel, tmp_path, rates='"25"') as svc:
        await send(channel, swedish_woo_order(14))  # has a 12 % line
        await wait_for(lambda: _held(svc, 14), what="the hold")
        assert (await order_row(svc, 14))["held_reasons"] == [
            'line 2 "Knäckebröd": VAT rate 12 % is not configured (configured: 25); Fortnox '
            "has it: add it to order_mapper.vat_rates and release the order"
        ]
    async with mapper(amqp_url, database_url, channel, tmp_path, rates='"25", "12"') as svc:
        async with svc.client.post("/holds/demo/14/release") as r:
            assert (r.status, await r.json()) == (200, {"status": "sent"})
        sent = await wait_for(lambda: requests(svc), what="the released order")
        assert [(e.shop_order_id, e.reason) for e in sent] == [("14", "released")]
        async with svc.client.post("/holds/demo/14/release") as r:
            assert r.status == 409  # already sent: never twice


async def _held(svc: ServiceUnderTest, order_id: int) -> bool:
    row = await order_row(svc, order_id)
    return bool(row.get("held_reasons"))


async def test_change_after_transfer_is_recorded_and_sent_only_when_enabled(
    amqp_url: str, database_url: str, channel: AbstractChannel, tmp_path: Path, fresh: None
) -> None:
    async with mapper(amqp_url, database_url, channel, tmp_path) as svc:
        original = swedish_woo_order(15)
        await send(channel, original)
        await wait_for(lambda: requests(svc), what="the first transfer")
        await send(channel, _with_note(original, "2026-11-21T09:00:00"))
        await wait_for(lambda: _changed(svc, 15), what="changed after transfer")
        assert await requests(svc) == []
        older = swedish_woo_order(15, status="processing", modified="2026-11-19T08:00:00")
        await send(channel, older)  # an older state arriving late changes nothing
        await wait_for(lambda: _stale_ignored(svc), what="stale state handled")
    async with mapper(amqp_url, database_url, channel, tmp_path, apply="true") as svc:
        await send(channel, _with_note(original, "2026-11-22T09:00:00", note="Ring på"))
        updates = await wait_for(lambda: requests(svc), what="the update")
        assert [(e.action, e.reason) for e in updates] == [("update", "changed")]


def _with_note(
    order: dict[str, Any], modified: str, note: str = "Levér til naboen"
) -> dict[str, Any]:
    changed = copy.deepcopy(order)
    changed["date_modified_gmt"] = modified
    changed["customer_note"] = note
    return changed


async def _changed(svc: ServiceUnderTest, order_id: int) -> bool:
    async with svc.client.get("/changed") as r:
        return any(c["order_id"] == str(order_id) for c in (await r.json())["changed"])


async def _stale_ignored(svc: ServiceUnderTest) -> bool:
    value = svc.runtime.metrics.registry.get_sample_value(
        "ordreflyt_messages_consumed_total", {"routing_key": "intake.order.received.v1"}
    )
    return value == 3


def test_holds_command_prints_reasons_and_reports_an_unreachable_service() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ordreflyt_order_mapper", "holds"],
        env={"ORDER_MAPPER_URL": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "cannot reach order-mapper at http://127.0.0.1:9 (ORDER_MAPPER_URL)" in result.stderr
