"""OAuth2 as Fortnox does it: bearer access tokens that expire, refresh tokens that rotate.

- Access tokens live `token_lifetime_seconds` (3600 in Fortnox), the configured ones counted
  from start. An expired or unknown token answers 401 (code 2000311; 2000310 when missing).
- `POST /oauth-v1/token` with HTTP Basic client id/secret and
  `grant_type=refresh_token&refresh_token=...` issues a new access token and a new refresh
  token; the old refresh token stops working at once (a client must store the new one), while
  access tokens issued before stay valid until they expire.
- Tokens survive `/_sandbox/reset`, so running clients keep working across test cases.
- With a state file the tokens issued and the refresh tokens still valid are saved (`saved`)
  and valid again after a restart until they expire (`restore`); the configured ones are
  valid at every start, counted from it, as without a state file.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_fortnox.errors import TOKEN_INVALID, TOKEN_MISSING, FortnoxError

SCOPE = "companyinformation customer article order invoice warehouse"


class OAuthError(Exception):
    """An OAuth2 error answer (RFC 6749 shape, not Fortnox's ErrorInformation)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}


@dataclass
class SavedTokens:
    # Each access token that has not expired, and when it does: seconds since the epoch.
    access: dict[str, float]
    refresh: list[str]


class Tokens:
    def __init__(
        self,
        *,
        access_tokens: Iterable[str],
        refresh_tokens: Iterable[str],
        client_id: str,
        client_secret: str,
        lifetime_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.lifetime_seconds = lifetime_seconds
        expires = clock() + lifetime_seconds
        self._access: dict[str, float] = dict.fromkeys(access_tokens, expires)
        self._refresh: set[str] = set(refresh_tokens)

    def authenticate(self, authorization: str | None) -> str:
        """The access token of a request, or the 401 Fortnox would answer."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise FortnoxError(401, TOKEN_MISSING, "Kan inte logga in, access-token saknas.")
        token = authorization[len("bearer ") :].strip()
        expires = self._access.get(token)
        if expires is None or expires <= self._clock():
            raise FortnoxError(
                401, TOKEN_INVALID, "Kan inte logga in, access-token är ogiltig eller har gått ut."
            )
        return token

    def _check_client(self, authorization: str | None) -> None:
        try:
            scheme, _, encoded = (authorization or "").partition(" ")
            if scheme.lower() != "basic":
                raise ValueError("not basic")
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise OAuthError(
                401, "invalid_client", "Basic auth with client id/secret needed"
            ) from None
        if not (
            secrets.compare_digest(client_id, self.client_id)
            and secrets.compare_digest(secret, self.client_secret)
        ):
            raise OAuthError(401, "invalid_client", "Unknown client or wrong secret")

    def refresh(self, authorization: str | None, form: dict[str, str]) -> dict[str, Any]:
        self._check_client(authorization)
        if form.get("grant_type") != "refresh_token":
            raise OAuthError(400, "unsupported_grant_type", "Only grant_type=refresh_token")
        old = form.get("refresh_token", "")
        if old not in self._refresh:
            raise OAuthError(400, "invalid_grant", "Refresh token unknown or already used")
        self._refresh.discard(old)
        access = f"sandbox-at-{secrets.token_urlsafe(24)}"
        refresh = f"sandbox-rt-{secrets.token_urlsafe(24)}"
        self._access[access] = self._clock() + self.lifetime_seconds
        self._refresh.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.lifetime_seconds,
            "token_type": "bearer",
            "scope": SCOPE,
        }

    def saved(self) -> SavedTokens:
        now, wall = self._clock(), time.time()
        return SavedTokens(
            access={t: wall + (e - now) for t, e in self._access.items() if e > now},
            refresh=sorted(self._refresh),
        )

    def restore(self, saved: SavedTokens) -> None:
        """Tokens of an earlier run join the configured ones, expiring when they would have."""
        now, wall = self._clock(), time.time()
        for token, expires_at in saved.access.items():
            self._access.setdefault(token, now + (expires_at - wall))
        self._refresh.update(saved.refresh)

    def expire(self, token: str | None = None) -> list[str]:
        """Expire one access token (or all) now, to test a client's refresh path."""
        now = self._clock()
        chosen = [token] if token is not None else list(self._access)
        expired = [t for t in chosen if t in self._access]
        for t in expired:
            self._access[t] = now
        return expired


tokens_key = web.AppKey("fortnox_tokens", Tokens)
