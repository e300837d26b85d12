"""Benchmark: signed webhooks into intake (a real process) against the raw RabbitMQ ceiling.

    uv run python tests/bench/bench_intake.py [--seconds 20] [--concurrency 32] [--rate 200]

1. Raw ceiling: persistent messages published with confirms to a quorum queue by
   `concurrency` publishers (each waits for its confirm), consumed with acks, for `seconds`.
2. Intake at full speed: `concurrency` clients post signed order webhooks (distinct orders)
   for `seconds`: accepted deliveries per second, p50/p99 answer time.
3. Intake at a fixed `rate` webhooks/s for 10 s: p50/p99 answer time.
Uses its own RabbitMQ vhost and database (removed afterwards). Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import aiohttp

from ordreflyt_testkit.infra import provide_infra
from ordreflyt_testkit.processes import ServiceProcess, free_port
from ordreflyt_testkit.samples import WEBHOOK_SECRET, woo_body, woo_headers, woo_order


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def raw_ceiling(amqp_url: str, seconds: float, concurrency: int) -> float:
    connection = await aio_pika.connect(amqp_url)
    pub = await connection.channel(publisher_confirms=True)
    sub = await connection.channel()
    await sub.set_qos(prefetch_count=256)
    name = f"bench-raw-{uuid.uuid4().hex[:6]}"
    queue = await sub.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    consumed = 0
    publishing_done = False
    all_consumed = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal consumed
        await message.ack()
        consumed += 1
        if publishing_done and consumed >= published:
            all_consumed.set()

    tag = await queue.consume(on_message)
    body = woo_body(woo_order(1))
    deadline = time.perf_counter() + seconds
    published = 0

    async def publisher() -> None:
        nonlocal published
        while time.perf_counter() < deadline:
            await pub.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=name,
            )
            published += 1

    start = time.perf_counter()
    await asyncio.gather(*(publisher() for _ in range(concurrency)))
    publishing_done = True
    if consumed < published:
        await asyncio.wait_for(all_consumed.wait(), timeout=60)
    elapsed = time.perf_counter() - start
    await queue.cancel(tag)
    await sub.queue_delete(name)
    await connection.close()
    return consumed / elapsed


async def post_webhooks(
    url: str, seconds: float, concurrency: int, rate: float | None, first_id: int
) -> tuple[int, int, list[float], float]:
    """Post distinct signed orders; returns (accepted, rejected, latencies in s, elapsed)."""
    latencies: list[float] = []
    accepted = rejected = 0
    next_id = first_id
    # Bodies are signed before the clock starts so the client's work is not measured.
    bodies = []
    for i in range(int((rate or 3000) * seconds) + 1000):
        body = woo_body(woo_order(first_id + i))
        bodies.append((body, woo_headers(WEBHOOK_SECRET, body, "order.created")))
    start = time.perf_counter()
    deadline = start + seconds

    async def one(http: aiohttp.ClientSession) -> None:
        nonlocal accepted, rejected, next_id
        i = next_id - first_id
        next_id += 1
        body, headers = bodies[i % len(bodies)]
        t0 = time.perf_counter()
        async with http.post(url, data=body, headers=headers) as r:
            await r.read()
            ok = r.status == 200
        latencies.append(time.perf_counter() - t0)
        if ok:
            accepted += 1
        else:
            rejected += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        if rate is None:

            async def worker() -> None:
                while time.perf_counter() < deadline:
                    await one(http)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            tasks: list[asyncio.Task[None]] = []
            n = 0
            while (now := time.perf_counter()) < deadline:
                due = start + n / rate
                if due > now:
                    await asyncio.sleep(due - now)
                tasks.append(asyncio.create_task(one(http)))
                n += 1
            await asyncio.gather(*tasks)
    return accepted, rejected, latencies, time.perf_counter() - start


async def main(args: argparse.Namespace) -> None:
    with provide_infra() as infra, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "ordreflyt.toml"
        config.write_text(f'[shops.demo]\nwebhook_secret = "{WEBHOOK_SECRET}"\n')
        print(
            f"infra: {infra.kind}; raw RabbitMQ ceiling for {args.seconds}s at concurrency {args.concurrency}..."
        )
        ceiling = await raw_ceiling(infra.amqp_url, args.seconds, args.concurrency)
        print(f"  raw ceiling: {ceiling:,.0f} msg/s (persistent, confirmed, quorum queue, acked)")

        intake = ServiceProcess(
            "ordreflyt-intake",
            {
                "AMQP_URL": infra.amqp_url,
                "DATABASE_URL": infra.database_url,
                "HTTP_PORT": str(free_port()),
                "ORDREFLYT_CONFIG": str(config),
                "INTAKE_SPOOL_DIR": str(Path(tmp) / "spool"),
            },
            Path(tmp),
        )
        intake.start()
        try:
            await intake.wait_ready()
            url = f"{intake.url}/webhooks/woocommerce/demo"
            await post_webhooks(url, 2, 8, None, 10_000_000)  # warm-up
            acc, rej, lat, elapsed = await post_webhooks(
                url, args.seconds, args.concurrency, None, 20_000_000
            )
            throughput = acc / elapsed
            print(
                f"intake, concurrency {args.concurrency}, {args.seconds}s: {acc} accepted, {rej} rejected"
            )
            print(f"  accepted deliveries/s: {throughput:,.0f}")
            print(
                f"  answer time p50 {pct(lat, 0.5) * 1000:.1f} ms, p99 {pct(lat, 0.99) * 1000:.1f} ms"
            )
            print(f"  ratio to raw ceiling: {throughput / ceiling:.0%} (target >= 40%)")
            await asyncio.sleep(3)  # let the relay drain
            acc2, rej2, lat2, elapsed2 = await post_webhooks(url, 10, 64, args.rate, 40_000_000)
            print(
                f"intake at {args.rate:.0f} webhooks/s for 10 s: {acc2} accepted ({acc2 / elapsed2:,.0f}/s), {rej2} rejected"
            )
            print(
                f"  answer time p50 {pct(lat2, 0.5) * 1000:.1f} ms, p99 {pct(lat2, 0.99) * 1000:.1f} ms "
                f"(target p99 < 50 ms); mean {statistics.fmean(lat2) * 1000:.1f} ms"
            )
        finally:
            print(f"intake exit code on SIGTERM: {intake.terminate()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0)
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
