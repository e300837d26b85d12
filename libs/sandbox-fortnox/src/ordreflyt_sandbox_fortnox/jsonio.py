"""JSON in and out with exact money: decimals are read as `Decimal` and written digit for digit.

The standard `json` module can only write a decimal by converting it to float first, which would
let the emulator answer `0.30000000000000004` where Fortnox answers `0.3`. So responses are
written by a small encoder here, and request bodies are parsed with `parse_float=Decimal`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from ordreflyt_sandbox_fortnox.errors import BAD_JSON, bad_request

TWO_PLACES = Decimal("0.01")

# The standard library's own string quoting (as json.dumps with ensure_ascii=False; its C
# version where there is one), called directly: json.dumps per string costs a lot more.
_quote = json.encoder.encode_basestring


def dumps(value: Any) -> str:
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def _encode(value: Any, out: list[str]) -> None:
    # bool before int: True is an int to Python but must stay `true` in JSON.
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is None or isinstance(value, bool):
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as JSON")
        # "f" keeps large and small values out of exponent form, as Fortnox writes them.
        out.append(format(value, "f"))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        # Only settings such as the rate window are floats; money is always Decimal.
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(_quote(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes) -> Any:
    """Parse a request body; anything that is not valid JSON is Fortnox's error 2002115."""
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(BAD_JSON, f"Ogiltig JSON i anropet: {exc}") from exc


def respond(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps)


def quantity_text(quantity: Decimal) -> str:
    """Quantities go out as strings with at least two decimals ("6.00", "1.125"), as Fortnox sends."""
    if quantity == quantity.quantize(TWO_PLACES):
        return format(quantity.quantize(TWO_PLACES), "f")
    return format(quantity.normalize(), "f")
