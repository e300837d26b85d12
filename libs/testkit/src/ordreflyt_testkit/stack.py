"""The whole pipeline as real processes for end-to-end tests and benchmarks: the sandbox shop
and Fortnox, intake, order-mapper and erp-writer (and stock-syncer with `stock=True`, its
`[stock]` table from `stock_extra`; fulfillment-listener with `fulfillment=True`, its
`[fulfillment]` table from `fulfillment_extra`), on free ports, each stack with its own
database, sharing the test broker (its queues are removed when the stack stops). The shop is
`demo`; `extra_shops` adds more, each a sandbox shop of its own."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp

from ordreflyt_runtime.topology import ConsumerQueue
from ordreflyt_testkit.helpers import wait_for
from ordreflyt_testkit.infra import drop_database
from ordreflyt_testkit.processes import ServiceProcess, free_ports
from ordreflyt_testkit.service_harness import AUTH_HEADERS, TEST_OPERATOR_TOKEN

E2E_SECRET = "e2e-webhook-secret"

DEFAULT_CONFIG = """
[shops.demo]
url = "{woo_url}/"
webhook_secret = "{secret}"
webhook_url = "{intake_url}/webhooks/woocommerce/demo"
{shop_extra}
{extra_shops}
[intake]
{intake_extra}

[order_mapper]
vat_rates = ["25", "12", "6", "0"]
shipping = "article"
shipping_article = ""
rounding_article = ""
{order_mapper_extra}

[erp_writer]
{erp_writer_extra}
"""


@dataclass(frozen=True)
class ExtraShop:
    """Another sandbox shop in the stack: its own WooCommerce process (port key
    `woo-<shop_id>`), sending its webhooks to intake as shop `shop_id`."""

    shop_id: str
    config: str = ""  # more of its `[shops.<id>]` table, e.g. 'locale = "nb"'
    woo_args: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"woo-{self.shop_id}"


@dataclass
class Stack:
    amqp_url: str
    database_url: str
    log_dir: Path
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    async def get(self, name: str, path: str) -> Any:
        async with (
            aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
            http.get(self.url(name) + path) as r,
        ):
            return await r.json()

    async def found(self, name: str, path: str) -> Any:
        """The JSON answer of a GET, or None while it is not 200 (not there yet)."""
        async with (
            aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
            http.get(self.url(name) + path) as r,
        ):
            return await r.json() if r.status == 200 else None

    async def text(self, name: str, path: str) -> str:
        async with (
            aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
            http.get(self.url(name) + path) as r,
        ):
            return await r.text()

    async def post(self, name: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(headers=AUTH_HEADERS) as http,
            http.post(self.url(name) + path, json=body) as r,
        ):
            return r.status, await r.json(content_type=None)

    async def restart(self, name: str, kill: bool = True) -> ServiceProcess:
        """Stop a service (SIGKILL, or SIGTERM) and start it again on the same port."""
        old = self.processes[name]
        if kill:
            old.kill()
        else:
            old.terminate()
        again = ServiceProcess(old.argv, old.env, self.log_dir, name=f"{name}-again")
        again.service = old.service
        self.processes[name] = again
        again.start()
        await again.wait_ready("/readyz" if again.service else "/_sandbox/state", timeout=60)
        return again

    async def dead_letters(self) -> dict[str, int]:
        """Messages in each running consuming service's DLQ."""
        counts = {}
        for name, proc in self.processes.items():
            if proc.service in CONSUMING_SERVICES:
                counts[name] = (await self.get(name, "/dlq"))["count"]
        return counts

    async def fortnox_state(self) -> Any:
        return await self.get("fortnox", "/_sandbox/state")

    async def place_order(self, **pins: Any) -> dict[str, Any]:
        """A new order in the sandbox shop (paid, Swedish unless pinned otherwise)."""
        status, order = await self.post(
            "woo", "/_sandbox/orders", {"country": "SE", "status": "processing", **pins}
        )
        assert status == 201, order
        return dict(order)

    async def all_in_fortnox_once(self, order_ids: list[int], timeout: float = 90) -> None:
        """Every order arrives in Fortnox, and (a moment later) none of them twice."""

        async def arrived() -> bool:
            found = await asyncio.gather(*(self.fortnox_orders_for(i) for i in order_ids))
            return all(found)

        await wait_for(arrived, timeout=timeout, interval=0.5, what=f"{len(order_ids)} orders")
        await asyncio.sleep(2.0)
        counts = {i: len(await self.fortnox_orders_for(i)) for i in order_ids}
        assert set(counts.values()) == {1}, {i: n for i, n in counts.items() if n != 1}

    async def fortnox_orders_for(self, shop_order_id: int | str) -> list[dict[str, Any]]:
        state = await self.fortnox_state()
        ref = f"demo-{shop_order_id}"
        return [o for o in state["orders"] if o.get("ExternalInvoiceReference1") == ref]


async def _start(proc: ServiceProcess, ready_path: str, stack: Stack | None = None) -> None:
    """Start and wait until ready. A service whose port was taken by another program between
    choosing and binding it (a rare race) is started once more on a new port."""
    proc.start()
    try:
        await proc.wait_ready(ready_path, timeout=60)
    except RuntimeError:
        if stack is None or "address already in use" not in proc.tail():
            raise
        proc.port = free_ports(1)[0]
        proc.env["HTTP_PORT"] = str(proc.port)
        stack.ports[proc.name] = proc.port
        proc.start()
        await proc.wait_ready(ready_path, timeout=60)


