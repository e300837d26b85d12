"""Fortnox: every capability Ordreflyt uses (`capabilities.py`), over one HTTP client per
account (auth, the shared rate limit with priorities, the token store, retries) and one
reading of its local-minute timestamps (`times.py`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from ordreflyt_erp.capabilities import Erp
from ordreflyt_erp.fortnox.client import (
    SHARED_MIGRATIONS,
    SHARED_SCHEMA,
    FortnoxClient,
    FortnoxSettings,
    account_key,
    fortnox_client,
    fortnox_settings_from_env,
    rate_limit_from_env,
)
from ordreflyt_erp.fortnox.inventory import FortnoxInventory
from ordreflyt_erp.fortnox.watcher import FortnoxWatcher
from ordreflyt_erp.fortnox.writer import FortnoxWriter
from ordreflyt_erp.metrics import ErpMetrics
from ordreflyt_erp.options import ErpOptions
from ordreflyt_erp.vat import FORTNOX

__all__ = [
    "SHARED_MIGRATIONS",
    "SHARED_SCHEMA",
    "FortnoxClient",
    "FortnoxInventory",
    "FortnoxSettings",
    "FortnoxWatcher",
    "FortnoxWriter",
    "check_account",
    "fortnox_client",
    "fortnox_erp",
    "fortnox_settings_from_env",
    "open_fortnox",
    "rate_limit_from_env",
]


def fortnox_erp(client: FortnoxClient, options: ErpOptions) -> Erp:
    """Every capability of one Fortnox account, over its client."""
    inventory = FortnoxInventory(client, options)
    return Erp(
        key=client.settings.key,
        kind="fortnox",
        title=FORTNOX.title,
        vat_rates=FORTNOX,
        writer=FortnoxWriter(client),
        watcher=FortnoxWatcher(client, options),
        stock=inventory,
        articles=inventory,
        requests=client,
    )


def check_account(account: str) -> None:
    """Read the account's FORTNOX_* (FORTNOX_<ACCOUNT>_*) settings now: a wrong one stops the
    service at start, naming it."""
    fortnox_settings_from_env(account)
    rate_limit_from_env(account)


@contextlib.asynccontextmanager
async def open_fortnox(
    database_url: str, metrics: ErpMetrics | None, account: str, options: ErpOptions
) -> AsyncIterator[Erp]:
    erp_metrics = metrics.for_erp(account_key(account)) if metrics is not None else None
    async with fortnox_client(database_url, erp_metrics, account) as client:
        yield fortnox_erp(client, options)
