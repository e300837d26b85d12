"""An async WooCommerce REST v3 client: Basic auth, JSON, retries, paging, batches.

- 5xx (except the refund endpoint, whose 500 means "refused"), 429, timeouts and connection
  errors are retried with backoff (the runtime's `attempts`: `retries` more tries, 0.5 s before
  the first and doubling), then raise ShopUnavailable; other 4xx raise ShopRejected with
  WooCommerce's `code` and `message`.
- `list_all` follows X-WP-TotalPages; `batch` sends `{create, update, delete}` in calls of at
  most 100 items (WooCommerce's limit) and returns the per-item results, errors included.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import msgspec

from ordreflyt_runtime.retry import attempts
from ordreflyt_shop.settings import ShopApi

log = logging.getLogger(__name__)

BATCH_LIMIT = 100
_encoder = msgspec.json.Encoder(decimal_format="string")


class ShopRejected(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ShopUnavailable(Exception):
    pass


class _Busy(Exception):
    """A status worth trying again (429, or 5xx outside the refund endpoint)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status

    def __repr__(self) -> str:  # as the retry warnings show it: "shop GET /x failed (HTTP 503)"
        return f"HTTP {self.status}"


_RETRIED = (aiohttp.ClientError, TimeoutError, _Busy)


class WooClient:
    def __init__(
        self, api: ShopApi, http: aiohttp.ClientSession, *, retries: int = 4, timeout: float = 30.0
    ) -> None:
        self.api = api
        self._http = http
        self._retries = retries
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        token = base64.b64encode(f"{api.consumer_key}:{api.consumer_secret}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        self.calls = 0

    async def request(
        self, method: str, path: str, body: Any = None, params: Mapping[str, str] | None = None
    ) -> tuple[Any, Mapping[str, str]]:
        """(parsed JSON, response headers)."""
        data = _encoder.encode(body) if body is not None else None
        headers = {
            **self._headers,
            **({"Content-Type": "application/json"} if data is not None else {}),
        }
        retrying = attempts(f"shop {method} {path}", _RETRIED, tries=self._retries + 1)
        try:
            return await retrying(self._call, method, path, data, params, headers)
        except _Busy as exc:
            raise ShopUnavailable(f"{method} {path}: HTTP {exc.status}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ShopUnavailable(f"{method} {path}: {exc!r}") from exc

    async def _call(
        self,
        method: str,
        path: str,
        data: bytes | None,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> tuple[Any, Mapping[str, str]]:
        """One HTTP call: the answer, or _Busy for a status worth trying again, or ShopRejected."""
        self.calls += 1
        async with self._http.request(
            method,
            self.api.api_base + path,
            data=data,
            params=params,
            headers=headers,
            timeout=self._timeout,
        ) as response:
            status = response.status
            raw = await response.read()
            response_headers = dict(response.headers)
        if status == 429 or (status >= 500 and "/refunds" not in path):
            # Whatever the body: a proxy's 502 page is HTML.
            raise _Busy(status)
        try:
            parsed: Any = msgspec.json.decode(raw) if raw else None
        except msgspec.DecodeError:
            text = raw[:200].decode("utf-8", "replace")
            if status < 300:
                # Not the REST API answering (a maintenance or login page): try again later.
                raise ShopUnavailable(
                    f"{method} {path}: HTTP {status} but not JSON (is the shop's url right?):"
                    f" {text!r}"
                ) from None
            raise ShopRejected(status, "", text) from None
        if status < 300:
            return parsed, response_headers
        error = parsed if isinstance(parsed, dict) else {}
        raise ShopRejected(status, str(error.get("code", "")), str(error.get("message", raw[:200])))

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return (await self.request("GET", path, params=params))[0]

    async def put(self, path: str, body: Any) -> Any:
        return (await self.request("PUT", path, body))[0]

    async def post(self, path: str, body: Any) -> Any:
        return (await self.request("POST", path, body))[0]

    async def list_all(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[Any]:
        page = 1
        while True:
            items, headers = await self.request(
                "GET", path, params={**(params or {}), "per_page": "100", "page": str(page)}
            )
            for item in items:
                yield item
            if page >= int(headers.get("X-WP-TotalPages", "1") or 1):
                return
            page += 1

    async def batch_update(
        self, path: str, updates: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """`POST <path>/batch` with `update` items, at most 100 a call; the per-item results."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(updates), BATCH_LIMIT):
            chunk = list(updates[start : start + BATCH_LIMIT])
            answer = await self.post(f"{path}/batch", {"update": chunk})
            results.extend(answer.get("update", []))
        return results