@contextlib.asynccontextmanager
async def running_stack(
    amqp_url: str,
    base_database_url: str,
    log_dir: Path,
    *,
    erp_writers: int = 1,
    fortnox_args: tuple[str, ...] = (),
    woo_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    order_mapper_extra: str = "",
    erp_writer_extra: str = "",
    intake_extra: str = "",
    stock: bool = False,
    stock_extra: str = "",
    fulfillment: bool = False,
    fulfillment_extra: str = "",
    shop_extra: str = "",
    extra_shops: tuple[ExtraShop, ...] = (),
) -> AsyncIterator[Stack]:
    """`fulfillment=True` also starts fulfillment-listener (port key "fulfillment-listener"),
    its `[fulfillment]` table from `fulfillment_extra`. `shop_extra` adds to the `demo` shop's
    table; `extra_shops` are started beside it."""
    name = f"ordreflyt_e2e_{uuid.uuid4().hex[:8]}"
    database_url = base_database_url.rsplit("/", 1)[0] + "/" + name
    stack = Stack(amqp_url=amqp_url, database_url=database_url, log_dir=log_dir)
    keys = (
        "woo",
        "fortnox",
        "intake",
        "order-mapper",
        *(f"erp-writer-{i}" for i in range(erp_writers)),
        *(("stock-syncer",) if stock else ()),
        *(("fulfillment-listener",) if fulfillment else ()),
        *(shop.key for shop in extra_shops),
    )
    stack.ports.update(zip(keys, free_ports(len(keys)), strict=True))
    config = log_dir / "ordreflyt.toml"
    config.write_text(
        DEFAULT_CONFIG.format(
            woo_url=stack.url("woo"),
            intake_url=stack.url("intake"),
            intake_extra=intake_extra,
            secret=E2E_SECRET,
            order_mapper_extra=order_mapper_extra,
            erp_writer_extra=erp_writer_extra,
            shop_extra=shop_extra,
            extra_shops="".join(
                f'\n[shops.{shop.shop_id}]\nurl = "{stack.url(shop.key)}/"\n'
                f'webhook_secret = "{E2E_SECRET}"\n{shop.config}\n'
                for shop in extra_shops
            ),
        )
        + (f"\n[stock]\n{stock_extra}\n" if stock else "")
        + (f"\n[fulfillment]\n{fulfillment_extra}\n" if fulfillment else "")
    )
    common = {
        "AMQP_URL": amqp_url,
        "DATABASE_URL": database_url,
        "ORDREFLYT_CONFIG": str(config),
        "FORTNOX_API_URL": stack.url("fortnox"),
        "OPERATOR_TOKEN": TEST_OPERATOR_TOKEN,
        "PYTHONUNBUFFERED": "1",
        # The stack's own spool: an intake of another stack must never store its deliveries.
        "INTAKE_SPOOL_DIR": str(log_dir / "intake-spool"),
        # A shorter ladder than production's (1, 5, 30, 120 s): a test waits on what a
        # database or broker outage makes wait, not on minutes of back-off.
        "RETRY_DELAYS_MS": "500,2000,5000,10000",
        **(env or {}),
    }

    def proc(
        key: str, script: str | list[str], extra: dict[str, str] | None = None
    ) -> ServiceProcess:
        p = ServiceProcess(
            script,
            {**common, "HTTP_PORT": str(stack.ports[key]), **(extra or {})},
            log_dir,
            name=key,
        )
        stack.processes[key] = p
        return p

    await _remove_queues(amqp_url)
    try:
        fortnox = proc("fortnox", "ordreflyt-sandbox-fortnox")
        fortnox.argv += ["--port", str(stack.ports["fortnox"]), *fortnox_args]
        await _start(fortnox, "/_sandbox/stats")
        await _start(proc("intake", "ordreflyt-intake"), "/readyz", stack)
        await _start(proc("order-mapper", "ordreflyt-order-mapper"), "/readyz", stack)
        for i in range(erp_writers):
            await _start(proc(f"erp-writer-{i}", "ordreflyt-erp-writer"), "/readyz", stack)
        if fulfillment:
            await _start(
                proc("fulfillment-listener", "ordreflyt-fulfillment-listener"), "/readyz", stack
            )
        for key, shop_id, args in (
            ("woo", "demo", woo_args),
            *((shop.key, shop.shop_id, shop.woo_args) for shop in extra_shops),
        ):
            woo = proc(key, "ordreflyt-sandbox-woocommerce")
            woo.argv += [
                "--port",
                str(stack.ports[key]),
                "--shop-url",
                stack.url(key) + "/",
                "--webhook-url",
                stack.url("intake") + f"/webhooks/woocommerce/{shop_id}",
                "--webhook-secret",
                E2E_SECRET,
                *args,
            ]
            await _start(woo, "/_sandbox/state")
        if stock:
            # After the shop: its first pass reads the shop.
            await _start(proc("stock-syncer", "ordreflyt-stock-syncer"), "/readyz", stack)
        yield stack
    finally:
        for p in stack.processes.values():
            p.stop_quietly()
        await _remove_queues(amqp_url)
        await drop_database(database_url)


# Every consuming service of the product. A stack removes all their queues when it starts and
# when it stops: other tests (in-process services) may have left queues bound that collect
# this stack's messages, or leave messages a later stack's services would take for their own.
CONSUMING_SERVICES = ("order-mapper", "erp-writer", "fulfillment-listener", "stock-syncer")


async def _remove_queues(amqp_url: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        for service in CONSUMING_SERVICES:
            # Named without importing the services (an import would register their queues in
            # this process's topology table).
            for queue in ConsumerQueue(service=service, binding_keys=()).queue_names:
                channel = await connection.channel()
                with contextlib.suppress(Exception):
                    await channel.queue_delete(queue)
                with contextlib.suppress(Exception):
                    await channel.close()
    finally:
        await connection.close()
