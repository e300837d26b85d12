"""order-mapper's tables: the latest known state of every shop order, and what became of it.

One row per shop order: its latest state (by `date_modified_gmt`; an older state arriving late
is ignored), whether and when it was transferred to the ERP, the fingerprint of what was sent
(to notice changes after transfer), and the reasons it is held, if it is.
"""

from __future__ import annotations

from ordreflyt_runtime.db import Migration

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
