"""Fortnox API v3 over HTTP, as every Ordreflyt service uses it (reference/external-apis.md).

- Auth: Bearer access token; on 401 the token is refreshed with the refresh token (Basic auth
  with client id/secret) and the request repeated. Tokens live in PostgreSQL
  (`ordreflyt_erp.ordreflyt_erp.oauth_tokens`) so every process of every service uses, and refreshes, the same
  pair (a refresh rotates the refresh token: a second copy would be invalidated).
- Every request first takes a slot from the shared rate limiter. A 429 waits for budget and
  repeats; 5xx, timeouts and connection errors repeat with backoff, then raise ErpUnavailable.
  A 4xx raises ErpRejected with Fortnox's own code and message (404 may be asked for as None).
- Numbers come back as strings or numbers; both are read. Money is sent as JSON numbers written
  from Decimal, never through float.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import msgspec

from ordreflyt_erp.errors import ErpAmbiguous, ErpRejected, ErpUnavailable
from ordreflyt_erp.metrics import ErpMetrics
from ordreflyt_erp.ratelimit import MIGRATION as RATE_MIGRATION
from ordreflyt_erp.ratelimit import SharedRateLimiter
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_runtime.settings import env_float, env_int, env_str, env_url

log = logging.getLogger(__name__)

SHARED_SCHEMA = "ordreflyt_erp"

TOKEN_MIGRATION = (
    "erp/002_tokens",
    """
    CREATE TABLE oauth_tokens (
        erp text PRIMARY KEY,
        access_token text NOT NULL,
        refresh_token text NOT NULL,
        refreshed_at timestamptz NOT NULL DEFAULT now()
    );
    """,
)

SHARED_MIGRATIONS = (RATE_MIGRATION, TOKEN_MIGRATION)
_encoder = msgspec.json.Encoder(decimal_format="number")


@dataclass(frozen=True)
class FortnoxSettings:
    base_url: str  # e.g. https://api.fortnox.se/3
    warehouse_url: str  # e.g. https://api.fortnox.se/api/warehouse
    token_url: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    timeout: float = 30.0
    retries: int = 4


def _error(body: Any) -> tuple[str, str]:
    """(code, message) from an ErrorInformation body, in either capitalisation."""
    info = body.get("ErrorInformation", {}) if isinstance(body, dict) else {}
    lowered = {str(k).lower(): v for k, v in info.items()} if isinstance(info, dict) else {}
    return str(lowered.get("code", "")), str(lowered.get("message", "")) or "no message"


class FortnoxClient:
    """HTTP to Fortnox with auth, the shared rate limit and retries."""

    def __init__(
        self,
        settings: FortnoxSettings,
        http: aiohttp.ClientSession,
        pool: asyncpg.Pool,
        limiter: SharedRateLimiter | None,
        metrics: ErpMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._metrics = metrics or ErpMetrics(None)
        self._http = http
        self._pool = pool
        self._limiter = limiter
        self._token: str | None = None
        self.requests = 0

    async def _access_token(self) -> str:
        if self._token is None:
            await self._pool.execute(
                "INSERT INTO ordreflyt_erp.oauth_tokens (erp, access_token, refresh_token) VALUES ('fortnox', $1, $2)"
                " ON CONFLICT DO NOTHING",
                self.settings.access_token,
                self.settings.refresh_token,
            )
            self._token = await self._pool.fetchval(
                "SELECT access_token FROM ordreflyt_erp.oauth_tokens WHERE erp = 'fortnox'"
            )
        assert self._token is not None
        return self._token

    async def _refresh(self, stale: str) -> None:
        """Refresh once for all processes: whoever holds the lock refreshes, the rest reuse."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('fortnox-token'))")
            row = await conn.fetchrow(
                "SELECT access_token, refresh_token FROM ordreflyt_erp.oauth_tokens WHERE erp = 'fortnox'"
            )
            assert row is not None
            if row["access_token"] != stale:
                self._token = row["access_token"]
                return
            basic = base64.b64encode(
                f"{self.settings.client_id}:{self.settings.client_secret}".encode()
            ).decode()
            async with self._http.post(
                self.settings.token_url,
                data={"grant_type": "refresh_token", "refresh_token": row["refresh_token"]},
                headers={"Authorization": f"Basic {basic}"},
            ) as response:
                body = await response.json(content_type=None)
                if response.status != 200:
                    raise ErpRejected("oauth", f"token refresh refused ({response.status}): {body}")
            await conn.execute(
                "UPDATE ordreflyt_erp.oauth_tokens SET access_token = $1, refresh_token = $2, refreshed_at = now() WHERE erp = 'fortnox'",
                body["access_token"],
                body["refresh_token"],
            )
            self._token = body["access_token"]
            log.info("Fortnox access token refreshed")

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        warehouse: bool = False,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
        creates: bool | None = None,
    ) -> Any:
        """One Fortnox request with auth, the shared limit and retries.

        A request that `creates` something (default: every POST) is never repeated after an
        ambiguous failure (5xx, timeout, connection lost once sent): ErpAmbiguous is raised and
        the caller looks the thing up before trying again. Failing to connect at all is safe to
        repeat (nothing was sent), as is every failure of a reading or idempotent request.
        """
        creates = method == "POST" if creates is None else creates
        url = (self.settings.warehouse_url if warehouse else self.settings.base_url) + path
        data = _encoder.encode(body) if body is not None else None
        delay = 0.5
        refreshed = False
        attempt = 0
        while True:
            if self._limiter is not None:
                await self._limiter.acquire()
            token = await self._access_token()
            self.requests += 1
            try:
                status, raw = await self._send(method, url, data, params, token)
            except (aiohttp.ClientError, TimeoutError) as exc:
                sent = not isinstance(exc, aiohttp.ClientConnectorError)
                problem = f"Fortnox {method} {path}: {exc!r}"
                self._fail(method, problem, ambiguous=creates and sent)
                attempt += 1
                if attempt > self.settings.retries:
                    self._metrics.failed(method, "unavailable")
                    raise ErpUnavailable(problem) from exc
                await self._backoff(method, path, repr(exc), delay)
                delay *= 2
                continue
            parsed: Any = _decode(raw)
            if status < 300:
                self._metrics.answered(method, "ok")
                return parsed
            if status == 429:
                self._metrics.requests.labels(self._metrics.erp, method, "rate-limited").inc()
                if self._limiter is not None:
                    await self._limiter.penalise()
                else:
                    await asyncio.sleep(1.0)
                continue
            code, message = _error(parsed)
            if status == 401 and not refreshed:
                refreshed = True
                await self._refresh(token)
                continue
            if status >= 500:
                problem = f"Fortnox {method} {path}: {status} {code} {message}"
                self._fail(method, problem, ambiguous=creates)
                attempt += 1
                if attempt > self.settings.retries:
                    self._metrics.failed(method, "unavailable")
                    raise ErpUnavailable(problem)
                await self._backoff(method, path, str(status), delay)
                delay *= 2
                continue
            self._metrics.answered(method, "rejected")
            if status == 404 and missing_ok:
                return None
            raise ErpRejected(code or str(status), message)

    def _fail(self, method: str, problem: str, *, ambiguous: bool) -> None:
        if ambiguous:
            self._metrics.failed(method, "ambiguous")
            log.warning("%s; not repeated: it may have reached Fortnox", problem)
            raise ErpAmbiguous(problem)

    async def _backoff(self, method: str, path: str, problem: str, delay: float) -> None:
        log.warning("Fortnox %s %s failed (%s), retrying in %.1fs", method, path, problem, delay)
        await asyncio.sleep(delay)

    async def _send(
        self,
        method: str,
        url: str,
        data: bytes | None,
        params: Mapping[str, str] | None,
        token: str,
    ) -> tuple[int, bytes]:
        async with self._http.request(
            method,
            url,
            data=data,
            params=params,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
        ) as response:
            return response.status, await response.read()


