"""The merchant's fulfillment rules: the `[fulfillment]` table of the TOML business config.

`load_config` checks every value and raises `SettingsError` naming `fulfillment.<key>`, so a
wrong setting stops the service at start. Keys and defaults:

    [fulfillment]
    poll_interval = 60                 # seconds between polls of the ERP (> 0)
    overlap_minutes = 2                # each poll re-reads this many minutes before the watermark
    erp_timezone = "Europe/Stockholm"  # the zone of Fortnox's LastModified
    erp_clock_skew = 30                # seconds of clock difference tolerated between us and the ERP
    invoiced_status = "completed"      # shop status for "invoiced in the ERP"; "" = leave
    cancelled_status = "cancelled"     # shop status for "cancelled in the ERP"; "" = leave
    shipped_status = ""                # shop status for "delivered in full"; "" = leave
    notify_customer = true             # shipment notes are customer notes (e-mailed) or private
    tracking_meta_key = "_wc_shipment_tracking_items"  # order meta for tracking plugins; "" = none
    push_secret = ""                   # signs POST /shipments/{shop}; FULFILLMENT_PUSH_SECRET wins
    push_max_body_bytes = 65536        # larger pushes get 413
    note_shipped = "..."               # one text for every language: a delivery that completes
    note_partial = "..."               # the order / a partial delivery (unset: per language)
    terminal_statuses = ["cancelled", "refunded", "failed", "trash"]  # never changed

    [fulfillment.templates.sv]         # the customer notes in one language (see `locales`):
    shipped = "Din beställning har skickats.\n{lines}\n{tracking}"
    partial = "..."                    # built in: nb, sv, da, en; any other locale may be added
    tracking_label = "Spårning"        # a parcel whose carrier is not known

    [fulfillment.carriers]             # tracking link per carrier; {number} is the tracking number
    postnord = "https://tracking.postnord.com/tracking.html?id={number}"
    default = ""                       # carriers not listed: no link

    [fulfillment.status_rank]          # forward order of shop statuses (replaces this default);
                                       # an order is never moved to a lower or equal rank, and
                                       # not cancelled once at the rank of "completed"
    pending = 0
    on-hold = 1
    processing = 2
    completed = 3

Note templates take `{lines}` (what was sent, one line each) and `{tracking}` (the parcels with
their links). Each shop's notes are in its language: `locale` (or `country`) in `[shops.<id>]`,
else the order's currency (see `locales`). `[order_mapper]` is read too: `paid_statuses` (the statuses an order has when it
reaches the ERP) and `delivery_state` (with "delivery", Fortnox delivers every order in full when
it is created, so delivered quantities alone do not mean a shipment).

Environment: FULFILLMENT_PUSH_SECRET (and FULFILLMENT_PUSH_SECRET_PREVIOUS during a rotation).
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ordreflyt_fulfillment_listener.locales import (
    BUILT_IN,
    DEFAULT_LOCALE,
    LOCALE_BY_COUNTRY,
    NoteTemplates,
    locale_for_currency,
    locale_key,
)
from ordreflyt_runtime.settings import SettingsError

TABLE = "fulfillment"

# Where the common Nordic and international carriers show a parcel; the merchant may change or
# add any of them under [fulfillment.carriers].
DEFAULT_CARRIERS: dict[str, str] = {
    "postnord": "https://tracking.postnord.com/tracking.html?id={number}",
    "bring": "https://tracking.bring.com/tracking/{number}",
    "posten": "https://sporing.posten.no/sporing/{number}",
    "dhl": "https://www.dhl.com/se-en/home/tracking.html?tracking-id={number}",
    "budbee": "https://tracking.budbee.com/{number}",
    "schenker": "https://www.dbschenker.com/app/tracking-public/?refNumber={number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "gls": "https://gls-group.com/track/{number}",
    "instabox": "https://track.instabox.io/{number}",
    "default": "",
}

DEFAULT_STATUS_RANK: dict[str, int] = {
    "pending": 0,
    "on-hold": 1,
    "processing": 2,
    "completed": 3,
}
DEFAULT_TERMINAL = ("cancelled", "refunded", "failed", "trash")
DEFAULT_PAID_STATUSES = ("processing", "completed")

NOTE_PLACEHOLDERS = frozenset({"lines", "tracking"})
TEMPLATE_KEYS = ("shipped", "partial", "tracking_label")

KNOWN_KEYS = frozenset(
    {
        "poll_interval",
        "overlap_minutes",
        "erp_timezone",
        "erp_clock_skew",
        "invoiced_status",
        "cancelled_status",
        "shipped_status",
        "notify_customer",
        "tracking_meta_key",
        "push_secret",
        "push_max_body_bytes",
        "note_shipped",
        "note_partial",
        "templates",
        "terminal_statuses",
        "carriers",
        "status_rank",
    }
)

_STATUS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class FulfillmentConfig:
    poll_interval: float = 60.0
    overlap_minutes: int = 2
    erp_timezone: str = "Europe/Stockholm"
    erp_clock_skew: float = 30.0
    invoiced_status: str = "completed"
    cancelled_status: str = "cancelled"
    shipped_status: str = ""
    notify_customer: bool = True
    tracking_meta_key: str = "_wc_shipment_tracking_items"
    push_secrets: tuple[bytes, ...] = ()
    push_max_body_bytes: int = 65536
    # The customer notes per language, and each shop's language (see `locales`).
    templates: Mapping[str, NoteTemplates] = field(default_factory=lambda: dict(BUILT_IN))
    shop_locales: Mapping[str, str] = field(default_factory=dict)
    carriers: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_CARRIERS))
    status_rank: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_STATUS_RANK))
    terminal_statuses: frozenset[str] = frozenset(DEFAULT_TERMINAL)
    # The statuses a shop order has when it reaches the ERP ([order_mapper].paid_statuses): a
    # status among them was not set by a person after the transfer.
    paid_statuses: frozenset[str] = frozenset(DEFAULT_PAID_STATUSES)
    # False when the ERP delivers orders in full on creation ([order_mapper].delivery_state =
    # "delivery"): then only shipments that say so (with parcels) count, not quantities.
    deliveries_from_quantities: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.erp_timezone)

    def templates_for(self, shop_id: str, currency: str = "") -> NoteTemplates:
        """The notes in the shop's language: configured, else the one of the order currency."""
        locale = self.shop_locales.get(shop_id) or locale_for_currency(currency)
        return self.templates.get(locale) or self.templates[DEFAULT_LOCALE]


