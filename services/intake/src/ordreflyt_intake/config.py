"""Intake's settings: the shops it takes webhooks for and which statuses count as paid."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ordreflyt_runtime.settings import SettingsError

DEFAULT_PAID = ("processing", "completed")
DEFAULT_HELD = ("pending", "on-hold", "failed", "checkout-draft")
DEFAULT_MAX_BODY = 1024 * 1024
_SHOP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Shop:
    shop_id: str
    url: str
    secrets: tuple[bytes, ...]  # current first, then the previous one during a rotation


@dataclass(frozen=True)
class IntakeConfig:
    shops: Mapping[str, Shop]
    paid_statuses: frozenset[str]
    held_statuses: frozenset[str]
    max_body_bytes: int


def _str_list(value: Any, name: str, default: tuple[str, ...]) -> frozenset[str]:
    if value is None:
        return frozenset(default)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingsError(f"{name} must be a list of status names")
    return frozenset(value)


def load_intake_config(
    doc: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> IntakeConfig:
    env = os.environ if env is None else env
    shops_doc = doc.get("shops")
    if not isinstance(shops_doc, dict) or not shops_doc:
        raise SettingsError("ORDREFLYT_CONFIG: [shops.<id>] must name at least one shop")
    shops: dict[str, Shop] = {}
    for shop_id, table in shops_doc.items():
        if not _SHOP_ID.match(shop_id):
            raise SettingsError(
                f"shops.{shop_id}: a shop id is lowercase letters, digits, '-' and '_'"
            )
        if not isinstance(table, dict):
            raise SettingsError(f"shops.{shop_id} must be a table")
        key = shop_id.upper().replace("-", "_")
        current = env.get(f"SHOP_{key}_WEBHOOK_SECRET") or table.get("webhook_secret") or ""
        previous = (
            env.get(f"SHOP_{key}_WEBHOOK_SECRET_PREVIOUS")
            or table.get("previous_webhook_secret")
            or ""
        )
        if not isinstance(current, str) or not current:
            raise SettingsError(
                f"SHOP_{key}_WEBHOOK_SECRET: no webhook secret for shop {shop_id!r} "
                f"(set it, or webhook_secret in [shops.{shop_id}])"
            )
        if not isinstance(previous, str):
            raise SettingsError(f"shops.{shop_id}.previous_webhook_secret must be a string")
        url = table.get("url", "")
        if not isinstance(url, str):
            raise SettingsError(f"shops.{shop_id}.url must be a string")
        secrets = (current.encode(),) + ((previous.encode(),) if previous else ())
        shops[shop_id] = Shop(shop_id=shop_id, url=url, secrets=secrets)

    intake = doc.get("intake", {})
    if not isinstance(intake, dict):
        raise SettingsError("[intake] must be a table")
    # One list for the whole pipeline unless intake is told otherwise.
    mapper = doc.get("order_mapper", {})
    paid_value = intake.get("paid_statuses")
    if paid_value is None and isinstance(mapper, dict):
        paid_value = mapper.get("paid_statuses")
    paid = _str_list(paid_value, "intake.paid_statuses", DEFAULT_PAID)
    held = _str_list(intake.get("held_statuses"), "intake.held_statuses", DEFAULT_HELD)
    if paid & held:
        raise SettingsError(f"intake: statuses both paid and held: {sorted(paid & held)}")
    max_body = intake.get("max_body_bytes", DEFAULT_MAX_BODY)
    if env.get("INTAKE_MAX_BODY_BYTES"):
        raw = env["INTAKE_MAX_BODY_BYTES"]
        if not raw.isdigit():
            raise SettingsError(f"INTAKE_MAX_BODY_BYTES must be a whole number, got {raw!r}")
        max_body = int(raw)
    if not isinstance(max_body, int) or max_body < 1024:
        raise SettingsError("intake.max_body_bytes must be a whole number of at least 1024")
    return IntakeConfig(
        shops=shops, paid_statuses=paid, held_statuses=held, max_body_bytes=max_body
    )
