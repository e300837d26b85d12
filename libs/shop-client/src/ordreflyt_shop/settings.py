"""The shops, as every service reads them: `[shops.<id>]` and `[statuses]` of the TOML config.

    [shops.demo]
    url = "https://butikk.no/"      # the shop's home URL (its REST API is under it)
    consumer_key = "ck_..."         # REST API keys (SHOP_<ID>_CONSUMER_KEY / _SECRET win)
    consumer_secret = "cs_..."
    webhook_secret = "..."          # checks the webhooks' signatures (SHOP_<ID>_WEBHOOK_SECRET)
    previous_webhook_secret = ""    # still accepted during a rotation (..._SECRET_PREVIOUS)
    webhook_url = "https://ordreflyt.example/webhooks/woocommerce/demo"  # (SHOP_<ID>_WEBHOOK_URL)
    locale = "sv"                   # the customer notes' language; default from `country`
    country = "SE"
    erp = "fortnox"                 # the ERP this shop's orders go to

    [statuses]                      # the shop statuses Ordreflyt knows, for every shop
    paid = ["processing", "completed"]                     # an order in these is sent
    held = ["pending", "on-hold", "failed", "checkout-draft"]  # pre-payment: never sent
    custom = []                     # statuses a plugin adds; any other status is refused

Each setting is defined here once; a service takes what it needs from `load_shops` and
`load_statuses`. A wrong value stops the service at start, naming the key
(`[shops.demo].url: must be the shop's URL, like https://butikk.no/`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from ordreflyt_runtime.config import convert, refuse_moved
from ordreflyt_runtime.settings import SettingsError

# The statuses WooCommerce itself has (compared case-sensitively, as WooCommerce does).
WOOCOMMERCE_STATUSES = frozenset(
    {
        "pending",
        "processing",
        "on-hold",
        "completed",
        "cancelled",
        "refunded",
        "failed",
        "checkout-draft",
        "trash",
    }
)
SHOP_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
# A status is what WooCommerce allows in a status slug (without its `wc-` prefix).
Status = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9_-]{1,20}$",
        description='a status as WooCommerce writes it, like "processing" (lower case)',
    ),
]


class ShopTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[shops.<id>]`."""

    url: str = ""
    consumer_key: str = "ck_sandbox"
    consumer_secret: str = "cs_sandbox"
    webhook_secret: str = ""
    previous_webhook_secret: str = ""
    webhook_url: str = ""
    locale: str = ""
    country: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^([A-Za-z]{2})?$", description='a two-letter country code like "SE"'
        ),
    ] = ""
    # The shop's ERP and account: "" is the default account (FORTNOX_*), another name reads
    # FORTNOX_<NAME>_* (ordreflyt_erp.factory).
    erp: str = "fortnox"
    erp_account: str = ""


class StatusTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[statuses]`."""

    paid: list[Status] = msgspec.field(default_factory=lambda: ["processing", "completed"])
    held: list[Status] = msgspec.field(
        default_factory=lambda: ["pending", "on-hold", "failed", "checkout-draft"]
    )
    custom: list[Status] = []


@dataclass(frozen=True)
class ShopApi:
    shop_id: str
    url: str  # home URL with a trailing slash
    consumer_key: str
    consumer_secret: str

    @property
    def api_base(self) -> str:
        return self.url + "wp-json/wc/v3"


@dataclass(frozen=True)
class Shop:
    """One shop with the environment's overrides applied."""

    shop_id: str
    table: ShopTable
    # Its REST API (None without a `url`).
    api: ShopApi | None
    # The webhook secrets: current first, then the previous one during a rotation.
    webhook_secrets: tuple[bytes, ...]
    webhook_url: str
    # The whole table as written, for what reads its own keys (the ERP a shop uses).
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Statuses:
    paid: frozenset[str]
    held: frozenset[str]
    # Every status a shop order may have: WooCommerce's, the custom ones, and those named.
    known: frozenset[str]


def _env_key(shop_id: str) -> str:
    return shop_id.upper().replace("-", "_")


def _shop(shop_id: str, raw: Any, env: Mapping[str, str]) -> Shop:
    where = f"[shops.{shop_id}]"
    table = convert(raw, ShopTable, where)
    key = _env_key(shop_id)
    url = env.get(f"SHOP_{key}_URL") or table.url
    api = None
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(
                f"{where}.url (or SHOP_{key}_URL) must be the shop's URL, like"
                f" https://butikk.no/ (got {url!r})"
            )
        api = ShopApi(
            shop_id=shop_id,
            url=url if url.endswith("/") else url + "/",
            consumer_key=env.get(f"SHOP_{key}_CONSUMER_KEY") or table.consumer_key,
            consumer_secret=env.get(f"SHOP_{key}_CONSUMER_SECRET") or table.consumer_secret,
        )
    current = env.get(f"SHOP_{key}_WEBHOOK_SECRET") or table.webhook_secret
    previous = env.get(f"SHOP_{key}_WEBHOOK_SECRET_PREVIOUS") or table.previous_webhook_secret
    secrets = tuple(s.encode() for s in (current, previous) if s)
    webhook_url = env.get(f"SHOP_{key}_WEBHOOK_URL") or table.webhook_url
    if webhook_url and urlsplit(webhook_url).scheme not in ("http", "https"):
        raise SettingsError(
            f"{where}.webhook_url (or SHOP_{key}_WEBHOOK_URL) must be the http(s) address"
            f" WooCommerce delivers to, like https://ordreflyt.example/webhooks/woocommerce/{shop_id}"
        )
    return Shop(shop_id, table, api, secrets, webhook_url, raw if isinstance(raw, dict) else {})


def load_shops(doc: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Shop]:
    """Every `[shops.<id>]`; at least one is required."""
    env = os.environ if env is None else env
    shops = doc.get("shops")
    if not isinstance(shops, dict) or not shops:
        raise SettingsError("ORDREFLYT_CONFIG: [shops.<id>] must name at least one shop")
    for shop_id in shops:
        if not re.match(SHOP_ID, shop_id):
            raise SettingsError(
                f"[shops.{shop_id}]: a shop id is lowercase letters, digits, '-' and '_'"
            )
    return {shop_id: _shop(shop_id, raw, env) for shop_id, raw in shops.items()}


def load_shop_apis(
    doc: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, ShopApi]:
    """The shops' REST APIs; every shop needs its `url` here."""
    apis: dict[str, ShopApi] = {}
    for shop_id, shop in load_shops(doc, env).items():
        if shop.api is None:
            key = _env_key(shop_id)
            raise SettingsError(
                f"[shops.{shop_id}].url (or SHOP_{key}_URL) must be the shop's URL, like"
                " https://butikk.no/ (got '')"
            )
        apis[shop_id] = shop.api
    return apis


def load_statuses(doc: Mapping[str, Any]) -> Statuses:
    """`[statuses]`: which shop statuses are paid, which are pre-payment, which exist."""
    refuse_moved(doc, "order_mapper", "paid_statuses", "[statuses].paid")
    refuse_moved(doc, "intake", "paid_statuses", "[statuses].paid")
    refuse_moved(doc, "intake", "held_statuses", "[statuses].held")
    refuse_moved(doc, "intake", "custom_statuses", "[statuses].custom")
    table = convert(doc.get("statuses", {}), StatusTable, "[statuses]")
    paid, held = frozenset(table.paid), frozenset(table.held)
    if not paid:
        raise SettingsError("[statuses].paid: at least one status must count as paid")
    if paid & held:
        raise SettingsError(f"[statuses]: both paid and held: {sorted(paid & held)}")
    return Statuses(
        paid=paid,
        held=held,
        known=WOOCOMMERCE_STATUSES | frozenset(table.custom) | paid | held,
    )
