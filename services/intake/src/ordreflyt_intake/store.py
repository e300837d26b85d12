"""Intake's tables: every delivery it answered 2xx, and the order states it has seen.

A delivery, its order state and the message it causes are written by ONE statement (one round
trip, one transaction): the state insert decides whether the delivery is new or a repeat, and
the outbox row exists only for a new forwarded state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from ordreflyt_runtime.db import Migration
from ordreflyt_runtime.outbox import OutboxRow

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
)

# Outcomes recorded per delivery.
PUBLISHED = "published"
DUPLICATE = "duplicate"
NOT_FORWARDED = "not-forwarded"
PING = "ping"

_STORE_STATE = """
WITH state AS (
    INSERT INTO order_states (shop_id, order_id, date_modified_gmt, status, content_hash, delivery_id)
    VALUES ($2, $7, $9, $8, $15, $1)
    ON CONFLICT DO NOTHING
    RETURNING 1
), delivery AS (
    INSERT INTO deliveries
        (id, shop_id, topic, webhook_id, wc_delivery_id, headers, body,
         order_id, status, date_modified_gmt, outcome)
    SELECT $1, $2, $3, $4, $5, $6, $10, $7, $8, $9,
           CASE WHEN EXISTS (SELECT 1 FROM state) THEN $11 ELSE 'duplicate' END
    RETURNING outcome
), message AS (
    INSERT INTO outbox (event_id, routing_key, correlation_id, body)
    SELECT $12, $13, $7::text, $14 FROM delivery WHERE delivery.outcome = 'published'
)
SELECT outcome FROM delivery
"""

_STORE_PLAIN = """
WITH delivery AS (
    INSERT INTO deliveries
        (id, shop_id, topic, webhook_id, wc_delivery_id, headers, body,
         order_id, status, date_modified_gmt, outcome)
    VALUES ($1, $2, $3, $4, $5, $6, $10, $7, $8, $9, $11)
    RETURNING outcome
), message AS (
    INSERT INTO outbox (event_id, routing_key, correlation_id, body)
    SELECT $12, $13, $7::text, $14 FROM delivery WHERE $12::uuid IS NOT NULL
)
SELECT outcome FROM delivery
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
    order_id: int | None = None
    status: str | None = None
    date_modified_gmt: str | None = None
    content_hash: str = ""


async def store_delivery(
    pool: asyncpg.Pool,
    delivery: Delivery,
    outcome: str,
    message: OutboxRow | None,
    *,
    dedupe_on_state: bool,
) -> str:
    """Store the delivery (and its message, if the state is new); returns the final outcome.

    With `dedupe_on_state`, a delivery whose (shop, order, date_modified_gmt, status, content)
    was seen before is stored with outcome `duplicate` and publishes nothing.
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
        args.append(delivery.content_hash)
    result = await pool.fetchval(_STORE_STATE if dedupe_on_state else _STORE_PLAIN, *args)
    assert isinstance(result, str)
    return result
