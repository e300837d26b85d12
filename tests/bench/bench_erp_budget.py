"""Benchmark: the Fortnox request budget, with Fortnox's real rate limit (25 requests per 5 s).

    ORDREFLYT_TEST_INFRA=local uv run python tests/bench/bench_erp_budget.py \
        [--orders 100] [--backlog 1000] [--poll-interval 2] [--idle 20]

Starts the sandbox shop and Fortnox (rate limit on: 25 requests per 5 s per access token),
intake, order-mapper, erp-writer, fulfillment-listener (`poll_interval` from `--poll-interval`)
and stock-syncer (its normal schedule, plus the passes erp-order.created triggers) as processes.
Orders are placed in the sandbox shop through its REST API (a Swedish customer with a fixed
address per e-mail, two catalogue items and shipping, paid), so the shop itself sends the
webhooks and fulfillment-listener can complete the shop order.

Ordreflyt's own ERP requests are the sum over every service of `ordreflyt_erp_requests_total`
(all outcomes; answers 429 are counted apart), read from each service's /metrics before and
after a phase. Invoicing "by a person" goes to the sandbox Fortnox with tokens of its own: it
passes no service, so it is not counted (and does not use the services' rate-limit window).

1. New customers: `--orders` orders, each by a new e-mail, over their whole life: created in
   Fortnox (all erp-order.created), then every Fortnox order invoiced by a person, then waited
   on until fulfillment-listener has completed them all in the shop, and until no service but
   the watcher's periodic listing has asked Fortnox anything for 10 s plus one poll interval.
   ERP requests per order (target <= 2.2).
2. Background: requests per second with nothing to do (the watcher's polls, which begin with
   its first document), over `--idle` s.
3. Returning customers: `--orders` more orders by the same e-mails, the same life (target
   <= 1.2).
4. Backlog: erp-writer stopped, `--backlog` orders by returning customers queued for it (all
   mapped by order-mapper), erp-writer started again: seconds until erp-order.created for all;
   ERP requests of every service in that time, per second and as a share of the 5 per second
   the limit allows (target >= 90 %); erp-writer's /readyz is probed meanwhile.
Each phase is broken down by service and HTTP method (the metric's labels) and by Fortnox route
(the sandbox's request log, the person's requests taken out). The watcher lists changed orders
once a poll however many orders there are, so its share of a phase depends on the phase's
length and `--poll-interval` (production: 60 s); the summary also shows each figure without it.
A benchmark reports; it asserts nothing. Logs of every process are in var/bench/<id>/.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client.parser import text_string_to_metric_families

from ordreflyt_contracts import decode_event
from ordreflyt_contracts.events import (
    ErpOrderCreated,
    ErpOrderFailed,
    ErpOrderRequested,
    ErpOrderUpdated,
)
from ordreflyt_runtime.db import ensure_database
from ordreflyt_testkit.helpers import declare_tap, wait_for
from ordreflyt_testkit.infra import provide_infra
from ordreflyt_testkit.processes import ServiceProcess
from ordreflyt_testkit.stack import CONSUMING_SERVICES, Stack, running_stack

LIMIT = 25
WINDOW = 5.0
ALLOWED_PER_SECOND = LIMIT / WINDOW
TARGET_NEW = 2.2
TARGET_RETURNING = 1.2
TARGET_DRAIN_SHARE = 0.90

# The services' token (the sandbox default) and the person's own tokens: several, so invoicing
# a hundred orders by hand does not take the person twenty seconds of rate limit.
SERVICE_TOKEN = "sandbox-token"
PERSON_TOKENS = tuple(f"bench-person-{i}" for i in range(8))
SHOP_AUTH = "Basic " + base64.b64encode(b"ck_sandbox:cs_sandbox").decode()
SERVICES = ("intake", "order-mapper", "erp-writer", "fulfillment-listener", "stock-syncer")
ERP_WRITER = "erp-writer-0"
RATE_LIMITED = "rate-limited"
# The watcher's periodic listing of changed orders (its polls), by the sandbox's route name.
LISTING = "GET /3/orders"
# The longest a phase waits for the services to fall quiet after its last order completed.
SETTLE_LIMIT = 180.0

MetricKey = tuple[str, str, str]  # (service, method, outcome)


# ---------------------------------------------------------------- what the services announce


@dataclass
class Announced:
    """erp-writer's and order-mapper's events, per shop order id, seen on a tap queue."""

    requested: dict[str, float] = field(default_factory=dict)  # create requests, first seen
    update_requests: Counter[str] = field(default_factory=Counter)
    created: dict[str, ErpOrderCreated] = field(default_factory=dict)
    created_at: dict[str, float] = field(default_factory=dict)
    updated: Counter[str] = field(default_factory=Counter)
    failed: dict[str, str] = field(default_factory=dict)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        event = decode_event(message.body)
        now = time.perf_counter()
        key = event.shop_order_id
        if isinstance(event, ErpOrderRequested):
            if event.action == "create":
                self.requested.setdefault(key, now)
            else:
                self.update_requests[key] += 1
        elif isinstance(event, ErpOrderCreated):
            self.created.setdefault(key, event)
            self.created_at.setdefault(key, now)
        elif isinstance(event, ErpOrderUpdated):
            self.updated[key] += 1
        elif isinstance(event, ErpOrderFailed):
            self.failed[key] = f"{event.code}: {event.message}"
        await message.ack()

    async def wait(
        self,
        stack: Stack,
        seen: dict[str, Any],
        ids: list[str],
        what: str,
        timeout: float,
        alive: ServiceProcess | None = None,
    ) -> None:
        checked = time.monotonic()

        async def all_there() -> bool:
            nonlocal checked
            failed = {i: self.failed[i] for i in ids if i in self.failed and i not in seen}
            if failed:
                raise RuntimeError(f"erp-writer failed orders while waiting for {what}: {failed}")
            if alive is not None and alive.proc is not None and alive.proc.poll() is not None:
                raise RuntimeError(f"{alive.name} exited while waiting for {what}:\n{alive.tail()}")
            if time.monotonic() - checked > 5:
                checked = time.monotonic()
                await no_dead_letters(stack, what)
            return all(i in seen for i in ids)

        await wait_for(all_there, timeout=timeout, interval=0.2, what=f"{len(ids)} x {what}")


# ---------------------------------------------------------------- counting requests


@dataclass
class Snapshot:
    at: float
    metrics: Counter[MetricKey]
    routes: Counter[str]
    service_token: dict[str, int]


async def erp_metrics(stack: Stack) -> Counter[MetricKey]:
    """`ordreflyt_erp_requests_total` of every running service, by service, method, outcome."""
    counts: Counter[MetricKey] = Counter()
    for name, proc in stack.processes.items():
        if proc.service not in SERVICES or proc.proc is None or proc.proc.poll() is not None:
            continue
        text = await stack.text(name, "/metrics")
        for family in text_string_to_metric_families(text):
            if family.name != "ordreflyt_erp_requests":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = (proc.service, sample.labels["method"], sample.labels["outcome"])
                    counts[key] += int(sample.value)
    return counts


async def snapshot(stack: Stack) -> Snapshot:
    stats = await stack.get("fortnox", "/_sandbox/stats")
    token = stats["tokens"].get(SERVICE_TOKEN, {})
    return Snapshot(
        at=time.perf_counter(),
        metrics=await erp_metrics(stack),
        routes=Counter({k: int(v) for k, v in stats["requests_by_route"].items()}),
        service_token={
            "requests": int(token.get("requests", 0)),
            "rejected_429": int(token.get("rejected_429", 0)),
            "max_in_window": int(token.get("max_in_window", 0)),
        },
    )


@dataclass
class Usage:
    """The services' ERP requests between two snapshots."""

    label: str
    orders: int
    seconds: float
    metrics: Counter[MetricKey]
    routes: Counter[str]
    token_requests: int
    token_429: int
    max_in_window: int

    @property
    def requests(self) -> int:
        """Every request a service sent and counted, answers 429 left out."""
        return sum(n for (_, _, outcome), n in self.metrics.items() if outcome != RATE_LIMITED)

    @property
    def answered_429(self) -> int:
        return sum(n for (_, _, outcome), n in self.metrics.items() if outcome == RATE_LIMITED)

    @property
    def per_order(self) -> float:
        return self.requests / self.orders if self.orders else math.nan

    @property
    def listing(self) -> int:
        """Requests listing changed orders: the watcher's polls, whatever the orders."""
        return self.routes[LISTING]

    @property
    def per_order_without_listing(self) -> float:
        return (self.requests - self.listing) / self.orders if self.orders else math.nan

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else math.nan


