"""JSON in and out with exact money: decimals are read as `Decimal` and written digit for digit.

The standard `json` module can only write a decimal by converting it to float first, which would
let the emulator answer `0.30000000000000004` where Fortnox answers `0.3`. So responses are
written by the sandbox kit's encoder (`dumps`), and request bodies are parsed with
`parse_float=Decimal`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_fortnox.errors import BAD_JSON, bad_request
from ordreflyt_sandbox_kit.jsonio import dumps
from ordreflyt_sandbox_kit.jsonio import loads as exact_loads

__all__ = ["dumps", "loads", "quantity_text", "respond"]

TWO_PLACES = Decimal("0.01")


def loads(raw: bytes) -> Any:
    """Parse a request body; anything that is not valid JSON is Fortnox's error 2002115."""
    try:
        return exact_loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(BAD_JSON, f"Ogiltig JSON i anropet: {exc}") from exc


def respond(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps)


def quantity_text(quantity: Decimal) -> str:
    """Quantities go out as strings with at least two decimals ("6.00", "1.125"), as Fortnox sends."""
    if quantity == quantity.quantize(TWO_PLACES):
        return format(quantity.quantize(TWO_PLACES), "f")
    return format(quantity.normalize(), "f")
