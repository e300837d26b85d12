"""The business configuration (TOML) decoded into msgspec Structs, with errors that name the key.

`section(doc, "retention", RetentionConfig)` checks `[retention]` against the Struct's types and
constraints; a wrong value stops the service at start with e.g.
`[retention].inbox_days: expected an integer >= 1, got 0`.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from ordreflyt_runtime.settings import SettingsError

T = TypeVar("T")

_AT = re.compile(r"^(?P<problem>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _problem(text: str) -> str:
    problem = text[:1].lower() + text[1:]
    return problem.replace("`", "")


def section(doc: Mapping[str, Any], table: str, kind: type[T]) -> T:
    """`[table]` of the config as a `kind` (its defaults when the table is absent)."""
    return convert(doc.get(table, {}), kind, f"[{table}]")


def convert(raw: Any, kind: type[T], where: str) -> T:
    """A value of the config as a `kind`; an error names the key under `where` (`[shops.x]`)."""
    try:
        return msgspec.convert(raw, kind, strict=True)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        assert match is not None
        path = _name_dict_key(raw, kind, match.group("path") or "")
        problem = _problem(match.group("problem"))
        hint = _field_hint(kind, path)
        choices = _choices(hint)
        if problem.startswith("invalid enum value") and choices:
            problem += f" (one of {', '.join(repr(c) for c in choices)})"
        described = _description(hint)
        if "matching regex" in problem and described:
            problem = f"expected {described}, got {raw_at(raw, path)!r}"
        raise SettingsError(f"{where}{path}: {problem}") from None


def _name_dict_key(raw: Any, kind: Any, path: str) -> str:
    """msgspec writes `[...]` for a key of a table (dict); find which key it was (the first
    one whose value alone fails) so the message can name it."""
    head, found, tail = path.partition("[...]")
    table = raw_at(raw, head)
    if not found or not isinstance(table, dict) or not isinstance(raw, dict):
        return path
    for key, value in table.items():
        trial = _with(raw, head, {key: value})
        try:
            msgspec.convert(trial, kind, strict=True)
        except msgspec.ValidationError:
            return f"{head}.{key}{tail}"
    return path


def _with(raw: Any, path: str, value: Any) -> Any:
    """A copy of `raw` with the value at `path` (`.a.b`) replaced."""
    names = [n for n in path.split(".") if n]
    if not names:
        return value
    copy = dict(raw)
    copy[names[0]] = _with(raw.get(names[0], {}), "." + ".".join(names[1:]), value)
    return copy


def _field_hint(kind: Any, path: str) -> Any:
    """The annotation of the top-level field a path starts at (an item's, for `.f[2]`)."""
    if not path.startswith(".") or not isinstance(kind, type):
        return None
    try:
        hints = typing.get_type_hints(kind, include_extras=True)
    except (NameError, TypeError):
        return None
    name = path[1:].split(".")[0]
    hint = hints.get(name.split("[")[0])
    if "[" in name:  # an item of a list field
        args = [a for a in typing.get_args(_strip_none(hint)) if a is not type(None)]
        hint = args[0] if args else None
    return hint


def _strip_none(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) and args else hint


def _choices(hint: Any) -> tuple[Any, ...]:
    """The values a field allows (its Literal), for the message."""
    found: list[Any] = []
    for part in typing.get_args(hint) or (hint,):
        if typing.get_origin(part) is typing.Literal:
            found.extend(typing.get_args(part))
    if typing.get_origin(hint) is typing.Literal:
        found = list(typing.get_args(hint))
    return tuple(c for c in found if c != "")


def _description(hint: Any) -> str | None:
    """The `msgspec.Meta(description=...)` of an annotated field, said instead of its regex."""
    for meta in getattr(hint, "__metadata__", ()):
        if isinstance(meta, msgspec.Meta) and meta.description:
            return meta.description
    return None


def raw_at(raw: Any, path: str) -> Any:
    """The value a msgspec path (`.a[2].b`) points at in the raw document, best effort."""
    value = raw
    for name, index in re.findall(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]", path):
        try:
            value = value[name] if name else value[int(index)]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def refuse_moved(doc: Mapping[str, Any], table: str, key: str, now: str) -> None:
    """A setting that lives elsewhere now stops the service with where it went."""
    value = doc.get(table)
    if isinstance(value, Mapping) and key in value:
        raise SettingsError(f"[{table}].{key} has moved: set it as {now}")
