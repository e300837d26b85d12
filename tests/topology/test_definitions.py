"""deploy/rabbitmq/definitions.json and the topology the services declare stay the same."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlsplit

import pytest
from aio_pika.abc import AbstractRobustConnection

from ordreflyt_runtime.topology import ConsumerQueue, declare_consumer_queue, export_definitions
from ordreflyt_testkit.infra import Infra

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "rabbitmq"


def _exporter() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "export_definitions", DEPLOY / "export_definitions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_definitions_file_is_up_to_date() -> None:
    expected = _exporter().render()
    actual = (DEPLOY / "definitions.json").read_text()
    assert actual == expected, (
        "deploy/rabbitmq/definitions.json is stale: run "
        "`uv run python deploy/rabbitmq/export_definitions.py > deploy/rabbitmq/definitions.json`"
    )


@pytest.mark.integration
async def test_imported_definitions_equal_what_a_service_declares(
    infra: Infra, amqp_url: str, amqp_connection: AbstractRobustConnection
) -> None:
    vhost = unquote(urlsplit(amqp_url).path[1:]) or "/"
    spec = ConsumerQueue(service=f"defs-{uuid.uuid4().hex[:6]}", binding_keys=("intake.order.#",))
    document = export_definitions([spec], vhost)
    infra.import_definitions(document)
    channel = await amqp_connection.channel()
    # Redeclaring with different arguments would close the channel (PRECONDITION_FAILED).
    queue = await declare_consumer_queue(channel, spec)
    assert queue.name == spec.queue
    assert not channel.is_closed
    for name in spec.queue_names:
        await channel.queue_delete(name)
    await channel.close()
