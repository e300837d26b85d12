"""Writing mapped orders to the ERP exactly once.

Each shop books into its own ERP account (`ErpDirectory.for_shop`); the writer speaks to it only
through the `DocumentWriter` capability. Per shop order, under advisory locks held by the handler's transaction (the order's, so two
deliveries of one order, on any replica, are handled one after the other, then its customer's,
so two orders of one new customer do not create it twice):
1. A stored link (shop order -> ERP document) means it is done: nothing is written again.
2. A marker of an earlier attempt means that attempt may have reached the ERP before its
   process died: look the external reference up (exact match) and adopt what is there.
3. Otherwise mark the attempt (committed at once, outside the handler's transaction), find or
   create the customer (remembered, so a returning customer costs no request; a new one is
   created without a lookup while the ERP's customer register, read every few minutes, is
   fresh and does not have it), create the document, and finish it (an order then its
   invoice, when configured).
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec

from ordreflyt_contracts import (
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderRequested,
    ErpOrderUpdated,
    Event,
    new_event_fields,
)
from ordreflyt_contracts.erp import ErpCustomer, ErpOrder
from ordreflyt_erp import ErpAmbiguous, ErpRejected, ErpUnavailable
from ordreflyt_erp.capabilities import Erp, ErpDocument
from ordreflyt_erp_writer.checks import check_totals
from ordreflyt_erp_writer.customers import is_older
from ordreflyt_erp_writer.store import (
    AttemptMarker,
    CustomerRegister,
    Link,
    PgWriterStore,
    RegisterAnswer,
    Remembered,
    Result,
    WriterStore,
)
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.db import DbConn

log = logging.getLogger(__name__)

_fingerprint_json = msgspec.json.Encoder(decimal_format="string", order="sorted")


def customer_fingerprint(customer: ErpCustomer) -> str:
    return hashlib.sha256(_fingerprint_json.encode(customer)).hexdigest()


@dataclass
class WriterOptions:
    create_missing_articles: bool = False


class ErpLookup(Protocol):
    """Which ERP account a shop books into (`ordreflyt_erp.factory.ErpDirectory`)."""

    def for_shop(self, shop_id: str) -> Erp: ...


class _NoRegister:
    """No register: every new e-mail is looked up in the ERP."""

    async def lookup(self, erp: str, email: str) -> RegisterAnswer:
        return RegisterAnswer(None, False)


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

    def remembered(self, erp: str, order: ErpOrder) -> Remembered | None:
        if self.remember is None:
            return None
        number, fingerprint = self.remember
        return Remembered(erp, order.customer.email, number, fingerprint, order.customer_data_at)


class ErpWriter:
    """The exactly-once decisions; the statements are the store's (`store_for` the handler's
    connection), the attempt markers the marker's (committed on their own)."""

    def __init__(
        self,
        erps: ErpLookup,
        marker: AttemptMarker,
        options: WriterOptions,
        store_for: Callable[[DbConn], WriterStore] = PgWriterStore,
        register: CustomerRegister | None = None,
    ) -> None:
        self.erps = erps
        self._marker = marker
        self.options = options
        self._store_for = store_for
        self._register = register or _NoRegister()

    async def erp_order_requested(self, event: ErpOrderRequested, ctx: HandlerContext) -> None:
        order = event.erp_order
        store = self._store_for(ctx.conn)
        account = self.erps.for_shop(order.shop_id)
        erp = account.key
        email = None if event.action == "update" else order.customer.email
        state = await store.lock_and_read(order.shop_id, order.shop_order_id, erp, email)
        link = (
            ErpDocument(
                kind="invoice" if state.link.kind == "invoice" else "order",
                number=state.link.number,
                customer_number=state.link.customer_number,
                invoice_number=state.link.invoice_number,
            )
            if state.link is not None
            else None
        )
        if event.action == "update":
            await self._update(ctx, order, link)
            return
        if link is not None:
            log.info("already in the ERP as %s %s; nothing written", link.kind, link.number)
            return
        known = _Known(state.attempted, state.customer_number, state.customer_fingerprint)
        if known.customer_number is not None and known.customer_fingerprint != (
            customer_fingerprint(order.customer)
        ):
            # About to update a remembered customer: how old is the data it was written from?
            known.customer_written_at = await store.customer_written_at(erp, order.customer.email)
        try:
            document, adopted = await self._write(account, order, known)
        except ErpRejected as rejected:
            await self._park(ctx, store, event, rejected, known, erp)
            return
        created = ErpOrderCreated(
            **new_event_fields(order.shop_id, order.shop_order_id),
            erp=erp,
            document_kind=document.kind,
            document_number=document.number,
            customer_number=document.customer_number,
            external_reference=order.external_reference,
            invoice_number=document.invoice_number,
            adopted=adopted,
            state=document.state,
        )
        result = Result(
            order.shop_id,
            order.shop_order_id,
            erp,
            Link(document.kind, document.number, document.customer_number, document.invoice_number),
            order.external_reference,
            adopted,
        )
        await store.store_result(result, known.remembered(erp, order), ctx.outbox_row(created))
        log.info(
            "%s %s %s in %s",
            "adopted" if adopted else "created",
            document.kind,
            document.number,
            erp,
        )

    async def _write(self, erp: Erp, order: ErpOrder, known: _Known) -> tuple[ErpDocument, bool]:
        writer = erp.writer
        if known.attempted:
            found = await writer.find_document(order)
            if found is not None:
                check_totals(erp.title, order, found)
                return await writer.complete_document(order, found), True
        else:
            await self._marker.mark_attempt(order.shop_id, order.shop_order_id)
        customer_number = await self._customer(erp, order.customer, known, order.customer_data_at)
        try:
            document = await self._create_document(erp, order, customer_number)
        except ErpRejected as rejected:
            if not (self.options.create_missing_articles and writer.unknown_article(rejected)):
                raise
            created = await writer.create_missing_articles(order)
            log.warning("created missing articles %s", created)
            document = await self._create_document(erp, order, customer_number)
        adopted = isinstance(document, _Adopted)
        written = document.document if isinstance(document, _Adopted) else document
        # The ERP's own totals in its answer: a document that does not show what the customer
        # paid is parked (before it is invoiced), never taken as done.
        check_totals(erp.title, order, written)
        return await writer.complete_document(order, written), adopted

    async def _create_document(
        self, erp: Erp, order: ErpOrder, customer_number: str
    ) -> ErpDocument | _Adopted:
        """Create the document; after an ambiguous failure, adopt it if the ERP has it."""
        try:
            return await erp.writer.create_document(order, customer_number)
        except ErpAmbiguous as ambiguous:
            found = await erp.writer.find_document(order)
            if found is None:
                raise ErpUnavailable(
                    f"{ambiguous}; no document with reference {order.external_reference} yet:"
                    " looked up again before the next attempt"
                ) from ambiguous
            log.warning(
                "the create failed ambiguously but the ERP has it: adopted %s", found.number
            )
            return _Adopted(found)

    async def _create_customer(self, erp: Erp, customer: ErpCustomer) -> str:
        """Create the customer; after an ambiguous failure, adopt it if the ERP has it."""
        try:
            return await erp.writer.create_customer(customer)
        except ErpAmbiguous as ambiguous:
            found = await erp.writer.find_customer(customer.email)
            if found is None:
                raise ErpUnavailable(
                    f"{ambiguous}; no customer {customer.email} yet: looked up again next time"
                ) from ambiguous
            log.warning("the customer create failed ambiguously but the ERP has it: %s", found)
            return found

    async def _customer(
        self, erp: Erp, customer: ErpCustomer, known: _Known, data_at: datetime | None
    ) -> str:
        """The customer's ERP number: remembered, found (in the fresh register, else by
        e-mail in the ERP), or created. A customer the ERP has in another state than this
        order's is updated, unless it was written from newer shop data than this order's
        (`data_at`); `known.remember` is set to what is to be remembered once the handler's
        transaction commits."""
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
            await erp.writer.update_customer(number, customer)
        else:
            found = await self._find_customer(
                erp, customer.email, trust_register=not known.attempted
            )
            if found is not None:
                number = found
                await erp.writer.update_customer(number, customer)
            else:
                number = await self._create_customer(erp, customer)
        known.remember = (number, fingerprint)
        return number

    async def _find_customer(self, erp: Erp, email: str, *, trust_register: bool) -> str | None:
        """The register's answer while it is fresh (no request), else the ERP's. After an
        earlier attempt at this order the ERP is asked: that attempt may have created the
        customer after the register was read (its answer lost, its process gone)."""
        if trust_register:
            answer = await self._register.lookup(erp.key, email)
            if answer.number is not None or answer.fresh:
                return answer.number
        return await erp.writer.find_customer(email)

    async def _update(
        self, ctx: HandlerContext, order: ErpOrder, document: ErpDocument | None
    ) -> None:
        erp = self.erps.for_shop(order.shop_id)
        if document is None:
            # The create is still on its way (or parked): apply the change after it.
            raise LookupError(f"no ERP document yet for {order.shop_id}/{order.shop_order_id}")
        try:
            applied = await erp.writer.update_document(order, document)
            reason = "" if applied else "the ERP no longer allows changes (invoiced or cancelled)"
        except ErpRejected as rejected:
            applied, reason = False, f"refused by the ERP: {rejected.code} {rejected.message}"
        await ctx.publish(
            ErpOrderUpdated(
                **new_event_fields(order.shop_id, order.shop_order_id),
                erp=erp.key,
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
        store = self._store_for(ctx.conn)
        erp = self.erps.for_shop(event.erp_order.shop_id)
        await self._park(
            ctx,
            store,
            event,
            ErpRejected("ordreflyt", reason),
            _Known(False, None, None),
            erp.key,
        )
        return True

    async def _park(
        self,
        ctx: HandlerContext,
        store: WriterStore,
        event: ErpOrderRequested,
        rejected: ErpRejected,
        known: _Known,
        erp: str,
    ) -> None:
        order = event.erp_order
        remembered = known.remembered(erp, order)
        if remembered is not None:
            # The customer was created or updated before the ERP refused the document.
            await store.remember_customer(remembered)
        await store.park(event, erp, rejected.code, rejected.message)
        await ctx.publish(
            ErpOrderFailed(
                **new_event_fields(order.shop_id, order.shop_order_id),
                erp=erp,
                code=rejected.code,
                message=rejected.message,
            )
        )
        log.error(
            "parked: %s refused the order: %s %s",
            erp,
            rejected.code,
            rejected.message,
        )
