"""Benchmark: stock sync of about 10,000 SKUs of which 1 % changed.

    uv run python tests/bench/bench_stock_sync.py [--products 7143] [--changed 100]

Starts the sandbox shop and Fortnox with the same catalogue (7143 products = 10,002 SKUs,
5,000 of them simple products with managed stock; the rest variations of 1,429 variable
products, tickets and gift cards), erp-writer's companions and stock-syncer as processes, with
Fortnox's real rate limit (25 requests per 5 s). Then:
1. Cold pass: the first pass after start (reads both catalogues in full, pushes every stock
   the shop has wrong).
2. Idle pass: nothing changed (first while the emulator's register is brand new, so it is
   read again in full; then once its LastModified is older than the `lastmodified` window).
3. 1 % changed, simple products: `--changed` stock balances of simple products changed in
   Fortnox; expect exactly ceil(changed / 100) batch calls.
4. 1 % changed, any SKUs: the same number drawn from every stock SKU; variations go to their
   parent's variations/batch, so expect ceil(simple / 100) + one call per parent touched.
5. Full reconcile (`POST /sync?full=true`) with 1 % changed: both catalogues read in full.
For each: wall time of the pass, the time spent waiting on the emulators (Fortnox requests,
rate limit included, and shop calls), the pass's own time (wall minus that), and the shop
calls (counted by the sandbox shop itself) and batch calls made.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from ordreflyt_runtime.db import ensure_database
from ordreflyt_sandbox_kit.catalogue import nordic_catalogue
from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.infra import provide_infra
from ordreflyt_testkit.stack import Stack, running_stack

BATCH = "/batch"


async def delete(stack: Stack, name: str, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.delete(stack.url(name) + path) as r:
        assert r.status == 200, await r.text()


async def change_stock(stack: Stack, skus: list[str], round_no: int) -> None:
    async with aiohttp.ClientSession() as http:

        async def one(n: int, sku: str) -> None:
            body = {
                "ArticleNumber": sku,
                "StockPointCode": "HUVUD",
                "InStock": 5000 + round_no * 1000 + n,
            }
            async with http.post(stack.url("fortnox") + "/_sandbox/stock", json=body) as r:
                assert r.status == 200, await r.text()

        await asyncio.gather(*(one(n, sku) for n, sku in enumerate(skus)))


async def measured(stack: Stack, label: str, path: str = "/sync") -> dict[str, Any]:
    await delete(stack, "woo", "/_sandbox/requests")
    status, summary = await stack.post("stock-syncer", path)
    assert status == 200, summary
    shop_log = await stack.get("woo", "/_sandbox/requests")
    return row(label, summary, shop_log)


def row(label: str, summary: dict[str, Any], shop_log: dict[str, Any] | None) -> dict[str, Any]:
    shop = summary["shops"]["demo"]
    erp = summary["erp"]
    wall = summary["duration_seconds"]
    waiting = erp["seconds"] + shop["seconds_in_shop_calls"]
    batch_calls = (
        sum(n for route, n in shop_log["by_route"].items() if route.endswith(BATCH))
        if shop_log is not None
        else shop["batch_calls"]
    )
    return {
        "pass": label,
        "wall_s": wall,
        "emulators_s": round(waiting, 3),
        "own_s": round(wall - waiting, 3),
        "erp_requests": erp["requests"],
        "shop_calls": shop_log["total"] if shop_log is not None else shop["shop_calls"],
        "batch_calls": batch_calls,
        "pushed": shop["pushed"],
        "skus": shop["catalogue"]["skus"],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns))


async def main(products: int, changed: int) -> None:
    catalogue = nordic_catalogue(products)
    simple = [p.sku for p in catalogue.products if not p.variable and p.manage_stock]
    parent_of = {v.sku: p.sku for p in catalogue.products for v in p.variations}
    stock_skus = simple + list(parent_of)
    print(
        f"catalogue: {products} products, {len(catalogue.sellable())} SKUs "
        f"({len(simple)} simple with stock, {len(parent_of)} variations)"
    )
    rng = random.Random(7)
    with provide_infra() as infra, tempfile.TemporaryDirectory() as tmp:
        await ensure_database(infra.database_url)
        async with running_stack(
            infra.amqp_url,
            infra.database_url,
            Path(tmp),
            fortnox_args=("--products", str(products)),
            woo_args=("--products", str(products)),
            stock=True,
            stock_extra="interval = 3600",
        ) as stack:
            rows: list[dict[str, Any]] = []

            async def started() -> dict[str, Any] | None:
                last = (await stack.get("stock-syncer", "/status"))["last_pass"]
                return dict(last) if last else None

            cold = await wait_for(started, timeout=300, interval=0.5, what="the pass at start")
            rows.append(row("cold (at start)", cold, None))
            rows.append(await measured(stack, "idle, register new"))
            # Every seeded article was modified at the emulator's start, so until that minute
            # is older than the `lastmodified` window each pass reads the whole register
            # again; a real register is not all new. Wait for the steady state.
            print("waiting (up to 150 s) until the seeded article register is not new any more")
            for _ in range(30):
                await asyncio.sleep(5)
                _, probe = await stack.post("stock-syncer", "/sync")
                if probe["erp"]["requests"] <= 3:
                    break
            rows.append(await measured(stack, "idle"))

            picked = rng.sample(simple, changed)
            await change_stock(stack, picked, 1)
            result = await measured(stack, f"{changed} simple changed")
            rows.append(result)

            drawn = rng.sample(stock_skus, changed)
            await change_stock(stack, drawn, 2)
            parents = Counter(parent_of[s] for s in drawn if s in parent_of)
            n_simple = sum(1 for s in drawn if s not in parent_of)
            expected_any = math.ceil(n_simple / 100) + sum(
                math.ceil(n / 100) for n in parents.values()
            )
            any_result = await measured(stack, f"{changed} any changed")
            rows.append(any_result)

            await change_stock(stack, rng.sample(simple, changed), 3)
            rows.append(await measured(stack, f"{changed} simple, full", "/sync?full=true"))

        print()
        print_table(rows)
        print(
            f"\nbatch calls, {changed} simple products changed: {result['batch_calls']}"
            f" (ceil({changed} / 100) = {math.ceil(changed / 100)})"
        )
        print(
            f"batch calls, {changed} SKUs of any kind changed: {any_result['batch_calls']}"
            f" ({n_simple} simple -> {math.ceil(n_simple / 100)}; {changed - n_simple}"
            f" variations of {len(parents)} parents -> one call per parent; expected {expected_any})"
        )
        print("own_s = wall_s - emulators_s: the pass without Fortnox's and the shop's latency")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=7143)
    parser.add_argument("--changed", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.products, args.changed))
