"""erp-writer's exactly-once decisions (link, marker, adopt, park, the customer register) on
the in-memory ERP and an in-memory store: no database, no broker, no HTTP.

Each test names one decision and counts what the ERP was asked, the way its request budget
counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import msgspec
import pytest

from ordreflyt_contracts import (
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderRequested,
    ErpOrderUpdated,
    decode_event,
    new_event_fields,
)
from ordreflyt_contracts.erp import ErpOrder
from ordreflyt_erp import ErpAmbiguous, ErpRejected, ErpUnavailable
from ordreflyt_erp.capabilities import Erp
from ordreflyt_erp.fake import FakeErp
from ordreflyt_erp_writer.handlers import ErpWriter, WriterOptions
from ordreflyt_erp_writer.store import Known, Link, RegisterAnswer, Remembered, Result
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.db import DbConn
from ordreflyt_runtime.outbox import OutboxRow
from ordreflyt_testkit.samples import erp_order_sample


@dataclass
class FakeStore:
    """erp-writer's tables in memory (what `PgWriterStore` keeps in PostgreSQL)."""

    links: dict[tuple[str, str], Link] = field(default_factory=dict)
    attempts: set[tuple[str, str]] = field(default_factory=set)
    customers: dict[tuple[str, str], Remembered] = field(default_factory=dict)
    parked: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    created: list[ErpOrderCreated] = field(default_factory=list)

    async def lock_and_read(
        self, shop_id: str, order_id: str, erp: str, email: str | None
    ) -> Known:
        customer = self.customers.get((erp, email or ""))
        return Known(
            self.links.get((shop_id, order_id)),
            (shop_id, order_id) in self.attempts,
            customer.number if customer else None,
            customer.fingerprint if customer else None,
        )

    async def customer_written_at(self, erp: str, email: str) -> datetime | None:
        customer = self.customers.get((erp, email))
        return customer.data_at if customer else None

    async def store_result(
        self, result: Result, customer: Remembered | None, message: OutboxRow
    ) -> None:
        self.links[(result.shop_id, result.order_id)] = result.link
        self.parked.pop((result.shop_id, result.order_id), None)
        if customer is not None:
            await self.remember_customer(customer)
        event = decode_event(message[3])
        assert isinstance(event, ErpOrderCreated)
        self.created.append(event)

    async def remember_customer(self, customer: Remembered) -> None:
        self.customers[(customer.erp, customer.email)] = customer

    async def park(self, event: ErpOrderRequested, erp: str, code: str, message: str) -> None:
        order = event.erp_order
        self.parked[(order.shop_id, order.shop_order_id)] = (code, message)

    # AttemptMarker
    async def mark_attempt(self, shop_id: str, order_id: str) -> None:
        self.attempts.add((shop_id, order_id))


@dataclass
class FakeRegister:
    numbers: dict[str, str] = field(default_factory=dict)
    fresh: bool = True

    async def lookup(self, erp: str, email: str) -> RegisterAnswer:
        return RegisterAnswer(self.numbers.get(email), self.fresh)


@dataclass
class OneErp:
    erp: Erp

    def for_shop(self, shop_id: str) -> Erp:
        return self.erp


@dataclass
class Harness:
    erp: FakeErp
    store: FakeStore
    writer: ErpWriter
    published: list[Any] = field(default_factory=list)

    async def send(self, order: ErpOrder, action: str = "create") -> None:
        event = ErpOrderRequested(
            **new_event_fields(order.shop_id, order.shop_order_id),
            action=action,  # type: ignore[arg-type]
            erp_order=order,
        )
        ctx = HandlerContext(cast(DbConn, None), defer=True)
        await self.writer.erp_order_requested(event, ctx)
        self.published.extend(ctx.deferred)


def harness(register: FakeRegister | None = None, **options: Any) -> Harness:
    erp, store = FakeErp(), FakeStore()
    writer = ErpWriter(
        OneErp(erp.bundle()),
        store,
        WriterOptions(**options),
        store_for=lambda conn: store,
        register=register,
    )
    return Harness(erp, store, writer)


def order(number: str, email: str = "anna.ek@example.se") -> ErpOrder:
    sample = erp_order_sample(f"demo-{number}")
    customer = msgspec.structs.replace(sample.customer, email=email)
    return msgspec.structs.replace(sample, shop_order_id=number, customer=customer)


async def test_a_linked_order_is_never_written_again() -> None:
    h = harness()
    await h.send(order("1"))
    asked = h.erp.requests
    await h.send(order("1"))
    assert h.erp.requests == asked
    assert len(h.erp.documents) == 1
    assert len(h.store.created) == 1


async def test_an_attempt_is_marked_before_the_erp_is_asked() -> None:
    h = harness()
    h.erp.fail_next("create_document", ErpUnavailable("down"))
    with pytest.raises(ErpUnavailable):
        await h.send(order("2"))
    assert ("demo", "2") in h.store.attempts
    assert h.erp.documents == {}


async def test_a_marked_attempt_adopts_what_the_erp_has() -> None:
    # The process died after the ERP stored the order: the next delivery finds and adopts it.
    h = harness()
    h.erp.fail_next("create_document", RuntimeError("process died"), stored=True)
    with pytest.raises(RuntimeError):
        await h.send(order("3"))
    assert len(h.erp.documents) == 1
    await h.send(order("3"))
    assert len(h.erp.documents) == 1
    (created,) = h.store.created
    assert created.adopted
    assert h.erp.calls["create_document"] == 1
    assert h.erp.calls["find_document"] == 1


