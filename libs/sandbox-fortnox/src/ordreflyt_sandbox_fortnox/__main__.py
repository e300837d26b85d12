"""`ordreflyt-sandbox-fortnox`: run the sandbox Fortnox (default port 8200).

Each setting is a flag, with an environment variable as fallback:
`FORTNOX_ACCESS_TOKEN` and `FORTNOX_REFRESH_TOKEN` (comma lists allowed), `FORTNOX_CLIENT_ID`,
`FORTNOX_CLIENT_SECRET`, `FORTNOX_RATE_LIMIT` (an integer or `off`),
`FORTNOX_RATE_WINDOW_SECONDS`, `FORTNOX_TOKEN_LIFETIME_SECONDS`, `FORTNOX_WAREHOUSE` (on/off),
`FORTNOX_STOCK_POINTS` (comma list), `FORTNOX_PRODUCTS` and `FORTNOX_SEED` (an integer or
`random`), `FORTNOX_STATE_FILE` (keep the data in that JSON file across restarts);
`--open-control` (a bare flag) or `SANDBOX_OPEN_CONTROL=1` answers the `/_sandbox`
routes from other hosts too. `--products` and `--seed` take the same values as the sandbox shop's flags of those
names: equal values give an article for every SKU the shop sells. A malformed value stops the
start with a message naming the setting. Host and port: `--host`/`--port`, `HTTP_HOST`/`HTTP_PORT`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from aiohttp import web

from ordreflyt_sandbox_fortnox.app import FortnoxSettings, make_app
from ordreflyt_sandbox_kit import OPEN_CONTROL_ENV, OPEN_CONTROL_FLAG, run_emulator

NAME = "ordreflyt-sandbox-fortnox"
DEFAULT_PORT = 8200


def _comma_list(raw: str) -> list[str]:
    items = [part.strip() for part in raw.split(",") if part.strip()]
    if not items:
        raise ValueError("needs at least one value")
    return items


def _rate_limit(raw: str) -> int | None:
    if raw.strip().lower() == "off":
        return None
    return _positive_int(raw)


def _positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 1:
        raise ValueError("must be positive")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _seed(raw: str) -> int | None:
    if raw.strip().lower() == "random":
        return None
    return int(raw.strip())


def _positive_float(raw: str) -> float:
    value = float(raw.strip())
    if not value > 0:
        raise ValueError("must be positive")
    return value


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise ValueError("must be on or off")


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _path(raw: str) -> Path:
    return Path(_text(raw))


# (flag, environment variable, settings field, parser, what a valid value looks like)
_OPTIONS: list[tuple[str, str, str, Callable[[str], object], str]] = [
    (
        "--access-token",
        "FORTNOX_ACCESS_TOKEN",
        "access_tokens",
        _comma_list,
        "a token or a comma list",
    ),
    (
        "--refresh-token",
        "FORTNOX_REFRESH_TOKEN",
        "refresh_tokens",
        _comma_list,
        "a token or a comma list",
    ),
    ("--client-id", "FORTNOX_CLIENT_ID", "client_id", _text, "a non-empty string"),
    ("--client-secret", "FORTNOX_CLIENT_SECRET", "client_secret", _text, "a non-empty string"),
    (
        "--rate-limit",
        "FORTNOX_RATE_LIMIT",
        "rate_limit",
        _rate_limit,
        "a positive integer or 'off'",
    ),
    (
        "--rate-window-seconds",
        "FORTNOX_RATE_WINDOW_SECONDS",
        "rate_window_seconds",
        _positive_float,
        "a positive number of seconds",
    ),
    (
        "--token-lifetime-seconds",
        "FORTNOX_TOKEN_LIFETIME_SECONDS",
        "token_lifetime_seconds",
        _positive_int,
        "a positive integer",
    ),
    ("--warehouse", "FORTNOX_WAREHOUSE", "warehouse", _switch, "on or off"),
    (
        "--stock-points",
        "FORTNOX_STOCK_POINTS",
        "stock_points",
        _comma_list,
        "a comma list of codes",
    ),
    (
        "--products",
        "FORTNOX_PRODUCTS",
        "catalogue_products",
        _non_negative_int,
        "an integer >= 0",
    ),
    ("--seed", "FORTNOX_SEED", "seed", _seed, "an integer or 'random'"),
    ("--state-file", "FORTNOX_STATE_FILE", "state_file", _path, "a file path"),
    (OPEN_CONTROL_FLAG, OPEN_CONTROL_ENV, "open_control", _switch, "on or off"),
]
# Flags that take no value: given, they mean "on".
_BARE_FLAGS = {OPEN_CONTROL_FLAG}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    for flag, env, _field, _parse, looks_like in _OPTIONS:
        if flag in _BARE_FLAGS:
            parser.add_argument(flag, action="store_const", const="on", help=f"or ${env}=1")
        else:
            parser.add_argument(flag, default=None, help=f"{looks_like}; default: ${env}")


def settings_from(args: argparse.Namespace, environ: Mapping[str, str]) -> FortnoxSettings:
    """Settings from flags, then the environment, then the defaults; ValueError names the setting."""
    settings = FortnoxSettings()
    for flag, env, field_name, parse, looks_like in _OPTIONS:
        # argparse stores --rate-limit as rate_limit.
        raw = getattr(args, flag.removeprefix("--").replace("-", "_"))
        source = flag
        if raw is None:
            raw, source = environ.get(env), env
        if raw is None:
            continue
        try:
            value = parse(raw)
        except ValueError:
            raise ValueError(f"{source} must be {looks_like}, got {raw!r}") from None
        setattr(settings, field_name, value)
    settings.validate()
    return settings


def _build(args: argparse.Namespace) -> web.Application:
    try:
        settings = settings_from(args, os.environ)
    except ValueError as exc:
        sys.exit(f"{NAME}: {exc}")
    return make_app(settings)


def main(argv: Sequence[str] | None = None) -> None:
    run_emulator(NAME, DEFAULT_PORT, _build, _add_arguments, argv)


if __name__ == "__main__":
    main()
