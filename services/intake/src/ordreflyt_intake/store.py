"""Intake's tables: every delivery it answered 2xx, the order states it has seen, the
reconciliation watermarks, and the webhook secrets it registered itself.

A delivery, its order state and the message it causes are written by ONE statement (one round
trip, one transaction): the state insert decides whether the delivery is new or a repeat, and
the outbox row exists only for a new forwarded state. A delivery is keyed by its own id, so
storing one again (a spooled delivery replayed after a crash) changes nothing.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ordreflyt_runtime.db import Migration
from ordreflyt_runtime.outbox import OutboxRow, outbox_insert

MIGRATIONS: tuple[Migration, ...] = (
    (
        "intake/001_deliveries",
        """
        CREATE TABLE deliveries (
            id uuid PRIMARY KEY,
            shop_id text NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            topic text,
            webhook_id text,
            wc_delivery_id text,
            headers jsonb NOT NULL,
            body bytea NOT NULL,
            order_id bigint,
            status text,
            date_modified_gmt text,
            outcome text NOT NULL
        );
        CREATE INDEX deliveries_order ON deliveries (shop_id, order_id);
        CREATE INDEX deliveries_received_at ON deliveries (received_at);
        CREATE TABLE order_states (
            shop_id text NOT NULL,
            order_id bigint NOT NULL,
            date_modified_gmt text NOT NULL,
            status text NOT NULL,
            delivery_id uuid NOT NULL,
            PRIMARY KEY (shop_id, order_id, date_modified_gmt, status)
        );
        """,
    ),
    (
        # date_modified_gmt has one-second resolution: an edit within the same second as the
        # previous save keeps it and the status, so the order's content is part of the key too.
        "intake/002_state_content",
        """
        ALTER TABLE order_states ADD COLUMN content_hash text NOT NULL DEFAULT '';
        ALTER TABLE order_states DROP CONSTRAINT order_states_pkey;
        ALTER TABLE order_states ADD PRIMARY KEY (shop_id, order_id, date_modified_gmt, status, content_hash);
        """,
    ),
    (
        "intake/003_reconciliation",
        """
        ALTER TABLE deliveries ADD COLUMN source text NOT NULL DEFAULT 'webhook';
        CREATE TABLE reconcile_watermarks (
            shop_id text PRIMARY KEY,
            watermark timestamptz NOT NULL,
            last_pass_at timestamptz,
            last_error text,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE shop_secrets (
            shop_id text NOT NULL,
            secret text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (shop_id, created_at)
        );
        """,
    ),
)

# Outcomes recorded per delivery.
PUBLISHED = "published"
DUPLICATE = "duplicate"
NOT_FORWARDED = "not-forwarded"
PING = "ping"
SPOOLED = "spooled"  # answered, on disk, stored in PostgreSQL as soon as it answers

# The message of a stored delivery: its row is $12 (event id), $13 (routing key), $14 (body);
# the correlation id is the order id ($7), as in the message's own row.
_MESSAGE_IF_PUBLISHED = outbox_insert(
    "$12", "$13", "$7::text", "$14", source="delivery", where="delivery.outcome = 'published'"
)
_MESSAGE_IF_ANY = outbox_insert(
    "$12", "$13", "$7::text", "$14", source="delivery", where="$12::uuid IS NOT NULL"
)

# $16: publish even a state seen before (resync); $17: keep a row of a repeated delivery
# (webhooks: yes, every 2xx is kept; polls: no, a poll sees most states again).
_STORE_STATE = f"""
WITH state AS (
    INSERT INTO order_states (shop_id, order_id, date_modified_gmt, status, content_hash, delivery_id)
    VALUES ($2, $7, $9, $8, $15, $1)
    ON CONFLICT DO NOTHING
    RETURNING 1
), decided AS (
    SELECT CASE WHEN $16::bool OR EXISTS (SELECT 1 FROM state) THEN $11 ELSE 'duplicate' END
           AS outcome
), delivery AS (
    INSERT INTO deliveries
        (id, shop_id, topic, webhook_id, wc_delivery_id, headers, body,
         order_id, status, date_modified_gmt, outcome, source, received_at)
    SELECT $1, $2, $3, $4, $5, $6, $10, $7, $8, $9, decided.outcome, $18, $19
    FROM decided WHERE decided.outcome <> 'duplicate' OR $17::bool
    ON CONFLICT (id) DO NOTHING
    RETURNING outcome
), message AS (
    {_MESSAGE_IF_PUBLISHED}
)
SELECT (SELECT outcome FROM decided) AS outcome, EXISTS (SELECT 1 FROM delivery) AS stored
"""

_STORE_PLAIN = f"""
WITH delivery AS (
    INSERT INTO deliveries
        (id, shop_id, topic, webhook_id, wc_delivery_id, headers, body,
         order_id, status, date_modified_gmt, outcome, source, received_at)
    VALUES ($1, $2, $3, $4, $5, $6, $10, $7, $8, $9, $11, $15, $16)
    ON CONFLICT (id) DO NOTHING
    RETURNING outcome
), message AS (
    {_MESSAGE_IF_ANY}
)
SELECT $11::text AS outcome, EXISTS (SELECT 1 FROM delivery) AS stored
"""


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    shop_id: str
    topic: str | None
    webhook_id: str | None
    wc_delivery_id: str | None
    headers_json: str
    body: bytes
    received_at: datetime
    source: str = "webhook"
    order_id: int | None = None
    status: str | None = None
    date_modified_gmt: str | None = None
    content_hash: str = ""


@dataclass(frozen=True)
class Stored:
    outcome: str
    # False when this delivery (its id) was stored before: a spooled one replayed again, or a
    # repeated state found by a poll (whose repeats are not kept).
    new: bool


async def store_delivery(
    pool: asyncpg.Pool,
    delivery: Delivery,
    outcome: str,
    message: OutboxRow | None,
    *,
    dedupe_on_state: bool,
    force: bool = False,
    keep_duplicates: bool = True,
    timeout: float | None = None,
) -> Stored:
    """Store the delivery (and its message, if the state is new); returns the final outcome.

    With `dedupe_on_state`, a delivery whose (shop, order, date_modified_gmt, status, content)
    was seen before is stored with outcome `duplicate` and publishes nothing, unless `force`.
    """
    args: list[object] = [
        delivery.id,
        delivery.shop_id,
        delivery.topic,
        delivery.webhook_id,
        delivery.wc_delivery_id,
        delivery.headers_json,
        delivery.order_id,
        delivery.status,
        # The state key needs a value; an order without date_modified_gmt keys on "".
        (delivery.date_modified_gmt or "") if dedupe_on_state else delivery.date_modified_gmt,
        delivery.body,
        outcome,
        # The correlation id is the order id ($7), as in the message's own row.
        message[0] if message else None,
        message[1] if message else None,
        message[3] if message else None,
    ]
    if dedupe_on_state:
        args += [delivery.content_hash, force, keep_duplicates]
    args += [delivery.source, delivery.received_at]
    async with pool.acquire(timeout=timeout) as conn:
        row = await conn.fetchrow(
            _STORE_STATE if dedupe_on_state else _STORE_PLAIN, *args, timeout=timeout
        )
    assert row is not None
    return Stored(outcome=row["outcome"], new=row["stored"])


async def watermark(pool: asyncpg.Pool, shop_id: str) -> datetime | None:
    value = await pool.fetchval(
        "SELECT watermark FROM reconcile_watermarks WHERE shop_id = $1", shop_id
    )
    return value if isinstance(value, datetime) else None


async def move_watermark(pool: asyncpg.Pool, shop_id: str, to: datetime) -> None:
    """Never backwards."""
    await pool.execute(
        "INSERT INTO reconcile_watermarks (shop_id, watermark) VALUES ($1, $2)"
        " ON CONFLICT (shop_id) DO UPDATE SET"
        " watermark = greatest(reconcile_watermarks.watermark, excluded.watermark),"
        " updated_at = now()",
        shop_id,
        to,
    )


async def record_pass(pool: asyncpg.Pool, shop_id: str, error: str | None) -> None:
    await pool.execute(
        "UPDATE reconcile_watermarks SET last_error = $2,"
        " last_pass_at = CASE WHEN $2::text IS NULL THEN now() ELSE last_pass_at END"
        " WHERE shop_id = $1",
        shop_id,
        error,
    )


async def shop_secrets(pool: asyncpg.Pool) -> dict[str, list[bytes]]:
    """Secrets intake registered itself, per shop, newest first (the two newest count)."""
    rows = await pool.fetch(
        "SELECT shop_id, secret FROM shop_secrets ORDER BY shop_id, created_at DESC"
    )
    found: dict[str, list[bytes]] = {}
    for row in rows:
        found.setdefault(row["shop_id"], []).append(row["secret"].encode())
    return {shop: secrets[:2] for shop, secrets in found.items()}


async def add_shop_secret(pool: asyncpg.Pool, shop_id: str, secret: str) -> None:
    await pool.execute(
        "INSERT INTO shop_secrets (shop_id, secret) VALUES ($1, $2)", shop_id, secret
    )


async def states_seen(pool: asyncpg.Pool, shop_id: str, order_ids: list[int]) -> set[int]:
    rows = await pool.fetch(
        "SELECT DISTINCT order_id FROM order_states WHERE shop_id = $1 AND order_id = ANY($2)",
        shop_id,
        order_ids,
    )
    return {r["order_id"] for r in rows}


async def watermarks(pool: asyncpg.Pool) -> list[dict[str, object]]:
    rows = await pool.fetch(
        "SELECT shop_id, watermark, last_pass_at, last_error FROM reconcile_watermarks"
    )
    return [dict(r) for r in rows]


async def reconcile_lag(pool: asyncpg.Pool) -> dict[str, float]:
    """Seconds since each shop's last complete reconciliation pass."""
    rows = await pool.fetch(
        "SELECT shop_id, extract(epoch FROM now() - last_pass_at) AS lag"
        " FROM reconcile_watermarks WHERE last_pass_at IS NOT NULL"
    )
    return {r["shop_id"]: float(r["lag"]) for r in rows}


@contextlib.asynccontextmanager
async def shop_lock(pool: asyncpg.Pool, name: str) -> AsyncIterator[bool]:
    """A session advisory lock for one process at a time (False: another holds it)."""
    async with pool.acquire() as conn:
        locked = bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name))
        try:
            yield locked
        finally:
            if locked:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", name)
