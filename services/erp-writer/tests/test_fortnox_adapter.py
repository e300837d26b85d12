"""The Fortnox adapter against the sandbox Fortnox (in-process) and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from ordreflyt_contracts.erp import ErpAddress, ErpCustomer, ErpLine, ErpOrder
from ordreflyt_erp import ErpRejected, ErpUnavailable
from ordreflyt_erp.fortnox import SHARED_MIGRATIONS, SHARED_SCHEMA, FortnoxClient, FortnoxSettings
from ordreflyt_erp_writer.adapters.fortnox import FortnoxAdapter
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_sandbox_fortnox.app import FortnoxSettings as EmulatorSettings
from ordreflyt_sandbox_fortnox.app import make_app

pytestmark = pytest.mark.integration


@dataclass
class Env:
    adapter: FortnoxAdapter
    client: FortnoxClient
    pool: asyncpg.Pool
    base: str
    http: aiohttp.ClientSession


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
        yield Env(FortnoxAdapter(client), client, pool, base, http)
    await server.close()
    await pool.close()


def erp_order(reference: str, article: str | None = None) -> ErpOrder:
    return ErpOrder(
        shop_id="demo",
        shop_order_id=reference.rsplit("-", 1)[1],
        order_number=reference.rsplit("-", 1)[1],
        external_reference=reference,
        order_date=date(2026, 11, 20),
        currency="SEK",
        vat_included=False,
        customer=ErpCustomer(
            email="a@example.se", kind="private", name="Anna Ek", address=ErpAddress(city="Lund")
        ),
        lines=[
            ErpLine(
                kind="article",
                description="Kaffe",
                quantity=Decimal(2),
                unit_price=Decimal("49.90"),
                vat_percent=Decimal(12),
                total=Decimal("99.80"),
                article_number=article,
            )
        ],
        total=Decimal("111.78"),
        total_vat=Decimal("11.98"),
    )


async def test_find_document_matches_the_reference_exactly_not_by_substring(env: Env) -> None:
    customer = await env.adapter.create_customer(erp_order("demo-1").customer)
    long_one = await env.adapter.create_document(erp_order("demo-123"), customer)
    assert (
        await env.adapter.find_document(erp_order("demo-12")) is None
    )  # "demo-12" is in "demo-123"
    exact = await env.adapter.create_document(erp_order("demo-12"), customer)
    found = await env.adapter.find_document(erp_order("demo-12"))
    assert found is not None
    assert found.number == exact.number != long_one.number


async def test_customer_found_by_exact_email(env: Env) -> None:
    await env.adapter.create_customer(
        ErpCustomer(email="anna.ek@example.se", kind="private", name="Anna")
    )
    assert await env.adapter.find_customer("anna@example.se") is None
    assert await env.adapter.find_customer("ek@example.se") is None
    assert await env.adapter.find_customer("anna.ek@example.se") is not None


async def test_validation_error_carries_fortnox_code_and_message(env: Env) -> None:
    customer = await env.adapter.create_customer(erp_order("demo-5").customer)
    with pytest.raises(ErpRejected) as caught:
        await env.adapter.create_document(erp_order("demo-5", article="NO-SUCH-ARTICLE"), customer)
    assert caught.value.code == "2001302"
    assert "NO-SUCH-ARTICLE" in caught.value.message
    assert await env.adapter.create_missing_articles(
        erp_order("demo-5", article="NO-SUCH-ARTICLE")
    ) == ["NO-SUCH-ARTICLE"]
    document = await env.adapter.create_document(
        erp_order("demo-5", article="NO-SUCH-ARTICLE"), customer
    )
    assert document.kind == "order"


async def test_expired_token_is_refreshed_once_and_kept_in_the_database(env: Env) -> None:
    async with env.http.post(env.base + "/_sandbox/tokens/expire", json={}) as r:
        assert r.status < 300, await r.text()
    assert await env.adapter.find_customer("nobody@example.se") is None
    stored = await env.pool.fetchval(
        "SELECT access_token FROM ordreflyt_erp.oauth_tokens WHERE erp = 'fortnox'"
    )
    assert stored != "sandbox-token"


async def test_5xx_is_retried_then_reported_unavailable(env: Env) -> None:
    async with env.http.post(env.base + "/_sandbox/faults", json={"status": 503, "count": 2}) as r:
        assert r.status == 201
    assert await env.adapter.find_customer("x@example.se") is None  # two 503s, then the answer
    async with env.http.post(env.base + "/_sandbox/faults", json={"status": 502, "count": 10}) as r:
        assert r.status == 201
    with pytest.raises(ErpUnavailable):
        await env.adapter.find_customer("x@example.se")
