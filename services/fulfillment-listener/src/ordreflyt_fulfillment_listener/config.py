"""The merchant's fulfillment rules: the `[fulfillment]` table of the TOML business config.

`load_config` decodes the table into a msgspec Struct (`FulfillmentTable`), then checks what
types cannot say; an error names the key (`[fulfillment].poll_interval: expected float >= 0.1`)
and stops the service at start. Keys and defaults:

    [fulfillment]
    poll_interval = 60                 # seconds between polls of the ERP (> 0)
    overlap_minutes = 2                # each poll re-reads this many minutes before the watermark
    erp_clock_skew = 30                # seconds of clock difference tolerated between us and the ERP
    read_every_change = false          # read a listed order on every change, not only when what
                                       # the listing shows moved (deliveries seen in rows only)
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
else the order's currency (see `locales`). Also read: `[statuses].paid` (the statuses an order
has when it reaches the ERP) and `[order_mapper].delivery_state` (with "delivery", Fortnox
delivers every order in full when it is created, so delivered quantities alone do not mean a
shipment).

`overlap_minutes`, `erp_clock_skew` and `read_every_change` are how the ERP is watched (`ordreflyt_erp.options`);
the zone of the ERP's times is the ERP account's own (FORTNOX_TIMEZONE): the old
`erp_timezone` key stops the service, saying so.

Environment: FULFILLMENT_PUSH_SECRET (and FULFILLMENT_PUSH_SECRET_PREVIOUS during a rotation).
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from ordreflyt_contracts.erp import delivered_on_creation, delivery_state_setting
from ordreflyt_fulfillment_listener.locales import (
    BUILT_IN,
    DEFAULT_LOCALE,
    LOCALE_BY_COUNTRY,
    NoteTemplates,
    locale_for_currency,
    locale_key,
)
from ordreflyt_runtime.config import convert, refuse_moved, section
from ordreflyt_runtime.settings import SettingsError
from ordreflyt_shop import Shop, load_shops, load_statuses

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

NOTE_PLACEHOLDERS = frozenset({"lines", "tracking"})


@dataclass(frozen=True)
class FulfillmentConfig:
    poll_interval: float = 60.0
    overlap_minutes: int = 2
    erp_clock_skew: float = 30.0
    read_every_change: bool = False
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
    paid_statuses: frozenset[str] = frozenset({"processing", "completed"})
    # False when the ERP delivers orders in full on creation ([order_mapper].delivery_state =
    # "delivery"): then only shipments that say so (with parcels) count, not quantities.
    deliveries_from_quantities: bool = True

    def templates_for(self, shop_id: str, currency: str = "") -> NoteTemplates:
        """The notes in the shop's language: configured, else the one of the order currency."""
        locale = self.shop_locales.get(shop_id) or locale_for_currency(currency)
        return self.templates.get(locale) or self.templates[DEFAULT_LOCALE]


Seconds = Annotated[float, msgspec.Meta(ge=0)]
Status = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(wc-)?[a-z0-9][a-z0-9_-]{0,39}$",
        description='a WooCommerce status slug such as "completed"',
    ),
]
# A status to set, or "" to leave the shop order's status as it is.
TargetStatus = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^((wc-)?[a-z0-9][a-z0-9_-]{0,39})?$",
        description='a WooCommerce status slug such as "completed", or "" to leave the status',
    ),
]


class TemplateTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[fulfillment.templates.<locale>]`: the customer notes in one language."""

    shipped: str | None = None
    partial: str | None = None
    tracking_label: str | None = None


class FulfillmentTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[fulfillment]` as written (see the module's documentation)."""

    poll_interval: Annotated[float, msgspec.Meta(ge=0.1)] = 60.0
    overlap_minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] = 2
    erp_clock_skew: Seconds = 30.0
    read_every_change: bool = False
    invoiced_status: TargetStatus = "completed"
    cancelled_status: TargetStatus = "cancelled"
    shipped_status: TargetStatus = ""
    notify_customer: bool = True
    tracking_meta_key: str = "_wc_shipment_tracking_items"
    push_secret: str = ""
    push_max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=10 * 1024 * 1024)] = 65536
    note_shipped: str | None = None
    note_partial: str | None = None
    # Checked per locale and per status below, so a message can name the key.
    templates: dict[str, dict[str, Any]] = {}
    terminal_statuses: list[Status] = msgspec.field(default_factory=lambda: list(DEFAULT_TERMINAL))
    carriers: dict[str, str] = {}
    status_rank: dict[str, Any] | None = None


class Rank(msgspec.Struct, frozen=True):
    """One `status = rank` of `[fulfillment.status_rank]`."""

    status: Status
    rank: Annotated[int, msgspec.Meta(ge=0, description="a whole number of at least 0")]


WHERE = f"[{TABLE}]"


def _template(value: str, where: str) -> str:
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


