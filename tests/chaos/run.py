"""Chaos run: the whole pipeline under the faults an operator meets, then a count of what became
of every paid shop order. Not part of the test run; a few minutes:

    uv run python tests/chaos/run.py                  # 600 orders at 10/s, every fault below
    uv run python tests/chaos/run.py --orders 200 --rate 5 --settle 300

It starts a RabbitMQ node and a PostgreSQL server of its own (other ports, data under /tmp:
the machine's own are not touched), the sandbox shop and Fortnox, and all five services. The
sandbox shop's generator places Swedish orders under WooCommerce's real webhook rules (no
retries; a webhook disabled after five failed deliveries in a row). Meanwhile, on a schedule
(`--schedule` prints it): every service is SIGKILLed and restarted (intake twice, staying down
long enough to get its webhooks disabled), the broker and PostgreSQL are stopped and started,
Fortnox answers 503, 429 and slowly and loses answers to creates it stored, and the shop's REST
API is unreachable for a while. Then the run waits for the pipeline to settle and checks, per
shop order paid at the end: lost (no service knows it), in the ERP once, duplicated ERP
documents, held, parked, stuck (known, but neither in the ERP nor held nor parked); and
duplicated ERP customers, messages in the DLQs. Exit 0 when nothing is lost, duplicated or
stuck. The figures go to stdout and to var/chaos/<time>/report.json, the logs beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from ordreflyt_testkit.pgcluster import TempPostgres, temp_postgres
from ordreflyt_testkit.rmqnode import TempRabbit, temp_rabbitmq
from ordreflyt_testkit.stack import Stack, running_stack

ROOT = Path(__file__).resolve().parents[2]
PAID = ("processing", "completed")


@dataclass
class Fault:
    at: float  # seconds after the orders start
    what: str
    act: Callable[[], Awaitable[None]]


def schedule(stack: Stack, pg: TempPostgres, rabbit: TempRabbit) -> list[Fault]:
    async def down(name: str, seconds: float) -> None:
        stack.processes[name].kill()
        await asyncio.sleep(seconds)
        await stack.restart(name, kill=False)

    async def fortnox(rule: dict[str, Any]) -> None:
        await stack.post("fortnox", "/_sandbox/faults", rule)

    async def shop(rule: dict[str, Any]) -> None:
        await stack.post("woo", "/_sandbox/faults", rule)

    async def broker(seconds: float) -> None:
        await asyncio.to_thread(rabbit.stop_app)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(rabbit.start_app)

    async def database(seconds: float) -> None:
        await asyncio.to_thread(pg.stop)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(pg.start)

    return [
        Fault(4, "intake SIGKILLed, down 3 s (its webhooks get disabled)", lambda: down("intake", 3)),
        Fault(8, "Fortnox 503 for 8 s", lambda: fortnox({"status": 503, "seconds": 8, "path_prefix": "/3/"})),
        Fault(12, "order-mapper SIGKILLed", lambda: down("order-mapper", 0.5)),
        Fault(16, "RabbitMQ stopped 12 s", lambda: broker(12)),
        Fault(
            30,
            "Fortnox stores 3 orders but answers 503; 2 customers stored, answer lost",
            lambda: _both(
                fortnox({"status": 503, "after": True, "count": 3, "path_prefix": "/3/orders", "methods": ["POST"]}),
                fortnox({"timeout": True, "after": True, "count": 2, "path_prefix": "/3/customers", "methods": ["POST"]}),
            ),
        ),
        Fault(33, "erp-writer SIGKILLed", lambda: down("erp-writer-0", 0.5)),
        Fault(36, "PostgreSQL stopped 10 s", lambda: database(10)),
        Fault(48, "shop REST API unreachable 20 s", lambda: shop({"status": 503, "seconds": 20, "path_prefix": "/wp-json/"})),
        Fault(50, "fulfillment-listener SIGKILLed", lambda: down("fulfillment-listener", 1)),
        Fault(52, "stock-syncer SIGKILLed", lambda: down("stock-syncer", 1)),
        Fault(54, "Fortnox 429 for 5 s, then 2 s latency for 10 s", lambda: _both(
            fortnox({"status": 429, "seconds": 5, "path_prefix": "/3/"}),
            fortnox({"latency_ms": 2000, "seconds": 15, "path_prefix": "/3/"}),
        )),
        Fault(58, "intake SIGKILLed, down 2 s", lambda: down("intake", 2)),
        Fault(62, "erp-writer and order-mapper SIGKILLed together", lambda: _both(
            down("erp-writer-0", 0.5), down("order-mapper", 0.5)
        )),
    ]  # fmt: skip


async def _both(*steps: Awaitable[None]) -> None:
    await asyncio.gather(*steps)


async def run_faults(faults: list[Fault], started: float, log: list[str]) -> None:
    for fault in faults:
        await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
        line = f"t={time.monotonic() - started:5.1f}s  {fault.what}"
        print(line, flush=True)
        log.append(line)
        try:
            await fault.act()
        except Exception as exc:  # a fault that could not be caused is reported, not fatal
            log.append(f"    (failed: {exc!r})")
            print(f"    (failed: {exc!r})", flush=True)


async def generate(stack: Stack, orders: int, rate: float) -> None:
    """The shop's own generator at `rate` until `orders` orders exist."""
    await stack.post("woo", "/_sandbox/generator", {"orders_per_second": rate, "countries": ["SE"]})
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            state = await stack.get("woo", "/_sandbox/state")
            if state["counts"]["orders"] >= orders:
                break
        await asyncio.sleep(1.0)
    await stack.post("woo", "/_sandbox/generator", {"orders_per_second": 0})