def usage(
    label: str, orders: int, before: Snapshot, after: Snapshot, person: Counter[str]
) -> Usage:
    routes = after.routes - before.routes
    routes.subtract(person)
    return Usage(
        label=label,
        orders=orders,
        seconds=after.at - before.at,
        metrics=after.metrics - before.metrics,
        routes=+routes,
        token_requests=after.service_token["requests"] - before.service_token["requests"],
        token_429=after.service_token["rejected_429"] - before.service_token["rejected_429"],
        max_in_window=after.service_token["max_in_window"],
    )


# ---------------------------------------------------------------- the shop and the person


@dataclass(frozen=True)
class Customer:
    email: str
    first_name: str
    last_name: str
    street: str
    postcode: str
    city: str
    phone: str

    def address(self, with_contact: bool) -> dict[str, str]:
        address = {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "address_1": self.street,
            "city": self.city,
            "postcode": self.postcode,
            "country": "SE",
        }
        if with_contact:
            address.update(email=self.email, phone=self.phone)
        return address


FIRST = ("Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Sara", "Nils", "Eva", "Olof")
LAST = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson")
CITIES = (("111 22", "Stockholm"), ("411 05", "Göteborg"), ("211 20", "Malmö"))


def customers(count: int, run: str) -> list[Customer]:
    # Equal length addresses: Fortnox's substring e-mail search never mixes two of them up.
    return [
        Customer(
            email=f"kund{i:06d}.{run}@example.se",
            first_name=FIRST[i % len(FIRST)],
            last_name=LAST[i % len(LAST)],
            street=f"Storgatan {i % 97 + 1}",
            postcode=CITIES[i % len(CITIES)][0],
            city=CITIES[i % len(CITIES)][1],
            phone=f"+4670{i:07d}",
        )
        for i in range(count)
    ]


