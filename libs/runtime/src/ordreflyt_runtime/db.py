"""PostgreSQL: create the database if missing, a connection pool, and per-service migrations.

Each service owns one schema named after it (`order-mapper` -> `order_mapper`). Migrations are
(id, SQL) pairs applied in order at start, once each, under an advisory lock so replicas
starting together do not race. The runtime adds its own outbox and inbox tables first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeAlias
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ordreflyt_runtime.retry import until_ready
from ordreflyt_runtime.settings import redact_url

log = logging.getLogger(__name__)

Migration = tuple[str, str]
# A connection as handlers get it: plain, or borrowed from the pool.
DbConn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

RUNTIME_MIGRATIONS: tuple[Migration, ...] = (
    (
        "runtime/001_outbox_inbox",
        """
        CREATE TABLE outbox (
            id bigserial PRIMARY KEY,
            event_id uuid NOT NULL UNIQUE,
            routing_key text NOT NULL,
            correlation_id text,
            body bytea NOT NULL,
            headers jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE inbox (
            event_id uuid PRIMARY KEY,
            routing_key text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX inbox_received_at ON inbox (received_at);
        """,
    ),
)


def schema_name(service: str) -> str:
    return service.replace("-", "_")


async def ensure_database(database_url: str) -> None:
    """Create the database named in the URL if it does not exist yet."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/") or "postgres"
    try:
        conn = await asyncpg.connect(database_url)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin_url)
    try:
        # Services starting together would race to create it (one of them failing on the
        # catalogue's unique index): one at a time, and only if it is still missing.
        await conn.execute("SELECT pg_advisory_lock(hashtext('ordreflyt:create-database'))")
        exists = await conn.fetchval("SELECT true FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            await conn.execute(f"CREATE DATABASE {quoted}")
            log.info("created database %s", name)
    except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
        pass  # created meanwhile by a server-side path that did not take the lock
    finally:
        await conn.close()  # also releases the session lock


async def create_pool(
    database_url: str, schema: str, *, min_size: int = 2, max_size: int = 10
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        # asyncpg's default reset costs a round trip on every release. Our code keeps no
        # session state (no LISTEN, no session advisory locks, no SET outside transactions),
        # so there is nothing to reset.
        reset=_keep_session,
        server_settings={"search_path": f"{schema},public", "application_name": schema},
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    return None


async def migrate(
    pool: asyncpg.Pool, schema: str, migrations: Sequence[Migration], *, runtime_tables: bool = True
) -> list[str]:
    """Apply the runtime's (outbox, inbox) and the given migrations not applied yet; returns
    their ids. `runtime_tables=False` for a schema that is not a service's own."""
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(f"SET LOCAL search_path = {schema}")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["id"] for r in await conn.fetch("SELECT id FROM schema_migrations")}
        for migration_id, sql in (*(RUNTIME_MIGRATIONS if runtime_tables else ()), *migrations):
            if migration_id in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (id) VALUES ($1)", migration_id)
            applied.append(migration_id)
    if applied:
        log.info("applied migrations", extra={"schema": schema, "migrations": applied})
    return applied


async def wait_for_database(database_url: str, timeout: float) -> None:
    """Retry until PostgreSQL answers (it may still be starting), then make sure the DB exists."""
    try:
        async for attempt in until_ready(
            "reaching PostgreSQL", timeout, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
        ):
            with attempt:
                await ensure_database(database_url)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ConnectionError(
            f"DATABASE_URL: cannot reach PostgreSQL at {redact_url(database_url)}: {exc}"
        ) from exc
