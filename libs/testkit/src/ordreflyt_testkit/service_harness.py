"""Run a ServiceSpec in-process for a test, on a free port, against the test broker and DB."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aio_pika.abc import AbstractChannel
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ordreflyt_runtime.service import Runtime, create_app, runtime_key
from ordreflyt_runtime.settings import ServiceSettings
from ordreflyt_runtime.spec import ServiceSpec

# The operator token of services started by tests (in-process and as processes).
TEST_OPERATOR_TOKEN = "test-operator-token-0123456789"
AUTH_HEADERS = {"Authorization": f"Bearer {TEST_OPERATOR_TOKEN}"}


def settings_for(
    service: str,
    amqp_url: str,
    database_url: str,
    config_path: Path | None = None,
    **overrides: Any,
) -> ServiceSettings:
    base = ServiceSettings.from_env(service, 0, env={})
    settings = replace(
        base,
        amqp_url=amqp_url,
        database_url=database_url,
        http_host="127.0.0.1",
        config_path=config_path or base.config_path,
        startup_timeout=10.0,
        shutdown_timeout=10.0,
        operator_token=TEST_OPERATOR_TOKEN,
    )
    return replace(settings, **overrides)


@contextlib.asynccontextmanager
async def running_service(
    spec: ServiceSpec[Any, Any], settings: ServiceSettings
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], Runtime[Any, Any]]]:
    app = create_app(spec, settings)
    # The client sends the operator token (a test of refusals makes its own requests).
    client = TestClient(TestServer(app), headers=AUTH_HEADERS)
    await client.start_server()
    try:
        yield client, app[runtime_key]
    finally:
        await client.close()


@dataclass
class ServiceUnderTest:
    """A service running in-process, with a tap queue that sees what it publishes."""

    client: TestClient[web.Request, web.Application]
    runtime: Runtime[Any, Any]
    tap: str
    channel: AbstractChannel

    async def count(self, sql: str, *args: object) -> int:
        return int(await self.runtime.db.fetchval(sql, *args))
