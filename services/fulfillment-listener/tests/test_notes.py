"""Tracking links from carrier templates, note texts, tracking meta merging, note matching."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from ordreflyt_fulfillment_listener.config import FulfillmentConfig, load_config
from ordreflyt_fulfillment_listener.effects import Effect, Parcel
from ordreflyt_fulfillment_listener.notes import (
    carrier_template,
    meta_value,
    note_matches,
    product_names,
    render_note,
    tracking_id,
    tracking_items,
    tracking_url,
)

T0 = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
CONFIG = FulfillmentConfig()


def shipment(
    *parcels: Parcel, complete: bool = True, lines: Mapping[str, int] | None = None
) -> Effect:
    return Effect(
        key="shipment:x",
        kind="shipment",
        changed_at=T0,
        lines={sku: Decimal(q) for sku, q in (lines or {}).items()},
        parcels=parcels,
        complete=complete,
    )


def test_carriers_are_matched_by_name_loosely() -> None:
    carriers = CONFIG.carriers
    assert "postnord" in carrier_template("PostNord", carriers)
    assert "postnord" in carrier_template("Post Nord", carriers)
    assert "postnord" in carrier_template("postnord-se", carriers)
    assert "dhl.com" in carrier_template("DHL Freight", carriers)
    assert "dbschenker" in carrier_template("DB Schenker", carriers)
    assert carrier_template("Pigeon Post", carriers) == ""
    assert carrier_template("", carriers) == ""


def test_links_fill_the_template_and_quote_the_number() -> None:
    assert (
        tracking_url(Parcel(tracking_number="00370 12/3", carrier="Bring"), CONFIG.carriers)
        == "https://tracking.bring.com/tracking/00370%2012%2F3"
    )
    own = Parcel(tracking_number="X", carrier="Bring", url="https://track.example/X")
    assert tracking_url(own, CONFIG.carriers) == "https://track.example/X"


def test_configured_templates_and_default() -> None:
    config = load_config(
        {
            "fulfillment": {
                "carriers": {
                    "Helthjem": "https://helthjem.example/t/{number}",
                    "default": "https://track.example/?n={number}",
                }
            }
        },
        env={},
    )
    assert tracking_url(Parcel(tracking_number="1", carrier="helthjem"), config.carriers) == (
        "https://helthjem.example/t/1"
    )
    assert tracking_url(Parcel(tracking_number="2", carrier="Unknown"), config.carriers) == (
        "https://track.example/?n=2"
    )


def test_note_lists_what_was_sent_and_every_parcel_with_its_link() -> None:
    effect = shipment(
        Parcel(tracking_number="PN1", carrier="PostNord"),
        Parcel(tracking_number="U<2>", carrier=""),
        lines={"ULL-SOKK-1001": 2, "LUE-9": 1},
    )
    note = render_note(effect, CONFIG, {"ULL-SOKK-1001": "Ullsokker & co"})
    assert note.splitlines() == [
        "Your order has been shipped.",
        "1 x LUE-9",
        "2 x Ullsokker &amp; co (ULL-SOKK-1001)",
        'PostNord: <a href="https://tracking.postnord.com/tracking.html?id=PN1">PN1</a>',
        "Tracking: U&lt;2&gt;",
    ]


def test_partial_note_and_custom_template() -> None:
    effect = shipment(Parcel(tracking_number="B1", carrier="Bring"), complete=False, lines={"A": 1})
    assert render_note(effect, CONFIG, {}).startswith("Part of your order has been shipped")
    config = load_config(
        {"fulfillment": {"templates": {"nb": {"partial": "Delsending: {tracking}"}}}}, env={}
    )
    assert render_note(effect, config, {}, config.templates["nb"]) == (
        'Delsending: Bring: <a href="https://tracking.bring.com/tracking/B1">B1</a>'
    )


@pytest.mark.parametrize(
    ("currency", "first_lines", "partial"),
    [
        (
            "SEK",
            ["Din beställning har skickats.", "2 x Ullsockor (ULL-SOKK-1001)"],
            "En del av din beställning har skickats. Resten skickar vi så snart den är klar.",
        ),
        (
            "NOK",
            ["Bestillingen din er sendt.", "2 x Ullsockor (ULL-SOKK-1001)"],
            "En del av bestillingen din er sendt. Resten sender vi så snart den er klar.",
        ),
    ],
)
def test_swedish_and_norwegian_notes(currency: str, first_lines: list[str], partial: str) -> None:
    effect = shipment(
        Parcel(tracking_number="PN1", carrier="PostNord"),
        Parcel(tracking_number="X9", carrier=""),
        lines={"ULL-SOKK-1001": 2},
    )
    templates = CONFIG.templates_for("butikk", currency)
    label = {"SEK": "Spårning", "NOK": "Sporing"}[currency]
    assert render_note(effect, CONFIG, {"ULL-SOKK-1001": "Ullsockor"}, templates).splitlines() == [
        *first_lines,
        'PostNord: <a href="https://tracking.postnord.com/tracking.html?id=PN1">PN1</a>',
        f"{label}: X9",
    ]
    part = msgspec.structs.replace(effect, complete=False)
    assert render_note(part, CONFIG, {}, templates).splitlines()[0] == partial


def test_the_shops_language_from_its_locale_its_country_or_the_order_currency() -> None:
    config = load_config(
        {
            "shops": {
                "se": {"url": "https://butik.se/", "locale": "sv_SE"},
                "no": {"url": "https://butikk.no/", "country": "no"},
                "dk": {"url": "https://butik.dk/", "locale": "da", "country": "SE"},
                "fi": {"url": "https://kauppa.fi/", "country": "FI"},
                "any": {"url": "https://shop.example/"},
            }
        },
        env={},
    )
    assert config.shop_locales == {"se": "sv", "no": "nb", "dk": "da", "fi": "en"}
    assert config.templates_for("se", "EUR").tracking_label == "Spårning"
    assert config.templates_for("fi", "SEK").tracking_label == "Tracking"
    # Neither: the order's currency tells.
    assert config.templates_for("any", "NOK") == config.templates["nb"]
    assert config.templates_for("any", "DKK") == config.templates["da"]
    assert config.templates_for("any", "EUR") == config.templates["en"]


def test_merchant_texts_per_language_and_for_every_language() -> None:
    config = load_config(
        {
            "fulfillment": {
                "note_shipped": "Sendt!\n{tracking}",
                "templates": {
                    "sv": {"shipped": "Nu är paketet på väg.\n{tracking}"},
                    "nn": {"shipped": "Pakka er send.\n{tracking}", "tracking_label": "Sporing"},
                },
            },
            "shops": {"vestland": {"url": "https://butikk.no/", "locale": "nn"}},
        },
        env={},
    )
    assert config.templates["sv"].shipped == "Nu är paketet på väg.\n{tracking}"
    assert config.templates["nb"].shipped == "Sendt!\n{tracking}"
    assert config.templates["nb"].partial == CONFIG.templates["nb"].partial
    assert config.templates_for("vestland").shipped == "Pakka er send.\n{tracking}"


def test_note_without_parcels_has_no_blank_lines() -> None:
    assert (
        render_note(shipment(lines={"A": 3}), CONFIG, {}) == "Your order has been shipped.\n3 x A"
    )


def test_a_note_is_recognised_after_the_shop_reformatted_it() -> None:
    written = 'Your order has been shipped.\nPostNord: <a href="https://x/?id=1&amp;b=2">1</a>'
    stored = "<p>Your order has been shipped.<br />\nPostNord: <a href='https://x'>1</a></p>"
    assert note_matches(written, stored)
    assert not note_matches(written, stored.replace(">1<", ">2<"))


def test_tracking_items_merge_by_number_in_the_plugin_format() -> None:
    first = shipment(Parcel(tracking_number="A1", carrier="PostNord"))
    items = tracking_items([first], None, CONFIG)
    assert items == [
        {
            "tracking_provider": "postnord",
            "custom_tracking_provider": "PostNord",
            "custom_tracking_link": "https://tracking.postnord.com/tracking.html?id=A1",
            "tracking_number": "A1",
            "date_shipped": str(int(T0.timestamp())),
            "tracking_id": tracking_id("A1"),
        }
    ]
    assert tracking_items([first], items, CONFIG) is None
    second = shipment(Parcel(tracking_number="B2", carrier="Budbee"))
    merged = tracking_items([first, second], items, CONFIG)
    assert merged is not None
    assert [i["tracking_number"] for i in merged] == ["A1", "B2"]
    # Items another plugin wrote stay, first.
    foreign = [{"tracking_number": "OTHER", "tracking_provider": "ups"}]
    merged = tracking_items([first], foreign, CONFIG)
    assert merged is not None
    assert [i["tracking_number"] for i in merged] == ["OTHER", "A1"]
    assert tracking_items([first], "garbage", CONFIG) == items


def test_meta_and_names_from_the_shop_order() -> None:
    order: dict[str, Any] = {
        "meta_data": [{"id": 1, "key": "k", "value": [1]}],
        "line_items": [{"sku": "A", "name": "Alfa"}, {"sku": "", "name": "No SKU"}],
    }
    assert meta_value(order["meta_data"], "k") == [1]
    assert meta_value(order["meta_data"], "missing") is None
    assert product_names(order) == {"A": "Alfa"}
