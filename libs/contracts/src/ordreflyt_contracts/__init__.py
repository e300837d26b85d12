"""Ordreflyt's message contracts: the events on the broker and the shop resources they carry."""

from ordreflyt_contracts.events import (
    ALL_EVENT_TYPES,
    AnyEvent,
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderRequested,
    ErpOrderUpdated,
    Event,
    OrderDeleted,
    OrderReceived,
    OrderRestored,
    decode_event,
    encode_event,
    new_event_fields,
)
from ordreflyt_contracts.woocommerce import WooOrder, decode_deleted, decode_order

__all__ = [
    "ALL_EVENT_TYPES",
    "AnyEvent",
    "ErpOrderCreated",
    "ErpOrderFailed",
    "ErpOrderRequested",
    "ErpOrderUpdated",
    "Event",
    "OrderDeleted",
    "OrderReceived",
    "OrderRestored",
    "WooOrder",
    "decode_deleted",
    "decode_event",
    "decode_order",
    "encode_event",
    "new_event_fields",
]