async def sellable_products(stack: Stack) -> list[int]:
    """Simple shop products with stock whose SKU is a Fortnox article."""
    state = await stack.get("woo", "/_sandbox/state")
    articles = {a["ArticleNumber"] for a in (await stack.fortnox_state())["articles"]}
    return [
        int(p["id"])
        for p in state["products"]
        if p["type"] == "simple" and p["sku"] in articles and p.get("manage_stock") is not False
    ]


async def place_orders(
    stack: Stack, buyers: list[Customer], products: list[int], offset: int, concurrency: int = 8
) -> list[str]:
    """One paid order per buyer, placed through the shop's REST API; the shop ids, in order."""
    ids: list[str] = [""] * len(buyers)
    url = stack.url("woo") + "/wp-json/wc/v3/orders"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(len(buyers)):
        queue.put_nowait(n)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            buyer = buyers[n]
            k = offset + n
            body = {
                "status": "processing",
                "set_paid": True,
                "currency": "SEK",
                "payment_method": "klarna",
                "payment_method_title": "Klarna",
                "billing": buyer.address(with_contact=True),
                "shipping": buyer.address(with_contact=False),
                "line_items": [
                    {"product_id": products[k % len(products)], "quantity": 1},
                    {"product_id": products[(k * 7 + 3) % len(products)], "quantity": 2},
                ],
                "shipping_lines": [
                    {"method_id": "flat_rate", "method_title": "PostNord", "total": "49.00"}
                ],
            }
            async with http.post(url, json=body, headers={"Authorization": SHOP_AUTH}) as r:
                answer = await r.json(content_type=None)
                if r.status != 201:
                    raise RuntimeError(f"the shop refused an order ({r.status}): {answer}")
                ids[n] = str(answer["id"])

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return ids


