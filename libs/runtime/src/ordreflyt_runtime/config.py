"""The business configuration (TOML) decoded into msgspec Structs, with errors that name the key.

`section(doc, "retention", RetentionConfig)` checks `[retention]` against the Struct's types and
constraints; a wrong value stops the service at start with e.g.
`[retention].inbox_days: expected an integer >= 1, got 0`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from ordreflyt_runtime.settings import SettingsError

T = TypeVar("T")

_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _where(table: str, path: str) -> str:
    # msgspec's path is relative to the table: ".key", "[2]", ".key[2].other" or empty.
    return f"[{table}]{path}"


def _problem(text: str) -> str:
    problem = text[:1].lower() + text[1:]
    return problem.replace("`", "")


def section(doc: Mapping[str, Any], table: str, kind: type[T]) -> T:
    """`[table]` of the config as a `kind` (its defaults when the table is absent)."""
    raw = doc.get(table, {})
    try:
        return msgspec.convert(raw, kind, strict=True)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        assert match is not None
        path = match.group("path") or ""
        raise SettingsError(f"{_where(table, path)}: {_problem(match.group('problem'))}") from None
