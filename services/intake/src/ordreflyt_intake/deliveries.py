"""What intake makes of a verified delivery, and how it is kept: the one path for webhooks,
spooled deliveries, reconciliation polls and resyncs.

`interpret` decodes and checks the body (a refusal names the field and is a 400 for a webhook)
and says what to store and publish: paid and other forwarded states become
`intake.order.received.v1` (`paid` decided here, once), pre-payment states are stored only,
deletions and restorations their own events, the ping is stored. `Intake.keep` stores it in
PostgreSQL in one statement, or, when PostgreSQL does not answer, in the local spool.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import msgspec

from ordreflyt_contracts import (
    OrderDeleted,
    OrderReceived,
    OrderRestored,
    WooOrder,
    decode_deleted,
    decode_order,
    new_event_fields,
)
from ordreflyt_contracts.events import Event
from ordreflyt_contracts.woocommerce import field_error
from ordreflyt_intake.config import IntakeConfig
from ordreflyt_intake.metrics import IntakeMetrics
from ordreflyt_intake.spool import Received, Spool, SpoolUnavailable
from ordreflyt_intake.store import (
    NOT_FORWARDED,
    PING,
    PUBLISHED,
    SPOOLED,
    Delivery,
    Stored,
    store_delivery,
)
from ordreflyt_runtime.errors import is_transient
from ordreflyt_runtime.logs import log_context
from ordreflyt_runtime.outbox import OutboxRow, outbox_row
from ordreflyt_runtime.periodic import Periodic
from ordreflyt_runtime.service import Runtime

log = logging.getLogger(__name__)

ORDER_EVENTS = frozenset({"created", "updated", "deleted", "restored"})
_json = msgspec.json.Encoder()


class Refused(Exception):
    """The delivery is not something intake takes; `reason` says why (a 400 for webhooks)."""

    def __init__(self, reason: str, order_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.order_id = order_id


class CannotStore(Exception):
    """Neither PostgreSQL nor the spool could keep the delivery (a 503 for webhooks)."""


@dataclass(frozen=True)
class Plan:
    delivery: Delivery
    outcome: str
    message: OutboxRow | None
    dedupe_on_state: bool


class _IdOnly(msgspec.Struct):
    id: Any = None


_id_decoder = msgspec.json.Decoder(_IdOnly)


def order_id_hint(body: bytes) -> int | None:
    """Best effort: the `id` of a body that failed validation, for the log line."""
    try:
        value = _id_decoder.decode(body).id
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, int) and 0 < value < 2**63 else None


def content_hash(order: WooOrder) -> str:
    """The order's content as Ordreflyt reads it (known fields only, so noise in fields it
    ignores does not make a repeat look new)."""
    return hashlib.sha256(_json.encode(order)).hexdigest()


def check_order(order: WooOrder, config: IntakeConfig) -> None:
    """What the contract's types cannot say: a real status of this shop, a currency."""
    if not order.status:
        raise Refused("status: missing (a shop order always has one; is this an order?)", order.id)
    if order.status not in config.known_statuses:
        raise Refused(
            f"status: {order.status!r} is not a status of this shop (WooCommerce's statuses are"
            " lower-case and exact, e.g. 'processing'; a status added by a plugin goes in"
            " [intake].custom_statuses)",
            order.id,
        )
    if len(order.currency) != 3 or not order.currency.isalpha() or not order.currency.isupper():
        raise Refused(
            f"currency: {order.currency!r} is not a currency code like 'NOK' or 'SEK'", order.id
        )