async def invoice_by_hand(stack: Stack, documents: list[str]) -> Counter[str]:
    """A person invoices each Fortnox order (`PUT /3/orders/{n}/createinvoice`) with tokens of
    their own, outside Ordreflyt. Answers the requests sent, by the sandbox's route name."""
    sent: Counter[str] = Counter()
    route = "PUT /3/orders/{DocumentNumber}/createinvoice"
    queue: asyncio.Queue[str] = asyncio.Queue()
    for number in documents:
        queue.put_nowait(number)

    async def worker(http: aiohttp.ClientSession, token: str) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            while True:
                sent[route] += 1
                async with http.put(
                    f"{stack.url('fortnox')}/3/orders/{number}/createinvoice",
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                ) as r:
                    answer = await r.json(content_type=None)
                if r.status == 429:
                    await asyncio.sleep(1.0)
                    continue
                if r.status != 200:
                    raise RuntimeError(f"invoicing order {number} failed ({r.status}): {answer}")
                break

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http, token) for token in PERSON_TOKENS))
    return sent


async def shop_statuses(stack: Stack) -> dict[str, str]:
    state = await stack.get("woo", "/_sandbox/state")
    return {str(o["id"]): str(o["status"]) for o in state["orders"]}


async def no_dead_letters(stack: Stack, what: str) -> None:
    """A message a service dead-lettered never comes out by waiting: stop and say so."""
    dead = {}
    for name, proc in stack.processes.items():
        if proc.service in CONSUMING_SERVICES and proc.proc and proc.proc.poll() is None:
            count = int((await stack.get(name, "/dlq"))["count"])
            if count:
                dead[name] = count
    if dead:
        raise RuntimeError(f"dead letters while waiting for {what}: {dead} (see the logs)")


async def wait_completed(stack: Stack, ids: list[str], timeout: float) -> None:
    async def all_completed() -> bool:
        await no_dead_letters(stack, "the shop orders to complete")
        statuses = await shop_statuses(stack)
        return all(statuses.get(i) == "completed" for i in ids)

    await wait_for(all_completed, timeout=timeout, interval=1.0, what=f"{len(ids)} completed")


# ---------------------------------------------------------------- phases


