"""Benchmark: webhook to Fortnox order, end to end through real processes.

    uv run python tests/bench/bench_order_flow.py [--orders 3000] [--rate 50] [--seconds 10]

Starts the sandbox Fortnox (rate limit lifted), intake, order-mapper and erp-writer as
processes and posts signed order webhooks straight to intake:
1. Throughput: `--orders` distinct paid orders at concurrency 32; orders per second from the
   first post until erp-writer has published erp-order.created for all of them.
2. Latency: `--rate` orders per second for `--seconds`; p50/p99 from posting the webhook to the
   erp-order.created message (published right after Fortnox answered the create).
3. Fortnox requests per order, for new customers (phase 1: every e-mail new) and for returning
   ones (a third pass by already known e-mails).
4. The raw RabbitMQ ceiling in the same run (as bench_intake.py).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

import aio_pika
import aiohttp
from bench_intake import pct, raw_ceiling

from ordreflyt_contracts import decode_event
from ordreflyt_runtime.db import ensure_database
from ordreflyt_testkit.helpers import declare_tap
from ordreflyt_testkit.infra import provide_infra
from ordreflyt_testkit.samples import swedish_woo_order, woo_body, woo_headers
from ordreflyt_testkit.stack import E2E_SECRET, Stack, running_stack


def swedish_order(order_id: int, email: str, sku_a: str, sku_b: str) -> bytes:
    """A Swedish order: 2 x 25 % and 1 x 12 % lines, taxed shipping; totals add up."""
    order = swedish_woo_order(order_id)
    order["billing"]["email"] = email
    a, b = order["line_items"]
    a.update(sku=sku_a)
    b.update(sku=sku_b)
    return woo_body(order)


class CreatedWatcher:
    """Records when erp-writer announced each shop order's ERP document."""

    def __init__(self) -> None:
        self.created_at: dict[str, float] = {}
        self.done = asyncio.Event()
        self.expect = 0

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        event = decode_event(message.body)
        self.created_at.setdefault(event.shop_order_id, time.perf_counter())
        await message.ack()
        if len(self.created_at) >= self.expect:
            self.done.set()


async def post_all(
    stack: Stack, bodies: list[tuple[int, bytes]], concurrency: int, rate: float | None
) -> dict[str, float]:
    posted: dict[str, float] = {}
    url = f"{stack.url('intake')}/webhooks/woocommerce/demo"
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)

    async def send(http: aiohttp.ClientSession, order_id: int, body: bytes) -> None:
        posted[str(order_id)] = time.perf_counter()
        async with http.post(
            url, data=body, headers=woo_headers(E2E_SECRET, body, "order.created")
        ) as r:
            assert r.status == 200, await r.text()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        if rate is None:

            async def worker() -> None:
                while not queue.empty():
                    await send(http, *queue.get_nowait())

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            start = time.perf_counter()
            tasks = []
            for n, item in enumerate(bodies):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(http, *item)))
            await asyncio.gather(*tasks)
    return posted


async def fortnox_requests(stack: Stack) -> int:
    stats = await stack.get("fortnox", "/_sandbox/stats")
    return sum(t["requests"] for t in stats["tokens"].values())


async def main(args: argparse.Namespace) -> None:
    with provide_infra() as infra:
        await ensure_database(infra.database_url)
        print(f"infra: {infra.kind}; raw RabbitMQ ceiling (10 s, concurrency 32)...")
        ceiling = await raw_ceiling(infra.amqp_url, 10, 32)
        print(f"  raw ceiling: {ceiling:,.0f} msg/s")
        log_dir = Path("var/bench") / uuid.uuid4().hex[:6]
        log_dir.mkdir(parents=True, exist_ok=True)
        async with running_stack(
            infra.amqp_url,
            infra.database_url,
            log_dir,
            fortnox_args=("--rate-limit", "off"),
            env={"FORTNOX_RATE_LIMIT": "off", "PREFETCH": "128", "DB_POOL_SIZE": "25"},
        ) as stack:
            articles = [a["ArticleNumber"] for a in (await stack.fortnox_state())["articles"]]
            sku_a, sku_b = articles[0], articles[1]
            connection = await aio_pika.connect(infra.amqp_url)
            channel = await connection.channel()
            tap = await declare_tap(
                channel,
                f"bench-created-{uuid.uuid4().hex[:6]}",
                ("erp-writer.erp-order.created.v1",),
            )
            watcher = CreatedWatcher()
            queue = await channel.get_queue(tap)
            await queue.consume(watcher.on_message)

            # 1. Throughput, every customer new.
            n = args.orders
            bodies = [
                (1_000_000 + i, swedish_order(1_000_000 + i, f"new{i}@example.se", sku_a, sku_b))
                for i in range(n)
            ]
            watcher.expect = n
            before = await fortnox_requests(stack)
            start = time.perf_counter()
            await post_all(stack, bodies, 32, None)
            posted_s = time.perf_counter() - start
            await asyncio.wait_for(watcher.done.wait(), timeout=600)
            elapsed = time.perf_counter() - start
            new_requests = await fortnox_requests(stack) - before
            print(
                f"throughput: {n} orders in {elapsed:.1f} s = {n / elapsed:,.0f} orders/s end to end "
                f"(webhooks posted in {posted_s:.1f} s = {n / posted_s:,.0f}/s); target >= 300"
            )
            print(f"  Fortnox requests per order, new customers: {new_requests / n:.2f}")

            # 1b. Throughput again, every customer returning (the e-mails of phase 1).
            bodies = [
                (3_000_000 + i, swedish_order(3_000_000 + i, f"new{i}@example.se", sku_a, sku_b))
                for i in range(n)
            ]
            watcher.done.clear()
            watcher.expect = 2 * n
            start = time.perf_counter()
            await post_all(stack, bodies, 32, None)
            await asyncio.wait_for(watcher.done.wait(), timeout=600)
            elapsed_returning = time.perf_counter() - start
            print(
                f"throughput, returning customers: {n / elapsed_returning:,.0f} orders/s end to end"
            )

            # 2. Latency at a fixed rate, returning customers (the e-mails of phase 1).
            m = int(args.rate * args.seconds)
            bodies = [
                (2_000_000 + i, swedish_order(2_000_000 + i, f"new{i}@example.se", sku_a, sku_b))
                for i in range(m)
            ]
            watcher.done.clear()
            watcher.expect = 2 * n + m
            before = await fortnox_requests(stack)
            posted = await post_all(stack, bodies, 64, args.rate)
            await asyncio.wait_for(watcher.done.wait(), timeout=600)
            returning = await fortnox_requests(stack) - before
            latencies = [watcher.created_at[k] - t for k, t in posted.items()]
            print(
                f"latency at {args.rate:.0f} orders/s for {args.seconds:.0f} s: p50 {pct(latencies, 0.5) * 1000:.0f} ms, "
                f"p99 {pct(latencies, 0.99) * 1000:.0f} ms (target p99 < 250 ms)"
            )
            print(
                f"  Fortnox requests per order, returning customers: {returning / m:.2f} (target <= 1.2)"
            )
            print(
                f"  ratio of end-to-end throughput to the raw ceiling: {n / elapsed / ceiling:.0%}"
            )
            await channel.queue_delete(tap)
            await connection.close()


def _cli() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(_cli()))
