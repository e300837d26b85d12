"""erp-writer's tables and every statement it runs on them.

- `links`: shop order -> the ERP document that holds it (done: never written again).
- `attempts`: an attempt that may have reached the ERP (look the reference up before creating).
- `customers`: the ERP customer of an e-mail, the fingerprint of the data it was written with,
  and the time of the shop data it was written from (an older order never overwrites it).
- `parked`: orders the ERP refused (or that failed on their content), with the request.

`WriterStore` is what the exactly-once logic needs inside the handler's transaction (a
Protocol, so its unit tests run on a fake); `PgWriterStore` is it on PostgreSQL. The order's
locks and everything known of the order and its customer come in one round trip (a function),
the result (link, customer, un-parking, erp-order.created) in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from ordreflyt_contracts import ErpOrderRequested, decode_event, encode_event
from ordreflyt_runtime.db import DbConn, Migration
from ordreflyt_runtime.outbox import OutboxRow, outbox_insert

MIGRATIONS: tuple[Migration, ...] = (
    (
        "erp-writer/001_links",
        """
        CREATE TABLE links (
            shop_id text NOT NULL,
            order_id text NOT NULL,
            erp text NOT NULL,
            document_kind text NOT NULL,
            document_number text NOT NULL,
            invoice_number text,
            customer_number text NOT NULL,
            external_reference text NOT NULL,
            adopted boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (shop_id, order_id)
        );
        CREATE TABLE attempts (
            shop_id text NOT NULL,
            order_id text NOT NULL,
            first_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (shop_id, order_id)
        );
        CREATE TABLE customers (
            erp text NOT NULL,
            email text NOT NULL,
            customer_number text NOT NULL,
            fingerprint text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (erp, email)
        );
        CREATE TABLE parked (
            shop_id text NOT NULL,
            order_id text NOT NULL,
            erp text NOT NULL,
            code text NOT NULL,
            message text NOT NULL,
            request bytea NOT NULL,
            parked_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (shop_id, order_id)
        );
        """,
    ),
    (
        # The order's lock, then its customer's (every path takes them in this order; a NULL
        # customer key: none), then what is known of both - read after the locks with a fresh
        # snapshot, so that it includes what the previous holder of a lock committed.
        "erp-writer/002_lock_and_read",
        """
        CREATE FUNCTION lock_and_read(
            order_lock text, customer_lock text,
            p_shop_id text, p_order_id text, p_erp text, p_email text
        ) RETURNS TABLE (
            document_kind text, document_number text, invoice_number text,
            customer_number text, attempted boolean, known_customer text,
            known_fingerprint text
        ) LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext(order_lock));
            IF customer_lock IS NOT NULL THEN
                PERFORM pg_advisory_xact_lock(hashtext(customer_lock));
            END IF;
            RETURN QUERY
            SELECT l.document_kind, l.document_number, l.invoice_number, l.customer_number,
                   EXISTS (SELECT 1 FROM attempts a
                           WHERE a.shop_id = p_shop_id AND a.order_id = p_order_id),
                   c.customer_number, c.fingerprint
            FROM (VALUES (1)) AS one (x)
            LEFT JOIN links l ON l.shop_id = p_shop_id AND l.order_id = p_order_id
            LEFT JOIN customers c ON c.erp = p_erp AND c.email = p_email;
        END
        $$;
        """,
    ),
    (
        # When the shop took the data each remembered customer was last written from.
        "erp-writer/003_customer_data_at",
        "ALTER TABLE customers ADD COLUMN data_at timestamptz;",
    ),
    (
        # The ERP's customer register as last read (e-mail -> number), and when it was read:
        # while it is fresh, a customer not in it is created without a lookup.
        "erp-writer/004_customer_register",
        """
        CREATE TABLE customer_register (
            erp text NOT NULL,
            email text NOT NULL,
            customer_number text NOT NULL,
            PRIMARY KEY (erp, email)
        );
        CREATE TABLE customer_register_state (
            erp text PRIMARY KEY,
            watermark text NOT NULL,
            read_from timestamptz NOT NULL
        );
        """,
    ),
)


@dataclass(frozen=True)
class Link:
    kind: str
    number: str
    customer_number: str
    invoice_number: str | None


@dataclass(frozen=True)
class Known:
    """What the database knew of an order and its customer when the handler took the locks."""

    link: Link | None
    attempted: bool
    customer_number: str | None
    customer_fingerprint: str | None


@dataclass(frozen=True)
class Result:
    """What one handled order leaves behind."""

    shop_id: str
    order_id: str
    erp: str
    link: Link
    external_reference: str
    adopted: bool


@dataclass(frozen=True)
class Remembered:
    """The customer as the ERP has it after this order, to remember."""

    erp: str
    email: str
    number: str
    fingerprint: str
    data_at: datetime | None


class WriterStore(Protocol):
    """erp-writer's statements inside the handler's transaction."""

    async def lock_and_read(
        self, shop_id: str, order_id: str, erp: str, email: str | None
    ) -> Known: ...

    async def customer_written_at(self, erp: str, email: str) -> datetime | None: ...

    async def store_result(
        self, result: Result, customer: Remembered | None, message: OutboxRow
    ) -> None: ...

    async def remember_customer(self, customer: Remembered) -> None: ...

    async def park(self, event: ErpOrderRequested, erp: str, code: str, message: str) -> None: ...


@dataclass(frozen=True)
class RegisterAnswer:
    """The customer register's answer for one e-mail: its number, and whether the register
    is fresh enough that an e-mail not in it is not in the ERP."""

    number: str | None
    fresh: bool


class CustomerRegister(Protocol):
    """The ERP's customer register as last read (committed on its own pool)."""

    async def lookup(self, erp: str, email: str) -> RegisterAnswer: ...