async def survey(stack: Stack) -> dict[str, Any]:
    """What became of every shop order paid at the end."""
    shop = await stack.get("woo", "/_sandbox/state")
    fortnox = await stack.fortnox_state()
    holds = {h["order_id"] for h in (await stack.get("order-mapper", "/holds"))["holds"]}
    parked = {p["order_id"] for p in (await stack.get("erp-writer-0", "/parked"))["parked"]}
    documents = Counter(o.get("ExternalInvoiceReference1") for o in fortnox["orders"])
    paid = [o for o in shop["orders"] if o["status"] in PAID]
    verdicts: dict[str, list[int]] = {
        k: [] for k in ("in the ERP once", "duplicated", "held", "parked", "stuck", "lost")
    }
    for order in paid:
        count = documents.get(f"demo-{order['id']}", 0)
        if count == 1:
            verdicts["in the ERP once"].append(order["id"])
        elif count > 1:
            verdicts["duplicated"].append(order["id"])
        elif str(order["id"]) in holds:
            verdicts["held"].append(order["id"])
        elif str(order["id"]) in parked:
            verdicts["parked"].append(order["id"])
        else:
            known = await stack.get("order-mapper", f"/orders/demo/{order['id']}")
            verdicts["stuck" if "error" not in known else "lost"].append(order["id"])
    emails = Counter(c.get("Email", "").lower() for c in fortnox["customers"] if c.get("Email"))
    return {
        "shop_orders": len(shop["orders"]),
        "paid_shop_orders": len(paid),
        "statuses": dict(Counter(o["status"] for o in shop["orders"])),
        "verdicts": {k: len(v) for k, v in verdicts.items()},
        "examples": {k: v[:10] for k, v in verdicts.items() if v and k != "in the ERP once"},
        "duplicated_customers": sorted(e for e, n in emails.items() if n > 1),
        "fortnox_documents": len(fortnox["orders"]),
        "fortnox_customers": len(fortnox["customers"]),
    }


