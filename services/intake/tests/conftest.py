"""Intake test fixtures: a config with one shop, intake running in-process, a tap queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aio_pika.abc import AbstractChannel

from ordreflyt_intake.app import SPEC
from ordreflyt_testkit.helpers import declare_tap
from ordreflyt_testkit.samples import PREVIOUS_WEBHOOK_SECRET, WEBHOOK_SECRET
from ordreflyt_testkit.service_harness import ServiceUnderTest, running_service, settings_for


def write_config(path: Path, max_body: int = 1024 * 1024) -> Path:
    path.write_text(
        f"""
[shops.demo]
url = "http://127.0.0.1:8100/"
webhook_secret = "{WEBHOOK_SECRET}"
previous_webhook_secret = "{PREVIOUS_WEBHOOK_SECRET}"

[intake]
max_body_bytes = {max_body}
# No shop runs for these tests: no reconciliation or webhook checks.
reconcile_interval = 0
watchdog_interval = 0
"""
    )
    return path


@pytest.fixture
def intake_config(tmp_path: Path) -> Path:
    """The intake test config, written for one test."""
    return write_config(tmp_path / "ordreflyt.toml")


@pytest.fixture
async def intake(
    amqp_url: str, database_url: str, channel: AbstractChannel, tmp_path: Path
) -> AsyncIterator[ServiceUnderTest]:
    config = write_config(tmp_path / "ordreflyt.toml", max_body=64 * 1024)
    # Each test gets fresh intake tables: the schema is emptied before the service starts.
    conn = await asyncpg.connect(database_url)
    await conn.execute("DROP SCHEMA IF EXISTS intake CASCADE")
    await conn.close()
    tap = await declare_tap(channel, f"tap-intake-{uuid.uuid4().hex[:6]}", ("intake.#",))
    async with running_service(SPEC, settings_for("intake", amqp_url, database_url, config)) as (
        client,
        rt,
    ):
        yield ServiceUnderTest(client=client, runtime=rt, tap=tap, channel=channel)
    await channel.queue_delete(tap)
