"""pytest fixtures for every Ordreflyt test package (loaded by the root conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from ordreflyt_runtime.db import ensure_database
from ordreflyt_testkit.infra import Infra, InfraUnavailable, drop_database, provide_infra


@pytest.fixture(scope="session", autouse=True)
def own_intake_spool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test run's own intake spool (INTAKE_SPOOL_DIR), for every intake it starts that does
    not name one: deliveries an intake spooled are never taken by an intake of another run."""
    directory = tmp_path_factory.mktemp("intake-spool")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INTAKE_SPOOL_DIR", str(directory))
        yield directory


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    try:
        with provide_infra() as provided:
            yield provided
    except InfraUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
async def database_url(infra: Infra) -> AsyncIterator[str]:
    await ensure_database(infra.database_url)
    yield infra.database_url
    if infra.kind == "local":
        await drop_database(infra.database_url)


@pytest.fixture(scope="session")
def amqp_url(infra: Infra) -> str:
    return infra.amqp_url


@pytest.fixture(scope="session")
async def amqp_connection(amqp_url: str) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(
        amqp_url, client_properties={"connection_name": "tests"}
    )
    yield connection
    await connection.close()


@pytest.fixture
async def channel(amqp_connection: AbstractRobustConnection) -> AsyncIterator[AbstractChannel]:
    ch = await amqp_connection.channel()
    yield ch
    if not ch.is_closed:
        await ch.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
