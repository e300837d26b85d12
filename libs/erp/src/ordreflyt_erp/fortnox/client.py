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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
import asyncpg
import msgspec

from ordreflyt_erp.errors import ErpAmbiguous, ErpRejected, ErpUnavailable
from ordreflyt_erp.metrics import ErpMetrics
from ordreflyt_erp.ratelimit import MIGRATIONS as RATE_MIGRATIONS
from ordreflyt_erp.ratelimit import Priority, SharedRateLimiter
from ordreflyt_runtime.db import create_pool, migrate
from ordreflyt_runtime.retry import attempts
from ordreflyt_runtime.settings import SettingsError, env_float, env_int, env_str, env_url

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

SHARED_MIGRATIONS = (RATE_MIGRATIONS[0], TOKEN_MIGRATION, *RATE_MIGRATIONS[1:])
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
    # The account's name in stored tokens, links and watermarks: "fortnox" for the default
    # account (FORTNOX_*), "fortnox:<name>" for FORTNOX_<NAME>_*.
    key: str = "fortnox"
    # The zone of Fortnox's local-minute timestamps (LastModified, lastmodified=).
    timezone: str = "Europe/Stockholm"


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    url: str
    data: bytes | None
    params: Mapping[str, str] | None
    missing_ok: bool
    creates: bool
    priority: Priority


class _Again(Exception):
    """A try that failed in a way worth trying again (nothing was created)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


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
                "INSERT INTO ordreflyt_erp.oauth_tokens (erp, access_token, refresh_token) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                self.settings.key,
                self.settings.access_token,
                self.settings.refresh_token,
            )
            self._token = await self._pool.fetchval(
                "SELECT access_token FROM ordreflyt_erp.oauth_tokens WHERE erp = $1",
                self.settings.key,
            )
        assert self._token is not None
        return self._token

    async def _refresh(self, stale: str) -> None:
        """Refresh once for all processes: whoever holds the lock refreshes, the rest reuse."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"token:{self.settings.key}"
            )
            row = await conn.fetchrow(
                "SELECT access_token, refresh_token FROM ordreflyt_erp.oauth_tokens WHERE erp = $1",
                self.settings.key,
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
                "UPDATE ordreflyt_erp.oauth_tokens SET access_token = $1, refresh_token = $2, refreshed_at = now() WHERE erp = $3",
                body["access_token"],
                body["refresh_token"],
                self.settings.key,
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
        priority: Priority = Priority.WRITE,
    ) -> Any:
        """One Fortnox request with auth, the shared limit (at `priority`) and retries.

        A request that `creates` something (default: every POST) is never repeated after an
        ambiguous failure (5xx, timeout, connection lost once sent): ErpAmbiguous is raised and
        the caller looks the thing up before trying again. Failing to connect at all is safe to
        repeat (nothing was sent), as is every failure of a reading or idempotent request: those
        are tried `retries` more times (the runtime's retry helper), then ErpUnavailable.
        """
        call = _Call(
            method=method,
            path=path,
            url=(self.settings.warehouse_url if warehouse else self.settings.base_url) + path,
            data=_encoder.encode(body) if body is not None else None,
            params=params,
            missing_ok=missing_ok,
            creates=method == "POST" if creates is None else creates,
            priority=priority,
        )
        retrying = attempts(
            f"Fortnox {method} {path}", _Again, tries=self.settings.retries + 1, ceiling=8.0
        )
        try:
            return await retrying(self._once, call)
        except _Again as again:
            self._metrics.failed(method, "unavailable")
            raise ErpUnavailable(again.problem) from again.__cause__

    async def _once(self, call: _Call) -> Any:
        """One try: 429s wait for budget and a stale token is refreshed (neither counts as a
        try); a failure worth trying again raises _Again."""
        refreshed = False
        while True:
            if self._limiter is not None:
                await self._limiter.acquire(call.priority)
            token = await self._access_token()
            self.requests += 1
            try:
                status, raw = await self._send(call.method, call.url, call.data, call.params, token)
            except (aiohttp.ClientError, TimeoutError) as exc:
                sent = not isinstance(exc, aiohttp.ClientConnectorError)
                problem = f"Fortnox {call.method} {call.path}: {exc!r}"
                self._fail(call.method, problem, ambiguous=call.creates and sent)
                raise _Again(problem) from exc
            parsed: Any = _decode(raw)
            if status < 300:
                self._metrics.answered(call.method, "ok")
                return parsed
            if status == 429:
                self._metrics.requests.labels(self._metrics.erp, call.method, "rate-limited").inc()
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
                problem = f"Fortnox {call.method} {call.path}: {status} {code} {message}"
                self._fail(call.method, problem, ambiguous=call.creates)
                raise _Again(problem)
            self._metrics.answered(call.method, "rejected")
            if status == 404 and call.missing_ok:
                return None
            raise ErpRejected(code or str(status), message)

    def _fail(self, method: str, problem: str, *, ambiguous: bool) -> None:
        if ambiguous:
            self._metrics.failed(method, "ambiguous")
            log.warning("%s; not repeated: it may have reached Fortnox", problem)
            raise ErpAmbiguous(problem)

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


def _prefix(account: str) -> str:
    return f"FORTNOX_{account.upper()}_" if account else "FORTNOX_"


def account_key(account: str) -> str:
    return f"fortnox:{account}" if account else "fortnox"


def fortnox_settings_from_env(account: str = "") -> FortnoxSettings:
    """FORTNOX_* settings (sandbox defaults) of the default account, FORTNOX_<ACCOUNT>_* of
    another (a shop's `erp_account`); see the README's settings table."""
    p = _prefix(account)
    api = env_url(p + "API_URL", "http://localhost:8200", ("http", "https")).rstrip("/")
    timezone = env_str(p + "TIMEZONE", "Europe/Stockholm")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{p}TIMEZONE: {timezone!r} is not a time zone") from None
    return FortnoxSettings(
        base_url=api + "/3",
        warehouse_url=api + "/api/warehouse",
        token_url=env_url(p + "TOKEN_URL", api + "/oauth-v1/token", ("http", "https")),
        client_id=env_str(p + "CLIENT_ID", "sandbox-client"),
        client_secret=env_str(p + "CLIENT_SECRET", "sandbox-secret"),
        access_token=env_str(p + "ACCESS_TOKEN", "sandbox-token"),
        refresh_token=env_str(p + "REFRESH_TOKEN", "sandbox-refresh"),
        timeout=env_float(p + "TIMEOUT", 30.0),
        key=account_key(account),
        timezone=timezone,
    )


def rate_limit_from_env(account: str = "") -> tuple[int | None, float]:
    """FORTNOX_RATE_LIMIT (requests, or `off`) per FORTNOX_RATE_WINDOW seconds (for another
    account FORTNOX_<ACCOUNT>_RATE_LIMIT / _RATE_WINDOW)."""
    p = _prefix(account)
    raw = os.environ.get(p + "RATE_LIMIT", "25").strip().lower()
    limit = None if raw == "off" else env_int(p + "RATE_LIMIT", 25, minimum=1, maximum=10_000)
    return limit, env_float(p + "RATE_WINDOW", 5.0)


@contextlib.asynccontextmanager
async def fortnox_client(
    database_url: str, metrics: ErpMetrics | None = None, account: str = ""
) -> AsyncIterator[FortnoxClient]:
    """A client from the environment's settings, with its own small pool on the shared schema.

    The pool is separate from the service's: the limiter and token store must never wait for a
    connection that a message handler holds while it waits for the ERP.
    """
    settings = fortnox_settings_from_env(account)
    limit, window = rate_limit_from_env(account)
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