@dataclass
class Bench:
    stack: Stack
    announced: Announced
    products: list[int]
    poll_interval: float
    placed: int = 0
    mine: set[str] = field(default_factory=set)

    def foreign(self) -> set[str]:
        """Shop orders erp-writer created that this bench did not place."""
        return set(self.announced.created) - self.mine

    def warn_foreign(self, before: set[str], label: str) -> None:
        extra = self.foreign() - before
        if extra:
            print(
                f"  WARNING: during {label} erp-writer also created {len(extra)} orders this"
                f" bench did not place (e.g. {sorted(extra)[:5]}): their requests are counted",
                flush=True,
            )

    def create_timeout(self, orders: int) -> float:
        # Three requests an order at the full rate, twice over, and a minute to start.
        return 60 + 2 * 3 * orders / ALLOWED_PER_SECOND

    async def background(self, seconds: float) -> Usage:
        before = await snapshot(self.stack)
        await asyncio.sleep(seconds)
        return usage("background (idle)", 0, before, await snapshot(self.stack), Counter())

    async def settle(self, quiet: float) -> Snapshot:
        """Until `quiet` seconds pass in which no service asked Fortnox anything but the
        watcher's periodic listing (the passes stock-syncer's triggers and the shop's status
        webhooks set off are over); at most SETTLE_LIMIT seconds."""
        last = await snapshot(self.stack)
        quiet_since = last.at
        deadline = last.at + SETTLE_LIMIT
        while True:
            await asyncio.sleep(1.0)
            now = await snapshot(self.stack)
            moved = +(now.routes - last.routes)
            moved.pop(LISTING, None)
            if moved:
                quiet_since = now.at
            last = now
            if now.at - quiet_since >= quiet or now.at >= deadline:
                return now

    async def whole_life(self, label: str, buyers: list[Customer]) -> Usage:
        """Orders from placing in the shop until completed there, and the watcher is done."""
        n = len(buyers)
        print(f"{label}: {n} orders...", flush=True)
        foreign = self.foreign()
        before = await snapshot(self.stack)
        ids = await place_orders(self.stack, buyers, self.products, self.placed)
        self.placed += n
        self.mine.update(ids)
        a = self.announced
        await a.wait(self.stack, a.created, ids, "erp-order.created", self.create_timeout(n))
        created_s = time.perf_counter() - before.at
        person = await invoice_by_hand(self.stack, [a.created[i].document_number for i in ids])
        await wait_completed(self.stack, ids, timeout=300)
        completed_s = time.perf_counter() - before.at
        quiet = 10.0 + self.poll_interval
        result = usage(label, n, before, await self.settle(quiet), person)
        updates = sum(a.update_requests[i] for i in ids)
        print(
            f"  all created after {created_s:.1f} s, invoiced by hand ({sum(person.values())} "
            f"requests on the person's tokens), all completed in the shop after "
            f"{completed_s:.1f} s, phase closed after {result.seconds:.1f} s (quiet for "
            f"{quiet:.0f} s); "
            f"{updates} update requests from order-mapper",
            flush=True,
        )
        self.warn_foreign(foreign, label)
        return result

    async def backlog(self, buyers: list[Customer]) -> tuple[Usage, float]:
        """erp-writer stopped, the backlog queued for it, erp-writer started: until created."""
        n = len(buyers)
        stack = self.stack
        print(f"backlog: stopping erp-writer, queueing {n} orders...", flush=True)
        old = stack.processes[ERP_WRITER]
        old.terminate()
        foreign = self.foreign()
        ids = await place_orders(stack, buyers, self.products, self.placed)
        self.placed += n
        self.mine.update(ids)
        a = self.announced
        await a.wait(self.stack, a.requested, ids, "erp-order.requested", timeout=120 + n / 5)
        print(f"  {n} orders mapped and waiting in erp-writer's queue; starting erp-writer")
        before = await snapshot(stack)
        again = ServiceProcess(old.argv, old.env, stack.log_dir, name=f"{ERP_WRITER}-again")
        again.service = old.service
        stack.processes[ERP_WRITER] = again
        again.start()
        # Not waited on: its /readyz may be slow while it drains (reported below).
        probes: list[Probe] = []
        prober = asyncio.create_task(probe_ready(again.url + "/readyz", before.at, probes))
        try:
            await a.wait(
                stack, a.created, ids, "erp-order.created", self.create_timeout(n), alive=again
            )
        finally:
            prober.cancel()
        after = await snapshot(stack)
        last = max(a.created_at[i] for i in ids)
        after.at = last  # the drain ends with the last erp-order.created
        answered = [p for p in probes if p.status]
        slow = [p for p in answered if p.status != 200 or p.seconds > 2.0]
        ready_s = next((p.at for p in answered if p.status == 200), math.nan)
        print(
            f"  erp-writer /readyz while draining (one probe a second, 10 s timeout):"
            f" {len(probes)} probes, first 200 {ready_s:.1f} s after the start,"
            f" {len(probes) - len(answered)} unanswered, {len(slow)} not 200 within 2 s,"
            f" slowest answer {max((p.seconds for p in answered), default=0.0):.1f} s",
            flush=True,
        )
        refused = next((p for p in answered if p.status != 200), None)
        if refused is not None:
            print(f"    e.g. {refused.status} after {refused.seconds:.1f} s: {refused.body}")
        self.warn_foreign(foreign, "the backlog")
        return usage(f"backlog of {n}", n, before, after, Counter()), ready_s


@dataclass(frozen=True)
class Probe:
    at: float  # seconds since the start of erp-writer
    status: int  # 0: connection refused or no answer within the timeout
    seconds: float
    body: str = ""


