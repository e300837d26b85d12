"""The Fortnox DocumentWriter against the sandbox Fortnox (in-process) and a real PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ordreflyt_contracts.erp import ErpCustomer, ErpOrder
from ordreflyt_erp import ErpRejected, ErpUnavailable
from ordreflyt_erp.fortnox import writer as fortnox_writer
from ordreflyt_sandbox_fortnox.models import Customer
from ordreflyt_testkit.samples import erp_order_sample

if TYPE_CHECKING:
    from ordreflyt_testkit.fortnox import FortnoxEnv

pytestmark = pytest.mark.integration


def erp_order(reference: str, article: str | None = None) -> ErpOrder:
    return erp_order_sample(reference, article=article)


async def test_find_document_matches_the_reference_exactly_not_by_substring(
    fortnox: FortnoxEnv,
) -> None:
    customer = await fortnox.erp.writer.create_customer(erp_order("demo-1").customer)
    long_one = await fortnox.erp.writer.create_document(erp_order("demo-123"), customer)
    assert (
        await fortnox.erp.writer.find_document(erp_order("demo-12")) is None
    )  # "demo-12" is in "demo-123"
    exact = await fortnox.erp.writer.create_document(erp_order("demo-12"), customer)
    found = await fortnox.erp.writer.find_document(erp_order("demo-12"))
    assert found is not None
    assert found.number == exact.number != long_one.number


async def test_customer_found_by_exact_email(fortnox: FortnoxEnv) -> None:
    await fortnox.erp.writer.create_customer(
        ErpCustomer(email="anna.ek@example.se", kind="private", name="Anna")
    )
    assert await fortnox.erp.writer.find_customer("anna@example.se") is None
    assert await fortnox.erp.writer.find_customer("ek@example.se") is None
    assert await fortnox.erp.writer.find_customer("anna.ek@example.se") is not None


async def test_validation_error_carries_fortnox_code_and_message(fortnox: FortnoxEnv) -> None:
    customer = await fortnox.erp.writer.create_customer(erp_order("demo-5").customer)
    with pytest.raises(ErpRejected) as caught:
        await fortnox.erp.writer.create_document(
            erp_order("demo-5", article="NO-SUCH-ARTICLE"), customer
        )
    assert caught.value.code == "2001302"
    assert "NO-SUCH-ARTICLE" in caught.value.message
    assert await fortnox.erp.writer.create_missing_articles(
        erp_order("demo-5", article="NO-SUCH-ARTICLE")
    ) == ["NO-SUCH-ARTICLE"]
    document = await fortnox.erp.writer.create_document(
        erp_order("demo-5", article="NO-SUCH-ARTICLE"), customer
    )
    assert document.kind == "order"


async def test_expired_token_is_refreshed_once_and_kept_in_the_database(
    fortnox: FortnoxEnv,
) -> None:
    async with fortnox.http.post(fortnox.base + "/_sandbox/tokens/expire", json={}) as r:
        assert r.status < 300, await r.text()
    assert await fortnox.erp.writer.find_customer("nobody@example.se") is None
    stored = await fortnox.pool.fetchval(
        "SELECT access_token FROM ordreflyt_erp.oauth_tokens WHERE erp = 'fortnox'"
    )
    assert stored != "sandbox-token"


async def test_5xx_is_retried_then_reported_unavailable(fortnox: FortnoxEnv) -> None:
    async with fortnox.http.post(
        fortnox.base + "/_sandbox/faults", json={"status": 503, "count": 2}
    ) as r:
        assert r.status == 201
    assert (
        await fortnox.erp.writer.find_customer("x@example.se") is None
    )  # two 503s, then the answer
    async with fortnox.http.post(
        fortnox.base + "/_sandbox/faults", json={"status": 502, "count": 10}
    ) as r:
        assert r.status == 201
    with pytest.raises(ErpUnavailable):
        await fortnox.erp.writer.find_customer("x@example.se")


def add_near_matches(fortnox: FortnoxEnv, count: int, email: str) -> None:
    """`count` customers whose e-mails contain `email` (Fortnox's search finds them all)."""
    for n in range(1, count + 1):
        fields = {"Name": f"Kunde {n}", "Email": f"{n}{email}"}
        fortnox.store.put_customer(
            Customer(customer_number=str(n), fields=fields, last_modified=fortnox.store.now())
        )


async def test_customer_found_on_page_3(fortnox: FortnoxEnv) -> None:
    # 1,200 customers whose e-mail contains the one looked for come first: with Fortnox's
    # largest page (500) the exact one is on page 3.
    add_near_matches(fortnox, 1200, "ola.nordmann@example.no")
    number = await fortnox.erp.writer.create_customer(
        ErpCustomer(email="ola.nordmann@example.no", kind="private", name="Ola Nordmann")
    )
    assert number == "1201"
    before = fortnox.client.requests
    assert await fortnox.erp.writer.find_customer("ola.nordmann@example.no") == number
    assert fortnox.client.requests - before == 3
    # Not there at all: every page read, then None.
    assert await fortnox.erp.writer.find_customer("nordmann@example.no") is None


async def test_customer_lookup_says_why_it_cannot_tell(
    fortnox: FortnoxEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fortnox_writer, "MAX_CUSTOMER_PAGES", 2)
    add_near_matches(fortnox, 1200, "kari@example.no")
    with pytest.raises(ErpRejected) as caught:
        await fortnox.erp.writer.find_customer("kari@example.no")
    assert caught.value.code == "customer-lookup"
    assert caught.value.message == (
        "cannot tell whether Fortnox has a customer with the e-mail kari@example.no: its search "
        "finds 3 pages of customers whose e-mail contains it, more than the 2 read; tidy those "
        "customers' e-mails, then retry"
    )


async def test_the_customer_register_is_read_in_full_then_by_change(fortnox: FortnoxEnv) -> None:
    first = await fortnox.erp.writer.create_customer(erp_order("demo-20").customer)
    register = await fortnox.erp.writer.customers_changed(None)
    assert register.customers == {"a@example.se": first}
    # Changed since: a minute before the previous read began, so the first one is listed again;
    # a customer created later is there too.
    second = await fortnox.erp.writer.create_customer(
        ErpCustomer(email="Bo@Example.se", kind="private", name="Bo")
    )
    changed = await fortnox.erp.writer.customers_changed(register.watermark)
    assert changed.customers["bo@example.se"] == second


async def test_a_created_order_carries_its_state_for_the_watcher(fortnox: FortnoxEnv) -> None:
    await fortnox.erp.writer.create_missing_articles(erp_order("demo-21", article="KAFFE"))
    customer = await fortnox.erp.writer.create_customer(erp_order("demo-21").customer)
    document = await fortnox.erp.writer.create_document(
        erp_order("demo-21", article="KAFFE"), customer
    )
    assert document.state is not None
    assert document.state.number == document.number
    assert document.state.ordered == {"KAFFE": 2}
    assert not document.state.closed
    # The watcher's listing of the same document shows the same digest: no read needed.
    listed = await fortnox.erp.watcher.read(document.number)
    assert listed is not None
    assert listed.listed == document.state.listed
