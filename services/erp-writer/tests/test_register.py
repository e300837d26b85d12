"""The customer register on PostgreSQL: what a fresh copy answers, when it is not trusted, and
a customer whose e-mail changed in the ERP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ordreflyt_erp_writer.app import SPEC
from ordreflyt_erp_writer.store import PgCustomerRegister, RegisterAnswer
from ordreflyt_runtime.db import create_pool, migrate

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    schema = f"erp_writer_register_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(database_url, schema)
    await migrate(pool, schema, SPEC.migrations)
    yield pool
    await pool.close()


async def test_a_fresh_register_answers_for_the_erp(pool: asyncpg.Pool) -> None:
    register = PgCustomerRegister(pool, max_age=180)
    assert await register.lookup("fortnox", "a@example.se") == RegisterAnswer(None, False)
    now = datetime.now(UTC)
    await register.store("fortnox", {"a@example.se": "7"}, "2026-11-28 12:00", now)
    assert await register.watermark("fortnox") == "2026-11-28 12:00"
    assert await register.lookup("fortnox", "a@example.se") == RegisterAnswer("7", True)
    # Not in a fresh register: not in the ERP (created without a lookup).
    assert await register.lookup("fortnox", "b@example.se") == RegisterAnswer(None, True)
    # Another account's register says nothing of this one.
    assert await register.lookup("fortnox:no", "a@example.se") == RegisterAnswer(None, False)


async def test_a_register_read_too_long_ago_is_not_trusted(pool: asyncpg.Pool) -> None:
    register = PgCustomerRegister(pool, max_age=180)
    old = datetime.now(UTC) - timedelta(seconds=181)
    await register.store("fortnox", {"a@example.se": "7"}, "2026-11-28 12:00", old)
    assert await register.lookup("fortnox", "b@example.se") == RegisterAnswer(None, False)
    assert await register.lookup("fortnox", "a@example.se") == RegisterAnswer("7", False)
    off = PgCustomerRegister(pool, max_age=0)  # customer_register_interval = 0
    assert await off.lookup("fortnox", "a@example.se") == RegisterAnswer(None, False)


async def test_a_customer_whose_email_changed_is_not_found_by_the_old_one(
    pool: asyncpg.Pool,
) -> None:
    register = PgCustomerRegister(pool, max_age=180)
    now = datetime.now(UTC)
    await register.store("fortnox", {"old@example.se": "7", "x@example.se": "8"}, "w1", now)
    await register.store("fortnox", {"new@example.se": "7"}, "w2", now)
    assert await register.lookup("fortnox", "old@example.se") == RegisterAnswer(None, True)
    assert await register.lookup("fortnox", "new@example.se") == RegisterAnswer("7", True)
    assert await register.lookup("fortnox", "x@example.se") == RegisterAnswer("8", True)
