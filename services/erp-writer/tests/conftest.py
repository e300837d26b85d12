"""Fixtures: the Fortnox capabilities against the sandbox Fortnox (in-process) and a real
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ordreflyt_testkit.fortnox import FortnoxEnv, sandbox_fortnox


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[FortnoxEnv]:
    async with sandbox_fortnox(database_url) as fortnox:
        yield fortnox
