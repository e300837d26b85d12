"""A minimal consuming service for runtime tests run as a real process.

It consumes `intake.order.*` on the queue named by PROBE_SERVICE, records each handled event in
its `effects` table (in the handler's transaction), and, when PROBE_KILL_AFTER_COMMIT names a
shop order id, kills itself with SIGKILL right after committing that order's event and before
acking it: the moment effectively-once delivery has to survive.
"""

from __future__ import annotations

import os
import signal

from ordreflyt_contracts import Event, OrderDeleted, OrderReceived
from ordreflyt_runtime.consumer import HandlerContext
from ordreflyt_runtime.service import run_service
from ordreflyt_runtime.spec import ServiceSpec, no_config, on, stateless

MIGRATIONS = (
    (
        "probe/001_effects",
        "CREATE TABLE effects (event_id uuid NOT NULL, shop_order_id text NOT NULL, "
        "at timestamptz NOT NULL DEFAULT now())",
    ),
)


async def record(_: None, event: OrderReceived | OrderDeleted, ctx: HandlerContext) -> None:
    await ctx.conn.execute(
        "INSERT INTO effects (event_id, shop_order_id) VALUES ($1, $2)",
        event.event_id,
        event.shop_order_id,
    )


def kill_after_commit(event: Event) -> None:
    if event.shop_order_id == os.environ.get("PROBE_KILL_AFTER_COMMIT"):
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    name = os.environ.get("PROBE_SERVICE", "probe")
    spec = ServiceSpec(
        name=name,
        default_port=8099,
        config=no_config,
        start=stateless,
        migrations=MIGRATIONS,
        subscriptions=[on(OrderReceived, record), on(OrderDeleted, record)],
        retry_delays_ms=(200, 400),
        after_commit=kill_after_commit,
    )
    run_service(spec)


if __name__ == "__main__":
    main()
