"""Where each shop's REST API is and its credentials.

From `[shops.<id>]` in the TOML config: `url` (the shop's home URL, e.g. https://butikk.no/),
`consumer_key` / `consumer_secret`, overridden by SHOP_<ID>_URL, SHOP_<ID>_CONSUMER_KEY and
SHOP_<ID>_CONSUMER_SECRET (the sandbox shop's defaults are ck_sandbox / cs_sandbox).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ordreflyt_runtime.settings import SettingsError


@dataclass(frozen=True)
class ShopApi:
    shop_id: str
    url: str  # home URL with a trailing slash
    consumer_key: str
    consumer_secret: str

    @property
    def api_base(self) -> str:
        return self.url + "wp-json/wc/v3"


def load_shop_apis(
    doc: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> dict[str, ShopApi]:
    env = os.environ if env is None else env
    shops = doc.get("shops")
    if not isinstance(shops, dict) or not shops:
        raise SettingsError("ORDREFLYT_CONFIG: [shops.<id>] must name at least one shop")
    apis: dict[str, ShopApi] = {}
    for shop_id, table in shops.items():
        if not isinstance(table, dict):
            raise SettingsError(f"shops.{shop_id} must be a table")
        key = shop_id.upper().replace("-", "_")
        url = env.get(f"SHOP_{key}_URL") or str(table.get("url", ""))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(
                f"shops.{shop_id}.url (or SHOP_{key}_URL) must be the shop's URL, like https://butikk.no/ (got {url!r})"
            )
        apis[shop_id] = ShopApi(
            shop_id=shop_id,
            url=url if url.endswith("/") else url + "/",
            consumer_key=env.get(f"SHOP_{key}_CONSUMER_KEY")
            or str(table.get("consumer_key", "ck_sandbox")),
            consumer_secret=env.get(f"SHOP_{key}_CONSUMER_SECRET")
            or str(table.get("consumer_secret", "cs_sandbox")),
        )
    return apis
