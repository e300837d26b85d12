"""Writing mapped orders to the ERP exactly once.

Per shop order, under advisory locks held by the handler's transaction (the order's, so two
deliveries of one order, on any replica, are handled one after the other, then its customer's,
so two orders of one new customer do not create it twice):
1. A stored link (shop order -> ERP document) means it is done: nothing is written again.
2. A marker of an earlier attempt means that attempt may have reached the ERP before its
   process died: look the external reference up (exact match) and adopt what is there.
3. Otherwise mark the attempt (committed at once, outside the handler's transaction), find or
   create the customer (remembered, so a returning customer costs no lookup), create the
   document, and finish it (an order then its invoice, when configured).
4. Store the link (and the customer) and publish erp-order.created in the handler's transaction.
The database work is a handful of statements per order (locks; what is known; the marker; the
results), as every round trip counts when hundreds of orders a second go through.
A refusal by the ERP (4xx) parks the order with the ERP's own code and message and publishes
erp-order.failed; it can be retried once fixed. Unavailability raises, so the message waits in
the retry queues until the ERP answers again (never the DLQ for that). A create that failed
after it may have reached the ERP (a 5xx or a timeout: ErpAmbiguous) is never repeated blindly:
the document is looked up by its external reference (the customer by e-mail) and adopted; if
it is not there, the message waits and the next attempt looks again before creating. A
failure caused by the order's content parks it with the error (`park_failed`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec

from ordreflyt_contracts import (
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderRequested,
    ErpOrderUpdated,
    Event,
    encode_event,
    new_event_fields,
)
from ordreflyt_contracts.erp import ErpCustomer, ErpOrder
from ordreflyt_erp import ErpAmbiguous, ErpUnavailable
from ordreflyt_erp_writer.adapters.base import ErpAdapter, ErpDocument, ErpRejected
from ordreflyt_erp_writer.checks import check_totals
from ordreflyt_erp_writer.customers import is_older, record_written_at, written_at
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.db import DbConn

log = logging.getLogger(__name__)

MIGRATION = (
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
)

_fingerprint_json = msgspec.json.Encoder(decimal_format="string", order="sorted")

# The order's lock, then its customer's (every path takes them in this order; a NULL customer
# key: none), then what is known of both - read after the locks with a fresh snapshot, so that
# it includes what the previous holder of a lock committed. One round trip.
LOCK_AND_READ_MIGRATION = (
    "erp-writer/002_lock_and_read",
    """
    CREATE FUNCTION lock_and_read(
        order_lock text, customer_lock text,
        p_shop_id text, p_order_id text, p_erp text, p_email text
    ) RETURNS TABLE (
        document_kind text, document_number text, invoice_number text, customer_number text,
        attempted boolean, known_customer text, known_fingerprint text
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
)

_REMEMBER_CUSTOMER = """
INSERT INTO customers (erp, email, customer_number, fingerprint) VALUES ($1, $2, $3, $4)
ON CONFLICT (erp, email) DO UPDATE
SET customer_number = excluded.customer_number, fingerprint = excluded.fingerprint,
    updated_at = now()
"""

# The link, no longer parked, erp-order.created in the outbox, and the customer as the ERP now
# has it (NULL email: unchanged). One round trip.
_STORE_RESULT = """
WITH link AS (
    INSERT INTO links (shop_id, order_id, erp, document_kind, document_number, invoice_number,
                       customer_number, external_reference, adopted)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
), unparked AS (
    DELETE FROM parked WHERE shop_id = $1 AND order_id = $2
), message AS (
    INSERT INTO outbox (event_id, routing_key, correlation_id, body)
    VALUES ($13, $14, $15, $16)
)
INSERT INTO customers (erp, email, customer_number, fingerprint)
SELECT $3, $10::text, $11::text, $12::text WHERE $10::text IS NOT NULL
ON CONFLICT (erp, email) DO UPDATE
SET customer_number = excluded.customer_number, fingerprint = excluded.fingerprint,
    updated_at = now()
"""


def customer_fingerprint(customer: ErpCustomer) -> str:
    return hashlib.sha256(_fingerprint_json.encode(customer)).hexdigest()


@dataclass
class WriterOptions:
    create_missing_articles: bool = False


@dataclass(frozen=True)
class _Adopted:
    """A document an ambiguous create left in the ERP, found and taken over."""

    document: ErpDocument


@dataclass
class _Known:
    """What the database knew of an order and its customer when the handler took the locks."""

    attempted: bool
    customer_number: str | None
    customer_fingerprint: str | None
    # The customer as the ERP has it after this handler, to remember (None: nothing new).
    remember: tuple[str, str] | None = None
    # When the shop took the data the remembered customer was last written from.
    customer_written_at: datetime | None = None