async def probe_ready(url: str, started: float, probes: list[Probe]) -> None:
    """A /readyz every second, from the start of the process (refused until it listens)."""
    async with aiohttp.ClientSession() as http:
        while True:
            start = time.perf_counter()
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=10)) as r:
                    body = (await r.text())[:400]
                    status = r.status
            except (aiohttp.ClientError, TimeoutError):
                status, body = 0, ""
            end = time.perf_counter()
            probes.append(Probe(end - started, status, end - start, body))
            await asyncio.sleep(max(0.0, 1.0 - (end - start)))


# ---------------------------------------------------------------- the report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def breakdown(u: Usage, background_per_second: float | None) -> None:
    print(
        f"\n{u.label}: {u.requests} ERP requests in {u.seconds:.1f} s"
        + (f" = {u.per_order:.2f} per order" if u.orders else "")
        + f" ({u.per_second:.2f}/s); answers 429: {u.answered_429} by the metrics,"
        f" {u.token_429} by the sandbox; the sandbox saw {u.token_requests} on the services'"
        f" token (most in one {WINDOW:.0f} s window so far: {u.max_in_window})"
    )
    if u.orders:
        print(
            f"  of which the watcher's periodic listing ({LISTING}): {u.listing}; without it"
            f" {u.per_order_without_listing:.2f} per order"
            + (
                f" (the idle rate, {background_per_second:.2f}/s over {u.seconds:.0f} s,"
                f" would be {background_per_second * u.seconds:.0f})"
                if background_per_second is not None
                else ""
            )
        )
    by_service: Counter[tuple[str, str]] = Counter()
    outcomes: Counter[str] = Counter()
    for (service, method, outcome), count in u.metrics.items():
        if outcome != RATE_LIMITED:
            by_service[(service, method)] += count
        outcomes[outcome] += count
    if by_service:
        print("  by service and method: " + _join(by_service, u))
        print("  by outcome: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    if u.routes:
        print("  by Fortnox route (sandbox log, services only):")
        for route, count in u.routes.most_common():
            share = f" = {count / u.orders:.2f}/order" if u.orders else ""
            print(f"    {count:6d}  {route}{share}")


def _join(counts: Counter[tuple[str, str]], u: Usage) -> str:
    parts = []
    for (service, method), count in counts.most_common():
        per = f" ({count / u.orders:.2f}/order)" if u.orders else ""
        parts.append(f"{service} {method} {count}{per}")
    return "; ".join(parts)


def summary(
    new: Usage, returning: Usage, drain: Usage, ready_s: float, poll_interval: float
) -> None:
    share = drain.per_second / ALLOWED_PER_SECOND
    writer = sum(
        n for (s, _, o), n in drain.metrics.items() if s == "erp-writer" and o != RATE_LIMITED
    )
    rows = [
        ("figure", "measured", "target", "result", "without periodic listing"),
        (
            "ERP requests per order, new customers",
            f"{new.per_order:.2f}",
            f"<= {TARGET_NEW}",
            verdict(new.per_order <= TARGET_NEW),
            f"{new.per_order_without_listing:.2f} ({new.listing} listings)",
        ),
        (
            "ERP requests per order, returning customers",
            f"{returning.per_order:.2f}",
            f"<= {TARGET_RETURNING}",
            verdict(returning.per_order <= TARGET_RETURNING),
            f"{returning.per_order_without_listing:.2f} ({returning.listing} listings)",
        ),
        (
            f"backlog of {drain.orders} drained, of {ALLOWED_PER_SECOND:.0f} requests/s",
            f"{drain.per_second:.2f}/s = {share:.0%}",
            f">= {TARGET_DRAIN_SHARE:.0%}",
            verdict(share >= TARGET_DRAIN_SHARE),
            "",
        ),
    ]
    print(f"\n=== ERP request budget (Fortnox: {LIMIT} requests per {WINDOW:.0f} s) ===")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip())
    print(
        f"backlog: {drain.orders} orders in {drain.seconds:.1f} s from starting erp-writer"
        f" (first /readyz 200 after {ready_s:.1f} s) = {drain.orders / drain.seconds:.2f}"
        f" orders/s;"
        f" {drain.requests} requests ({writer} by erp-writer, {drain.requests - writer} by the"
        f" others), {drain.answered_429} answers 429"
    )
    print(
        f"measured = all the services' ERP requests in the phase / orders. The watcher lists"
        f" changed orders every {poll_interval:g} s (fulfillment-listener's poll_interval) for"
        f" as long as a phase lasts, whatever the number of orders: that share depends on the"
        f" phase's length and the poll interval (production default 60 s), not on the orders."
    )


