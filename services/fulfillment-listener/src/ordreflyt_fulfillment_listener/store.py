"""fulfillment-listener's tables (schema `fulfillment_listener`) and the queries on them.

- `links`: which ERP document belongs to which shop order (from erp-order.created; `erp` is
  the ERP account's key, "fortnox" for the default account), with the document's state as last
  known (`state`, an `ErpDocumentState`: from the event when erp-writer sent it, then from each
  read or listing; `fetched_at` when it was read, `erp_last_modified` its version), whether that
  state still has to be planned (`needs_check`), the delivered quantities the recorded effects
  cover, the status Ordreflyt last set on the shop order (`known_status`), and whether the order
  is parked (an effect the shop refused).
- `effects`: every effect ever planned for a shop order, unique by its key, so each happens once:
  `pending` (recorded, not yet known to be done), `applied`, `conflict` (not applied, with the
  reason), `failed` (the shop refused; the order is parked). `note` holds the text of a note
  before it is sent, so a retry after a crash can find it among the order's notes.
- `poll_state`: the watermark per ERP account (by its key) and what its last poll did.
- `push_events`: pushed shipment events by the sender's id, for dedupe.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import msgspec

from ordreflyt_contracts.erp import ErpDocumentState
from ordreflyt_fulfillment_listener.effects import Effect
from ordreflyt_runtime.db import DbConn, Migration

MIGRATIONS: tuple[Migration, ...] = (
    (
        "fulfillment-listener/001_tables",
        """
        CREATE TABLE links (
            shop_id text NOT NULL,
            order_id text NOT NULL,
            erp text NOT NULL,
            document_kind text NOT NULL,
            document_number text NOT NULL,
            invoice_number text,
            external_reference text NOT NULL,
            erp_created_at timestamptz NOT NULL,
            linked_at timestamptz NOT NULL DEFAULT now(),
            needs_check boolean NOT NULL DEFAULT true,
            known_status text,
            covered jsonb,
            erp_last_modified text,
            fetched_at timestamptz,
            parked_reason text,
            parked_at timestamptz,
            PRIMARY KEY (shop_id, order_id)
        );
        CREATE INDEX links_document ON links (erp, document_number);
        CREATE TABLE effects (
            seq bigserial PRIMARY KEY,
            shop_id text NOT NULL,
            order_id text NOT NULL,
            key text NOT NULL,
            state text NOT NULL CHECK (state IN ('pending', 'applied', 'conflict', 'failed')),
            effect jsonb NOT NULL,
            note text,
            outcome text,
            attempts integer NOT NULL DEFAULT 0,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (shop_id, order_id, key)
        );
        CREATE INDEX effects_pending ON effects (shop_id, order_id) WHERE state = 'pending';
        CREATE TABLE poll_state (
            erp text PRIMARY KEY,
            watermark text,
            last_poll_at timestamptz,
            last_result jsonb
        );
        CREATE TABLE push_events (
            shop_id text NOT NULL,
            event_key text NOT NULL,
            order_id text NOT NULL,
            body jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (shop_id, event_key)
        );
        """,
    ),
    (
        "fulfillment-listener/002_link_state",
        """
        ALTER TABLE links ADD COLUMN state jsonb;
        """,
    ),
)

_encoder = msgspec.json.Encoder(decimal_format="string")
_effect_decoder = msgspec.json.Decoder(Effect)
_quantities_decoder = msgspec.json.Decoder(dict[str, Decimal])
_state_decoder = msgspec.json.Decoder(ErpDocumentState)


def encode_json(value: Any) -> str:
    return _encoder.encode(value).decode()


def decode_effect(raw: str) -> Effect:
    return _effect_decoder.decode(raw)


@dataclass(frozen=True)
class Link:
    shop_id: str
    order_id: str
    erp: str
    document_kind: str
    document_number: str
    needs_check: bool
    known_status: str | None
    covered: dict[str, Decimal] | None
    erp_last_modified: str | None
    fetched_at: datetime | None
    parked_reason: str | None
    state: ErpDocumentState | None = None

    @property
    def closed(self) -> bool:
        """The known state is final (invoiced or cancelled): never read or listed again."""
        return self.state is not None and self.state.closed

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Link:
        covered = row["covered"]
        state = row["state"]
        return cls(
            shop_id=row["shop_id"],
            order_id=row["order_id"],
            erp=row["erp"],
            document_kind=row["document_kind"],
            document_number=row["document_number"],
            needs_check=row["needs_check"],
            known_status=row["known_status"],
            covered=_quantities_decoder.decode(covered) if covered is not None else None,
            erp_last_modified=row["erp_last_modified"],
            fetched_at=row["fetched_at"],
            parked_reason=row["parked_reason"],
            state=_state_decoder.decode(state) if state is not None else None,
        )


async def get_link(conn: DbConn | asyncpg.Pool, shop_id: str, order_id: str) -> Link | None:
    row = await conn.fetchrow(
        "SELECT * FROM links WHERE shop_id = $1 AND order_id = $2", shop_id, order_id
    )
    return Link.from_row(row) if row is not None else None


async def links_for_documents(
    conn: DbConn | asyncpg.Pool, erp: str, numbers: Sequence[str]
) -> dict[str, Link]:
    rows = await conn.fetch(
        "SELECT * FROM links WHERE erp = $1 AND document_kind = 'order'"
        " AND document_number = ANY($2::text[])",
        erp,
        list(numbers),
    )
    return {row["document_number"]: Link.from_row(row) for row in rows}


async def record_effects(
    conn: DbConn, shop_id: str, order_id: str, effects: Sequence[Effect]
) -> list[str]:
    """Record effects as pending (once per key); returns the keys that were new."""
    fresh: list[str] = []
    for effect in effects:
        inserted = await conn.fetchval(
            "INSERT INTO effects (shop_id, order_id, key, state, effect)"
            " VALUES ($1, $2, $3, 'pending', $4::jsonb)"
            " ON CONFLICT (shop_id, order_id, key) DO NOTHING RETURNING true",
            shop_id,
            order_id,
            effect.key,
            encode_json(effect),
        )
        if inserted:
            fresh.append(effect.key)
    return fresh


async def effect_keys(conn: DbConn, shop_id: str, order_id: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT key FROM effects WHERE shop_id = $1 AND order_id = $2", shop_id, order_id
    )
    return {row["key"] for row in rows}


async def orders_with_pending(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT DISTINCT e.shop_id, e.order_id FROM effects e"
        " JOIN links l USING (shop_id, order_id)"
        " WHERE e.state = 'pending' AND l.parked_reason IS NULL"
    )
    return [(row["shop_id"], row["order_id"]) for row in rows]


# For the poller ------------------------------------------------------------------------------


async def watermark_of(pool: asyncpg.Pool, erp: str) -> str | None:
    value = await pool.fetchval("SELECT watermark FROM poll_state WHERE erp = $1", erp)
    return str(value) if value is not None else None


async def first_document_at(pool: asyncpg.Pool, erp: str) -> datetime | None:
    """When the first linked document of an ERP account was created (where polls begin)."""
    first: datetime | None = await pool.fetchval(
        "SELECT min(erp_created_at) FROM links WHERE erp = $1 AND document_kind = 'order'", erp
    )
    return first


async def links_to_check(pool: asyncpg.Pool, erp: str, handled: Sequence[str]) -> list[Link]:
    """Links whose document still has to be looked at (`needs_check`), not parked, besides
    the documents in `handled`."""
    rows = await pool.fetch(
        "SELECT * FROM links WHERE erp = $1 AND document_kind = 'order' AND needs_check"
        " AND parked_reason IS NULL AND NOT (document_number = ANY($2::text[]))",
        erp,
        list(handled),
    )
    return [Link.from_row(row) for row in rows]


async def lock_link(conn: DbConn, shop_id: str, order_id: str) -> Link | None:
    """The link, locked for the transaction (a poll and a retry never plan it at once)."""
    row = await conn.fetchrow(
        "SELECT * FROM links WHERE shop_id = $1 AND order_id = $2 FOR UPDATE", shop_id, order_id
    )
    return Link.from_row(row) if row is not None else None


async def keep_state(
    conn: DbConn,
    link: Link,
    state: ErpDocumentState,
    covered: Mapping[str, Decimal],
    read_at: datetime | None,
) -> None:
    """The document's state as now known and planned; `read_at` when it was read (None: taken
    from the listing or the event, the read time stays)."""
    await conn.execute(
        "UPDATE links SET covered = $3::jsonb, state = $4::jsonb, erp_last_modified = $5,"
        " fetched_at = coalesce($6, fetched_at), needs_check = false"
        " WHERE shop_id = $1 AND order_id = $2",
        link.shop_id,
        link.order_id,
        encode_json(covered),
        encode_json(state),
        state.version,
        read_at,
    )


async def park_link(pool: asyncpg.Pool, shop_id: str, order_id: str, reason: str) -> None:
    await pool.execute(
        "UPDATE links SET parked_reason = $3, parked_at = now()"
        " WHERE shop_id = $1 AND order_id = $2",
        shop_id,
        order_id,
        reason,
    )


async def save_poll(pool: asyncpg.Pool, erp: str, watermark: str | None, result: str) -> None:
    """What a poll of one ERP account did; `watermark` None keeps the one stored."""
    await pool.execute(
        "INSERT INTO poll_state (erp, watermark, last_poll_at, last_result)"
        " VALUES ($1, $2, now(), $3::jsonb) ON CONFLICT (erp) DO UPDATE SET"
        " watermark = coalesce(EXCLUDED.watermark, poll_state.watermark), last_poll_at = now(),"
        " last_result = EXCLUDED.last_result",
        erp,
        watermark,
        result,
    )


def row_json(row: asyncpg.Record) -> dict[str, Any]:
    """A row as JSON-ready values (times as ISO text, jsonb decoded)."""
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif key in ("effect", "covered", "last_result", "body") and isinstance(value, str):
            out[key] = msgspec.json.decode(value)
        else:
            out[key] = value
    return out


# For the message handler and the routes ---------------------------------------------------


async def remember_link(
    conn: DbConn,
    *,
    shop_id: str,
    order_id: str,
    erp: str,
    document_kind: str,
    document_number: str,
    invoice_number: str | None,
    external_reference: str,
    erp_created_at: datetime,
    state: ErpDocumentState | None = None,
) -> None:
    """The ERP document of a shop order (again, when a document was adopted), with its state
    as erp-writer knew it (then the watcher need not read it): planned at the next poll."""
    await conn.execute(
        "INSERT INTO links (shop_id, order_id, erp, document_kind, document_number,"
        " invoice_number, external_reference, erp_created_at, state, fetched_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz, $9::jsonb,"
        " CASE WHEN $9::jsonb IS NULL THEN NULL ELSE $8::timestamptz END)"
        " ON CONFLICT (shop_id, order_id) DO UPDATE SET erp = EXCLUDED.erp,"
        " document_kind = EXCLUDED.document_kind, document_number = EXCLUDED.document_number,"
        " invoice_number = EXCLUDED.invoice_number,"
        " external_reference = EXCLUDED.external_reference, needs_check = true,"
        # Another document: what was known of the old one is not its state.
        " state = CASE WHEN EXCLUDED.state IS NOT NULL OR links.erp IS DISTINCT FROM"
        " EXCLUDED.erp OR links.document_number IS DISTINCT FROM EXCLUDED.document_number"
        " THEN EXCLUDED.state ELSE links.state END,"
        " fetched_at = CASE WHEN EXCLUDED.state IS NOT NULL OR links.erp IS DISTINCT FROM"
        " EXCLUDED.erp OR links.document_number IS DISTINCT FROM EXCLUDED.document_number"
        " THEN EXCLUDED.fetched_at ELSE links.fetched_at END",
        shop_id,
        order_id,
        erp,
        document_kind,
        document_number,
        invoice_number,
        external_reference,
        erp_created_at,
        encode_json(state) if state is not None else None,
    )


async def poll_state(pool: asyncpg.Pool, erp: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM poll_state WHERE erp = $1", erp)
    return row_json(row) if row is not None else None


async def conflicts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT shop_id, order_id, key, outcome AS reason, effect, updated_at AS at"
        " FROM effects WHERE state = 'conflict' ORDER BY updated_at"
    )
    return [row_json(r) for r in rows]


async def reopen_conflicts(
    pool: asyncpg.Pool, shop_id: str, order_id: str, shop_status: str
) -> bool:
    """Conflicting effects pending again, the shop's status taken as agreed; False if none."""
    async with pool.acquire() as conn, conn.transaction():
        keys = await conn.fetch(
            "UPDATE effects SET state = 'pending', outcome = NULL, updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2 AND state = 'conflict' RETURNING key",
            shop_id,
            order_id,
        )
        if not keys:
            return False
        await conn.execute(
            "UPDATE links SET known_status = $3 WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            shop_status,
        )
    return True