class ErpWriter:
    def __init__(
        self, adapter: ErpAdapter, side_pool: asyncpg.Pool, options: WriterOptions
    ) -> None:
        self.adapter = adapter
        # Separate from the handlers' pool: markers must commit on their own, and a handler
        # holding its connection must never wait for another from the same pool.
        self._side_pool = side_pool
        self.options = options

    async def erp_order_requested(self, event: ErpOrderRequested, ctx: HandlerContext) -> None:
        order = event.erp_order
        conn = ctx.conn
        erp = self.adapter.name
        row = await conn.fetchrow(
            "SELECT * FROM lock_and_read($1, $2, $3, $4, $5, $6)",
            f"erp-order:{order.shop_id}:{order.shop_order_id}",
            None if event.action == "update" else f"customer:{erp}:{order.customer.email}",
            order.shop_id,
            order.shop_order_id,
            erp,
            order.customer.email,
        )
        assert row is not None
        link = (
            ErpDocument(
                kind=row["document_kind"],
                number=row["document_number"],
                customer_number=row["customer_number"],
                invoice_number=row["invoice_number"],
            )
            if row["document_number"] is not None
            else None
        )
        if event.action == "update":
            await self._update(ctx, order, link)
            return
        if link is not None:
            log.info("already in the ERP as %s %s; nothing written", link.kind, link.number)
            return
        known = _Known(row["attempted"], row["known_customer"], row["known_fingerprint"])
        await self._read_customer_age(conn, order, known)
        try:
            document, adopted = await self._write(order, known)
        except ErpRejected as rejected:
            await self._park(ctx, event, rejected, known)
            return
        remember = known.remember or (None, None)
        created = ErpOrderCreated(
            **new_event_fields(order.shop_id, order.shop_order_id),
            erp=erp,
            document_kind=document.kind,
            document_number=document.number,
            customer_number=document.customer_number,
            external_reference=order.external_reference,
            invoice_number=document.invoice_number,
            adopted=adopted,
        )
        await conn.execute(
            _STORE_RESULT,
            order.shop_id,
            order.shop_order_id,
            erp,
            document.kind,
            document.number,
            document.invoice_number,
            document.customer_number,
            order.external_reference,
            adopted,
            order.customer.email if known.remember else None,
            *remember,
            *ctx.outbox_row(created),
        )
        await self._record_customer_age(conn, order, known)
        log.info(
            "%s %s %s in %s",
            "adopted" if adopted else "created",
            document.kind,
            document.number,
            self.adapter.name,
        )

    async def _write(self, order: ErpOrder, known: _Known) -> tuple[ErpDocument, bool]:
        if known.attempted:
            found = await self.adapter.find_document(order)
            if found is not None:
                check_totals(self.adapter.name, order, found)
                return await self.adapter.complete_document(order, found), True
        else:
            await self._side_pool.execute(
                "INSERT INTO attempts (shop_id, order_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                order.shop_id,
                order.shop_order_id,
            )
        customer_number = await self._customer(order.customer, known, order.customer_data_at)
        try:
            document = await self._create_document(order, customer_number)
        except ErpRejected as rejected:
            if not (
                self.options.create_missing_articles and self.adapter.unknown_article(rejected)
            ):
                raise
            created = await self.adapter.create_missing_articles(order)
            log.warning("created missing articles %s", created)
            document = await self._create_document(order, customer_number)
        adopted = isinstance(document, _Adopted)
        written = document.document if isinstance(document, _Adopted) else document
        # The ERP's own totals in its answer: a document that does not show what the customer
        # paid is parked (before it is invoiced), never taken as done.
        check_totals(self.adapter.name, order, written)
        return await self.adapter.complete_document(order, written), adopted

    async def _create_document(
        self, order: ErpOrder, customer_number: str
    ) -> ErpDocument | _Adopted:
        """Create the document; after an ambiguous failure, adopt it if the ERP has it."""
        try:
            return await self.adapter.create_document(order, customer_number)
        except ErpAmbiguous as ambiguous:
            found = await self.adapter.find_document(order)
            if found is None:
                raise ErpUnavailable(
                    f"{ambiguous}; no document with reference {order.external_reference} yet:"
                    " looked up again before the next attempt"
                ) from ambiguous
            log.warning(
                "the create failed ambiguously but the ERP has it: adopted %s", found.number
            )
            return _Adopted(found)

    async def _create_customer(self, customer: ErpCustomer) -> str:
        """Create the customer; after an ambiguous failure, adopt it if the ERP has it."""
        try:
            return await self.adapter.create_customer(customer)
        except ErpAmbiguous as ambiguous:
            found = await self.adapter.find_customer(customer.email)
            if found is None:
                raise ErpUnavailable(
                    f"{ambiguous}; no customer {customer.email} yet: looked up again next time"
                ) from ambiguous
            log.warning("the customer create failed ambiguously but the ERP has it: %s", found)
            return found

    async def _customer(
        self, customer: ErpCustomer, known: _Known, data_at: datetime | None
    ) -> str:
        """The customer's ERP number: remembered, found by e-mail, or created. A customer the
        ERP has in another state than this order's is updated, unless it was written from
        newer shop data than this order's (`data_at`); `known.remember` is set to what is to be
        remembered once the handler's transaction commits."""
        fingerprint = customer_fingerprint(customer)
        if known.customer_number is not None and known.customer_fingerprint == fingerprint:
            return known.customer_number
        if known.customer_number is not None:
            number = known.customer_number
            if is_older(data_at, known.customer_written_at):
                log.info(
                    "customer %s not updated: it was written from newer shop data (%s) than "
                    "this order's (%s)",
                    number,
                    known.customer_written_at,
                    data_at,
                )
                return number
            await self.adapter.update_customer(number, customer)
        else:
            found = await self.adapter.find_customer(customer.email)
            if found is not None:
                number = found
                await self.adapter.update_customer(number, customer)
            else:
                number = await self._create_customer(customer)
        known.remember = (number, fingerprint)
        return number

    async def _read_customer_age(self, conn: DbConn, order: ErpOrder, known: _Known) -> None:
        """When a remembered customer is about to be updated, how old its data is."""
        if known.customer_number is not None and known.customer_fingerprint != (
            customer_fingerprint(order.customer)
        ):
            known.customer_written_at = await written_at(
                conn, self.adapter.name, order.customer.email
            )

    async def _record_customer_age(self, conn: DbConn, order: ErpOrder, known: _Known) -> None:
        """After the customer was created or updated from this order: its data's time."""
        if known.remember is not None:
            await record_written_at(
                conn, self.adapter.name, order.customer.email, order.customer_data_at
            )

    async def _update(
        self, ctx: HandlerContext, order: ErpOrder, document: ErpDocument | None
    ) -> None:
        if document is None:
            # The create is still on its way (or parked): apply the change after it.
            raise LookupError(f"no ERP document yet for {order.shop_id}/{order.shop_order_id}")
        try:
            applied = await self.adapter.update_document(order, document)
            reason = "" if applied else "the ERP no longer allows changes (invoiced or cancelled)"
        except ErpRejected as rejected:
            applied, reason = False, f"refused by the ERP: {rejected.code} {rejected.message}"
        await ctx.publish(
            ErpOrderUpdated(
                **new_event_fields(order.shop_id, order.shop_order_id),
                erp=self.adapter.name,
                document_number=document.number,
                applied=applied,
                reason=reason,
            )
        )
        log.info("change after transfer %s: %s", "applied" if applied else "not applied", reason)

    async def park_failed(self, event: Event, reason: str, ctx: HandlerContext) -> bool:
        """The hold hook: an order whose handling failed on its content is parked with the
        error, beside the ERP's refusals (`GET /parked`, retried the same way)."""
        if not isinstance(event, ErpOrderRequested):
            return False
        await self._park(ctx, event, ErpRejected("ordreflyt", reason), _Known(False, None, None))
        return True

    async def _park(
        self, ctx: HandlerContext, event: ErpOrderRequested, rejected: ErpRejected, known: _Known
    ) -> None:
        order = event.erp_order
        if known.remember is not None:
            # The customer was created or updated before the ERP refused the document.
            await ctx.conn.execute(
                _REMEMBER_CUSTOMER, self.adapter.name, order.customer.email, *known.remember
            )
            await self._record_customer_age(ctx.conn, order, known)
        await ctx.conn.execute(
            "INSERT INTO parked (shop_id, order_id, erp, code, message, request) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (shop_id, order_id) DO UPDATE SET code = $4, message = $5, request = $6, parked_at = now()",
            order.shop_id,
            order.shop_order_id,
            self.adapter.name,
            rejected.code,
            rejected.message,
            encode_event(event),
        )
        await ctx.publish(
            ErpOrderFailed(
                **new_event_fields(order.shop_id, order.shop_order_id),
                erp=self.adapter.name,
                code=rejected.code,
                message=rejected.message,
            )
        )
        log.error(
            "parked: %s refused the order: %s %s",
            self.adapter.name,
            rejected.code,
            rejected.message,
        )