async def main(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:6]
    with provide_infra() as infra:
        await ensure_database(infra.database_url)
        log_dir = Path("var/bench") / run
        log_dir.mkdir(parents=True, exist_ok=True)
        print(f"infra: {infra.kind}; logs in {log_dir}", flush=True)
        async with running_stack(
            infra.amqp_url,
            infra.database_url,
            log_dir,
            fortnox_args=(
                "--access-token",
                ",".join((SERVICE_TOKEN, *PERSON_TOKENS)),
                "--rate-limit",
                str(LIMIT),
                "--rate-window-seconds",
                str(WINDOW),
            ),
            env={
                "FORTNOX_RATE_LIMIT": str(LIMIT),
                "FORTNOX_RATE_WINDOW": str(WINDOW),
                # Its own spool: intake's default (var/spool/intake) is shared by every intake
                # started from the checkout, and publishes what another one spooled.
                "INTAKE_SPOOL_DIR": str(log_dir.resolve() / "intake-spool"),
            },
            stock=True,
            fulfillment=True,
            fulfillment_extra=f"poll_interval = {args.poll_interval}\n",
        ) as stack:
            connection = await aio_pika.connect(infra.amqp_url)
            channel = await connection.channel()
            tap = await declare_tap(
                channel,
                f"bench-erp-budget-{run}",
                (
                    "order-mapper.erp-order.requested.v1",
                    "erp-writer.erp-order.created.v1",
                    "erp-writer.erp-order.updated.v1",
                    "erp-writer.erp-order.failed.v1",
                ),
            )
            announced = Announced()
            queue = await channel.get_queue(tap)
            consumer = await queue.consume(announced.on_message)
            try:
                await run_phases(stack, announced, args, run)
            finally:
                await queue.cancel(consumer)
                await channel.queue_delete(tap)
                await connection.close()


async def run_phases(
    stack: Stack, announced: Announced, args: argparse.Namespace, run: str
) -> None:
    async def first_pass() -> bool:
        return bool((await stack.get("stock-syncer", "/status"))["last_pass"])

    await wait_for(first_pass, timeout=120, interval=0.5, what="stock-syncer's first pass")
    products = await sellable_products(stack)
    bench = Bench(stack, announced, products, args.poll_interval)
    print(f"{len(products)} sellable products")

    buyers = customers(args.orders, run)
    new = await bench.whole_life(f"new customers ({args.orders})", buyers)
    # Measured once the watcher has documents to watch (before the first it does not list).
    print(f"measuring the background for {args.idle:.0f} s", flush=True)
    idle = await bench.background(args.idle)
    breakdown(idle, None)
    breakdown(new, idle.per_second)
    returning = await bench.whole_life(f"returning customers ({args.orders})", buyers)
    breakdown(returning, idle.per_second)
    backlog_buyers = list(_cycle(buyers, args.backlog))
    drain, ready_s = await bench.backlog(backlog_buyers)
    breakdown(drain, None)
    dead = await stack.dead_letters()
    if any(dead.values()):
        print(f"\ndead letters: {dead}")
    summary(new, returning, drain, ready_s, args.poll_interval)


def _cycle(items: list[Customer], count: int) -> Iterable[Customer]:
    for n in range(count):
        yield items[n % len(items)]


def _cli() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100, help="orders per customer phase")
    parser.add_argument("--backlog", type=int, default=1000, help="orders in the backlog")
    parser.add_argument(
        "--poll-interval", type=float, default=2.0, help="fulfillment-listener's poll_interval"
    )
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of background")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_cli()))
