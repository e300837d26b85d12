"""Intake's settings: the shops it takes webhooks for, which statuses exist and which count as
paid, the body limit, and how often the shop is reconciled and its webhooks checked."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from ordreflyt_runtime.config import section
from ordreflyt_runtime.settings import SettingsError, env_float, env_str
from ordreflyt_shop import ShopApi, load_shop_apis

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
DEFAULT_PAID = ("processing", "completed")
DEFAULT_HELD = ("pending", "on-hold", "failed", "checkout-draft")
DEFAULT_MAX_BODY = 1024 * 1024
_SHOP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# A custom status is what WooCommerce allows in a status slug (without its `wc-` prefix).
Status = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_-]{1,20}$")]
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class IntakeTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[intake]` of the business config."""

    # Statuses that count as paid; default: `[order_mapper].paid_statuses`, else these.
    paid_statuses: list[Status] | None = None
    # Pre-payment statuses: stored, never forwarded.
    held_statuses: list[Status] = msgspec.field(default_factory=lambda: list(DEFAULT_HELD))
    # Statuses the shop has besides WooCommerce's own (from plugins); any other is refused.
    custom_statuses: list[Status] = []
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = DEFAULT_MAX_BODY
    # Seconds between reconciliation polls of each shop's orders (0: off), how far each poll
    # reaches back behind its watermark, and how far the very first one reaches back.
    reconcile_interval: Seconds = 300.0
    reconcile_overlap: Seconds = 120.0
    reconcile_first_lookback_hours: Annotated[float, msgspec.Meta(ge=0)] = 24.0
    # Seconds between checks of the shop's webhooks (0: off).
    watchdog_interval: Seconds = 300.0


@dataclass(frozen=True)
class Shop:
    shop_id: str
    url: str
    secrets: tuple[bytes, ...]  # current first, then the previous one during a rotation
    api: ShopApi | None = None
    # The address WooCommerce delivers this shop's webhooks to (what the watchdog registers).
    webhook_url: str = ""


@dataclass(frozen=True)
class IntakeConfig:
    shops: Mapping[str, Shop]
    paid_statuses: frozenset[str]
    held_statuses: frozenset[str]
    max_body_bytes: int
    known_statuses: frozenset[str] = WOOCOMMERCE_STATUSES
    reconcile_interval: float = 300.0
    reconcile_overlap: float = 120.0
    reconcile_first_lookback_hours: float = 24.0
    watchdog_interval: float = 300.0
    spool_dir: Path = Path("var/spool/intake")
    db_timeout: float = 2.0


def _secret(env: Mapping[str, str], key: str, table: Mapping[str, Any], name: str) -> str:
    value = env.get(f"SHOP_{key}_{name.upper()}") or table.get(name.lower()) or ""
    if not isinstance(value, str):
        raise SettingsError(f"shops.<id>.{name.lower()} must be a string")
    return value


def _shop(shop_id: str, table: Any, env: Mapping[str, str], api: ShopApi | None) -> Shop:
    if not _SHOP_ID.match(shop_id):
        raise SettingsError(f"shops.{shop_id}: a shop id is lowercase letters, digits, '-' and '_'")
    if not isinstance(table, dict):
        raise SettingsError(f"shops.{shop_id} must be a table")
    key = shop_id.upper().replace("-", "_")
    current = _secret(env, key, table, "webhook_secret")
    previous = env.get(f"SHOP_{key}_WEBHOOK_SECRET_PREVIOUS") or table.get(
        "previous_webhook_secret", ""
    )
    if not current:
        raise SettingsError(
            f"SHOP_{key}_WEBHOOK_SECRET: no webhook secret for shop {shop_id!r} "
            f"(set it, or webhook_secret in [shops.{shop_id}])"
        )
    if not isinstance(previous, str):
        raise SettingsError(f"shops.{shop_id}.previous_webhook_secret must be a string")
    url = table.get("url", "")
    if not isinstance(url, str):
        raise SettingsError(f"shops.{shop_id}.url must be a string")
    webhook_url = env.get(f"SHOP_{key}_WEBHOOK_URL") or table.get("webhook_url", "")
    if not isinstance(webhook_url, str) or (
        webhook_url and urlsplit(webhook_url).scheme not in ("http", "https")
    ):
        raise SettingsError(
            f"shops.{shop_id}.webhook_url (or SHOP_{key}_WEBHOOK_URL) must be the http(s) address"
            f" WooCommerce delivers to, like https://ordreflyt.example/webhooks/woocommerce/{shop_id}"
        )
    secrets = (current.encode(),) + ((previous.encode(),) if previous else ())
    return Shop(shop_id=shop_id, url=url, secrets=secrets, api=api, webhook_url=webhook_url)