async def settle(stack: Stack, seconds: float) -> dict[str, Any]:
    """Until every paid order is accounted for (or `seconds` pass): reconciliation is asked
    to run meanwhile, as its schedule would."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            await stack.post("intake", "/shops/demo/reconcile")
        report = await survey(stack)
        pending = report["verdicts"]["stuck"] + report["verdicts"]["lost"]
        if pending == 0 or time.monotonic() > deadline:
            return report
        print(f"settling: {pending} paid orders not accounted for yet", flush=True)
        await asyncio.sleep(10.0)


async def health(stack: Stack, out: Path) -> dict[str, Any]:
    """Queue depths now, and (from every process's log, restarts included) what the faults
    made the pipeline do."""
    found: dict[str, Any] = {}
    metrics = await stack.text("intake", "/metrics")
    for line in metrics.splitlines():
        if line.startswith(("ordreflyt_dlq_depth", "ordreflyt_unrouted_depth")):
            key, value = line.rsplit(" ", 1)
            found[key] = float(value)
    found["dead letters"] = await stack.dead_letters()

    def lines(pattern: str, text: str) -> int:
        return sum(
            line.count(text) for path in out.glob(pattern) for line in path.read_text().splitlines()
        )

    found["webhooks disabled by the shop"] = lines("woo*.log", "disabled after 5 failures")
    found["webhooks re-enabled by intake"] = lines("intake*.log", "; repaired")
    found["deliveries spooled while PostgreSQL was away"] = lines(
        "intake*.log", '"msg":"webhook accepted: spooled"'
    )
    found["reconciliation passes that found missed states"] = lines(
        "intake*.log", "that no webhook brought"
    )
    found["ERP creates answered ambiguously (looked up, not repeated)"] = lines(
        "erp-writer*.log", "not repeated: it may have reached Fortnox"
    )
    found["messages that waited for a dependency"] = lines("*.log", "waiting (")
    return found


async def main(args: argparse.Namespace) -> int:
    out = ROOT / "var" / "chaos" / time.strftime("%Y%m%dT%H%M%S")
    out.mkdir(parents=True)
    print(f"chaos run: logs and report in {out}", flush=True)
    env = {
        "RETRY_DELAYS_MS": "500,1000,2000,5000",
        "FORTNOX_TIMEOUT": "5",
        "FORTNOX_RATE_LIMIT": args.fortnox_limit,
    }
    with temp_postgres() as pg, temp_rabbitmq() as rabbit:
        async with running_stack(
            rabbit.amqp_url,
            pg.database_url("postgres"),
            out,
            env=env,
            intake_extra="reconcile_interval = 30\nwatchdog_interval = 10",
            stock=True,
            fulfillment=True,
            fulfillment_extra="poll_interval = 10",
            woo_args=("--countries", "SE"),
        ) as stack:
            faults = schedule(stack, pg, rabbit)
            log: list[str] = []
            started = time.monotonic()
            await asyncio.gather(
                generate(stack, args.orders, args.rate), run_faults(faults, started, log)
            )
            print(
                f"orders placed and faults done after {time.monotonic() - started:.0f} s",
                flush=True,
            )
            report = await settle(stack, args.settle)
            report["took_seconds"] = round(time.monotonic() - started)
            report["faults"] = log
            report["health"] = await health(stack, out)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "faults"}, indent=2))
    bad = report["verdicts"]
    ok = bad["lost"] == 0 and bad["duplicated"] == 0 and bad["stuck"] == 0
    ok = ok and not report["duplicated_customers"]
    print("RESULT:", "nothing lost, duplicated or stuck" if ok else "FAILED", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=600, help="shop orders to place")
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second")
    parser.add_argument("--settle", type=float, default=420.0, help="seconds to wait at the end")
    parser.add_argument(
        "--fortnox-limit", default="off", help="FORTNOX_RATE_LIMIT for the run (25, or off)"
    )
    parser.add_argument("--schedule", action="store_true", help="print the faults and exit")
    parsed = parser.parse_args()
    if parsed.schedule:
        print(__doc__)
        sys.exit(0)
    sys.exit(asyncio.run(main(parsed)))
