"""The operator commands against a running stack, as a person runs them: resync with and
without --dry-run, registering the webhooks with a fresh secret, the DLQ and holds commands."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ordreflyt_testkit.service_harness import TEST_OPERATOR_TOKEN
from ordreflyt_testkit.stack import Stack, running_stack

pytestmark = pytest.mark.e2e

SHOP_AUTH = {"Authorization": "Basic " + base64.b64encode(b"ck_sandbox:cs_sandbox").decode()}


async def command(stack: Stack, *argv: str, token: str = TEST_OPERATOR_TOKEN) -> tuple[int, str]:
    env = {
        **os.environ,
        "INTAKE_URL": stack.url("intake"),
        "ORDER_MAPPER_URL": stack.url("order-mapper"),
        "ERP_WRITER_URL": stack.url("erp-writer-0"),
        "OPERATOR_TOKEN": token,
    }
    script = str(Path(sys.executable).parent / argv[0])

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *argv[1:]], env=env, capture_output=True, text=True, timeout=120
        )

    result = await asyncio.to_thread(run)
    return result.returncode, result.stdout + result.stderr


async def shop_webhooks(stack: Stack) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession(headers=SHOP_AUTH) as http,
        http.get(f"{stack.url('woo')}/wp-json/wc/v3/webhooks") as r,
    ):
        return list(await r.json())


async def disable_order_webhooks(stack: Stack) -> None:
    async with aiohttp.ClientSession(headers=SHOP_AUTH) as http:
        for hook in await shop_webhooks(stack):
            async with http.put(
                f"{stack.url('woo')}/wp-json/wc/v3/webhooks/{hook['id']}",
                json={"status": "disabled"},
            ) as r:
                assert r.status == 200


async def test_resync_dry_run_writes_nothing_then_resync_and_register_webhooks(
    amqp_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running_stack(
        amqp_url,
        database_url,
        tmp_path,
        intake_extra="reconcile_interval = 0\nwatchdog_interval = 0",
    ) as stack:
        sent = await stack.place_order()
        await stack.all_in_fortnox_once([sent["id"]])
        await disable_order_webhooks(stack)
        missed = [await stack.place_order() for _ in range(2)]
        since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
        code, out = await command(
            stack, "ordreflyt-intake", "resync", "demo", "--since", since, "--dry-run"
        )
        assert code == 0, out
        assert "nothing was written" in out
        would_send = out.split("would be sent:")[1].split("already in the ERP:")[0]
        for order in missed:
            assert f"(id {order['id']}, processing)" in would_send, out
        in_erp = out.split("already in the ERP:")[1]
        assert f"(id {sent['id']}, processing): order " in in_erp, out
        await asyncio.sleep(2.0)
        assert not any([await stack.fortnox_orders_for(o["id"]) for o in missed])

        code, out = await command(stack, "ordreflyt-intake", "resync", "demo", "--since", since)
        assert code == 0, out
        await stack.all_in_fortnox_once([o["id"] for o in missed] + [sent["id"]])

        old_secrets = {h["id"]: h["secret"] for h in await shop_webhooks(stack)}
        code, out = await command(stack, "ordreflyt-intake", "register-webhooks", "demo")
        assert code == 0, out
        assert out.count(" updated") == 4, out
        hooks = [h for h in await shop_webhooks(stack) if h["topic"].startswith("order.")]
        assert {h["status"] for h in hooks} == {"active"}
        assert all(h["secret"] != old_secrets[h["id"]] for h in hooks)
        assert hooks[0]["secret"] not in out  # the secret is never printed
        # Deliveries signed with the fresh secret are accepted.
        after = await stack.place_order()
        await stack.all_in_fortnox_once([after["id"]])

        code, out = await command(stack, "ordreflyt-ops", "dlq", "list", "erp-writer")
        assert (code, out.strip()) == (0, "erp-writer.dlq: empty"), out
        code, out = await command(stack, "ordreflyt-order-mapper", "holds")
        assert (code, out.strip()) == (0, "no held orders"), out
        code, out = await command(stack, "ordreflyt-order-mapper", "holds", token="")
        assert code == 1
        assert "OPERATOR_TOKEN" in out
