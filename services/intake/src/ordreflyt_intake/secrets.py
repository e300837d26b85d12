"""The webhook secrets a delivery's signature is checked against, per shop.

From the config (the shop's current and previous secret) and from intake's own table, where
`register-webhooks` stores the fresh secret it gives the shop's webhooks (the newest two
count: the new one and, while deliveries signed before the change are still coming, the one
before). The table is read at start, then at most once a second when a signature matches none
of the known secrets, so every intake process learns a new secret on its first delivery.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from ordreflyt_intake.store import shop_secrets
from ordreflyt_shop import Shop

log = logging.getLogger(__name__)

REFRESH_AT_MOST_EVERY = 1.0


class SecretBook:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._registered: dict[str, list[bytes]] = {}
        self._refreshed_at = float("-inf")
        self._lock = asyncio.Lock()

    def secrets(self, shop: Shop) -> tuple[bytes, ...]:
        return (*self._registered.get(shop.shop_id, ()), *shop.webhook_secrets)

    async def refresh(self, force: bool = False) -> bool:
        """Read the registered secrets again; False if it was done a moment ago (or failed)."""
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if not force and now - self._refreshed_at < REFRESH_AT_MOST_EVERY:
                return False
            self._refreshed_at = now
            try:
                self._registered = await asyncio.wait_for(shop_secrets(self.pool), 2.0)
            except Exception as exc:
                log.warning("registered webhook secrets not readable: %r", exc)
                return False
            return True
