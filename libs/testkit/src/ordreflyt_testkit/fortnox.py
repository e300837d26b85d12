"""The sandbox Fortnox in-process, with a real client on the shared ERP schema, for tests of
the Fortnox capabilities and of the services that use them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from ordreflyt_erp.capabilities import Erp
from ordreflyt_erp.fortnox import (
    SHARED_MIGRATIONS,
    SHARED_SCHEMA,
    FortnoxClient,
    FortnoxSettings,
    fortnox_erp,
)
from ordreflyt_erp.options import ErpOptions
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_sandbox_fortnox.app import FortnoxSettings as SandboxSettings
from ordreflyt_sandbox_fortnox.app import make_app
from ordreflyt_sandbox_fortnox.store import Store, store_key


@dataclass
class FortnoxEnv:
    erp: Erp
    client: FortnoxClient
    pool: asyncpg.Pool
    base: str
    http: aiohttp.ClientSession
    # The sandbox's records, to set up or look at without requests.
    store: Store


@contextlib.asynccontextmanager
async def sandbox_fortnox(
    database_url: str,
    options: ErpOptions | None = None,
    sandbox: SandboxSettings | None = None,
) -> AsyncIterator[FortnoxEnv]:
    pool = await create_pool(database_url, SHARED_SCHEMA)
    await migrate(pool, SHARED_SCHEMA, SHARED_MIGRATIONS, runtime_tables=False)
    # Each sandbox starts with the sandbox tokens: forget any refreshed pair.
    await pool.execute("DELETE FROM ordreflyt_erp.oauth_tokens")
    server = TestServer(make_app(sandbox or SandboxSettings(rate_limit=None)))
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
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
            erp = fortnox_erp(client, options or ErpOptions())
            yield FortnoxEnv(erp, client, pool, base, http, server.app[store_key])
    finally:
        await server.close()
        await pool.close()


@dataclass(frozen=True)
class SandboxCustomer:
    number: str
    address1: str


@dataclass(frozen=True)
class SandboxOrder:
    number: str
    customer_number: str


def sandbox_customers(store: Store) -> list[SandboxCustomer]:
    """The sandbox's customers, as the tests of services look at them."""
    return [
        SandboxCustomer(c.customer_number, str(c.fields.get("Address1", "")))
        for c in store.customers.values()
    ]


def sandbox_orders(store: Store, reference: str) -> list[SandboxOrder]:
    """The sandbox's orders carrying the shop order's external reference."""
    return [
        SandboxOrder(o.document_number, o.customer_number)
        for o in store.orders.values()
        if o.external_invoice_reference1 == reference
    ]