def _templates(table: FulfillmentTable) -> dict[str, NoteTemplates]:
    """The built-in notes, `note_shipped` / `note_partial` for every language when set, then
    each `[fulfillment.templates.<locale>]` over its language (a new one starts from English)."""
    templates = dict(BUILT_IN)
    common = {
        name: _template(value, f"{WHERE}.{key}")
        for key, name, value in (
            ("note_shipped", "shipped", table.note_shipped),
            ("note_partial", "partial", table.note_partial),
        )
        if value is not None
    }
    if common:
        templates = {locale: replace(t, **common) for locale, t in templates.items()}
    for name, raw in table.templates.items():
        where = f"{WHERE}.templates.{name}"
        locale = locale_key(name)
        if not locale.isalpha():
            raise SettingsError(f"[{where}] must be named by a locale such as sv or nb")
        values = convert(raw, TemplateTable, where)
        changes = {k: v for k, v in msgspec.structs.asdict(values).items() if v is not None}
        for key in ("shipped", "partial"):
            if key in changes:
                _template(changes[key], f"{where}.{key}")
        templates[locale] = replace(templates.get(locale, templates[DEFAULT_LOCALE]), **changes)
    return templates


def _shop_locales(
    shops: Mapping[str, Shop], templates: Mapping[str, NoteTemplates]
) -> dict[str, str]:
    """Each shop's language from `[shops.<id>]`: `locale`, else that of its `country`."""
    locales: dict[str, str] = {}
    for shop_id, shop in shops.items():
        locale, country = shop.table.locale, shop.table.country
        if locale:
            if locale_key(locale) not in templates:
                raise SettingsError(
                    f"[shops.{shop_id}].locale: no notes for {locale!r}; known: "
                    f"{', '.join(sorted(templates))} (add [fulfillment.templates.<locale>])"
                )
            locales[shop_id] = locale_key(locale)
        elif country:
            locales[shop_id] = LOCALE_BY_COUNTRY.get(country.upper(), DEFAULT_LOCALE)
    return locales


def carrier_key(name: str) -> str:
    """How carrier names are compared: lower case, letters and digits only ("Post Nord" ==
    "postnord")."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _carriers(raw: Mapping[str, str]) -> dict[str, str]:
    carriers = dict(DEFAULT_CARRIERS)
    for name, template in raw.items():
        key = carrier_key(name)
        where = f"{WHERE}.carriers.{name}"
        if not key:
            raise SettingsError(f"{where}: a carrier name needs letters or digits")
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


def _status_rank(raw: dict[str, Any] | None) -> dict[str, int]:
    if raw is None:
        return dict(DEFAULT_STATUS_RANK)
    if not raw:
        raise SettingsError("[fulfillment.status_rank] must rank at least one status")
    ranks = [
        convert({"status": k, "rank": v}, Rank, f"[{TABLE}.status_rank].{k}")
        for k, v in raw.items()
    ]
    return {r.status.removeprefix("wc-"): r.rank for r in ranks}


def _check_statuses(config: FulfillmentConfig) -> None:
    rank, terminal = config.status_rank, config.terminal_statuses
    overlap = set(rank) & terminal
    if overlap:
        raise SettingsError(
            f"{WHERE}.terminal_statuses: {sorted(overlap)} also ranked in "
            f"[fulfillment.status_rank]; a status is either ranked or terminal"
        )
    for key in ("invoiced_status", "shipped_status"):
        status = getattr(config, key)
        if status and status not in rank:
            raise SettingsError(
                f"{WHERE}.{key} = {status!r} has no rank: add it to [fulfillment.status_rank]"
            )
    if config.cancelled_status and not (
        config.cancelled_status in rank or config.cancelled_status in terminal
    ):
        raise SettingsError(
            f"{WHERE}.cancelled_status = {config.cancelled_status!r} is neither in "
            f"[fulfillment.status_rank] nor in [fulfillment].terminal_statuses"
        )


def load_config(doc: Mapping[str, Any], env: Mapping[str, str] | None = None) -> FulfillmentConfig:
    """The config from the whole parsed TOML document (defaults when `[fulfillment]` is absent)."""
    env = os.environ if env is None else env
    refuse_moved(
        doc,
        TABLE,
        "erp_timezone",
        "FORTNOX_TIMEZONE, the zone of the Fortnox account (FORTNOX_<ACCOUNT>_TIMEZONE for a"
        " shop's erp_account)",
    )
    table = section(doc, TABLE, FulfillmentTable)
    templates = _templates(table)
    current = env.get("FULFILLMENT_PUSH_SECRET") or table.push_secret
    previous = env.get("FULFILLMENT_PUSH_SECRET_PREVIOUS", "")
    rank = _status_rank(table.status_rank)
    config = FulfillmentConfig(
        poll_interval=table.poll_interval,
        overlap_minutes=table.overlap_minutes,
        erp_clock_skew=table.erp_clock_skew,
        read_every_change=table.read_every_change,
        invoiced_status=table.invoiced_status.removeprefix("wc-"),
        cancelled_status=table.cancelled_status.removeprefix("wc-"),
        shipped_status=table.shipped_status.removeprefix("wc-"),
        notify_customer=table.notify_customer,
        tracking_meta_key=table.tracking_meta_key.strip(),
        push_secrets=tuple(s.encode() for s in (current, previous) if s),
        push_max_body_bytes=table.push_max_body_bytes,
        templates=templates,
        shop_locales=_shop_locales(load_shops(doc, env), templates) if doc.get("shops") else {},
        carriers=_carriers(table.carriers),
        status_rank=rank,
        terminal_statuses=frozenset(s.removeprefix("wc-") for s in table.terminal_statuses),
        paid_statuses=load_statuses(doc).paid,
        deliveries_from_quantities=not delivered_on_creation(delivery_state_setting(doc)),
    )
    _check_statuses(config)
    return config
