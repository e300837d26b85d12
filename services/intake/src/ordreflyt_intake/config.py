"""Intake's settings: the shops it takes webhooks for (`[shops.<id>]`), which statuses exist
and which count as paid (`[statuses]`), and its own `[intake]`: the body limit, how often the
shops are reconciled and their webhooks checked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec

from ordreflyt_runtime.config import section
from ordreflyt_runtime.settings import SettingsError, env_float, env_int, env_str
from ordreflyt_shop import Shop, load_shops, load_statuses

DEFAULT_MAX_BODY = 1024 * 1024
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class IntakeTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[intake]` of the business config."""

    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = DEFAULT_MAX_BODY
    # Seconds between reconciliation polls of each shop's orders (0: off), how far each poll
    # reaches back behind its watermark, and how far the very first one reaches back.
    reconcile_interval: Seconds = 300.0
    reconcile_overlap: Seconds = 120.0
    reconcile_first_lookback_hours: Annotated[float, msgspec.Meta(ge=0)] = 24.0
    # Seconds between checks of the shop's webhooks (0: off).
    watchdog_interval: Seconds = 300.0


@dataclass(frozen=True)
class IntakeConfig:
    shops: Mapping[str, Shop]
    paid_statuses: frozenset[str]
    held_statuses: frozenset[str]
    known_statuses: frozenset[str]
    table: IntakeTable
    spool_dir: Path = Path("var/spool/intake")
    db_timeout: float = 2.0

    @property
    def max_body_bytes(self) -> int:
        return self.table.max_body_bytes

    @property
    def reconcile_interval(self) -> float:
        return self.table.reconcile_interval

    @property
    def reconcile_overlap(self) -> float:
        return self.table.reconcile_overlap

    @property
    def reconcile_first_lookback_hours(self) -> float:
        return self.table.reconcile_first_lookback_hours

    @property
    def watchdog_interval(self) -> float:
        return self.table.watchdog_interval


def load_intake_config(
    doc: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> IntakeConfig:
    env = os.environ if env is None else env
    shops = load_shops(doc, env)
    for shop_id, shop in shops.items():
        if not shop.webhook_secrets:
            key = shop_id.upper().replace("-", "_")
            raise SettingsError(
                f"SHOP_{key}_WEBHOOK_SECRET: no webhook secret for shop {shop_id!r} "
                f"(set it, or webhook_secret in [shops.{shop_id}])"
            )
    statuses = load_statuses(doc)
    table = section(doc, "intake", IntakeTable)
    if "INTAKE_MAX_BODY_BYTES" in env:
        limit = env_int("INTAKE_MAX_BODY_BYTES", 0, minimum=1024, maximum=2**31, env=env)
        table = msgspec.structs.replace(table, max_body_bytes=limit)
    return IntakeConfig(
        shops=shops,
        paid_statuses=statuses.paid,
        held_statuses=statuses.held,
        known_statuses=statuses.known,
        table=table,
        spool_dir=Path(env_str("INTAKE_SPOOL_DIR", "var/spool/intake", env)),
        db_timeout=env_float("INTAKE_DB_TIMEOUT", 2.0, env=env),
    )
