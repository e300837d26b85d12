"""The ERP seam holds: services name no Fortnox field, each shop gets its own ERP account, and
a bad ERP choice stops a service at start naming the setting."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ordreflyt_erp.factory import ErpChoice, ErpDirectory, choices_of
from ordreflyt_erp.fake import FakeErp
from ordreflyt_runtime.settings import SettingsError

SERVICES = Path(__file__).resolve().parents[3] / "services"
# Field names of Fortnox's API (external-apis.md): none may appear in a service, code or test.
FORTNOX_FIELDS = (
    "DocumentNumber",
    "ExternalInvoiceReference1",
    "DisposableQuantity",
    "CustomerNumber",
    "InvoiceReference",
    "LastModified",
    "OrderRows",
    "DeliveredQuantity",
    "OrderedQuantity",
    "ArticleNumber",
    "StockPointCode",
    "AvailableStock",
    "YourOrderNumber",
    "TotalVAT",
    "MetaInformation",
    "ErrorInformation",
    "WarehouseReady",
)


def test_no_service_names_a_fortnox_field() -> None:
    pattern = re.compile(r"\b(" + "|".join(FORTNOX_FIELDS) + r")\b")
    found = [
        f"{path.relative_to(SERVICES)}:{n}: {match.group(1)}"
        for path in sorted(SERVICES.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if (match := pattern.search(line))
    ]
    assert found == []


def test_each_shop_books_into_the_account_it_names() -> None:
    default, norway = FakeErp(key="fortnox").bundle(), FakeErp(key="fortnox:no").bundle()
    directory = ErpDirectory(
        {default.key: default, norway.key: norway}, {"se": "fortnox", "no": "fortnox:no"}
    )
    assert directory.for_shop("se") is default
    assert directory.for_shop("no") is norway
    assert directory.shops_of("fortnox:no") == ["no"]
    with pytest.raises(KeyError, match=r"\[shops.dk\]"):
        directory.for_shop("dk")


def test_one_account_serves_a_shop_not_configured() -> None:
    only = FakeErp(key="fortnox").bundle()
    assert ErpDirectory({only.key: only}, {}).for_shop("any") is only


@dataclass(frozen=True)
class Shop:
    erp: str = "fortnox"
    erp_account: str = ""


def test_an_unknown_erp_or_account_name_stops_the_start() -> None:
    assert choices_of({"se": Shop(), "no": Shop(erp_account="no")}) == {
        "se": ErpChoice("fortnox", ""),
        "no": ErpChoice("fortnox", "no"),
    }
    with pytest.raises(SettingsError, match=r"\[shops.se\].erp: 'visma' is not an ERP"):
        choices_of({"se": Shop(erp="visma")})
    with pytest.raises(SettingsError, match=r"\[shops.se\].erp_account: 'a b'"):
        choices_of({"se": Shop(erp_account="a b")})


def test_another_account_reads_its_own_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from ordreflyt_erp.fortnox.client import fortnox_settings_from_env

    monkeypatch.setenv("FORTNOX_NO_CLIENT_ID", "norway-client")
    monkeypatch.setenv("FORTNOX_NO_TIMEZONE", "Europe/Oslo")
    settings = fortnox_settings_from_env("no")
    assert (settings.client_id, settings.key, settings.timezone) == (
        "norway-client",
        "fortnox:no",
        "Europe/Oslo",
    )
    assert fortnox_settings_from_env().client_id == "sandbox-client"


def test_each_account_keeps_one_metrics_view() -> None:
    from prometheus_client import CollectorRegistry

    from ordreflyt_erp.metrics import ErpMetrics

    root = ErpMetrics(CollectorRegistry())
    norway = root.for_erp("fortnox:no")
    assert root.for_erp("fortnox:no") is norway
    assert root.for_erp("fortnox") is root
    norway.failed("POST", "unavailable")
    assert "unavailable since" in root.for_erp("fortnox:no").describe()
    assert root.describe() == "available"