def _name(key: str) -> str:
    return f"{TABLE}.{key}"


def _number(table: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"{_name(key)} must be a number of seconds, got {value!r}")
    if value < minimum:
        raise SettingsError(f"{_name(key)} must be at least {minimum}, got {value!r}")
    return float(value)


def _whole(table: Mapping[str, Any], key: str, default: int, *, minimum: int, maximum: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{_name(key)} must be a whole number, got {value!r}")
    if not minimum <= value <= maximum:
        raise SettingsError(f"{_name(key)} must be between {minimum} and {maximum}, got {value}")
    return value


def _text(table: Mapping[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise SettingsError(f"{_name(key)} must be a string, got {value!r}")
    return value


def _status(table: Mapping[str, Any], key: str, default: str) -> str:
    value = _text(table, key, default).strip()
    if value and not _STATUS.match(value):
        raise SettingsError(
            f'{_name(key)} must be a WooCommerce status slug such as "completed" (without the '
            f'"wc-" prefix) or "" to leave the status as it is, got {value!r}'
        )
    return value.removeprefix("wc-")


def _template(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SettingsError(f"{where} must be a string, got {value!r}")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise SettingsError(f"{where} is not a valid template: {exc}") from None
    unknown = names - NOTE_PLACEHOLDERS
    if unknown:
        raise SettingsError(
            f"{where} uses unknown placeholders {sorted(unknown)}; allowed: {{lines}}, {{tracking}}"
        )
    return value


def _templates(table: Mapping[str, Any]) -> dict[str, NoteTemplates]:
    """The built-in notes, `note_shipped` / `note_partial` for every language when set, then
    each `[fulfillment.templates.<locale>]` over its language (a new one starts from English)."""
    templates = dict(BUILT_IN)
    common = {
        field_name: _template(table[key], _name(key))
        for key, field_name in (("note_shipped", "shipped"), ("note_partial", "partial"))
        if key in table
    }
    if common:
        templates = {locale: replace(t, **common) for locale, t in templates.items()}
    raw = table.get("templates", {})
    if not isinstance(raw, dict):
        raise SettingsError(f"[{_name('templates')}] must be a table of [templates.<locale>]")
    for name, values in raw.items():
        where = f"{_name('templates')}.{name}"
        locale = locale_key(str(name))
        if not locale.isalpha() or not isinstance(values, dict):
            raise SettingsError(f"[{where}] must be a table named by a locale such as sv or nb")
        unknown = sorted(set(values) - set(TEMPLATE_KEYS))
        if unknown:
            raise SettingsError(
                f"{where}.{unknown[0]} is not a known setting (known: {', '.join(TEMPLATE_KEYS)})"
            )
        base = templates.get(locale, templates[DEFAULT_LOCALE])
        changes = {key: values[key] for key in TEMPLATE_KEYS if key in values}
        for key in ("shipped", "partial"):
            if key in changes:
                _template(changes[key], f"{where}.{key}")
        label = changes.get("tracking_label", base.tracking_label)
        if not isinstance(label, str):
            raise SettingsError(f"{where}.tracking_label must be a string, got {label!r}")
        templates[locale] = replace(base, **changes)
    return templates


def _shop_locales(doc: Mapping[str, Any], templates: Mapping[str, NoteTemplates]) -> dict[str, str]:
    """Each shop's language from `[shops.<id>]`: `locale`, else that of its `country`."""
    shops = doc.get("shops", {})
    locales: dict[str, str] = {}
    for shop_id, table in shops.items() if isinstance(shops, dict) else ():
        if not isinstance(table, dict):
            continue
        locale, country = table.get("locale"), table.get("country")
        if locale is not None:
            if not isinstance(locale, str) or locale_key(locale) not in templates:
                raise SettingsError(
                    f"shops.{shop_id}.locale: no notes for {locale!r}; known: "
                    f"{', '.join(sorted(templates))} (add [fulfillment.templates.<locale>])"
                )
            locales[shop_id] = locale_key(locale)
        elif country is not None:
            if not isinstance(country, str) or len(country.strip()) != 2:
                raise SettingsError(
                    f'shops.{shop_id}.country must be a two-letter country code like "SE", '
                    f"got {country!r}"
                )
            locales[shop_id] = LOCALE_BY_COUNTRY.get(country.strip().upper(), DEFAULT_LOCALE)
    return locales


def carrier_key(name: str) -> str:
    """How carrier names are compared: lower case, letters and digits only ("Post Nord" ==
    "postnord")."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _carriers(table: Mapping[str, Any]) -> dict[str, str]:
    raw = table.get("carriers", {})
    if not isinstance(raw, dict):
        raise SettingsError(f"{_name('carriers')} must be a table of carrier = URL template")
    carriers = dict(DEFAULT_CARRIERS)
    for name, template in raw.items():
        key = carrier_key(str(name))
        where = f"{_name('carriers')}.{name}"
        if not key:
            raise SettingsError(f"{where}: a carrier name needs letters or digits")
        if not isinstance(template, str):
            raise SettingsError(f"{where} must be a URL template string, got {template!r}")
        if template:
            parts = urlsplit(template)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SettingsError(f"{where} must be an http(s) URL, got {template!r}")
            try:
                names = {n for _, n, _, _ in string.Formatter().parse(template) if n is not None}
            except ValueError as exc:
                raise SettingsError(f"{where} is not a valid template: {exc}") from None
            if names != {"number"}:
                raise SettingsError(
                    f"{where} must contain {{number}} (where the tracking number goes) and no "
                    f"other placeholder, got {template!r}"
                )
        carriers[key] = template
    return carriers


def _status_rank(table: Mapping[str, Any]) -> dict[str, int]:
    raw = table.get("status_rank")
    if raw is None:
        return dict(DEFAULT_STATUS_RANK)
    if not isinstance(raw, dict) or not raw:
        raise SettingsError(f"{_name('status_rank')} must be a table of status = rank")
    rank: dict[str, int] = {}
    for status, value in raw.items():
        where = f"{_name('status_rank')}.{status}"
        if not _STATUS.match(str(status)):
            raise SettingsError(f"{where}: not a WooCommerce status slug")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SettingsError(f"{where} must be a whole number of at least 0, got {value!r}")
        rank[str(status)] = value
    return rank


def _statuses(table: Mapping[str, Any], key: str, default: tuple[str, ...]) -> frozenset[str]:
    raw = table.get(key, list(default))
    if not isinstance(raw, list) or not all(isinstance(s, str) and _STATUS.match(s) for s in raw):
        raise SettingsError(f"{_name(key)} must be a list of WooCommerce status slugs")
    return frozenset(raw)


def _secrets(table: Mapping[str, Any], env: Mapping[str, str]) -> tuple[bytes, ...]:
    current = env.get("FULFILLMENT_PUSH_SECRET") or _text(table, "push_secret", "")
    previous = env.get("FULFILLMENT_PUSH_SECRET_PREVIOUS", "")
    return tuple(s.encode() for s in (current, previous) if s)


def load_config(doc: Mapping[str, Any], env: Mapping[str, str] | None = None) -> FulfillmentConfig:
    """The config from the whole parsed TOML document (defaults when `[fulfillment]` is absent)."""
    env = os.environ if env is None else env
    table = doc.get(TABLE, {})
    if not isinstance(table, dict):
        raise SettingsError(f"[{TABLE}] must be a table")
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise SettingsError(
            f"unknown key {_name(unknown[0])}; known keys: {', '.join(sorted(KNOWN_KEYS))}"
        )
    zone_name = _text(table, "erp_timezone", "Europe/Stockholm")
    try:
        ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{_name('erp_timezone')}: unknown time zone {zone_name!r} (e.g. Europe/Stockholm)"
        ) from None
    notify = table.get("notify_customer", True)
    if not isinstance(notify, bool):
        raise SettingsError(f"{_name('notify_customer')} must be true or false, got {notify!r}")
    meta_key = _text(table, "tracking_meta_key", "_wc_shipment_tracking_items").strip()
    rank = _status_rank(table)
    terminal = _statuses(table, "terminal_statuses", DEFAULT_TERMINAL)
    templates = _templates(table)
    config = FulfillmentConfig(
        poll_interval=_number(table, "poll_interval", 60.0, minimum=0.1),
        overlap_minutes=_whole(table, "overlap_minutes", 2, minimum=1, maximum=24 * 60),
        erp_timezone=zone_name,
        erp_clock_skew=_number(table, "erp_clock_skew", 30.0, minimum=0.0),
        invoiced_status=_status(table, "invoiced_status", "completed"),
        cancelled_status=_status(table, "cancelled_status", "cancelled"),
        shipped_status=_status(table, "shipped_status", ""),
        notify_customer=notify,
        tracking_meta_key=meta_key,
        push_secrets=_secrets(table, env),
        push_max_body_bytes=_whole(
            table, "push_max_body_bytes", 65536, minimum=1024, maximum=10 * 1024 * 1024
        ),
        templates=templates,
        shop_locales=_shop_locales(doc, templates),
        carriers=_carriers(table),
        status_rank=rank,
        terminal_statuses=terminal,
        **_from_order_mapper(doc),
    )
    for key in ("invoiced_status", "shipped_status"):
        status = getattr(config, key)
        if status and status not in rank:
            raise SettingsError(
                f"{_name(key)} = {status!r} has no rank: add it to [fulfillment.status_rank]"
            )
    if config.cancelled_status and not (
        config.cancelled_status in rank or config.cancelled_status in terminal
    ):
        raise SettingsError(
            f"{_name('cancelled_status')} = {config.cancelled_status!r} is neither in "
            f"[fulfillment.status_rank] nor in fulfillment.terminal_statuses"
        )
    overlap = set(rank) & terminal
    if overlap:
        raise SettingsError(
            f"{_name('terminal_statuses')}: {sorted(overlap)} also ranked in "
            f"[fulfillment.status_rank]; a status is either ranked or terminal"
        )
    return config


def _from_order_mapper(doc: Mapping[str, Any]) -> dict[str, Any]:
    table = doc.get("order_mapper", {})
    if not isinstance(table, dict):
        return {}
    paid = table.get("paid_statuses", list(DEFAULT_PAID_STATUSES))
    if not isinstance(paid, list) or not all(isinstance(s, str) for s in paid):
        raise SettingsError("order_mapper.paid_statuses must be a list of statuses")
    return {
        "paid_statuses": frozenset(paid),
        "deliveries_from_quantities": table.get("delivery_state", "") != "delivery",
    }
