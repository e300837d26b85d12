"""order-mapper's tables and every statement it runs on them.

One row per shop order: its latest state (by `date_modified_gmt`; an older state arriving late
is ignored), whether and when it was transferred to the ERP, the fingerprint of what was sent
(to notice changes after transfer), the reasons it is held, if it is, and what erp-writer said
of it. `OrderStore` works inside the handler's transaction (its connection); the module's
functions serve the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from ordreflyt_contracts import WooOrder
from ordreflyt_runtime.db import DbConn, Migration

MIGRATIONS: tuple[Migration, ...] = (
    (
        "order-mapper/001_orders",
        """
        CREATE TABLE orders (
            shop_id text NOT NULL,
            order_id text NOT NULL,
            order_number text NOT NULL DEFAULT '',
            status text NOT NULL,
            date_modified_gmt timestamp,
            latest bytea NOT NULL,
            paid boolean NOT NULL DEFAULT false,
            deleted boolean NOT NULL DEFAULT false,
            transferred_at timestamptz,
            transferred_fingerprint text,
            changed_after_transfer boolean NOT NULL DEFAULT false,
            change_note text NOT NULL DEFAULT '',
            held_reasons text[],
            held_at timestamptz,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (shop_id, order_id)
        );
        CREATE INDEX orders_held ON orders (held_at) WHERE held_reasons IS NOT NULL;
        CREATE INDEX orders_changed ON orders (updated_at) WHERE changed_after_transfer;
        """,
    ),
    (
        # What erp-writer reported back: the document, a refusal (parked), an update's fate.
        "order-mapper/002_erp_status",
        """
        ALTER TABLE orders ADD COLUMN erp_status text;
        ALTER TABLE orders ADD COLUMN erp_note text NOT NULL DEFAULT '';
        """,
    ),
)

_order_json = msgspec.json.Encoder(decimal_format="string")

# The first state of a shop order, stored with its outcome (sent: transferred; held: reasons)
# in one statement. Nothing is inserted for an order already known.
_FIRST_STATE = """
INSERT INTO orders (shop_id, order_id, status, order_number, date_modified_gmt, latest, paid,
                    transferred_at, transferred_fingerprint, held_reasons, held_at)
VALUES ($1, $2, $3, $4, $5, $6, $7,
        CASE WHEN $8::text IS NULL THEN NULL ELSE now() END, $8::text,
        $9::text[], CASE WHEN $9::text[] IS NULL THEN NULL ELSE now() END)
ON CONFLICT DO NOTHING
RETURNING true
"""

# A state whose handling failed: stored (or its row updated) and held with the error.
_HOLD_FAILED = """
INSERT INTO orders (shop_id, order_id, status, order_number, date_modified_gmt, latest, paid,
                    held_reasons, held_at)
VALUES ($1, $2, $3, $4, $5, $6, true, $7, now())
ON CONFLICT (shop_id, order_id) DO UPDATE
SET held_reasons = excluded.held_reasons, held_at = coalesce(orders.held_at, now()),
    latest = CASE WHEN orders.transferred_at IS NULL THEN excluded.latest ELSE orders.latest END,
    paid = true, updated_at = now()
