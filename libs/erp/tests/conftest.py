"""Fixtures: the sandbox Fortnox in-process behind a real client on a real PostgreSQL.

Test modules import `FortnoxEnv` from ordreflyt_testkit.fortnox for annotations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ordreflyt_testkit.fortnox import FortnoxEnv, sandbox_fortnox


@pytest.fixture
async def fortnox(database_url: str) -> AsyncIterator[FortnoxEnv]:
    async with sandbox_fortnox(database_url) as env:
        yield env
