"""Pruning what a service keeps only for a while: inbox rows, raw deliveries, effects, pushes.

Each service names its rules (table, timestamp column, the `[retention]` key of its age in
days). A pass runs at start and then every `interval`, one replica at a time (advisory lock),
deleting in batches so it never holds long locks. The ages come from the TOML `[retention]`
table; the defaults are what bookkeeping usually wants kept (see RetentionConfig).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import asyncpg
import msgspec

from ordreflyt_runtime.periodic import Periodic

log = logging.getLogger(__name__)

Days = Annotated[int, msgspec.Meta(ge=1, le=36_500)]


class RetentionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[retention]`: days each kind of record is kept."""

    # Which messages a consumer has handled: a message redelivered or replayed later than
    # this is handled again (handlers are idempotent at the business level too).
    inbox_days: Days = 30
    # intake: every webhook delivery as received (raw body and headers).
    raw_deliveries_days: Days = 90
    # fulfillment-listener: the effects applied to shop orders (what makes each happen once).
    effects_days: Days = 400
    # fulfillment-listener: shipment pushes as received.
    push_events_days: Days = 90


@dataclass(frozen=True)
class RetentionRule:
    table: str
    column: str
    setting: str  # the RetentionConfig field giving the age in days
    # Extra condition (SQL) a row must meet to be pruned, e.g. that it is finished.
    where: str = "true"


INBOX_RULE = RetentionRule("inbox", "received_at", "inbox_days")
BATCH = 5_000


class Pruner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        rules: Sequence[RetentionRule],
        config: RetentionConfig,
        interval: float = 3600.0,
    ) -> None:
        self._pool = pool
        self._schema = schema
        self._rules = rules
        self._config = config
        self._loop = Periodic(f"{schema} retention", interval, self.prune_once)
        self.pruned: dict[str, int] = {}

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def prune_once(self) -> dict[str, int]:
        """One pass over every rule; returns the rows deleted per table."""
        deleted: dict[str, int] = {}
        async with self._pool.acquire() as conn:
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", f"retention:{self._schema}"
            )
            if not locked:
                return deleted  # another replica is at it
            try:
                for rule in self._rules:
                    days = getattr(self._config, rule.setting)
                    deleted[rule.table] = await self._prune(conn, rule, days)
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtext($1))", f"retention:{self._schema}"
                )
        for table, count in deleted.items():
            self.pruned[table] = self.pruned.get(table, 0) + count
            if count:
                log.info("pruned %d rows from %s", count, table, extra={"table": table})
        return deleted

    async def _prune(
        self, conn: asyncpg.pool.PoolConnectionProxy[asyncpg.Record], rule: RetentionRule, days: int
    ) -> int:
        total = 0
        sql = (
            f"DELETE FROM {rule.table} WHERE ctid IN (SELECT ctid FROM {rule.table}"
            f" WHERE {rule.column} < now() - make_interval(days => $1) AND ({rule.where})"
            f" LIMIT {BATCH})"
        )
        while True:
            status = await conn.execute(sql, days)
            count = int(status.split()[-1])
            total += count
            if count < BATCH:
                return total