"""


@dataclass(frozen=True)
class Known:
    """What is known of an order seen before (its row, locked for this transaction)."""

    date_modified_gmt: datetime | None
    transferred: bool
    transferred_fingerprint: str | None
    paid: bool
    latest: bytes


def _state(order: WooOrder) -> tuple[Any, ...]:
    return (
        str(order.id),
        order.status,
        order.number or str(order.id),
        order.date_modified_gmt,
        _order_json.encode(order),
    )


class OrderStore:
    """order-mapper's statements inside one transaction (the handler's connection)."""

    def __init__(self, conn: DbConn) -> None:
        self.conn = conn

    async def add_first_state(
        self,
        shop_id: str,
        order: WooOrder,
        paid: bool,
        sent_fingerprint: str | None,
        held_reasons: list[str] | None,
    ) -> bool:
        """Store an order not seen before with its outcome; False if it is known."""
        inserted = await self.conn.fetchval(
            _FIRST_STATE, shop_id, *_state(order), paid, sent_fingerprint, held_reasons
        )
        return bool(inserted)

    async def lock(self, shop_id: str, order_id: str) -> Known | None:
        """The order's row, locked so replicas handle its states one at a time."""
        row = await self.conn.fetchrow(
            "SELECT date_modified_gmt, transferred_at, transferred_fingerprint, paid, latest"
            " FROM orders WHERE shop_id = $1 AND order_id = $2 FOR UPDATE",
            shop_id,
            order_id,
        )
        if row is None:
            return None
        return Known(
            date_modified_gmt=row["date_modified_gmt"],
            transferred=row["transferred_at"] is not None,
            transferred_fingerprint=row["transferred_fingerprint"],
            paid=row["paid"],
            latest=bytes(row["latest"]),
        )

    async def add_state(self, shop_id: str, order: WooOrder, paid: bool, restored: bool) -> None:
        await self.conn.execute(
            "UPDATE orders SET status = $3, order_number = $4, date_modified_gmt = $5, latest = $6,"
            " paid = paid OR $7, deleted = deleted AND NOT $8, updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            *_state(order),
            paid,
            restored,
        )

    async def mark_deleted(self, shop_id: str, order_id: str) -> None:
        await self.conn.execute(
            "UPDATE orders SET deleted = true, updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
        )

    async def hold(self, shop_id: str, order_id: str, reasons: list[str]) -> None:
        await self.conn.execute(
            "UPDATE orders SET held_reasons = $3, held_at = coalesce(held_at, now())"
            " WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            reasons,
        )

    async def hold_failed(self, shop_id: str, order: WooOrder, reason: str) -> None:
        await self.conn.execute(_HOLD_FAILED, shop_id, *_state(order), [reason])

    async def mark_transferred(self, shop_id: str, order_id: str, sent_fingerprint: str) -> None:
        await self.conn.execute(
            "UPDATE orders SET transferred_at = now(), transferred_fingerprint = $3,"
            " held_reasons = NULL, held_at = NULL WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            sent_fingerprint,
        )

    async def mark_update_sent(self, shop_id: str, order_id: str, sent_fingerprint: str) -> None:
        await self.conn.execute(
            "UPDATE orders SET transferred_fingerprint = $3 WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            sent_fingerprint,
        )

    async def mark_changed(self, shop_id: str, order_id: str, note: str) -> None:
        await self.conn.execute(
            "UPDATE orders SET changed_after_transfer = true, change_note = $3"
            " WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            note,
        )

    async def set_erp_status(self, shop_id: str, order_id: str, status: str, note: str) -> None:
        await self.conn.execute(
            "UPDATE orders SET erp_status = $3, erp_note = $4, updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            status,
            note,
        )


# For the routes (each its own statement on the pool) ----------------------------------------


async def holds(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT shop_id, order_id, order_number, status, held_reasons, held_at FROM orders"
        " WHERE held_reasons IS NOT NULL ORDER BY held_at"
    )
    return [
        {
            "shop_id": r["shop_id"],
            "order_id": r["order_id"],
            "order_number": r["order_number"],
            "status": r["status"],
            "reasons": list(r["held_reasons"]),
            "held_at": r["held_at"].isoformat(),
        }
        for r in rows
    ]


async def held_count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM orders WHERE held_reasons IS NOT NULL"))


async def changed(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT shop_id, order_id, order_number, status, change_note, updated_at FROM orders"
        " WHERE changed_after_transfer ORDER BY updated_at"
    )
    return [
        {
            "shop_id": r["shop_id"],
            "order_id": r["order_id"],
            "order_number": r["order_number"],
            "status": r["status"],
            "note": r["change_note"],
            "updated_at": r["updated_at"].isoformat(),
        }
        for r in rows
    ]


async def order(pool: asyncpg.Pool, shop_id: str, order_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT * FROM orders WHERE shop_id = $1 AND order_id = $2", shop_id, order_id
    )
    if row is None:
        return None
    return {
        "shop_id": row["shop_id"],
        "order_id": row["order_id"],
        "order_number": row["order_number"],
        "status": row["status"],
        "paid": row["paid"],
        "deleted": row["deleted"],
        "transferred_at": row["transferred_at"].isoformat() if row["transferred_at"] else None,
        "changed_after_transfer": row["changed_after_transfer"],
        "change_note": row["change_note"],
        "held_reasons": list(row["held_reasons"]) if row["held_reasons"] is not None else None,
        "erp_status": row["erp_status"],
        "erp_note": row["erp_note"],
    }


async def transferred(pool: asyncpg.Pool, shop_id: str, order_ids: list[str]) -> set[str]:
    """Which of these orders were sent to the ERP already."""
    rows = await pool.fetch(
        "SELECT order_id FROM orders WHERE shop_id = $1 AND order_id = ANY($2::text[])"
        " AND transferred_at IS NOT NULL",
        shop_id,
        order_ids,
    )
    return {r["order_id"] for r in rows}
