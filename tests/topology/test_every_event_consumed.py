"""Every event Ordreflyt publishes has a consumer: none lands in ordreflyt.unrouted in the
normal course (each service's queue is bound to the events its handlers take)."""

from __future__ import annotations

from ordreflyt_contracts import ALL_EVENT_TYPES
from ordreflyt_erp_writer.app import SPEC as ERP_WRITER
from ordreflyt_fulfillment_listener.app import SPEC as FULFILLMENT_LISTENER
from ordreflyt_intake.app import SPEC as INTAKE
from ordreflyt_order_mapper.app import SPEC as ORDER_MAPPER
from ordreflyt_stock_syncer.app import SPEC as STOCK_SYNCER


def test_every_event_type_is_taken_by_some_service() -> None:
    consumed = {
        sub.event
        for spec in (INTAKE, ORDER_MAPPER, ERP_WRITER, FULFILLMENT_LISTENER, STOCK_SYNCER)
        for sub in spec.subscriptions
    }
    unconsumed = [t.routing_key for t in ALL_EVENT_TYPES if t not in consumed]
    assert not unconsumed, f"published but consumed by no service: {unconsumed}"
