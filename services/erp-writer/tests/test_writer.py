"""erp-writer's handler against the sandbox Fortnox (in-process) and a real PostgreSQL: which
data a customer keeps when orders arrive out of order, and documents whose totals Fortnox
computes differently from the mapped order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
import pytest

from ordreflyt_contracts import ErpOrderRequested, new_event_fields
from ordreflyt_contracts.erp import ErpAddress, ErpCustomer, ErpOrder
from ordreflyt_erp.factory import ErpDirectory
from ordreflyt_erp_writer.app import SPEC
from ordreflyt_erp_writer.handlers import ErpWriter, WriterOptions
from ordreflyt_erp_writer.store import PgAttemptMarker
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_testkit.fortnox import (
    SandboxCustomer,
    SandboxOrder,
    sandbox_customers,
    sandbox_orders,
)
from ordreflyt_testkit.samples import erp_order_sample

if TYPE_CHECKING:
    from ordreflyt_testkit.fortnox import FortnoxEnv

pytestmark = pytest.mark.integration

D = Decimal


@dataclass
class Writer:
    writer: ErpWriter
    pool: asyncpg.Pool
    env: FortnoxEnv

    async def write(self, order: ErpOrder) -> None:
        """Hand the writer a mapped order as its consumer would, in one transaction."""
        event = ErpOrderRequested(
            **new_event_fields(order.shop_id, order.shop_order_id),
            action="create",
            erp_order=order,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await self.writer.erp_order_requested(event, HandlerContext(conn))

    async def row(self, sql: str, *args: Any) -> Any:
        return await self.pool.fetchrow(sql, *args)


@pytest.fixture
async def writer(env: FortnoxEnv, database_url: str) -> AsyncIterator[Writer]:
    schema = f"erp_writer_test_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(database_url, schema)
    await migrate(pool, schema, SPEC.migrations)
    yield Writer(
        ErpWriter(ErpDirectory({env.erp.key: env.erp}, {}), PgAttemptMarker(pool), WriterOptions()),
        pool,
        env,
    )
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


def order(order_id: int, created: str, street: str, *, total: str = "111.78") -> ErpOrder:
    """Coffee for Anna at `street`, as the shop had her data at `created`; Fortnox makes it
    111.78 with VAT 11.98."""
    address = ErpAddress(name="Anna Ek", address1=street, zip_code="22100", city="Lund")
    customer = ErpCustomer(
        email="anna.ek@example.se",
        kind="private",
        name="Anna Ek",
        address=address,
        delivery_address=address,
    )
    return erp_order_sample(
        f"demo-{order_id}",
        customer=customer,
        total=D(total),
        customer_data_at=datetime.fromisoformat(created).replace(tzinfo=UTC),
    )


def fortnox_customers(env: FortnoxEnv) -> list[SandboxCustomer]:
    return sandbox_customers(env.store)


def documents_for(env: FortnoxEnv, reference: str) -> list[SandboxOrder]:
    return sandbox_orders(env.store, reference)


async def test_an_older_order_released_after_a_newer_one_keeps_the_newer_address(
    writer: Writer,
) -> None:
    env = writer.env
    # Order A (placed first, old address) was held; order B (new address) creates the customer.
    older = order(1, "2026-11-20T09:00:00", "Gamla vägen 1")
    newer = order(2, "2026-11-20T11:00:00", "Nya vägen 2")
    await writer.write(newer)
    (customer,) = fortnox_customers(env)
    assert customer.address1 == "Nya vägen 2"

    # A is released: its document is created for the same customer, whose address stays B's.
    await writer.write(older)
    (document,) = documents_for(env, "demo-1")
    assert document.customer_number == customer.number
    assert fortnox_customers(env) == [customer]
    remembered = await writer.row(
        "SELECT data_at FROM customers WHERE email = $1", "anna.ek@example.se"
    )
    assert remembered["data_at"] == newer.customer_data_at

    # A newer order than B does update the customer, and is remembered as its source.
    newest = order(3, "2026-11-21T08:00:00", "Tredje gatan 3")
    await writer.write(newest)
    (customer,) = fortnox_customers(env)
    assert customer.address1 == "Tredje gatan 3"
    remembered = await writer.row(
        "SELECT data_at FROM customers WHERE email = $1", "anna.ek@example.se"
    )
    assert remembered["data_at"] == newest.customer_data_at


async def test_an_order_without_the_data_time_updates_as_before(writer: Writer) -> None:
    await writer.write(order(4, "2026-11-20T11:00:00", "Nya vägen 2"))
    legacy = msgspec.structs.replace(
        order(5, "2026-11-20T09:00:00", "Gamla vägen 1"), customer_data_at=None
    )
    await writer.write(legacy)
    (customer,) = fortnox_customers(writer.env)
    assert customer.address1 == "Gamla vägen 1"


async def test_erp_totals_that_differ_from_the_mapped_order_park_it(writer: Writer) -> None:
    env = writer.env
    # The mapped order says 111.79; Fortnox computes the rows as 111.78 (VAT 11.98).
    await writer.write(order(6, "2026-11-20T09:00:00", "Gamla vägen 1", total="111.79"))
    (document,) = documents_for(env, "demo-6")
    parked = await writer.row("SELECT code, message FROM parked WHERE order_id = '6'")
    assert parked["code"] == "totals-differ"
    assert parked["message"] == (
        f"Fortnox computed order {document.number} as total 111.78 with VAT 11.98, "
        "but the shop order's are total 111.79 with VAT 11.98: correct or cancel the document "
        "in Fortnox, then retry"
    )
    assert await writer.row("SELECT * FROM links WHERE order_id = '6'") is None
    failed = await writer.row(
        "SELECT routing_key FROM outbox WHERE routing_key = 'erp-writer.erp-order.failed.v1'"
    )
    assert failed is not None

    # Retried as it is, the document found in Fortnox is checked again: still parked, nothing
    # created twice.
    await writer.write(order(6, "2026-11-20T09:00:00", "Gamla vägen 1", total="111.79"))
    assert len(documents_for(env, "demo-6")) == 1
    assert await writer.row("SELECT * FROM links WHERE order_id = '6'") is None

    # Totals that agree: the document is taken as done.
    await writer.write(order(7, "2026-11-20T09:00:00", "Gamla vägen 1"))
    link = await writer.row("SELECT document_number FROM links WHERE order_id = '7'")
    assert link is not None
    assert await writer.row("SELECT * FROM parked WHERE order_id = '7'") is None
