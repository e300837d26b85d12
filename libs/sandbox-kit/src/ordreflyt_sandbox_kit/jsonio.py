"""JSON with exact decimals: a `Decimal` is written digit for digit, as a JSON number.

The standard `json` module can only write a decimal by converting it to float first, which would
turn `0.3` into `0.30000000000000004`. Read such JSON back with `json.loads(...,
parse_float=Decimal)` and every number with a fraction is the `Decimal` that was written.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

# The standard library's own string quoting (as json.dumps with ensure_ascii=False; its C
# version where there is one), called directly: json.dumps per string costs a lot more.
_quote = json.encoder.encode_basestring


def loads(raw: bytes | str) -> Any:
    """Parse JSON, numbers with a fraction as `Decimal`; NaN and Infinity are refused.

    Raises ValueError (or UnicodeDecodeError) for anything that is not valid JSON.
    """
    return json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def dumps(value: Any, *, lines_depth: int = 0) -> str:
    """Compact JSON; with `lines_depth` N the items of the containers in the N outermost levels
    go on lines of their own (indented), so a large document reads one record a line."""
    parts: list[str] = []
    _encode(value, parts, lines_depth, 0)
    return "".join(parts)


def _encode(value: Any, out: list[str], lines_depth: int, depth: int) -> None:
    # bool before int: True is an int to Python but must stay `true` in JSON.
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is None or isinstance(value, bool):
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as JSON")
        # "f" keeps large and small values out of exponent form.
        out.append(format(value, "f"))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, dict | list | tuple):
        is_object = isinstance(value, dict)
        newline = "\n" + "  " * (depth + 1) if depth < lines_depth and value else ""
        out.append(("{" if is_object else "[") + newline)
        for i, item in enumerate(value.items() if isinstance(value, dict) else value):
            if i:
                out.append("," + newline)
            if is_object:
                key, item = item
                out.append(_quote(str(key)) + ":")
            _encode(item, out, lines_depth, depth + 1)
        out.append(("\n" + "  " * depth if newline else "") + ("}" if is_object else "]"))
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
