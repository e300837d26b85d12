"""The ERP of each shop: `[shops.<id>] erp` (which ERP, default "fortnox") and `erp_account`
(which account of it: "" is the default one, settings FORTNOX_*; another name reads
FORTNOX_<NAME>_*), so each shop can book into its own ERP account. Every account is opened
once, however many shops share it, and shares its request budget across processes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from ordreflyt_erp import fortnox
from ordreflyt_erp.capabilities import Erp
from ordreflyt_erp.metrics import ErpMetrics
from ordreflyt_erp.options import ErpOptions
from ordreflyt_runtime.settings import SettingsError


@dataclass(frozen=True)
class ErpKind:
    """What the factory needs of one ERP package: check an account's settings at start, and
    open the account (database URL, metrics, account name, options)."""

    check: Callable[[str], None]
    open: Callable[[str, ErpMetrics | None, str, ErpOptions], AbstractAsyncContextManager[Erp]]


# The ERPs Ordreflyt knows, by the name `[shops.<id>] erp` gives; a second ERP package is added
# here and nowhere in the services.
KINDS: dict[str, ErpKind] = {"fortnox": ErpKind(fortnox.check_account, fortnox.open_fortnox)}


@dataclass(frozen=True)
class ErpChoice:
    """A shop's ERP: which one, and which account of it."""

    kind: str = "fortnox"
    account: str = ""

    @property
    def key(self) -> str:
        """The account's name in links, watermarks and metrics ("fortnox", "fortnox:no")."""
        return f"{self.kind}:{self.account}" if self.account else self.kind


class _ShopErp(Protocol):
    @property
    def erp(self) -> str: ...
    @property
    def erp_account(self) -> str: ...


def choices_of(shops: Mapping[str, _ShopErp]) -> dict[str, ErpChoice]:
    """Each configured shop's ERP (`[shops.<id>] erp` / `erp_account`), checked; without any
    shop, the default account (the one `open_erps` opens then) is checked."""
    found = {shop: ErpChoice(s.erp, s.erp_account) for shop, s in shops.items()}
    for shop, choice in found.items() or {"<id>": ErpChoice()}.items():
        check_choice(shop, choice)
    return found


def check_choice(shop_id: str, choice: ErpChoice) -> None:
    """Stop at start, naming the setting, for an ERP Ordreflyt does not know or an account
    whose settings are wrong (read now, not at the first order)."""
    kind = KINDS.get(choice.kind)
    if kind is None:
        raise SettingsError(
            f"[shops.{shop_id}].erp: {choice.kind!r} is not an ERP Ordreflyt knows"
            f" (known: {', '.join(KINDS)})"
        )
    if choice.account and not choice.account.replace("_", "").isalnum():
        raise SettingsError(
            f"[shops.{shop_id}].erp_account: {choice.account!r}: letters, digits and _ only"
            " (it names the FORTNOX_<ACCOUNT>_* settings)"
        )
    kind.check(choice.account)


class ErpDirectory:
    """The opened ERP accounts and which shop books into which."""

    def __init__(self, erps: Mapping[str, Erp], shops: Mapping[str, str]) -> None:
        self._erps = dict(erps)
        self._shops = dict(shops)

    def for_shop(self, shop_id: str) -> Erp:
        key = self._shops.get(shop_id)
        if key is None:
            if len(self._erps) == 1:
                return next(iter(self._erps.values()))
            raise KeyError(f"shop {shop_id!r} is not configured ([shops.{shop_id}])")
        return self._erps[key]

    def accounts(self) -> list[Erp]:
        return list(self._erps.values())

    def shops_of(self, key: str) -> list[str]:
        return [shop for shop, k in self._shops.items() if k == key]

    def get(self, key: str) -> Erp | None:
        return self._erps.get(key)


@contextlib.asynccontextmanager
async def open_erps(
    database_url: str,
    choices: Mapping[str, ErpChoice],
    metrics: ErpMetrics | None = None,
    options: ErpOptions | None = None,
) -> AsyncIterator[ErpDirectory]:
    """Open every account the shops name (the default account when no shop is configured)."""
    options = options or ErpOptions()
    accounts = {c.key: c for c in choices.values()} or {ErpChoice().key: ErpChoice()}
    async with contextlib.AsyncExitStack() as stack:
        erps = {
            key: await stack.enter_async_context(
                KINDS[choice.kind].open(database_url, metrics, choice.account, options)
            )
            for key, choice in accounts.items()
        }
        yield ErpDirectory(erps, {shop: c.key for shop, c in choices.items()})