class AttemptMarker(Protocol):
    """Marks an attempt at once, committed on its own (outside the handler's transaction)."""

    async def mark_attempt(self, shop_id: str, order_id: str) -> None: ...


_REMEMBER_CUSTOMER = """
INSERT INTO customers (erp, email, customer_number, fingerprint, data_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (erp, email) DO UPDATE
SET customer_number = excluded.customer_number, fingerprint = excluded.fingerprint,
    data_at = excluded.data_at, updated_at = now()
"""

# The link, no longer parked, erp-order.created in the outbox, and the customer as the ERP now
# has it (NULL email: unchanged). One round trip.
_STORE_RESULT = f"""
WITH link AS (
    INSERT INTO links (shop_id, order_id, erp, document_kind, document_number, invoice_number,
                       customer_number, external_reference, adopted)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
), unparked AS (
    DELETE FROM parked WHERE shop_id = $1 AND order_id = $2
), message AS (
    {outbox_insert("$14", "$15", "$16", "$17")}
)
INSERT INTO customers (erp, email, customer_number, fingerprint, data_at)
SELECT $3, $10::text, $11::text, $12::text, $13::timestamptz WHERE $10::text IS NOT NULL
ON CONFLICT (erp, email) DO UPDATE
SET customer_number = excluded.customer_number, fingerprint = excluded.fingerprint,
    data_at = excluded.data_at, updated_at = now()
"""


class PgWriterStore:
    def __init__(self, conn: DbConn) -> None:
        self.conn = conn

    async def lock_and_read(
        self, shop_id: str, order_id: str, erp: str, email: str | None
    ) -> Known:
        """Take the order's lock (and its customer's, when `email` is given) and read."""
        row = await self.conn.fetchrow(
            "SELECT * FROM lock_and_read($1, $2, $3, $4, $5, $6)",
            f"erp-order:{shop_id}:{order_id}",
            None if email is None else f"customer:{erp}:{email}",
            shop_id,
            order_id,
            erp,
            email or "",
        )
        assert row is not None
        link = (
            Link(
                row["document_kind"],
                row["document_number"],
                row["customer_number"],
                row["invoice_number"],
            )
            if row["document_number"] is not None
            else None
        )
        return Known(link, row["attempted"], row["known_customer"], row["known_fingerprint"])

    async def customer_written_at(self, erp: str, email: str) -> datetime | None:
        value: datetime | None = await self.conn.fetchval(
            "SELECT data_at FROM customers WHERE erp = $1 AND email = $2", erp, email
        )
        return value

    async def store_result(
        self, result: Result, customer: Remembered | None, message: OutboxRow
    ) -> None:
        await self.conn.execute(
            _STORE_RESULT,
            result.shop_id,
            result.order_id,
            result.erp,
            result.link.kind,
            result.link.number,
            result.link.invoice_number,
            result.link.customer_number,
            result.external_reference,
            result.adopted,
            customer.email if customer else None,
            customer.number if customer else None,
            customer.fingerprint if customer else None,
            customer.data_at if customer else None,
            *message,
        )

    async def remember_customer(self, customer: Remembered) -> None:
        await self.conn.execute(
            _REMEMBER_CUSTOMER,
            customer.erp,
            customer.email,
            customer.number,
            customer.fingerprint,
            customer.data_at,
        )

    async def park(self, event: ErpOrderRequested, erp: str, code: str, message: str) -> None:
        order = event.erp_order
        await self.conn.execute(
            "INSERT INTO parked (shop_id, order_id, erp, code, message, request)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (shop_id, order_id) DO UPDATE"
            " SET code = $4, message = $5, request = $6, parked_at = now()",
            order.shop_id,
            order.shop_order_id,
            erp,
            code,
            message,
            encode_event(event),
        )


