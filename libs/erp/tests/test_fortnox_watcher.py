"""Fortnox as a DocumentWatcher: orders read as ERP-neutral states, the local-minute arithmetic
of `lastmodified` polling, the verdict on a listed order (the budget rule), the listing's pages
through a fake client, then the whole round against the sandbox Fortnox: an order erp-writer
created is never read for its creation, a delivery is read once, an invoice or a cancellation
is taken from the listing, and a delivery behind an invoice is not lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

import msgspec
import pytest

from ordreflyt_contracts.erp import ErpDocumentState
from ordreflyt_erp.capabilities import ListedDocument
from ordreflyt_erp.fortnox import FortnoxClient, FortnoxWatcher
from ordreflyt_erp.fortnox.documents import order_state
from ordreflyt_erp.fortnox.times import (
    minute_text,
    next_watermark,
    parse_minute,
    query_from,
    read_after_minute,
)
from ordreflyt_erp.fortnox.watcher import FortnoxListed
from ordreflyt_erp.options import ErpOptions
from ordreflyt_erp.ratelimit import Priority
from ordreflyt_sandbox_fortnox import documents as sandbox
from ordreflyt_sandbox_fortnox.models import Parcel
from ordreflyt_testkit.fortnox import FortnoxEnv, sandbox_fortnox
from ordreflyt_testkit.samples import erp_order_sample

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def fortnox_order(**fields: object) -> dict[str, object]:
    return {
        "DocumentNumber": "17",
        "LastModified": "2026-11-20 10:15",
        "InvoiceReference": "0",
        "Cancelled": False,
        "DeliveryState": "registration",
        "Total": 250,
        "OrderRows": [
            {"ArticleNumber": "A", "OrderedQuantity": "2.00", "DeliveredQuantity": "1.00"},
            {"ArticleNumber": "A", "OrderedQuantity": 1, "DeliveredQuantity": 0},
            {"ArticleNumber": "", "OrderedQuantity": "1.00", "DeliveredQuantity": "0.00"},
            {"ArticleNumber": "B", "OrderedQuantity": "1.5", "DeliveredQuantity": "1.5"},
        ],
        **fields,
    }


def entry(order: dict[str, object]) -> dict[str, object]:
    """The order as `GET /3/orders` lists it: no rows."""
    return {k: v for k, v in order.items() if k != "OrderRows"}


# ---------------------------------------------------------------- states and times


def test_state_of_a_fortnox_order() -> None:
    state = order_state(fortnox_order(), STOCKHOLM)
    assert state.number == "17"
    assert state.version == "2026-11-20 10:15"
    assert state.ordered == {"A": Decimal(3), "B": Decimal("1.5")}
    assert state.delivered == {"A": Decimal(1), "B": Decimal("1.5")}
    assert not state.invoiced
    assert not state.cancelled
    assert not state.closed
    assert state.shipments is None  # real Fortnox: no Shipments field
    # Swedish winter time is UTC+1.
    assert state.changed_at == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)


def test_invoiced_cancelled_and_sandbox_shipments() -> None:
    state = order_state(
        fortnox_order(
            InvoiceReference="1004",
            Cancelled=True,
            LastModified="2026-07-01 12:00",
            Shipments=[
                {
                    "DeliveredAt": "2026-07-01 12:00",
                    "Rows": {"A": "1.00"},
                    "Parcels": [
                        {"TrackingNumber": "PN1", "Carrier": "PostNord"},
                        {"TrackingNumber": "", "Carrier": "ignored"},
                    ],
                }
            ],
        ),
        STOCKHOLM,
    )
    assert state.invoiced
    assert state.cancelled
    assert state.closed
    assert state.changed_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # summer: UTC+2
    assert state.shipments is not None
    assert [(dict(s.lines), [p.tracking_number for p in s.parcels]) for s in state.shipments] == [
        ({"A": Decimal(1)}, ["PN1"])
    ]


def test_a_malformed_order_is_refused() -> None:
    with pytest.raises(ValueError, match="Fortnox time"):
        order_state(fortnox_order(LastModified="yesterday"), STOCKHOLM)
    with pytest.raises(ValueError, match="quantity"):
        order_state(
            fortnox_order(OrderRows=[{"ArticleNumber": "A", "OrderedQuantity": "two"}]), STOCKHOLM
        )


def test_query_starts_the_overlap_before_the_watermark() -> None:
    watermark = parse_minute("2026-11-20 10:15")
    now = datetime(2026, 11, 20, 9, 20, tzinfo=UTC)
    assert minute_text(query_from(watermark, 2, STOCKHOLM, now)) == "2026-11-20 10:13"


def test_query_goes_back_the_hour_the_clocks_went_back() -> None:
    # 2026-10-25 03:00 CEST became 02:00 CET: local 02:xx happens twice.
    watermark = parse_minute("2026-10-25 02:50")  # the first 02:50, summer time
    after = datetime(2026, 10, 25, 1, 5, tzinfo=UTC)  # 02:05 winter time
    assert minute_text(query_from(watermark, 2, STOCKHOLM, after)) == "2026-10-25 01:48"
    spring = parse_minute("2026-03-29 01:58")
    now = datetime(2026, 3, 29, 1, 5, tzinfo=UTC)  # 03:05 summer time: no repeat, no extra
    assert minute_text(query_from(spring, 2, STOCKHOLM, now)) == "2026-03-29 01:56"


def test_next_watermark() -> None:
    old = parse_minute("2026-11-20 10:00")
    started = parse_minute("2026-11-20 10:15")
    assert next_watermark(old, None, started) == old
    assert next_watermark(None, None, started) is None
    assert next_watermark(old, parse_minute("2026-11-20 10:14"), started) == parse_minute(
        "2026-11-20 10:14"
    )
    # Never later than the minute the poll began (changes during the poll are read again).
    assert next_watermark(old, parse_minute("2026-11-20 10:16"), started) == started


def test_a_state_is_newer_than_its_minute_only_when_read_after_the_minute_was_over() -> None:
    listed = "2026-11-20 10:15"  # 09:15 UTC
    read_late = datetime(2026, 11, 20, 9, 16, 31, tzinfo=UTC)
    read_early = datetime(2026, 11, 20, 9, 15, 40, tzinfo=UTC)
    assert not read_after_minute(listed, None, STOCKHOLM, 30)
    assert not read_after_minute(listed, read_early, STOCKHOLM, 30)
    assert not read_after_minute(
        listed, datetime(2026, 11, 20, 9, 16, 20, tzinfo=UTC), STOCKHOLM, 30
    )
    assert read_after_minute(listed, read_late, STOCKHOLM, 30)
    assert not read_after_minute("garbage", read_late, STOCKHOLM, 30)


# ---------------------------------------------------------------- a fake Fortnox


@dataclass(frozen=True)
class FakeSettings:
    timezone: str = "Europe/Stockholm"
    key: str = "fortnox"


class FakeFortnox:
    """Answers `GET /orders` from a list in pages, and `GET /orders/{n}`; counts requests."""

    def __init__(self, orders: list[dict[str, object]] | None = None, page_size: int = 2) -> None:
        self.settings = FakeSettings()
        self.orders = orders or []
        self.page_size = page_size
        self.calls: list[tuple[str, dict[str, str]]] = []

    @property
    def requests(self) -> int:
        return len(self.calls)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        missing_ok: bool = False,
        priority: Priority = Priority.WRITE,
    ) -> Any:
        assert method == "GET"
        assert priority == Priority.WATCH  # the watcher waits behind order writes
        self.calls.append((path, dict(params or {})))
        if path == "/orders":
            assert params is not None
            page = int(params["page"])
            start = (page - 1) * self.page_size
            pages = max(1, -(-len(self.orders) // self.page_size))
            return {
                "MetaInformation": {"@TotalPages": pages, "@CurrentPage": page},
                "Orders": [entry(o) for o in self.orders[start : start + self.page_size]],
            }
        number = path.rsplit("/", 1)[1]
        for order in self.orders:
            if order["DocumentNumber"] == number:
                return {"Order": order}
        assert missing_ok
        return None


def watcher(fake: FakeFortnox, **options: Any) -> FortnoxWatcher:
    return FortnoxWatcher(cast(FortnoxClient, fake), ErpOptions(**options))


def listed(fake_watcher: FortnoxWatcher, order: dict[str, object]) -> FortnoxListed:
    return fake_watcher.listed(entry(order), datetime(2026, 11, 20, 9, 30, tzinfo=UTC))


# ---------------------------------------------------------------- the verdict


def test_nothing_known_is_read_and_an_unchanged_listing_is_not() -> None:
    w = watcher(FakeFortnox())
    order = fortnox_order()
    known = order_state(order, STOCKHOLM)
    assert w.verdict(listed(w, order), None, None) == "read"
    assert w.verdict(listed(w, order), known, None) == "unchanged"
    # A change that moves none of the listed fields (a note, a partial delivery in real
    # Fortnox) is not worth a read.
    later = fortnox_order(LastModified="2026-11-20 11:00", Remarks="Ring först")
    assert w.verdict(listed(w, later), known, None) == "unchanged"


def test_a_listed_field_that_moved_is_read() -> None:
    w = watcher(FakeFortnox())
    known = order_state(fortnox_order(), STOCKHOLM)
    for moved in (
        {"DeliveryState": "delivery"},
        {"DeliveryDate": "2026-11-21"},
        {"WarehouseReady": True},
        {"Total": 300},
        {"Shipments": [{"Rows": {"A": "1"}, "Parcels": []}]},
    ):
        order = fortnox_order(LastModified="2026-11-20 11:00", **moved)
        assert w.verdict(listed(w, order), known, None) == "read", moved
    # Numbers are compared as numbers: 250.0 is the Total 250.
    same = fortnox_order(LastModified="2026-11-20 11:00", Total=250.0)
    assert w.verdict(listed(w, same), known, None) == "unchanged"


def test_an_invoice_or_a_cancellation_alone_is_taken_from_the_listing() -> None:
    w = watcher(FakeFortnox())
    known = order_state(fortnox_order(), STOCKHOLM)
    invoiced = listed(w, fortnox_order(LastModified="2026-11-20 11:00", InvoiceReference="1004"))
    assert w.verdict(invoiced, known, None) == "listed"
    state = w.from_listing(invoiced, known)
    assert state.invoiced
    assert state.closed
    assert not state.cancelled
    assert state.version == "2026-11-20 11:00"
    assert state.changed_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert state.listed == invoiced.listed
    # The rows are the ones known: nothing was read.
    assert (state.ordered, state.delivered) == (known.ordered, known.delivered)
    # Listed again: unchanged against the state taken from the listing.
    assert w.verdict(invoiced, state, None) == "unchanged"

    cancelled = listed(w, fortnox_order(LastModified="2026-11-20 11:00", Cancelled=True))
    assert w.verdict(cancelled, known, None) == "listed"
    assert w.from_listing(cancelled, known).cancelled


def test_a_delivery_behind_an_invoice_is_read() -> None:
    """Delivered and invoiced between two polls: the listing shows both, the invoice must not
    hide the delivery (its parcels, in the sandbox)."""
    w = watcher(FakeFortnox())
    known = order_state(fortnox_order(), STOCKHOLM)
    both = listed(
        w,
        fortnox_order(
            LastModified="2026-11-20 11:00",
            InvoiceReference="1004",
            DeliveryState="delivery",
            Shipments=[{"Rows": {"A": "2"}, "Parcels": [{"TrackingNumber": "PN9"}]}],
        ),
    )
    assert w.verdict(both, known, None) == "read"
    # A listing this watcher did not make cannot tell: it is taken at its word.
    plain = ListedDocument(
        **{k: v for k, v in msgspec.structs.asdict(both).items() if k != "open_listed"}
    )
    assert w.verdict(plain, known, None) == "listed"


def test_a_closed_state_is_read_only_for_a_change_of_its_listing() -> None:
    w = watcher(FakeFortnox())
    known = order_state(fortnox_order(InvoiceReference="1004"), STOCKHOLM)
    again = listed(w, fortnox_order(InvoiceReference="1004", LastModified="2026-11-20 12:00"))
    assert w.verdict(again, known, None) == "unchanged"


def test_read_every_change_reads_each_new_version_until_read_after_its_minute() -> None:
    w = watcher(FakeFortnox(), read_every_change=True, clock_skew=30)
    order = fortnox_order()  # 10:15 local, 09:15 UTC
    known = order_state(order, STOCKHOLM)
    document = listed(w, order)
    assert w.verdict(document, None, None) == "read"
    assert w.verdict(document, known, datetime(2026, 11, 20, 9, 15, 40, tzinfo=UTC)) == "read"
    assert w.verdict(document, known, datetime(2026, 11, 20, 9, 16, 31, tzinfo=UTC)) == (
        "unchanged"
    )
    later = listed(w, fortnox_order(LastModified="2026-11-20 10:20"))
    assert w.verdict(later, known, datetime(2026, 11, 20, 9, 30, tzinfo=UTC)) == "read"
    # Even an invoice is read then.
    invoiced = listed(w, fortnox_order(LastModified="2026-11-20 10:20", InvoiceReference="9"))
    assert w.verdict(invoiced, known, datetime(2026, 11, 20, 9, 30, tzinfo=UTC)) == "read"


# ---------------------------------------------------------------- the listing


async def test_changes_lists_every_page_and_moves_the_watermark() -> None:
    orders = [
        fortnox_order(DocumentNumber=str(n), LastModified=f"2026-11-20 10:{n:02d}")
        for n in range(1, 6)
    ]
    fake = FakeFortnox(orders, page_size=2)
    w = watcher(fake, overlap_minutes=2)
    started = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)  # 10:30 local
    changes = await w.changes("2026-11-20 10:00", started)
    assert [d.number for d in changes.documents] == ["1", "2", "3", "4", "5"]
    assert changes.since == "2026-11-20 09:58"
    assert changes.watermark == "2026-11-20 10:05"
    assert [params["page"] for _, params in fake.calls] == ["1", "2", "3"]
    assert {params["lastmodified"] for _, params in fake.calls} == {"2026-11-20 09:58"}
    assert {params["limit"] for _, params in fake.calls} == {"500"}
    assert changes.documents[0].changed_at == datetime(2026, 11, 20, 9, 1, tzinfo=UTC)


async def test_the_watermark_stays_when_nothing_is_listed_and_never_passes_the_start() -> None:
    fake = FakeFortnox([])
    w = watcher(fake)
    started = datetime(2026, 11, 20, 9, 30, 40, tzinfo=UTC)
    assert (await w.changes("2026-11-20 10:00", started)).watermark == "2026-11-20 10:00"
    fake.orders = [
        fortnox_order(LastModified="2026-11-20 10:45"),  # a clock ahead of ours
        fortnox_order(DocumentNumber="18", LastModified=""),  # no LastModified: the start
    ]
    changes = await w.changes("2026-11-20 10:00", started)
    assert changes.watermark == "2026-11-20 10:30"
    assert changes.documents[1].changed_at == started
    assert w.first_watermark(datetime(2026, 7, 1, 10, 0, 30, tzinfo=UTC)) == "2026-07-01 12:00"


async def test_read_gives_the_state_and_none_for_a_missing_order() -> None:
    fake = FakeFortnox([fortnox_order()])
    w = watcher(fake)
    state = await w.read("17")
    assert state == order_state(fortnox_order(), STOCKHOLM)
    assert await w.read("404") is None
    assert [path for path, _ in fake.calls] == ["/orders/17", "/orders/404"]


# ---------------------------------------------------------------- against the sandbox


@pytest.fixture
async def env(database_url: str) -> Any:
    async with sandbox_fortnox(database_url) as fortnox_env:
        yield fortnox_env


async def created(env: FortnoxEnv, reference: str) -> ErpDocumentState:
    """An order as erp-writer creates it, with the state Fortnox answered."""
    article = next(iter(env.store.articles))
    order = erp_order_sample(reference, article=article)
    customer = await env.erp.writer.create_customer(order.customer)
    document = await env.erp.writer.create_document(order, customer)
    assert document.state is not None
    return document.state


async def poll(
    env: FortnoxEnv, known: dict[str, ErpDocumentState], read_at: dict[str, datetime]
) -> dict[str, str]:
    """One poll as fulfillment-listener makes it; the verdict of each known order."""
    watcher = env.erp.watcher
    since = watcher.first_watermark(datetime.now(UTC) - timedelta(minutes=5))
    changes = await watcher.changes(since, datetime.now(UTC))
    verdicts: dict[str, str] = {}
    for document in changes.documents:
        if document.number not in known or known[document.number].closed:
            continue
        verdict = watcher.verdict(document, known[document.number], read_at.get(document.number))
        verdicts[document.number] = verdict
        if verdict == "listed":
            known[document.number] = watcher.from_listing(document, known[document.number])
        elif verdict == "read":
            read_at[document.number] = datetime.now(UTC)
            state = await watcher.read(document.number)
            assert state is not None
            known[document.number] = state
    return verdicts


@pytest.mark.integration
async def test_the_sandbox_round_reads_only_what_changed_and_each_change_once(
    env: FortnoxEnv,
) -> None:
    first = await created(env, "demo-201")
    second = await created(env, "demo-202")
    third = await created(env, "demo-203")
    known = {s.number: s for s in (first, second, third)}
    read_at: dict[str, datetime] = {}

    # Just created: listed, never read.
    before = env.client.requests
    assert await poll(env, known, read_at) == dict.fromkeys(known, "unchanged")
    assert env.client.requests == before + 1  # the listing alone

    # Delivered with a parcel: read once, then unchanged.
    sandbox.deliver_order(
        env.store, first.number, None, [Parcel(tracking_number="PN1", carrier="PostNord")]
    )
    sandbox.create_invoice_from_order(env.store, second.number)
    sandbox.cancel_order(env.store, third.number)
    before = env.client.requests
    verdicts = await poll(env, known, read_at)
    assert verdicts == {first.number: "read", second.number: "listed", third.number: "listed"}
    assert env.client.requests == before + 2  # the listing and one read
    assert known[first.number].shipments is not None
    assert [p.tracking_number for s in known[first.number].shipments or () for p in s.parcels] == [
        "PN1"
    ]
    assert known[second.number].invoiced
    assert known[third.number].cancelled

    # The invoice on the delivered one is taken from the listing; the closed ones are done.
    sandbox.create_invoice_from_order(env.store, first.number)
    before = env.client.requests
    assert await poll(env, known, read_at) == {first.number: "listed"}
    assert env.client.requests == before + 1
    assert all(state.closed for state in known.values())
    before = env.client.requests
    assert await poll(env, known, read_at) == {}
    assert env.client.requests == before + 1


@pytest.mark.integration
async def test_in_the_sandbox_a_delivery_then_an_invoice_between_polls_is_read(
    env: FortnoxEnv,
) -> None:
    state = await created(env, "demo-301")
    known = {state.number: state}
    sandbox.deliver_order(
        env.store, state.number, None, [Parcel(tracking_number="KILL-1", carrier="Budbee")]
    )
    sandbox.create_invoice_from_order(env.store, state.number)
    assert await poll(env, known, {}) == {state.number: "read"}
    after = known[state.number]
    assert after.invoiced
    assert [p.tracking_number for s in after.shipments or () for p in s.parcels] == ["KILL-1"]
