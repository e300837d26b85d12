"""Settings from the environment (connections, secrets, ports) and the TOML business config.

Every setting has a localhost default; a malformed value raises `SettingsError` naming the
setting, and the service stops at start with that message. A message never repeats a secret: a
URL's password is shown as `***`, a token or secret only by its name.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"
DEFAULT_DATABASE_URL = "postgresql://postgres@localhost:5432/ordreflyt"
DEFAULT_CONFIG_PATH = "deploy/config/ordreflyt.toml"
DEFAULT_RETRY_DELAYS_MS = (1_000, 5_000, 30_000, 120_000)
# An operator token shorter than this is refused: it guards routes that change orders.
MIN_TOKEN_LENGTH = 16


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


def env_str(name: str, default: str, env: Mapping[str, str] | None = None) -> str:
    value = (os.environ if env is None else env).get(name, default)
    if not value.strip():
        raise SettingsError(f"{name} is set but empty")
    return value


def env_choice(
    name: str, default: str, choices: tuple[str, ...], env: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, env).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    raw = (os.environ if env is None else env).get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def env_float(name: str, default: float, *, env: Mapping[str, str] | None = None) -> float:
    """For durations and rates (seconds), never for money."""
    raw = (os.environ if env is None else env).get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {value}")
    return value


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by `***`, for messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        password = None
        parts = None
    if parts is None:
        # Not even splittable: hide everything between "://" and the last "@".
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}***@{rest.rsplit('@', 1)[-1]}" if "@" in rest else url
    if password:
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[-1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    return url


def env_url(
    name: str, default: str, schemes: tuple[str, ...], env: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, env)
    shown = redact_url(value)
    try:
        parts = urlsplit(value)
    except ValueError:
        raise SettingsError(f"{name} is not a URL: {shown!r}") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(
            f"{name} must be a URL like {default!r} (scheme {' or '.join(schemes)}), got {shown!r}"
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SettingsError(f"{name} has a malformed port: {shown!r}") from None
    return value


def env_delays_ms(name: str, env: Mapping[str, str] | None = None) -> tuple[int, ...] | None:
    """A comma-separated list of growing delays in milliseconds, e.g. `1000,5000,30000`."""
    raw = (os.environ if env is None else env).get(name)
    if raw is None:
        return None
    default = DEFAULT_RETRY_DELAYS_MS
    try:
        delays = tuple(int(part.strip()) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SettingsError(
            f"{name} must be whole milliseconds separated by commas, like "
            f"{','.join(map(str, default))}; got {raw!r}"
        ) from None
    if not delays or any(d < 10 or d > 86_400_000 for d in delays):
        raise SettingsError(f"{name}: each delay must be between 10 and 86400000 ms, got {raw!r}")
    return delays


@dataclass(frozen=True)
class ServiceSettings:
    """What every service reads: where the broker and database are, and its HTTP port."""

    service: str
    amqp_url: str
    database_url: str
    http_host: str
    http_port: int
    prefetch: int
    db_pool_size: int
    config_path: Path
    startup_timeout: float
    shutdown_timeout: float
    event_loop: str = "uvloop"
    # Operator routes answer only `Authorization: Bearer <operator_token>`; None: they are closed.
    operator_token: str | None = None
    # A connection that has not sent a whole request head within this many seconds is closed;
    # a request body must arrive within `body_timeout`.
    header_timeout: float = 15.0
    body_timeout: float = 30.0
    # Delays of the retry queues (ms), the last one repeated while a dependency is unavailable;
    # None: the service's own (the defaults, 1 s, 5 s, 30 s, 120 s).
    retry_delays_ms: tuple[int, ...] | None = None

    @classmethod
    def from_env(
        cls, service: str, default_port: int, env: Mapping[str, str] | None = None
    ) -> ServiceSettings:
        return cls(
            service=service,
            amqp_url=env_url("AMQP_URL", DEFAULT_AMQP_URL, ("amqp", "amqps"), env),
            database_url=env_url(
                "DATABASE_URL", DEFAULT_DATABASE_URL, ("postgresql", "postgres"), env
            ),
            # Loopback unless told otherwise (a container sets 0.0.0.0).
            http_host=env_str("HTTP_HOST", "127.0.0.1", env),
            http_port=env_int("HTTP_PORT", default_port, minimum=1, maximum=65535, env=env),
            prefetch=env_int("PREFETCH", 64, minimum=1, maximum=10_000, env=env),
            # Handlers run concurrently up to PREFETCH, each holding one connection.
            db_pool_size=env_int("DB_POOL_SIZE", 10, minimum=2, maximum=1_000, env=env),
            config_path=Path(env_str("ORDREFLYT_CONFIG", DEFAULT_CONFIG_PATH, env)),
            startup_timeout=env_float("STARTUP_TIMEOUT", 60.0, env=env),
            shutdown_timeout=env_float("SHUTDOWN_TIMEOUT", 20.0, env=env),
            event_loop=env_choice("EVENT_LOOP", "uvloop", ("uvloop", "asyncio"), env),
            operator_token=env_token("OPERATOR_TOKEN", env),
            header_timeout=env_float("HTTP_HEADER_TIMEOUT", 15.0, env=env),
            body_timeout=env_float("HTTP_BODY_TIMEOUT", 30.0, env=env),
            retry_delays_ms=env_delays_ms("RETRY_DELAYS_MS", env),
        )


def env_token(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """A secret token from the environment, or None when unset; never echoed in errors."""
    value = (os.environ if env is None else env).get(name)
    if value is None or value == "":
        return None
    value = value.strip()
    if len(value) < MIN_TOKEN_LENGTH:
        raise SettingsError(
            f"{name} is too short: use at least {MIN_TOKEN_LENGTH} characters, e.g. the output"
            ' of `python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )
    return value


def load_toml(path: Path) -> dict[str, Any]:
    """The business config file; a missing or unreadable file names ORDREFLYT_CONFIG."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(
            f"ORDREFLYT_CONFIG: config file {str(path)!r} not found "
            f"(set ORDREFLYT_CONFIG to the path of your ordreflyt.toml)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"ORDREFLYT_CONFIG: {path} is not valid TOML: {exc}") from None