def decode_checked_order(body: bytes, config: IntakeConfig) -> WooOrder:
    try:
        order = decode_order(body)
    except msgspec.ValidationError as exc:  # (a DecodeError too: caught first)
        raise Refused(f"not an order: {field_error(exc)}", order_id_hint(body)) from None
    except msgspec.DecodeError as exc:
        raise Refused(f"body is not JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise Refused(f"body is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise Refused("body is nested too deeply to be an order", order_id_hint(body)) from None
    check_order(order, config)
    return order


def _delivery(
    received: Received, order: WooOrder | None = None, order_id: int | None = None
) -> Delivery:
    return Delivery(
        id=received.id,
        shop_id=received.shop_id,
        topic=received.topic,
        webhook_id=received.webhook_id,
        wc_delivery_id=received.wc_delivery_id,
        headers_json=received.headers_json,
        body=received.body,
        received_at=received.received_at,
        source=received.source,
        order_id=order.id if order is not None else order_id,
        status=order.status if order is not None else None,
        date_modified_gmt=(
            order.date_modified_gmt.isoformat()
            if order is not None and order.date_modified_gmt is not None
            else None
        ),
        content_hash=content_hash(order) if order is not None else "",
    )


def interpret(received: Received, config: IntakeConfig) -> Plan:
    """What to store and publish for a verified delivery; raises Refused."""
    if received.topic is None:  # the ping WooCommerce sends when a webhook is saved
        return Plan(_delivery(received), PING, None, dedupe_on_state=False)
    resource, _, event_name = received.topic.partition(".")
    if resource != "order" or event_name not in ORDER_EVENTS:
        raise Refused(
            f"not an order: topic {received.topic!r}; this endpoint takes order.created,"
            " order.updated, order.deleted and order.restored",
            order_id_hint(received.body),
        )
    if event_name == "deleted":
        try:
            order_id = decode_deleted(received.body).id
        except (msgspec.ValidationError, RecursionError) as exc:
            raise Refused(f"not a deleted order: {field_error(exc)}") from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise Refused(f"body is not JSON: {exc}") from None
        event = OrderDeleted(
            **new_event_fields(received.shop_id, order_id), delivery_id=received.id
        )
        # A deletion carries no state to deduplicate on; consumers treat a repeat as a no-op.
        return Plan(_delivery(received, order_id=order_id), PUBLISHED, outbox_row(event), False)
    order = decode_checked_order(received.body, config)
    delivery = _delivery(received, order)
    if order.status in config.held_statuses:
        return Plan(delivery, NOT_FORWARDED, None, dedupe_on_state=True)
    paid = order.status in config.paid_statuses
    fields = new_event_fields(received.shop_id, order.id)
    message: Event
    if event_name == "restored":
        message = OrderRestored(**fields, delivery_id=received.id, paid=paid, order=order)
    else:
        message = OrderReceived(
            **fields, delivery_id=received.id, topic=received.topic, paid=paid, order=order
        )
    return Plan(delivery, PUBLISHED, outbox_row(message), dedupe_on_state=True)


class Intake:
    """Keeps deliveries: in PostgreSQL, or in the spool while PostgreSQL is away."""

    def __init__(
        self, runtime: Runtime[Any, Any], config: IntakeConfig, metrics: IntakeMetrics, spool: Spool
    ) -> None:
        self.runtime = runtime
        self.config = config
        self.metrics = metrics
        self.spool = spool
        # After a database failure, deliveries go straight to the spool for a moment instead
        # of each waiting for the database to fail again.
        self._database_down_until = 0.0
        self._drainer = Periodic("spool drainer", 1.0, self._drain_step)

    @property
    def database_down(self) -> bool:
        return asyncio.get_running_loop().time() < self._database_down_until

    async def keep(
        self, received: Received, *, force: bool = False, keep_duplicates: bool = True
    ) -> Stored:
        """Store a verified delivery (raises Refused, CannotStore)."""
        plan = interpret(received, self.config)
        if not self.database_down:
            try:
                stored = await self.store(plan, force=force, keep_duplicates=keep_duplicates)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._database_down_until = asyncio.get_running_loop().time() + 2.0
                log.warning("database not answering (%s); spooling deliveries", type(exc).__name__)
            else:
                return stored
        if received.source != "webhook":
            # Polls and resyncs are repeated later anyway: nothing to spool.
            raise CannotStore("the database is not answering")
        try:
            self.spool.write(received)
        except SpoolUnavailable as exc:
            raise CannotStore(str(exc)) from exc
        self.metrics.spooled.inc()
        return Stored(outcome=SPOOLED, new=True)

    async def store(
        self, plan: Plan, *, force: bool = False, keep_duplicates: bool = True
    ) -> Stored:
        stored = await store_delivery(
            self.runtime.db,
            plan.delivery,
            plan.outcome,
            plan.message,
            dedupe_on_state=plan.dedupe_on_state,
            force=force,
            keep_duplicates=keep_duplicates,
            timeout=self.config.db_timeout,
        )
        if stored.new and stored.outcome == PUBLISHED and plan.message is not None:
            self.runtime.outbox_written([plan.message])
        return stored

    # The spool drainer -------------------------------------------------------------------

    def start(self) -> None:
        self.spool.prepare()
        self._drainer.start()

    async def stop(self) -> None:
        await self._drainer.stop()

    async def _drain_step(self) -> None:
        try:
            await self.drain_spool()
        finally:
            self.metrics.spool_depth.set(len(self.spool.pending()))

    async def drain_spool(self) -> int:
        """Store spooled deliveries, oldest first; stops at the first database failure."""
        done = 0
        for path in self.spool.pending():
            received = self.spool.read(path)
            if received is None:
                continue
            with log_context(shop_id=received.shop_id, delivery_id=str(received.id)):
                try:
                    stored = await self.store(interpret(received, self.config))
                except Refused as refused:
                    # Only possible if the config changed since it was spooled.
                    log.error("spooled delivery refused now: %s; moved aside", refused.reason)
                    path.rename(path.with_suffix(".refused"))
                    continue
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    return done  # the database is still away: the next turn tries again
                self.spool.done(path)
                done += 1
                log.info("spooled delivery stored: %s", stored.outcome)
        if done:
            self._database_down_until = 0.0
        return done
