"""The messages the services exchange over RabbitMQ.

Each message is a frozen, tagged msgspec Struct; the tag is also its routing key and carries a
version: `<producer>.<entity>.<past-tense verb>.v<N>`. Evolution rules (see the README):
a new field gets a default; a breaking change is a new `.v2` type published beside `.v1`.
Payload fixtures of every type live under this library's tests and must keep decoding.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec

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


AnyEvent = OrderReceived | OrderDeleted | OrderRestored

ALL_EVENT_TYPES: tuple[type[Event], ...] = (OrderReceived, OrderDeleted, OrderRestored)

_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder(decimal_format="string")


def decode_event(raw: bytes) -> AnyEvent:
    """Decode any message by its tag; raises `msgspec.ValidationError`/`DecodeError` if bad."""
    return _decoder.decode(raw)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)
