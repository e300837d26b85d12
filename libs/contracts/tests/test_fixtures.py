"""Old payloads must keep decoding: one fixture per message type, kept as it was first published."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ordreflyt_contracts import ALL_EVENT_TYPES, OrderReceived, decode_event, encode_event

FIXTURES = Path(__file__).parent / "fixtures"


def test_every_message_type_has_a_fixture() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")}
    missing = {t.routing_key for t in ALL_EVENT_TYPES} - names
    assert not missing, f"add a payload fixture for {sorted(missing)}"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture_decodes_to_its_type_and_round_trips(path: Path) -> None:
    raw = path.read_bytes()
    event = decode_event(raw)
    assert event.routing_key == path.stem
    assert decode_event(encode_event(event)) == event


def test_money_decodes_exactly_from_strings_and_numbers() -> None:
    event = decode_event((FIXTURES / "intake.order.received.v1.json").read_bytes())
    assert isinstance(event, OrderReceived)
    assert event.order.total == Decimal("515.00")
    # `price` arrives as a JSON number (99 and 125.0) and must not pass through float.
    assert [line.price for line in event.order.line_items] == [Decimal("99"), Decimal("125.0")]
    assert b'"total":"515.00"' in encode_event(event)