def _statuses(doc: Mapping[str, Any], table: IntakeTable) -> tuple[frozenset[str], ...]:
    paid_value: Any = table.paid_statuses
    mapper = doc.get("order_mapper", {})
    if paid_value is None and isinstance(mapper, dict):
        paid_value = mapper.get("paid_statuses")
    if paid_value is None:
        paid_value = list(DEFAULT_PAID)
    if not isinstance(paid_value, list) or not all(isinstance(v, str) and v for v in paid_value):
        raise SettingsError("intake.paid_statuses must be a list of status names")
    paid, held = frozenset(paid_value), frozenset(table.held_statuses)
    if paid & held:
        raise SettingsError(f"intake: statuses both paid and held: {sorted(paid & held)}")
    # A status the merchant named anywhere is one the shop has.
    known = WOOCOMMERCE_STATUSES | frozenset(table.custom_statuses) | paid | held
    return paid, held, known


def load_intake_config(
    doc: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> IntakeConfig:
    env = os.environ if env is None else env
    shops_doc = doc.get("shops")
    if not isinstance(shops_doc, dict) or not shops_doc:
        raise SettingsError("ORDREFLYT_CONFIG: [shops.<id>] must name at least one shop")
    apis = _shop_apis(doc, env)
    shops = {
        shop_id: _shop(shop_id, table, env, apis.get(shop_id))
        for shop_id, table in shops_doc.items()
    }
    table = section(doc, "intake", IntakeTable)
    paid, held, known = _statuses(doc, table)
    max_body = table.max_body_bytes
    if env.get("INTAKE_MAX_BODY_BYTES"):
        raw = env["INTAKE_MAX_BODY_BYTES"]
        if not raw.isdigit() or int(raw) < 1024:
            raise SettingsError(
                f"INTAKE_MAX_BODY_BYTES must be a whole number of at least 1024, got {raw!r}"
            )
        max_body = int(raw)
    return IntakeConfig(
        shops=shops,
        paid_statuses=paid,
        held_statuses=held,
        known_statuses=known,
        max_body_bytes=max_body,
        reconcile_interval=table.reconcile_interval,
        reconcile_overlap=table.reconcile_overlap,
        reconcile_first_lookback_hours=table.reconcile_first_lookback_hours,
        watchdog_interval=table.watchdog_interval,
        spool_dir=Path(env_str("INTAKE_SPOOL_DIR", "var/spool/intake", env)),
        db_timeout=env_float("INTAKE_DB_TIMEOUT", 2.0, env=env),
    )


def _shop_apis(doc: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, ShopApi]:
    """The shops' REST APIs, for those whose `url` is set (reconciliation and the watchdog)."""
    shops = doc.get("shops", {})
    with_url = {k: v for k, v in shops.items() if isinstance(v, dict) and v.get("url")}
    with_url |= {
        k: v
        for k, v in shops.items()
        if isinstance(v, dict) and env.get(f"SHOP_{k.upper().replace('-', '_')}_URL")
    }
    return load_shop_apis({"shops": with_url}, env) if with_url else {}
