"""Run an emulator's aiohttp app from its console script, with host and port from flags or env.

The process logs JSON lines (see `logs.py`) under its name without the `ordreflyt-` prefix
(`sandbox-woocommerce`, `sandbox-fortnox`), as the services log under theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from ordreflyt_sandbox_kit.logs import setup_logging
from ordreflyt_sandbox_kit.statefile import StateFileError

log = logging.getLogger(__name__)


def run_emulator(
    name: str,
    default_port: int,
    make_app: Callable[[argparse.Namespace], web.Application],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    argv: Sequence[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=name)
    parser.add_argument("--host", default=os.environ.get("HTTP_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=None, help=f"default: HTTP_PORT or {default_port}"
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.port is None:
        raw = os.environ.get("HTTP_PORT", str(default_port))
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            sys.exit(f"{name}: HTTP_PORT must be a port number (1..65535), got {raw!r}")
        args.port = int(raw)
    setup_logging(name.removeprefix("ordreflyt-"))
    try:
        app = make_app(args)
    except StateFileError as exc:
        sys.exit(f"{name}: {exc}")
    log.info("serving on http://%s:%s", args.host, args.port)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
        loop=_event_loop(name),
    )


def _event_loop(name: str) -> asyncio.AbstractEventLoop:
    """uvloop as in the services (EVENT_LOOP=asyncio for the standard library's loop)."""
    kind = os.environ.get("EVENT_LOOP", "uvloop").strip().lower()
    if kind == "asyncio":
        return asyncio.new_event_loop()
    if kind != "uvloop":
        sys.exit(f"{name}: EVENT_LOOP must be uvloop or asyncio, got {kind!r}")
    import uvloop

    return uvloop.new_event_loop()
