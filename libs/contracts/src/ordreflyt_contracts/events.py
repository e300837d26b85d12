"""The messages the services exchange over RabbitMQ.

Each message is a frozen, tagged msgspec Struct; the tag is also its routing key and carries a
version: `<producer>.<entity>.<past-tense verb>.v<N>`. Evolution rules (see the README):
a new field gets a default; a breaking change is a new `.v2` type published beside `.v1`.
Payload fixtures of every type live under this library's tests and must keep decoding.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import msgspec

from ordreflyt_contracts.erp import ErpDocumentState, ErpOrder
from ordreflyt_contracts.woocommerce import WooOrder


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every message carries, so one order can be traced end to end."""

    event_id: uuid.UUID
    occurred_at: datetime
    shop_id: str
    shop_order_id: str

    routing_key: ClassVar[str]


def _tagged(cls: type[Event]) -> type[Event]:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str), cls
    cls.routing_key = tag
    return cls


def new_event_fields(shop_id: str, shop_order_id: str | int) -> dict[str, Any]:
    """The common fields for a message created now."""
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": datetime.now(UTC),
        "shop_id": shop_id,
        "shop_order_id": str(shop_order_id),
    }


@_tagged
class OrderReceived(Event, frozen=True, kw_only=True, tag="intake.order.received.v1"):
    """A new state of a shop order reached intake through a webhook (or a later poll).

    `paid` says whether the state's status is one the shop's settings count as paid; unpaid
    pre-payment states (pending, on-hold, failed, checkout-draft) are never published.
    """

    delivery_id: uuid.UUID
    topic: str
    paid: bool
    order: WooOrder


@_tagged
class OrderDeleted(Event, frozen=True, kw_only=True, tag="intake.order.deleted.v1"):
    """The order was moved to the trash (or deleted) in the shop."""

    delivery_id: uuid.UUID


@_tagged
class OrderRestored(Event, frozen=True, kw_only=True, tag="intake.order.restored.v1"):
    """The order came back from the trash; carries its state as of the delivery."""

    delivery_id: uuid.UUID
    paid: bool
    order: WooOrder


@_tagged
class ErpOrderRequested(
    Event, frozen=True, kw_only=True, tag="order-mapper.erp-order.requested.v1"
):
    """A shop order mapped for the ERP: create it (first paid state), or update it (a change
    after transfer, when the merchant lets changes through and the ERP still allows them)."""

    action: Literal["create", "update"]
    erp_order: ErpOrder
    # Why it was sent: "paid", "changed", "released" (a held order re-sent by a person).
    reason: str = "paid"


@_tagged
class ErpOrderCreated(Event, frozen=True, kw_only=True, tag="erp-writer.erp-order.created.v1"):
    """The ERP holds the shop order as a document (created now, or an earlier one adopted)."""

    erp: str
    document_kind: Literal["order", "invoice"]
    document_number: str
    customer_number: str
    external_reference: str
    invoice_number: str | None = None
    adopted: bool = False  # found by its external reference instead of created again
    # The document as the ERP answered its creation (or lookup): its watcher need not read it.
    state: ErpDocumentState | None = None


@_tagged
class ErpOrderUpdated(Event, frozen=True, kw_only=True, tag="erp-writer.erp-order.updated.v1"):
    """A change after transfer was applied to the ERP document, or could not be."""

    erp: str
    document_number: str
    applied: bool
    reason: str = ""


@_tagged
class ErpOrderFailed(Event, frozen=True, kw_only=True, tag="erp-writer.erp-order.failed.v1"):
    """The ERP refused the order; it is parked with the ERP's own message until retried."""

    erp: str
    code: str
    message: str


AnyEvent = (
    OrderReceived
    | OrderDeleted
    | OrderRestored
    | ErpOrderRequested
    | ErpOrderCreated
    | ErpOrderUpdated
    | ErpOrderFailed
)

ALL_EVENT_TYPES: tuple[type[Event], ...] = (
    OrderReceived,
    OrderDeleted,
    OrderRestored,
    ErpOrderRequested,
    ErpOrderCreated,
    ErpOrderUpdated,
    ErpOrderFailed,
)

_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder(decimal_format="string")


def decode_event(raw: bytes) -> AnyEvent:
    """Decode any message by its tag; raises `msgspec.ValidationError`/`DecodeError` if bad."""
    return _decoder.decode(raw)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)
