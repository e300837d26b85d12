"""The `[fulfillment]` config (defaults, errors naming the key) and the push body checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ordreflyt_fulfillment_listener.config import FulfillmentConfig, load_config
from ordreflyt_fulfillment_listener.effects import Parcel, shipment_key
from ordreflyt_fulfillment_listener.push import (
    PushError,
    event_key,
    parse_push,
    push_effects,
    sign,
    signature_ok,
)
from ordreflyt_runtime.settings import SettingsError


def test_defaults() -> None:
    config = load_config({}, env={})
    assert config == FulfillmentConfig()
    assert config.poll_interval == 60
    assert config.invoiced_status == "completed"
    assert config.cancelled_status == "cancelled"
    assert config.shipped_status == ""
    assert config.notify_customer is True
    assert config.tracking_meta_key == "_wc_shipment_tracking_items"
    assert config.push_secrets == ()
    assert "postnord" in config.carriers


def test_values_and_what_is_read_from_statuses_and_order_mapper() -> None:
    config = load_config(
        {
            "fulfillment": {
                "poll_interval": 1.5,
                "overlap_minutes": 5,
                "invoiced_status": "wc-completed",
                "shipped_status": "shipped",
                "status_rank": {"processing": 1, "shipped": 2, "completed": 3},
                "push_secret": "from-toml",
                "tracking_meta_key": "",
            },
            "statuses": {"paid": ["processing"]},
            "order_mapper": {"delivery_state": "delivery"},
        },
        env={"FULFILLMENT_PUSH_SECRET_PREVIOUS": "old"},
    )
    assert config.poll_interval == 1.5
    assert config.overlap_minutes == 5
    assert config.invoiced_status == "completed"
    assert config.shipped_status == "shipped"
    assert config.push_secrets == (b"from-toml", b"old")
    assert config.tracking_meta_key == ""
    assert config.paid_statuses == frozenset({"processing"})
    assert config.deliveries_from_quantities is False
    env = {"FULFILLMENT_PUSH_SECRET": "from-env"}
    assert load_config({"fulfillment": {"push_secret": "x"}}, env=env).push_secrets == (
        b"from-env",
    )


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"poll_interval": "60"}, "[fulfillment].poll_interval: expected float, got str"),
        ({"poll_interval": 0}, "[fulfillment].poll_interval: expected float >= 0.1"),
        ({"overlap_minutes": 0}, "[fulfillment].overlap_minutes: expected int >= 1"),
        (
            {"erp_timezone": "Europe/Stockholm"},
            "[fulfillment].erp_timezone has moved: set it as FORTNOX_TIMEZONE",
        ),
        (
            {"invoiced_status": "Completed!"},
            '[fulfillment].invoiced_status: expected a WooCommerce status slug such as "completed"',
        ),
        ({"invoiced_status": "shipped"}, "[fulfillment].invoiced_status = 'shipped' has no rank"),
        ({"cancelled_status": "gone"}, "[fulfillment].cancelled_status = 'gone' is neither"),
        ({"notify_customer": "yes"}, "[fulfillment].notify_customer: expected bool, got str"),
        (
            {"note_shipped": "Sent {parcels}"},
            "[fulfillment].note_shipped uses unknown placeholders",
        ),
        ({"note_partial": "Sent {"}, "[fulfillment].note_partial is not a valid template"),
        (
            {"templates": {"sv": {"shipped": "{parcels}"}}},
            "[fulfillment].templates.sv.shipped uses unknown placeholders",
        ),
        (
            {"templates": {"sv": {"greeting": "Hej"}}},
            "[fulfillment].templates.sv: object contains unknown field greeting",
        ),
        (
            {"templates": {"sv": {"tracking_label": 1}}},
            "[fulfillment].templates.sv.tracking_label: expected str",
        ),
        ({"templates": "sv"}, "[fulfillment].templates: expected object, got str"),
        (
            {"carriers": {"postnord": "ftp://x/{number}"}},
            "[fulfillment].carriers.postnord must be an http(s) URL",
        ),
        (
            {"carriers": {"bring": "https://x/track"}},
            "[fulfillment].carriers.bring must contain {number}",
        ),
        (
            {"status_rank": {"processing": -1}},
            "[fulfillment.status_rank].processing.rank: expected int >= 0",
        ),
        (
            {"terminal_statuses": ["completed"]},
            "[fulfillment].terminal_statuses: ['completed'] also ranked",
        ),
        ({"push_max_body_bytes": 10}, "[fulfillment].push_max_body_bytes: expected int >= 1024"),
        ({"poll_intervall": 5}, "[fulfillment]: object contains unknown field poll_intervall"),
    ],
)
def test_a_bad_value_names_its_key(table: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_config({"fulfillment": table}, env={})
    assert str(caught.value).startswith(named), caught.value


@pytest.mark.parametrize(
    ("shop", "named"),
    [
        ({"locale": "fi"}, r"\[shops\.butikk\]\.locale: no notes for 'fi'; known: da, en, nb, sv"),
        ({"locale": 5}, r"\[shops\.butikk\]\.locale: expected str, got int"),
        (
            {"country": "Norge"},
            r"\[shops\.butikk\]\.country: expected a two-letter country code like \"SE\"",
        ),
    ],
)
def test_a_bad_shop_language_names_its_key(shop: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_config({"shops": {"butikk": {"url": "https://butikk.no/", **shop}}}, env={})


# ---------------------------------------------------------------- push

SECRET = b"s3cret"


def body(**changes: Any) -> bytes:
    doc = {
        "order_id": 1234,
        "parcels": [{"tracking_number": "PN1", "carrier": "PostNord"}],
        "complete": True,
        **changes,
    }
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    raw = body()
    expected = base64.b64encode(hmac.new(SECRET, raw, hashlib.sha256).digest()).decode()
    assert sign(SECRET, raw) == expected
    assert signature_ok(raw, expected, (SECRET,))
    assert signature_ok(raw, f" {expected} ", (b"other", SECRET))
    assert not signature_ok(raw + b" ", expected, (SECRET,))
    assert not signature_ok(raw, None, (SECRET,))
    assert not signature_ok(raw, "", (SECRET,))


def test_a_valid_push() -> None:
    parsed = parse_push(body(lines={"A": 2, "B": "1.5"}, event_id="e-1"))
    assert parsed.order_id == 1234
    assert parsed.lines == {"A": Decimal(2), "B": Decimal("1.5")}
    assert event_key(parsed, b"") == "id:e-1"
    other = parse_push(body(order_id=None, erp_document_number="17"))
    assert other.erp_document_number == "17"
    assert event_key(other, b"raw").startswith("sha256:")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (body(parcels=[]), "1 to 4 parcels"),
        (body(parcels=[{"tracking_number": f"T{n}"} for n in range(5)]), "1 to 4 parcels"),
        (body(parcels=[{"tracking_number": " "}]), "tracking_number"),
        (body(parcels=[{"tracking_number": "A"}, {"tracking_number": "A"}]), "given twice"),
        (body(parcels=[{"tracking_number": "A", "url": "javascript:x"}]), "url"),
        (body(parcels=[{"carrier": "DHL"}]), "tracking_number"),
        (body(complete=None), "complete"),
        (body(order_id=None), "exactly one of"),
        (body(erp_document_number="17"), "exactly one of"),
        (body(lines={"A": 0}), "positive"),
        (body(lines={"A": "NaN"}), "positive"),
        (body(event_id=""), "event_id"),
    ],
)
def test_a_bad_push_is_400_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PushError, match=reason) as caught:
        parse_push(raw)
    assert caught.value.status == 400


def test_pushed_parcels_have_the_key_the_erp_gives_the_same_parcels() -> None:
    at = datetime(2026, 11, 20, tzinfo=UTC)
    parsed = parse_push(
        body(parcels=[{"tracking_number": "B2 "}, {"tracking_number": "A1"}], complete=False)
    )
    effects = push_effects(parsed, at, FulfillmentConfig())
    erp_key = shipment_key([Parcel(tracking_number="A1"), Parcel(tracking_number="B2")], {})
    assert [e.key for e in effects] == [erp_key]
    assert effects[0].source == "push"
    assert effects[0].complete is False
    shipped = push_effects(parse_push(body()), at, FulfillmentConfig(shipped_status="completed"))
    assert [(e.key, e.status) for e in shipped] == [
        ("shipment:PN1", ""),
        ("status:shipped", "completed"),
    ]


def test_read_every_change_reaches_the_watcher_options() -> None:
    from ordreflyt_fulfillment_listener.app import load_settings

    document = {
        "shops": {"demo": {"url": "http://127.0.0.1:1/"}},
        "fulfillment": {"read_every_change": True, "overlap_minutes": 5},
    }
    options = load_settings(document, {}).erp_options
    assert (options.read_every_change, options.overlap_minutes) == (True, 5)
    assert not load_settings({"shops": document["shops"]}, {}).erp_options.read_every_change
