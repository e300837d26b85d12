"""What the customer and the shop's tracking plugins see of a shipment. Pure functions.

- Tracking links: the parcel's own URL when the sender gave one, else the carrier's template
  from `[fulfillment.carriers]` (matched by name: exactly, then by the longest configured name
  the carrier's name starts with or contains, so "DHL Freight" uses `dhl`), else `default`.
- The order note: the template of the shop's language (`locales`) with `{lines}` (one line
  per article sent, with the shop's product name) and `{tracking}` (one line per parcel with
  its link).
- The tracking meta, in the format of the WooCommerce Shipment Tracking plugin, which Advanced
  Shipment Tracking and others read too: a list of `{tracking_provider,
  custom_tracking_provider, custom_tracking_link, tracking_number, date_shipped, tracking_id}`.
  Parcels are merged in by tracking number, so writing the same shipment twice adds nothing.
  The value written holds every parcel Ordreflyt announced for the order, not only the new
  ones: a shop may hide meta keys starting with "_" from the REST API (the sandbox does), and
  then the items already there cannot be read back.
- `note_matches`: whether a note in the shop is the one Ordreflyt wrote (WooCommerce may
  re-format HTML and whitespace), so a note is not written twice after a crash.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from ordreflyt_fulfillment_listener.config import FulfillmentConfig, carrier_key
from ordreflyt_fulfillment_listener.effects import Effect, Parcel, quantity_text
from ordreflyt_fulfillment_listener.locales import DEFAULT_LOCALE, NoteTemplates

_TAGS = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def carrier_template(carrier: str, carriers: Mapping[str, str]) -> str:
    key = carrier_key(carrier)
    if key and key in carriers:
        return carriers[key]
    names = sorted((k for k in carriers if k != "default"), key=len, reverse=True)
    for name in names:
        if key.startswith(name):
            return carriers[name]
    for name in names:
        if name in key:
            return carriers[name]
    return carriers.get("default", "")


def tracking_url(parcel: Parcel, carriers: Mapping[str, str]) -> str:
    if parcel.url:
        return parcel.url
    template = carrier_template(parcel.carrier, carriers)
    if not template:
        return ""
    return template.replace("{number}", quote(parcel.tracking_number, safe=""))


def _line_text(article: str, quantity: Decimal, names: Mapping[str, str]) -> str:
    name = names.get(article, "")
    label = f"{name} ({article})" if name and name != article else article
    return f"{quantity_text(quantity)} x {html.escape(label, quote=False)}"


def render_note(
    effect: Effect,
    config: FulfillmentConfig,
    names: Mapping[str, str],
    templates: NoteTemplates | None = None,
) -> str:
    """The note for a shipment effect (`names`: SKU -> product name from the shop order), in
    the language of `templates` (default: English)."""
    templates = templates or config.templates[DEFAULT_LOCALE]
    lines = "\n".join(
        _line_text(article, quantity, names) for article, quantity in sorted(effect.lines.items())
    )
    parcels = []
    for parcel in effect.parcels:
        number = html.escape(parcel.tracking_number)
        url = tracking_url(parcel, config.carriers)
        shown = f'<a href="{html.escape(url)}">{number}</a>' if url else number
        carrier = html.escape(parcel.carrier or templates.tracking_label)
        parcels.append(f"{carrier}: {shown}")
    template = templates.shipped if effect.complete else templates.partial
    text = template.format(lines=lines, tracking="\n".join(parcels))
    # Empty placeholders leave blank lines behind; a note reads better without them.
    return "\n".join(line for line in text.splitlines() if line.strip())


def normalise_note(text: str) -> str:
    """A note as compared: tags dropped, entities resolved, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", text))).strip()


def note_matches(written: str, candidate: str) -> bool:
    return normalise_note(written) == normalise_note(candidate)


def tracking_id(tracking_number: str) -> str:
    """A stable id per tracking number (the plugin makes a random one; stable keeps merges
    idempotent)."""
    return hashlib.md5(tracking_number.encode(), usedforsecurity=False).hexdigest()


def tracking_items(
    effects: Sequence[Effect], existing: Any, config: FulfillmentConfig
) -> list[dict[str, Any]] | None:
    """The meta value with the parcels of `effects` merged in (by tracking number, after the
    items already there), or None when nothing is new."""
    items: list[dict[str, Any]] = (
        [dict(i) for i in existing if isinstance(i, dict)] if isinstance(existing, list) else []
    )
    known = {str(i.get("tracking_number", "")) for i in items}
    added = False
    for effect in effects:
        shipped = str(int(effect.changed_at.timestamp()))
        for parcel in effect.parcels:
            if parcel.tracking_number in known:
                continue
            known.add(parcel.tracking_number)
            items.append(
                {
                    "tracking_provider": carrier_key(parcel.carrier),
                    "custom_tracking_provider": parcel.carrier,
                    "custom_tracking_link": tracking_url(parcel, config.carriers),
                    "tracking_number": parcel.tracking_number,
                    "date_shipped": shipped,
                    "tracking_id": tracking_id(parcel.tracking_number),
                }
            )
            added = True
    return items if added else None


def meta_value(meta_data: Sequence[Any], key: str) -> Any:
    for meta in meta_data:
        if isinstance(meta, dict) and meta.get("key") == key:
            return meta.get("value")
    return None


def product_names(shop_order: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for item in shop_order.get("line_items") or []:
        if isinstance(item, dict) and item.get("sku"):
            names.setdefault(str(item["sku"]), str(item.get("name") or ""))
    return names