class PgAttemptMarker:
    def __init__(self, pool: asyncpg.Pool) -> None:
        # Its own pool: markers commit on their own, and a handler holding its connection must
        # never wait for another from the same pool.
        self.pool = pool

    async def mark_attempt(self, shop_id: str, order_id: str) -> None:
        await self.pool.execute(
            "INSERT INTO attempts (shop_id, order_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            shop_id,
            order_id,
        )


class PgCustomerRegister:
    """The register on PostgreSQL: read by handlers, written by the periodic read."""

    def __init__(self, pool: asyncpg.Pool, max_age: float) -> None:
        self.pool = pool
        self.max_age = max_age  # seconds; 0: never fresh (always look the customer up)

    async def lookup(self, erp: str, email: str) -> RegisterAnswer:
        if self.max_age <= 0:
            return RegisterAnswer(None, False)
        row = await self.pool.fetchrow(
            "SELECT (SELECT customer_number FROM customer_register WHERE erp = $1 AND email = $2)"
            " AS number, coalesce((SELECT read_from > now() - make_interval(secs => $3)"
            " FROM customer_register_state WHERE erp = $1), false) AS fresh",
            erp,
            email,
            self.max_age,
        )
        assert row is not None
        return RegisterAnswer(row["number"], bool(row["fresh"]))

    async def watermark(self, erp: str) -> str | None:
        value: str | None = await self.pool.fetchval(
            "SELECT watermark FROM customer_register_state WHERE erp = $1", erp
        )
        return value

    async def store(
        self, erp: str, customers: dict[str, str], watermark: str, read_from: datetime
    ) -> None:
        emails, numbers = list(customers), list(customers.values())
        async with self.pool.acquire() as conn, conn.transaction():
            # A customer whose e-mail changed in the ERP is no longer found by the old one.
            await conn.execute(
                "DELETE FROM customer_register r USING unnest($2::text[], $3::text[]) AS c (email, number)"
                " WHERE r.erp = $1 AND r.customer_number = c.number AND r.email <> c.email",
                erp,
                emails,
                numbers,
            )
            await conn.executemany(
                "INSERT INTO customer_register (erp, email, customer_number) VALUES ($1, $2, $3)"
                " ON CONFLICT (erp, email) DO UPDATE SET customer_number = excluded.customer_number",
                [(erp, email, number) for email, number in customers.items()],
            )
            await conn.execute(
                "INSERT INTO customer_register_state (erp, watermark, read_from)"
                " VALUES ($1, $2, $3) ON CONFLICT (erp) DO UPDATE"
                " SET watermark = excluded.watermark, read_from = excluded.read_from",
                erp,
                watermark,
                read_from,
            )


# For the routes ----------------------------------------------------------------------------


async def parked(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT shop_id, order_id, erp, code, message, parked_at FROM parked ORDER BY parked_at"
    )
    return [{**dict(r), "parked_at": r["parked_at"].isoformat()} for r in rows]


async def parked_count(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM parked"))


async def unpark(conn: DbConn, shop_id: str, order_id: str) -> ErpOrderRequested | None:
    """Take a parked order out (in the caller's transaction); its request, or None."""
    raw = await conn.fetchval(
        "DELETE FROM parked WHERE shop_id = $1 AND order_id = $2 RETURNING request",
        shop_id,
        order_id,
    )
    if raw is None:
        return None
    event = decode_event(bytes(raw))
    assert isinstance(event, ErpOrderRequested)
    return event


async def link(pool: asyncpg.Pool, shop_id: str, order_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT * FROM links WHERE shop_id = $1 AND order_id = $2", shop_id, order_id
    )
    return dict(row) if row is not None else None


async def links(pool: asyncpg.Pool, shop_id: str, order_ids: list[str]) -> dict[str, Any]:
    rows = await pool.fetch(
        "SELECT order_id, document_kind, document_number, invoice_number FROM links"
        " WHERE shop_id = $1 AND order_id = ANY($2::text[])",
        shop_id,
        order_ids,
    )
    return {r["order_id"]: dict(r) for r in rows}