async def parked(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    rows = await pool.fetch(
        "SELECT l.shop_id, l.order_id, l.document_number, l.parked_reason AS reason,"
        " l.parked_at, coalesce(array_agg(e.key ORDER BY e.seq) FILTER (WHERE e.key IS NOT NULL),"
        " '{}') AS effects FROM links l LEFT JOIN effects e ON e.shop_id = l.shop_id"
        " AND e.order_id = l.order_id AND e.state IN ('failed', 'pending')"
        " WHERE l.parked_reason IS NOT NULL GROUP BY l.shop_id, l.order_id ORDER BY l.parked_at"
    )
    retrying = await pool.fetch(
        "SELECT shop_id, order_id, key, attempts, last_error, updated_at FROM effects"
        " WHERE state = 'pending' AND last_error IS NOT NULL ORDER BY seq"
    )
    return {
        "parked": [{**row_json(r), "effects": list(r["effects"])} for r in rows],
        "retrying": [row_json(r) for r in retrying],
    }


async def unpark(pool: asyncpg.Pool, shop_id: str, order_id: str) -> bool:
    """A parked order's link checked again and its failed effects pending; False if none."""
    async with pool.acquire() as conn, conn.transaction():
        was_parked = await conn.fetchval(
            "UPDATE links SET parked_reason = NULL, parked_at = NULL, needs_check = true"
            " WHERE shop_id = $1 AND order_id = $2 AND parked_reason IS NOT NULL RETURNING true",
            shop_id,
            order_id,
        )
        if not was_parked:
            return False
        await conn.execute(
            "UPDATE effects SET state = 'pending', updated_at = now()"
            " WHERE shop_id = $1 AND order_id = $2 AND state = 'failed'",
            shop_id,
            order_id,
        )
    return True


async def order_story(pool: asyncpg.Pool, shop_id: str, order_id: str) -> dict[str, Any] | None:
    link = await pool.fetchrow(
        "SELECT * FROM links WHERE shop_id = $1 AND order_id = $2", shop_id, order_id
    )
    if link is None:
        return None
    effects = await pool.fetch(
        "SELECT key, state, outcome, note, attempts, last_error, effect, created_at, updated_at"
        " FROM effects WHERE shop_id = $1 AND order_id = $2 ORDER BY seq",
        shop_id,
        order_id,
    )
    known = link["state"]
    return {
        **row_json(link),
        # The link's `state` is the document's (JSON); an effect's is its progress (text).
        "state": msgspec.json.decode(known) if known is not None else None,
        "effects": [row_json(e) for e in effects],
    }


async def waiting_counts(pool: asyncpg.Pool) -> dict[str, int]:
    """Effects a person must look at, by state (conflict, failed)."""
    rows = await pool.fetch(
        "SELECT state, count(*) AS n FROM effects WHERE state IN ('conflict', 'failed')"
        " GROUP BY state"
    )
    counts = {r["state"]: int(r["n"]) for r in rows}
    return {state: counts.get(state, 0) for state in ("conflict", "failed")}


# For the applier ----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def order_lock(pool: asyncpg.Pool, shop_id: str, order_id: str) -> AsyncIterator[None]:
    """One process at a time applies a shop order's effects (held for the block)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"fulfillment:{shop_id}/{order_id}"
        )
        yield


async def pending_effects(pool: asyncpg.Pool, shop_id: str, order_id: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT seq, key, effect, note FROM effects WHERE shop_id = $1"
            " AND order_id = $2 AND state = 'pending' ORDER BY seq",
            shop_id,
            order_id,
        )
    )


async def applied_shipments(pool: asyncpg.Pool, shop_id: str, order_id: str) -> list[Effect]:
    rows = await pool.fetch(
        "SELECT effect FROM effects WHERE shop_id = $1 AND order_id = $2"
        " AND state = 'applied' AND effect->>'kind' = 'shipment' ORDER BY seq",
        shop_id,
        order_id,
    )
    return [decode_effect(r["effect"]) for r in rows]


async def attempt_failed(pool: asyncpg.Pool, seq: int, error: str) -> None:
    await pool.execute(
        "UPDATE effects SET attempts = attempts + 1, last_error = $2, updated_at = now()"
        " WHERE seq = $1",
        seq,
        error,
    )


async def keep_note(pool: asyncpg.Pool, seq: int, note: str) -> None:
    """The note an effect sends, kept before it is sent (so a restart can find it sent)."""
    await pool.execute("UPDATE effects SET note = $2, updated_at = now() WHERE seq = $1", seq, note)


async def finish_effect(
    pool: asyncpg.Pool, seq: int, state: str, outcome: str, known_status: str | None = None
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE effects SET state = $2, outcome = $3, last_error = NULL, updated_at = now()"
            " WHERE seq = $1 RETURNING shop_id, order_id",
            seq,
            state,
            outcome,
        )
        if known_status is not None and row is not None:
            await conn.execute(
                "UPDATE links SET known_status = $3 WHERE shop_id = $1 AND order_id = $2",
                row["shop_id"],
                row["order_id"],
                known_status,
            )


async def park_order(
    pool: asyncpg.Pool, shop_id: str, order_id: str, seq: int, reason: str
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE effects SET state = 'failed', outcome = $2, updated_at = now() WHERE seq = $1",
            seq,
            reason,
        )
        await conn.execute(
            "UPDATE links SET parked_reason = $3, parked_at = now()"
            " WHERE shop_id = $1 AND order_id = $2",
            shop_id,
            order_id,
            reason,
        )


# For the push receiver ----------------------------------------------------------------------


async def add_push_event(
    conn: DbConn, shop_id: str, event_key: str, order_id: str, body: str
) -> bool:
    """Store a pushed event; False when it was received before."""
    fresh = await conn.fetchval(
        "INSERT INTO push_events (shop_id, event_key, order_id, body)"
        " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING true",
        shop_id,
        event_key,
        order_id,
        body,
    )
    return bool(fresh)


async def linked_order(pool: asyncpg.Pool, shop_id: str, order_id: str) -> bool:
    found = await pool.fetchval(
        "SELECT order_id FROM links WHERE shop_id = $1 AND order_id = $2", shop_id, order_id
    )
    return found is not None


async def orders_of_document(pool: asyncpg.Pool, shop_id: str, document_number: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT order_id FROM links WHERE shop_id = $1 AND document_number = $2"
        " AND document_kind = 'order'",
        shop_id,
        document_number,
    )
    return [r["order_id"] for r in rows]


async def try_lock(conn: asyncpg.Connection, name: str) -> bool:
    """A session advisory lock (released by the server if the process dies); False: held."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name))


async def unlock(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", name)
