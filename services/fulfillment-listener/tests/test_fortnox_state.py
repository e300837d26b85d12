"""Reading Fortnox orders, and the watermark arithmetic of `lastmodified` polling."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ordreflyt_fulfillment_listener.fortnox import (
    minute_text,
    needs_fetch,
    next_watermark,
    order_state,
    parse_minute,
    query_from,
)

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def fortnox_order(**fields: object) -> dict[str, object]:
    return {
        "DocumentNumber": "17",
        "LastModified": "2026-11-20 10:15",
        "InvoiceReference": "0",
        "Cancelled": False,
        "OrderRows": [
            {"ArticleNumber": "A", "OrderedQuantity": "2.00", "DeliveredQuantity": "1.00"},
            {"ArticleNumber": "A", "OrderedQuantity": 1, "DeliveredQuantity": 0},
            {"ArticleNumber": "", "OrderedQuantity": "1.00", "DeliveredQuantity": "0.00"},
            {"ArticleNumber": "B", "OrderedQuantity": "1.5", "DeliveredQuantity": "1.5"},
        ],
        **fields,
    }


def test_state_of_a_fortnox_order() -> None:
    state = order_state(fortnox_order(), STOCKHOLM)
    assert state.document_number == "17"
    assert state.ordered == {"A": Decimal(3), "B": Decimal("1.5")}
    assert state.delivered == {"A": Decimal(1), "B": Decimal("1.5")}
    assert not state.fully_delivered
    assert not state.invoiced
    assert not state.cancelled
    assert state.shipments is None  # real Fortnox: no Shipments field
    # Swedish winter time is UTC+1.
    assert state.changed_at == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)


def test_invoiced_cancelled_and_sandbox_shipments() -> None:
    state = order_state(
        fortnox_order(
            InvoiceReference="1004",
            Cancelled=True,
            LastModified="2026-07-01 12:00",
            Shipments=[
                {
                    "DeliveredAt": "2026-07-01 12:00",
                    "Rows": {"A": "1.00"},
                    "Parcels": [
                        {"TrackingNumber": "PN1", "Carrier": "PostNord"},
                        {"TrackingNumber": "", "Carrier": "ignored"},
                    ],
                }
            ],
        ),
        STOCKHOLM,
    )
    assert state.invoiced
    assert state.cancelled
    assert state.changed_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # summer: UTC+2
    assert state.shipments is not None
    assert [(dict(s.lines), [p.tracking_number for p in s.parcels]) for s in state.shipments] == [
        ({"A": Decimal(1)}, ["PN1"])
    ]


def test_a_malformed_order_is_refused() -> None:
    with pytest.raises(ValueError, match="Fortnox time"):
        order_state(fortnox_order(LastModified="yesterday"), STOCKHOLM)
    with pytest.raises(ValueError, match="quantity"):
        order_state(
            fortnox_order(OrderRows=[{"ArticleNumber": "A", "OrderedQuantity": "two"}]), STOCKHOLM
        )


def test_query_starts_the_overlap_before_the_watermark() -> None:
    watermark = parse_minute("2026-11-20 10:15")
    now = datetime(2026, 11, 20, 9, 20, tzinfo=UTC)
    assert minute_text(query_from(watermark, 2, STOCKHOLM, now)) == "2026-11-20 10:13"


def test_query_goes_back_the_hour_the_clocks_went_back() -> None:
    # 2026-10-25 03:00 CEST became 02:00 CET: local 02:xx happens twice.
    watermark = parse_minute("2026-10-25 02:50")  # the first 02:50, summer time
    after = datetime(2026, 10, 25, 1, 5, tzinfo=UTC)  # 02:05 winter time
    assert minute_text(query_from(watermark, 2, STOCKHOLM, after)) == "2026-10-25 01:48"
    spring = parse_minute("2026-03-29 01:58")
    now = datetime(2026, 3, 29, 1, 5, tzinfo=UTC)  # 03:05 summer time: no repeat, no extra
    assert minute_text(query_from(spring, 2, STOCKHOLM, now)) == "2026-03-29 01:56"


def test_next_watermark() -> None:
    old = parse_minute("2026-11-20 10:00")
    started = parse_minute("2026-11-20 10:15")
    assert next_watermark(old, None, started) == old
    assert next_watermark(None, None, started) is None
    assert next_watermark(old, parse_minute("2026-11-20 10:14"), started) == parse_minute(
        "2026-11-20 10:14"
    )
    # Never later than the minute the poll began (changes during the poll are read again).
    assert next_watermark(old, parse_minute("2026-11-20 10:16"), started) == started


def test_an_order_is_read_again_until_its_minute_was_over_when_it_was_read() -> None:
    listed = "2026-11-20 10:15"  # 09:15 UTC
    read_late = datetime(2026, 11, 20, 9, 16, 31, tzinfo=UTC)
    read_early = datetime(2026, 11, 20, 9, 15, 40, tzinfo=UTC)
    assert needs_fetch(listed, None, None, STOCKHOLM, 30)
    assert needs_fetch(listed, "2026-11-20 10:14", read_late, STOCKHOLM, 30)
    assert needs_fetch(listed, listed, read_early, STOCKHOLM, 30)
    assert needs_fetch(listed, listed, datetime(2026, 11, 20, 9, 16, 20, tzinfo=UTC), STOCKHOLM, 30)
    assert not needs_fetch(listed, listed, read_late, STOCKHOLM, 30)
    assert needs_fetch("garbage", "garbage", read_late, STOCKHOLM, 30)