async def test_an_ambiguous_create_is_looked_up_not_repeated() -> None:
    h = harness()
    h.erp.fail_next("create_document", ErpAmbiguous("503 after storing"), stored=True)
    await h.send(order("4"))
    assert h.erp.calls["create_document"] == 1
    (created,) = h.store.created
    assert created.adopted
    assert len(h.erp.documents) == 1


async def test_an_ambiguous_create_not_in_the_erp_waits_and_looks_again() -> None:
    h = harness()
    h.erp.fail_next("create_document", ErpAmbiguous("timeout before storing"))
    with pytest.raises(ErpUnavailable, match="looked up again"):
        await h.send(order("5"))
    assert h.erp.documents == {}
    await h.send(order("5"))  # looked up first (a marked attempt), then created once
    assert h.erp.calls["find_document"] == 2
    assert len(h.erp.documents) == 1
    assert not h.store.created[0].adopted


async def test_an_ambiguous_customer_create_adopts_the_customer() -> None:
    h = harness()
    h.erp.fail_next("create_customer", ErpAmbiguous("timeout after storing"), stored=True)
    await h.send(order("6"))
    assert len(h.erp.customers) == 1
    assert h.erp.calls["create_customer"] == 1


async def test_a_refusal_parks_the_order_with_the_erps_reason() -> None:
    h = harness()
    h.erp.fail_next("create_document", ErpRejected("2000588", "Ogiltig parameter"))
    await h.send(order("7"))
    assert h.store.parked[("demo", "7")] == ("2000588", "Ogiltig parameter")
    assert h.store.created == []
    (failed,) = [e for e in h.published if isinstance(e, ErpOrderFailed)]
    assert failed.code == "2000588"
    # The customer created before the refusal is remembered: the retry creates no second one.
    await h.send(order("7"))
    assert len(h.erp.customers) == 1
    assert ("demo", "7") not in h.store.parked


async def test_erp_totals_that_differ_park_the_document() -> None:
    h = harness()
    h.erp.totals = (Decimal("111.79"), Decimal("11.98"))
    await h.send(order("8"))
    code, message = h.store.parked[("demo", "8")]
    assert code == "totals-differ"
    assert "Fake ERP computed order 1 as total 111.79" in message
    assert h.store.links == {}


async def test_a_returning_customer_costs_no_request() -> None:
    h = harness()
    await h.send(order("9"))
    asked = dict(h.erp.calls)
    await h.send(order("10"))
    new = {k: v - asked.get(k, 0) for k, v in h.erp.calls.items() if v != asked.get(k, 0)}
    assert new == {"create_document": 1, "complete_document": 1}


async def test_a_new_customer_costs_a_lookup_and_a_create_without_a_register() -> None:
    h = harness()
    await h.send(order("11"))
    assert h.erp.calls["find_customer"] == 1
    assert h.erp.calls["create_customer"] == 1


async def test_a_new_customer_costs_only_the_create_while_the_register_is_fresh() -> None:
    h = harness(FakeRegister())
    await h.send(order("12"))
    assert h.erp.calls["find_customer"] == 0
    assert h.erp.calls["create_customer"] == 1


async def test_a_customer_in_the_register_is_used_and_brought_up_to_date() -> None:
    h = harness(FakeRegister())
    known = await h.erp.create_customer(order("13").customer)
    h.writer._register = FakeRegister({"anna.ek@example.se": known})
    await h.send(order("13"))
    assert len(h.erp.customers) == 1
    assert h.erp.calls["find_customer"] == 0
    assert h.erp.calls["update_customer"] == 1


async def test_a_stale_register_falls_back_to_the_lookup() -> None:
    h = harness(FakeRegister(fresh=False))
    existing = await h.erp.create_customer(order("14").customer)
    await h.send(order("14"))
    assert h.erp.calls["find_customer"] == 1
    assert list(h.erp.customers) == [existing]


async def test_the_created_event_carries_the_documents_state() -> None:
    h = harness()
    await h.send(order("15"))
    (created,) = h.store.created
    assert created.state is not None
    assert created.state.number == created.document_number
    assert not created.state.closed


async def test_a_change_before_the_document_exists_waits() -> None:
    h = harness()
    with pytest.raises(LookupError):
        await h.send(order("16"), action="update")


async def test_a_change_to_a_closed_document_is_reported_not_applied() -> None:
    h = harness()
    await h.send(order("17"))
    (created,) = h.store.created
    h.erp.change(created.document_number, invoiced=True)
    await h.send(order("17"), action="update")
    (updated,) = [e for e in h.published if isinstance(e, ErpOrderUpdated)]
    assert not updated.applied
    assert "no longer allows" in updated.reason


async def test_after_an_earlier_attempt_the_erp_is_asked_not_the_register() -> None:
    # The first attempt created the customer and lost the answer (then Fortnox stayed away):
    # the register, read before, does not have it; the next attempt must find it in the ERP.
    h = harness(FakeRegister())
    h.erp.fail_next("create_customer", ErpAmbiguous("answer lost"), stored=True)
    h.erp.fail_next("find_customer", ErpUnavailable("still away"))
    with pytest.raises(ErpUnavailable):
        await h.send(order("18"))
    await h.send(order("18"))
    assert len(h.erp.customers) == 1
    assert len(h.erp.documents) == 1
