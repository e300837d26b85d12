"""Fixtures: the Fortnox adapter against the sandbox Fortnox (in-process) and a real PostgreSQL.

Test modules import `Env` for annotations only (under TYPE_CHECKING): pytest loads this file
itself, it is not importable as a module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from ordreflyt_erp.fortnox import SHARED_MIGRATIONS, SHARED_SCHEMA, FortnoxClient, FortnoxSettings
from ordreflyt_erp_writer.adapters.fortnox import FortnoxAdapter
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_sandbox_fortnox.app import FortnoxSettings as EmulatorSettings
from ordreflyt_sandbox_fortnox.app import make_app
from ordreflyt_sandbox_fortnox.store import Store, store_key


@dataclass
class Env:
    adapter: FortnoxAdapter
    client: FortnoxClient
    pool: asyncpg.Pool
    base: str
    http: aiohttp.ClientSession
    # The sandbox's records, to set up or look at without requests.
    store: Store


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Env]:
    pool = await create_pool(database_url, SHARED_SCHEMA)
    await migrate(pool, SHARED_SCHEMA, SHARED_MIGRATIONS, runtime_tables=False)
    # Each test's emulator starts with the sandbox tokens: forget any refreshed pair.
    await pool.execute("DELETE FROM ordreflyt_erp.oauth_tokens")
    server = TestServer(make_app(EmulatorSettings(rate_limit=None)))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as http:
        settings = FortnoxSettings(
            base_url=base + "/3",
            warehouse_url=base + "/api/warehouse",
            token_url=base + "/oauth-v1/token",
            client_id="sandbox-client",
            client_secret="sandbox-secret",
            access_token="sandbox-token",
            refresh_token="sandbox-refresh",
            retries=2,
        )
        client = FortnoxClient(settings, http, pool, None)
        yield Env(FortnoxAdapter(client), client, pool, base, http, server.app[store_key])
    await server.close()
    await pool.close()
