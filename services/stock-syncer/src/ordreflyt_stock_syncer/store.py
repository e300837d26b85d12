"""stock-syncer's state in PostgreSQL (schema `stock_syncer`), shared by its replicas.

- `shop_items`: the SKU map per shop (SKU -> product id, parent id for a variation) with the
  values the shop showed when last listed; `shop_state` says when it was read in full, from when
  the next incremental read starts, and whether a full read is due (a product vanished).
- `pushed`: the last value successfully pushed per shop, SKU and field: the reference a change
  is measured against, so nothing equal is ever sent again.
- `item_errors`: per-item errors (WooCommerce's code and message) waiting to be retried.
- `erp_links`: shop orders the ERP holds, learned from erp-writer's erp-order.created.
- `reports` (last report per shop) and `passes` (summaries of the latest passes).
- `tracking`: when this service first started; see `Syncer` for why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias

import asyncpg
import msgspec

from ordreflyt_runtime.db import DbConn
from ordreflyt_stock_syncer.plan import ShopItem
from ordreflyt_stock_syncer.shop import CatalogueRead

MIGRATION = (
    "stock-syncer/001_state",
    """
    CREATE TABLE shop_items (
        shop_id text NOT NULL,
        sku text NOT NULL,
        product_id bigint NOT NULL,
        parent_id bigint NOT NULL DEFAULT 0,
        manage_stock boolean NOT NULL,
        stock_quantity integer,
        name text,
        regular_price text,
        weight text,
        tax_class text,
        seen_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (shop_id, sku)
    );
    CREATE INDEX shop_items_product ON shop_items (shop_id, product_id);
    CREATE INDEX shop_items_parent ON shop_items (shop_id, parent_id);
    CREATE TABLE shop_state (
        shop_id text PRIMARY KEY,
        full_read_at timestamptz,
        read_since timestamptz,
        full_read_due boolean NOT NULL DEFAULT false,
        without_sku bigint[] NOT NULL DEFAULT '{}',
        parent_skus text[] NOT NULL DEFAULT '{}'
    );
    CREATE TABLE pushed (
        shop_id text NOT NULL,
        sku text NOT NULL,
        product_id bigint NOT NULL,
        field text NOT NULL,
        value text NOT NULL,
        pushed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (shop_id, sku, field)
    );
    CREATE TABLE item_errors (
        shop_id text NOT NULL,
        sku text NOT NULL,
        product_id bigint NOT NULL,
        fields text[] NOT NULL,
        code text NOT NULL,
        message text NOT NULL,
        attempts integer NOT NULL DEFAULT 1,
        first_at timestamptz NOT NULL DEFAULT now(),
        last_at timestamptz NOT NULL DEFAULT now(),
        next_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (shop_id, sku)
    );
    CREATE TABLE erp_links (
        shop_id text NOT NULL,
        order_id text NOT NULL,
        erp text NOT NULL,
        document_number text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (shop_id, order_id)
    );
    CREATE TABLE reports (
        shop_id text PRIMARY KEY,
        report json NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE passes (
        id bigserial PRIMARY KEY,
        started_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        trigger text NOT NULL,
        ok boolean NOT NULL,
        summary json NOT NULL
    );
    CREATE TABLE tracking (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        since timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO tracking DEFAULT VALUES;
    """,
)

# A connection (for a transaction), or the pool (each statement on its own).
Db: TypeAlias = "DbConn | asyncpg.Pool[asyncpg.Record]"

PASSES_KEPT = 200
# Waits before retrying a rejected item on a scheduled pass: 1, 2, 4, ... minutes, at most 1 h.
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)

_encode = msgspec.json.Encoder(decimal_format="string")

_ITEM_COLUMNS = (
    "shop_id",
    "sku",
    "product_id",
    "parent_id",
    "manage_stock",
    "stock_quantity",
    "name",
    "regular_price",
    "weight",
    "tax_class",
)


def retry_delay(attempts: int) -> timedelta:
    delay: timedelta = RETRY_FIRST * 2 ** max(attempts - 1, 0)
    return min(delay, RETRY_MAX)


def _row(shop_id: str, item: ShopItem) -> tuple[Any, ...]:
    return (
        shop_id,
        item.sku,
        item.product_id,
        item.parent_id,
        item.manage_stock,
        item.stock_quantity,
        item.name,
        item.regular_price,
        item.weight,
        item.tax_class,
    )


def _dedupe(items: Iterable[ShopItem]) -> list[ShopItem]:
    # A SKU is unique in WooCommerce; should two rows carry one anyway, the last listed wins.
    return list({item.sku: item for item in items}.values())


async def load_items(conn: Db, shop_id: str) -> dict[str, ShopItem]:
    rows = await conn.fetch(
        "SELECT sku, product_id, parent_id, manage_stock, stock_quantity, name, regular_price,"
        " weight, tax_class FROM shop_items WHERE shop_id = $1",
        shop_id,
    )
    return {r["sku"]: ShopItem(**dict(r)) for r in rows}


async def replace_items(conn: DbConn, shop_id: str, read: CatalogueRead, at: datetime) -> None:
    """A full read replaces the shop's map (in the caller's transaction)."""
    await conn.execute("DELETE FROM shop_items WHERE shop_id = $1", shop_id)
    await conn.copy_records_to_table(
        "shop_items",
        records=[_row(shop_id, item) for item in _dedupe(read.items)],
        columns=_ITEM_COLUMNS,
    )
    # What was pushed to products no longer in the shop, and their errors, are of no use now.
    for table in ("pushed", "item_errors"):
        await conn.execute(
            f"DELETE FROM {table} t WHERE shop_id = $1 AND NOT EXISTS (SELECT 1 FROM shop_items i"
            " WHERE i.shop_id = t.shop_id AND i.sku = t.sku AND i.product_id = t.product_id)",
            shop_id,
        )
    await conn.execute(
        "INSERT INTO shop_state (shop_id, full_read_at, read_since, full_read_due, without_sku,"
        " parent_skus) VALUES ($1, $2, $2, false, $3, $4) ON CONFLICT (shop_id) DO UPDATE SET"
        " full_read_at = $2, read_since = $2, full_read_due = false, without_sku = $3,"
        " parent_skus = $4",
        shop_id,
        at,
        sorted(read.without_sku),
        sorted(read.parent_skus),
    )


async def merge_items(conn: DbConn, shop_id: str, read: CatalogueRead, at: datetime) -> None:
    """An incremental read: rows of the products seen are replaced by what was listed."""
    await conn.execute(
        "DELETE FROM shop_items WHERE shop_id = $1 AND (product_id = ANY($2) OR parent_id = ANY($3))",
        shop_id,
        sorted(read.product_ids),
        sorted(read.parent_ids),
    )
    await conn.executemany(
        f"INSERT INTO shop_items ({', '.join(_ITEM_COLUMNS)}) VALUES"
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (shop_id, sku) DO UPDATE SET"
        " product_id = $3, parent_id = $4, manage_stock = $5, stock_quantity = $6, name = $7,"
        " regular_price = $8, weight = $9, tax_class = $10, seen_at = now()",
        [_row(shop_id, item) for item in _dedupe(read.items)],
    )
    await conn.execute(
        "UPDATE shop_state SET read_since = $2,"
        " parent_skus = ARRAY(SELECT DISTINCT unnest(parent_skus || $3::text[]))"
        " WHERE shop_id = $1",
        shop_id,
        at,
        sorted(read.parent_skus),
    )


async def forget_items(conn: DbConn, shop_id: str, skus: Sequence[str]) -> None:
    """Products the shop no longer knows: drop them and read the catalogue in full next time."""
    if not skus:
        return
    await conn.execute(
        "DELETE FROM shop_items WHERE shop_id = $1 AND sku = ANY($2)", shop_id, list(skus)
    )
    await conn.execute("UPDATE shop_state SET full_read_due = true WHERE shop_id = $1", shop_id)


async def shop_state(conn: Db, shop_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM shop_state WHERE shop_id = $1", shop_id)
    return None if row is None else dict(row)


async def load_pushed(conn: Db, shop_id: str) -> dict[str, dict[str, str]]:
    """The last pushed values per SKU, of the product that has the SKU now (a SKU moved to a
    new product starts afresh)."""
    rows = await conn.fetch(
        "SELECT p.sku, p.field, p.value FROM pushed p JOIN shop_items i ON i.shop_id = p.shop_id"
        " AND i.sku = p.sku AND i.product_id = p.product_id WHERE p.shop_id = $1",
        shop_id,
    )
    pushed: dict[str, dict[str, str]] = {}
    for r in rows:
        pushed.setdefault(r["sku"], {})[r["field"]] = r["value"]
    return pushed


async def record_pushed(
    conn: Db, shop_id: str, values: Mapping[str, tuple[int, Mapping[str, str]]]
) -> None:
    """Per SKU: (product id, {field: value}) now in the shop."""
    rows = [
        (sku, product_id, name, value)
        for sku, (product_id, fields) in values.items()
        for name, value in fields.items()
    ]
    if not rows:
        return
    skus, product_ids, names, texts = zip(*rows, strict=True)
    await conn.execute(
        "INSERT INTO pushed (shop_id, sku, product_id, field, value)"
        " SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[])"
        " ON CONFLICT (shop_id, sku, field) DO UPDATE SET product_id = EXCLUDED.product_id,"
        " value = EXCLUDED.value, pushed_at = now()",
        shop_id,
        list(skus),
        list(product_ids),
        list(names),
        list(texts),
    )


async def errors_waiting(conn: Db, shop_id: str, now: datetime) -> set[str]:
    """SKUs whose last attempt failed and whose next retry is not due yet."""
    rows = await conn.fetch(
        "SELECT sku FROM item_errors WHERE shop_id = $1 AND next_at > $2", shop_id, now
    )
    return {r["sku"] for r in rows}


async def record_errors(
    conn: DbConn,
    shop_id: str,
    failures: Iterable[tuple[str, int, Sequence[str], str, str]],
    now: datetime,
) -> None:
    """(sku, product id, fields, code, message) per rejected item; attempts count up."""
    for sku, product_id, fields, code, message in failures:
        attempts = await conn.fetchval(
            "INSERT INTO item_errors (shop_id, sku, product_id, fields, code, message, first_at,"
            " last_at, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7)"
            " ON CONFLICT (shop_id, sku) DO UPDATE SET product_id = $3, fields = $4, code = $5,"
            " message = $6, attempts = item_errors.attempts + 1, last_at = $7"
            " RETURNING attempts",
            shop_id,
            sku,
            product_id,
            list(fields),
            code,
            message,
            now,
        )
        await conn.execute(
            "UPDATE item_errors SET next_at = $3 WHERE shop_id = $1 AND sku = $2",
            shop_id,
            sku,
            now + retry_delay(int(attempts)),
        )


async def clear_errors(conn: DbConn, shop_id: str, skus: Sequence[str]) -> None:
    if skus:
        await conn.execute(
            "DELETE FROM item_errors WHERE shop_id = $1 AND sku = ANY($2)", shop_id, list(skus)
        )


async def item_errors(conn: Db, shop_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT sku, product_id, fields, code, message, attempts, first_at, last_at, next_at"
        " FROM item_errors WHERE shop_id = $1 ORDER BY sku",
        shop_id,
    )
    return [
        {
            **dict(r),
            "fields": list(r["fields"]),
            **{k: r[k].isoformat() for k in ("first_at", "last_at", "next_at")},
        }
        for r in rows
    ]


async def add_link(
    conn: DbConn, shop_id: str, order_id: str, erp: str, document_number: str
) -> None:
    await conn.execute(
        "INSERT INTO erp_links (shop_id, order_id, erp, document_number) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (shop_id, order_id) DO NOTHING",
        shop_id,
        order_id,
        erp,
        document_number,
    )


async def linked_orders(conn: Db, shop_id: str, order_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT order_id FROM erp_links WHERE shop_id = $1 AND order_id = ANY($2)",
        shop_id,
        list(order_ids),
    )
    return {r["order_id"] for r in rows}


async def tracking_since(conn: Db) -> datetime:
    since = await conn.fetchval("SELECT since FROM tracking")
    assert isinstance(since, datetime)
    return since


async def save_report(conn: Db, shop_id: str, report: Mapping[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO reports (shop_id, report) VALUES ($1, $2::json) ON CONFLICT (shop_id)"
        " DO UPDATE SET report = EXCLUDED.report, created_at = now()",
        shop_id,
        _encode.encode(report).decode(),
    )


async def load_reports(conn: Db) -> dict[str, Any]:
    rows = await conn.fetch("SELECT shop_id, report FROM reports ORDER BY shop_id")
    return {r["shop_id"]: msgspec.json.decode(r["report"]) for r in rows}


async def save_pass(
    conn: DbConn,
    started_at: datetime,
    finished_at: datetime,
    trigger: str,
    ok: bool,
    summary: Mapping[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO passes (started_at, finished_at, trigger, ok, summary)"
        " VALUES ($1, $2, $3, $4, $5::json)",
        started_at,
        finished_at,
        trigger,
        ok,
        _encode.encode(summary).decode(),
    )
    await conn.execute(
        "DELETE FROM passes WHERE id <= (SELECT max(id) FROM passes) - $1", PASSES_KEPT
    )


async def last_pass(conn: Db) -> dict[str, Any] | None:
    raw = await conn.fetchval("SELECT summary FROM passes ORDER BY id DESC LIMIT 1")
    return None if raw is None else dict(msgspec.json.decode(raw))


async def last_finished(conn: Db) -> datetime | None:
    value = await conn.fetchval("SELECT max(finished_at) FROM passes")
    return value if isinstance(value, datetime) else None


async def lock_for_transaction(conn: DbConn, name: str) -> None:
    """An advisory lock held until the caller's transaction ends (one pass at a time)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)


async def last_pass_age(pool: asyncpg.Pool) -> float | None:
    """Seconds since the last pass of any replica finished; None before the first."""
    row = await pool.fetchrow("SELECT max(finished_at) AS last, now() AS now FROM passes")
    if row is None or row["last"] is None:
        return None
    age: float = (row["now"] - row["last"]).total_seconds()
    return age
