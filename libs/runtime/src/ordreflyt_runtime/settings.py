"""Settings from the environment (connections, secrets, ports) and the TOML business config.

Every setting has a localhost default; a malformed value raises `SettingsError` naming the
setting, and the service stops at start with that message.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"
DEFAULT_DATABASE_URL = "postgresql://postgres@localhost:5432/ordreflyt"
DEFAULT_CONFIG_PATH = "deploy/config/ordreflyt.toml"


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


def env_url(
    name: str, default: str, schemes: tuple[str, ...], env: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, env)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(
            f"{name} must be a URL like {default!r} (scheme {' or '.join(schemes)}), got {value!r}"
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SettingsError(f"{name} has a malformed port: {value!r}") from None
    return value


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
            http_host=env_str("HTTP_HOST", "0.0.0.0", env),
            http_port=env_int("HTTP_PORT", default_port, minimum=1, maximum=65535, env=env),
            prefetch=env_int("PREFETCH", 64, minimum=1, maximum=10_000, env=env),
            # Handlers run concurrently up to PREFETCH, each holding one connection.
            db_pool_size=env_int("DB_POOL_SIZE", 10, minimum=2, maximum=1_000, env=env),
            config_path=Path(env_str("ORDREFLYT_CONFIG", DEFAULT_CONFIG_PATH, env)),
            startup_timeout=env_float("STARTUP_TIMEOUT", 60.0, env=env),
            shutdown_timeout=env_float("SHUTDOWN_TIMEOUT", 20.0, env=env),
            event_loop=env_choice("EVENT_LOOP", "uvloop", ("uvloop", "asyncio"), env),
        )


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