def _decode(raw: bytes) -> Any:
    """The JSON of an answer; a 5xx from a proxy may be HTML: then its text, for the message."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {"ErrorInformation": {"message": raw[:200].decode("utf-8", "replace")}}


def fortnox_settings_from_env() -> FortnoxSettings:
    """FORTNOX_* settings (sandbox defaults); see the README's settings table."""
    api = env_url("FORTNOX_API_URL", "http://localhost:8200", ("http", "https")).rstrip("/")
    return FortnoxSettings(
        base_url=api + "/3",
        warehouse_url=api + "/api/warehouse",
        token_url=env_url("FORTNOX_TOKEN_URL", api + "/oauth-v1/token", ("http", "https")),
        client_id=env_str("FORTNOX_CLIENT_ID", "sandbox-client"),
        client_secret=env_str("FORTNOX_CLIENT_SECRET", "sandbox-secret"),
        access_token=env_str("FORTNOX_ACCESS_TOKEN", "sandbox-token"),
        refresh_token=env_str("FORTNOX_REFRESH_TOKEN", "sandbox-refresh"),
        timeout=env_float("FORTNOX_TIMEOUT", 30.0),
    )


def rate_limit_from_env() -> tuple[int | None, float]:
    """FORTNOX_RATE_LIMIT (requests, or `off`) per FORTNOX_RATE_WINDOW seconds."""
    raw = os.environ.get("FORTNOX_RATE_LIMIT", "25").strip().lower()
    limit = None if raw == "off" else env_int("FORTNOX_RATE_LIMIT", 25, minimum=1, maximum=10_000)
    return limit, env_float("FORTNOX_RATE_WINDOW", 5.0)


@contextlib.asynccontextmanager
async def fortnox_client(
    database_url: str, metrics: ErpMetrics | None = None
) -> AsyncIterator[FortnoxClient]:
    """A client from the environment's settings, with its own small pool on the shared schema.

    The pool is separate from the service's: the limiter and token store must never wait for a
    connection that a message handler holds while it waits for the ERP.
    """
    settings = fortnox_settings_from_env()
    limit, window = rate_limit_from_env()
    pool = await create_pool(database_url, SHARED_SCHEMA, min_size=1, max_size=3)
    try:
        await migrate(pool, SHARED_SCHEMA, SHARED_MIGRATIONS, runtime_tables=False)
        limiter = (
            SharedRateLimiter(pool, f"fortnox:{settings.client_id}", limit, window)
            if limit is not None
            else None
        )
        async with aiohttp.ClientSession() as http:
            yield FortnoxClient(settings, http, pool, limiter, metrics)
    finally:
        await pool.close()
