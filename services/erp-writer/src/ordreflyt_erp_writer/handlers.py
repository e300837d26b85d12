"""Writing mapped orders to the ERP exactly once.

Per shop order, under an advisory lock held by the handler's transaction (so two deliveries of
one order, on any replica, are handled one after the other):
1. A stored link (shop order -> ERP document) means it is done: nothing is written again.
2. A marker of an earlier attempt means that attempt may have reached the ERP before its
   process died: look the external reference up (exact match) and adopt what is there.
3. Otherwise mark the attempt (committed at once, outside the handler's transaction), find or
   create the customer (remembered, so a returning customer costs no lookup), create the
   document, and finish it (an order then its invoice, when configured).
4. Store the link and publish erp-order.created in the handler's transaction.
A refusal by the ERP (4xx) parks the order with the ERP's own code and message and publishes
erp-order.failed; it can be retried once fixed. Unavailability raises, so the message goes to
the retry queues.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import asyncpg
import msgspec

from ordreflyt_contracts import (
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderRequested,
    ErpOrderUpdated,
    encode_event,
    new_event_fields,
)
from ordreflyt_contracts.erp import ErpCustomer, ErpOrder
from ordreflyt_erp_writer.adapters.base import ErpAdapter, ErpDocument, ErpRejected
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


def customer_fingerprint(customer: ErpCustomer) -> str:
    return hashlib.sha256(_fingerprint_json.encode(customer)).hexdigest()


@dataclass
class WriterOptions:
    create_missing_articles: bool = False


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
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            f"erp-order:{order.shop_id}:{order.shop_order_id}",
        )
        link = await conn.fetchrow(
            "SELECT * FROM links WHERE shop_id = $1 AND order_id = $2",
            order.shop_id,
            order.shop_order_id,
        )
        if event.action == "update":
            await self._update(ctx, order, link)
            return
        if link is not None:
            log.info(
                "already in the ERP as %s %s; nothing written",
                link["document_kind"],
                link["document_number"],
            )
            return
        try:
            document, adopted = await self._write(conn, order)
        except ErpRejected as rejected:
            await self._park(ctx, event, rejected)
            return
        await conn.execute(
            "INSERT INTO links (shop_id, order_id, erp, document_kind, document_number, invoice_number,"
            " customer_number, external_reference, adopted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            order.shop_id,
            order.shop_order_id,
            self.adapter.name,
            document.kind,
            document.number,
            document.invoice_number,
            document.customer_number,
            order.external_reference,
            adopted,
        )
        await conn.execute(
            "DELETE FROM parked WHERE shop_id = $1 AND order_id = $2",
            order.shop_id,
            order.shop_order_id,
        )
        await ctx.publish(
            ErpOrderCreated(
                **new_event_fields(order.shop_id, order.shop_order_id),
                erp=self.adapter.name,
                document_kind=document.kind,
                document_number=document.number,
                customer_number=document.customer_number,
                external_reference=order.external_reference,
                invoice_number=document.invoice_number,
                adopted=adopted,
            )
        )
        log.info(
            "%s %s %s in %s",
            "adopted" if adopted else "created",
            document.kind,
            document.number,
            self.adapter.name,
        )

    async def _write(self, conn: DbConn, order: ErpOrder) -> tuple[ErpDocument, bool]:
        attempted = await conn.fetchval(
            "SELECT true FROM attempts WHERE shop_id = $1 AND order_id = $2",
            order.shop_id,
            order.shop_order_id,
        )
        if attempted:
            found = await self.adapter.find_document(order)
            if found is not None:
                return await self.adapter.complete_document(order, found), True
        else:
            await self._side_pool.execute(
                "INSERT INTO attempts (shop_id, order_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                order.shop_id,
                order.shop_order_id,
            )
        customer_number = await self._customer(conn, order.customer)
        try:
            document = await self.adapter.create_document(order, customer_number)
        except ErpRejected as rejected:
            if not (
                self.options.create_missing_articles and self.adapter.unknown_article(rejected)
            ):
                raise
            created = await self.adapter.create_missing_articles(order)
            log.warning("created missing articles %s", created)
            document = await self.adapter.create_document(order, customer_number)
        return await self.adapter.complete_document(order, document), False

    async def _customer(self, conn: DbConn, customer: ErpCustomer) -> str:
        erp = self.adapter.name
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))", f"customer:{erp}:{customer.email}"
        )
        known = await conn.fetchrow(
            "SELECT customer_number, fingerprint FROM customers WHERE erp = $1 AND email = $2",
            erp,
            customer.email,
        )
        fingerprint = customer_fingerprint(customer)
        if known is not None and known["fingerprint"] == fingerprint:
            return str(known["customer_number"])
        if known is not None:
            number = str(known["customer_number"])
            await self.adapter.update_customer(number, customer)
        else:
            found = await self.adapter.find_customer(customer.email)
            if found is not None:
                number = found
                await self.adapter.update_customer(number, customer)
            else:
                number = await self.adapter.create_customer(customer)
        await conn.execute(
            "INSERT INTO customers (erp, email, customer_number, fingerprint) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (erp, email) DO UPDATE SET customer_number = $3, fingerprint = $4, updated_at = now()",
            erp,
            customer.email,
            number,
            fingerprint,
        )
        return number

    async def _update(
        self, ctx: HandlerContext, order: ErpOrder, link: asyncpg.Record | None
    ) -> None:
        if link is None:
            # The create is still on its way (or parked): apply the change after it.
            raise LookupError(f"no ERP document yet for {order.shop_id}/{order.shop_order_id}")
        document = ErpDocument(
            kind=link["document_kind"],
            number=link["document_number"],
            customer_number=link["customer_number"],
            invoice_number=link["invoice_number"],
        )
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

    async def _park(
        self, ctx: HandlerContext, event: ErpOrderRequested, rejected: ErpRejected
    ) -> None:
        order = event.erp_order
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
