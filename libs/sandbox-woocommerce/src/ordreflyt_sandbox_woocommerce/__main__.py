"""`ordreflyt-sandbox-woocommerce`: run the sandbox shop (default port 8100).

Every setting has a flag and most an environment variable (the flag wins); a malformed value
stops the program with a message naming the setting.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from aiohttp import web

from ordreflyt_sandbox_kit import OPEN_CONTROL_ENV, OPEN_CONTROL_FLAG, run_emulator
from ordreflyt_sandbox_woocommerce.app import WebhookSpec, WooSettings, make_app
from ordreflyt_sandbox_woocommerce.settings import check_countries
from ordreflyt_sandbox_woocommerce.webhooks import DEFAULT_TOPICS, VALID_TOPICS

T = TypeVar("T")
NAME = "ordreflyt-sandbox-woocommerce"


def _fail(setting: str, raw: str, expected: str) -> NoReturn:
    sys.exit(f"{NAME}: {setting} must be {expected}, got {raw!r}")


def _setting(
    args: argparse.Namespace,
    flag: str,
    env: str | None,
    default: T,
    parse: Callable[[str], T],
    expected: str,
) -> T:
    raw = getattr(args, flag.replace("-", "_"))
    name = f"--{flag}"
    if raw is None and env is not None and os.environ.get(env) is not None:
        raw, name = os.environ[env], env
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError:
        _fail(name, raw, expected)


def _rate(raw: str) -> float:
    value = float(raw)
    if not value >= 0 or value == float("inf"):
        raise ValueError(raw)
    return value


def _count(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")) or raw[-3:] == "://":
        raise ValueError(raw)
    return raw


def _topics(raw: str) -> tuple[str, ...]:
    topics = tuple(t.strip() for t in raw.split(",") if t.strip())
    if not topics or any(t not in VALID_TOPICS for t in topics):
        raise ValueError(raw)
    return topics


def _seed(raw: str) -> int | None:
    if raw.strip().lower() == "random":
        return None
    return int(raw)


def _countries(raw: str) -> tuple[str, ...]:
    return check_countries([c for c in raw.split(",") if c.strip()])


def _path(raw: str) -> Path:
    if not raw.strip():
        raise ValueError(raw)
    return Path(raw)


def _bool(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consumer-key", help="default: WOO_CONSUMER_KEY or ck_sandbox")
    parser.add_argument("--consumer-secret", help="default: WOO_CONSUMER_SECRET or cs_sandbox")
    parser.add_argument("--shop-url", help="default: WOO_SHOP_URL or http://127.0.0.1:8100/")
    parser.add_argument("--orders-per-second", help="default: WOO_ORDERS_PER_SECOND or 0 (off)")
    parser.add_argument("--products", help="catalogue size (WOO_PRODUCTS), default 40")
    parser.add_argument("--webhook-url", help="register a webhook at start (WOO_WEBHOOK_URL)")
    parser.add_argument("--webhook-secret", help="its secret (WOO_WEBHOOK_SECRET)")
    parser.add_argument("--webhook-topics", help=f"default: {','.join(DEFAULT_TOPICS)}")
    parser.add_argument(
        "--seed", help="catalogue seed (WOO_SEED), default 1; 'random' = new every start"
    )
    parser.add_argument(
        "--order-seed", help="sample-order seed (WOO_ORDER_SEED), default: new every start"
    )
    parser.add_argument(
        "--countries", help="sample-order countries (WOO_COUNTRIES), default NO,SE; e.g. SE"
    )
    parser.add_argument("--prices-include-tax", help="true/false, default false")
    parser.add_argument(
        "--state-file", help="keep the shop in this JSON file across restarts (WOO_STATE_FILE)"
    )
    parser.add_argument(
        OPEN_CONTROL_FLAG,
        action="store_const",
        const="true",
        help=f"answer /_sandbox from other hosts too (or {OPEN_CONTROL_ENV}=1)",
    )


def settings_from(args: argparse.Namespace) -> WooSettings:
    defaults = WooSettings()
    webhooks = []
    url = _setting(args, "webhook-url", "WOO_WEBHOOK_URL", None, _url, "an http(s) URL")
    if url is not None:
        secret = _setting(args, "webhook-secret", "WOO_WEBHOOK_SECRET", "", str, "a string")
        if not secret:
            sys.exit(f"{NAME}: --webhook-secret (or WOO_WEBHOOK_SECRET) is required with a webhook")
        topics = _setting(
            args,
            "webhook-topics",
            None,
            DEFAULT_TOPICS,
            _topics,
            "a comma-separated list of WooCommerce topics such as order.created",
        )
        webhooks.append(WebhookSpec(url, secret, topics))
    key = _setting(args, "consumer-key", "WOO_CONSUMER_KEY", defaults.consumer_key, str, "")
    secret = _setting(
        args, "consumer-secret", "WOO_CONSUMER_SECRET", defaults.consumer_secret, str, ""
    )
    return WooSettings(
        consumer_key=key,
        consumer_secret=secret,
        shop_url=_setting(
            args, "shop-url", "WOO_SHOP_URL", defaults.shop_url, _url, "an http(s) URL"
        ),
        orders_per_second=_setting(
            args, "orders-per-second", "WOO_ORDERS_PER_SECOND", 0.0, _rate, "a number >= 0"
        ),
        products=_setting(
            args, "products", "WOO_PRODUCTS", defaults.products, _count, "an integer >= 0"
        ),
        webhooks=webhooks,
        seed=_setting(args, "seed", "WOO_SEED", defaults.seed, _seed, "an integer or 'random'"),
        order_seed=_setting(
            args, "order-seed", "WOO_ORDER_SEED", None, _seed, "an integer or 'random'"
        ),
        countries=_setting(
            args,
            "countries",
            "WOO_COUNTRIES",
            defaults.countries,
            _countries,
            "a comma-separated list of NO and SE",
        ),
        prices_include_tax=_setting(
            args, "prices-include-tax", None, False, _bool, "true or false"
        ),
        state_file=_setting(args, "state-file", "WOO_STATE_FILE", None, _path, "a file path"),
        open_control=_setting(
            args, "open-control", OPEN_CONTROL_ENV, False, _bool, "1/true or 0/false"
        ),
    )


def _make(args: argparse.Namespace) -> web.Application:
    return make_app(settings_from(args))


def main(argv: Sequence[str] | None = None) -> None:
    run_emulator(NAME, 8100, _make, add_arguments, argv)


if __name__ == "__main__":
    main()
