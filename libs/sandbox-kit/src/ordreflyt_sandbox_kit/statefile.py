"""An emulator's state kept in a JSON file, so a restart continues where the last run stopped.

Without a state file an emulator starts empty every time; Ordreflyt's own database does not, so
a restarted sandbox would hand out the same order ids and document numbers again. With one,
`StateKeeper` loads the file at start and saves the whole state when it stops and every few
seconds while it changes, so a kill loses at most those seconds. Ids handed out in those
seconds may already be known outside (an order id sent in a webhook, a document number
answered), so after a run that did not stop cleanly every id and number series skips
`CRASH_SKIP` ahead, as a database sequence does after a crash: none is handed out twice.

The file (UTF-8 JSON, one record a line):

    {"kind": "ordreflyt-sandbox-fortnox", "version": 1, "saved_at": "2026-...+00:00",
     "stopped_cleanly": false,             true only in the save made at a clean stop
     "made_with": {"products": 40, ...},   the settings that shaped the data: must match
     "summary": {"orders": 12, ...},       for people and scripts; never read back
     "state": {...}}                       the emulator's records

Records are dataclasses, written as objects of their fields (`to_plain`) and read back by
their type hints (`from_plain`): decimals as exact JSON numbers, datetimes and dates as ISO
text. A field added later with a default reads older files; anything else that does not fit
(not JSON, another kind or version, an unknown or missing field, a wrong type, other
`made_with` settings) stops the start with `StateFileError`, which names the file and says how
to start clean. A file is never silently discarded or overwritten by a fresh state.

Saving is atomic: the JSON goes to `<file>.tmp`, is flushed to disk (fsync), and replaces the
file by a rename, so the file is always either the previous state or the new one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import operator
import os
import time
import types
import typing
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from ordreflyt_sandbox_kit.jsonio import dumps, loads

log = logging.getLogger(__name__)

# Seconds between saves while the state changes; a save that took long stretches the pause to
# ten times its own time, so saving a large state takes no more than about a tenth of the loop.
SAVE_INTERVAL = 2.0
# How far each id and number series skips ahead after a run that did not stop cleanly: more
# than an emulator hands out between two saves at any rate a test or demo runs it.
CRASH_SKIP = 1000
# Requests with these methods only read: they do not make a save due.
_READING = frozenset({"GET", "HEAD", "OPTIONS"})


class StateFormatError(Exception):
    """A value in a state document does not fit its type; `where` says which one."""

    def __init__(self, problem: str, where: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.where = where

    def within(self, outer: str) -> StateFormatError:
        return StateFormatError(self.problem, outer + self.where)

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}" if self.where else self.problem


class StateFileError(Exception):
    """A state file that cannot be used; the message names it and says how to start clean."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"state file {path} cannot be used: {problem}. The sandbox does not start over a "
            "state it cannot read; to start clean, move the file away or delete it (or start "
            "without a state file)"
        )
        self.path = path


# -- records to JSON values and back --------------------------------------------------------


def to_plain(value: Any) -> Any:
    """A value as JSON values: dataclasses as objects of their fields, dates as ISO text,
    decimals kept (`jsonio.dumps` writes them exactly). New containers throughout, so the
    result can be written out while the original changes."""
    if value is None or isinstance(value, str | int | float | Decimal):
        return value
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encoder(type(value))(value)
    if isinstance(value, dict):
        return {_key(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | collections.deque):
        return [to_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_plain(v) for v in value)
    raise TypeError(f"cannot keep a {type(value).__name__} in a state file")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise TypeError(f"cannot keep a {type(key).__name__} key in a state file")


# Records are encoded by their fields' type hints, one function a type built once: a field that
# holds an immutable JSON value (text, number, bool) is taken as it is, without a look at it.
# That is what makes saving a large shop fast enough to do every few seconds.
Encode = Callable[[Any], Any]
_AS_IS = frozenset({str, int, float, bool, Decimal, type(None)})
_ENCODERS: dict[Any, Encode | None] = {}


def _encoder(kind: Any) -> Encode:
    encode = _field_encoder(kind)
    return encode if encode is not None else _as_is


def _as_is(value: Any) -> Any:
    return value


def _field_encoder(kind: Any) -> Encode | None:
    """How to encode a value of `kind`; None when it is a JSON value as it is."""
    if kind not in _ENCODERS:
        _ENCODERS[kind] = _build_encoder(kind)
    return _ENCODERS[kind]


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _build_encoder(kind: Any) -> Encode | None:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind in _AS_IS:
        return None
    if kind in (datetime, date):
        return _iso
    if origin in (typing.Union, types.UnionType):
        inner = [_field_encoder(a) for a in args if a is not type(None)]
        if len(inner) == 1 and inner[0] is None:
            return None
        if len(inner) == 1 and inner[0] is _iso:
            return _iso
    elif origin in (list, tuple, collections.deque) and args:
        element = _field_encoder(args[0])
        if element is None:
            return list
        each: Encode = element
        return lambda value: [each(v) for v in value]
    elif origin in (dict, collections.Counter) and args[0] is str:
        element = _field_encoder(args[1] if origin is dict else int)
        if element is None:
            return dict
        each_value: Encode = element
        return lambda value: {k: each_value(v) for k, v in value.items()}
    elif dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _record_encoder(kind)
    return to_plain  # Any, and whatever else: looked at value by value


def _record_encoder(kind: type) -> Encode:
    hints = typing.get_type_hints(kind)
    names = tuple(f.name for f in dataclasses.fields(kind))
    read = operator.attrgetter(*names) if len(names) > 1 else lambda v: (getattr(v, names[0]),)
    converted = [(n, encode) for n in names if (encode := _field_encoder(hints[n])) is not None]

    def record(value: Any) -> dict[str, Any]:
        plain = dict(zip(names, read(value), strict=True))
        for name, encode in converted:
            plain[name] = encode(plain[name])
        return plain

    return record


T = typing.TypeVar("T")
Decode = Callable[[Any], Any]
_DECODERS: dict[Any, Decode] = {}


def from_plain(kind: type[T], value: Any) -> T:
    """Read `value` (parsed JSON) as a `kind`, by the type hints of its dataclasses.

    Raises StateFormatError naming the first value that does not fit.
    """
    decoded: T = _decoder(kind)(value)
    return decoded


def _decoder(kind: Any) -> Decode:
    decode = _DECODERS.get(kind)
    if decode is None:
        decode = _DECODERS[kind] = _build(kind)
    return decode


def _mismatch(expected: str, value: Any) -> StateFormatError:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return StateFormatError(f"expected {expected}, found {shown}")


def _build(kind: Any) -> Decode:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return lambda value: value
    if origin in (typing.Union, types.UnionType):
        return _optional(kind, args)
    if kind in (str, bool, int, float):
        return _scalar(kind)
    if kind is Decimal:
        return _decimal
    if kind in (datetime, date):
        return _moment(kind)
    if origin in (list, tuple, set, frozenset, collections.deque):
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
            raise TypeError(f"cannot keep {kind} in a state file: only tuple[X, ...]")
        return _sequence(origin, _decoder(args[0]))
    if origin in (dict, collections.Counter):
        key_kind, value_kind = args if origin is dict else (args[0], int)
        if key_kind not in (str, int):
            raise TypeError(f"cannot keep {kind} in a state file: only str or int keys")
        return _mapping(origin, key_kind is int, _decoder(value_kind))
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _record(kind)
    raise TypeError(f"cannot keep {kind} in a state file")


def _optional(kind: Any, args: tuple[Any, ...]) -> Decode:
    options = [a for a in args if a is not type(None)]
    if len(options) != 1 or len(args) != 2:
        raise TypeError(f"cannot keep {kind} in a state file: only X | None")
    inner = _decoder(options[0])
    return lambda value: None if value is None else inner(value)


def _scalar(kind: type) -> Decode:
    def scalar(value: Any) -> Any:
        if kind is float and isinstance(value, int | Decimal) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return value
        raise _mismatch(kind.__name__, value)

    return scalar


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        with contextlib.suppress(InvalidOperation):
            number = Decimal(value)
            if number.is_finite():
                return number
    raise _mismatch("a number", value)


def _moment(kind: type[date]) -> Decode:
    def moment(value: Any) -> date:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return kind.fromisoformat(value)
        raise _mismatch(f"an ISO {kind.__name__}", value)

    return moment


def _sequence(origin: Any, item: Decode) -> Decode:
    def sequence(value: Any) -> Any:
        if not isinstance(value, list):
            raise _mismatch("a list", value)
        items = []
        for i, each in enumerate(value):
            try:
                items.append(item(each))
            except StateFormatError as exc:
                raise exc.within(f"[{i}]") from None
        return items if origin is list else origin(items)

    return sequence


def _mapping(origin: Any, int_keys: bool, item: Decode) -> Decode:
    def read_key(raw: str) -> str | int:
        # JSON keys are text: an int key was written as its digits.
        if not int_keys:
            return raw
        if raw.lstrip("-").isdigit():
            return int(raw)
        raise _mismatch("an integer key", raw)

    def mapping(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _mismatch("an object", value)
        result = {}
        for raw, each in value.items():
            try:
                result[read_key(raw)] = item(each)
            except StateFormatError as exc:
                raise exc.within(f"[{raw!r}]") from None
        return result if origin is dict else origin(result)

    return mapping


def _record(kind: type) -> Decode:
    hints = typing.get_type_hints(kind)
    fields = [f for f in dataclasses.fields(kind) if f.init]
    decoders = {f.name: _decoder(hints[f.name]) for f in fields}
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    name = kind.__name__

    def record(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _mismatch(f"a {name} object", value)
        unknown = value.keys() - decoders.keys()
        if unknown:
            raise StateFormatError(f"{name} has no field {sorted(unknown)[0]!r}")
        missing = required - value.keys()
        if missing:
            raise StateFormatError(f"{name} lacks the field {sorted(missing)[0]!r}")
        values = {}
        for field, each in value.items():
            try:
                values[field] = decoders[field](each)
            except StateFormatError as exc:
                raise exc.within(f".{field}") from None
        return kind(**values)

    return record


# -- the file -------------------------------------------------------------------------------


def read_document(path: Path, kind: str, version: int) -> dict[str, Any] | None:
    """The state document in `path`, or None when there is no file yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(path, f"it cannot be read ({exc.strerror or exc})") from exc
    try:
        document = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        problem = "it is empty" if not raw.strip() else f"it is not valid JSON ({exc})"
        raise StateFileError(path, problem) from exc
    if not isinstance(document, dict) or document.get("kind") != kind:
        found = document.get("kind") if isinstance(document, dict) else None
        raise StateFileError(path, f"it is not a state file of {kind} (its kind is {found!r})")
    if document.get("version") != version:
        raise StateFileError(
            path,
            f"it is in format version {document.get('version')!r}, and this sandbox reads "
            f"version {version}",
        )
    missing = [key for key in ("made_with", "state") if not isinstance(document.get(key), dict)]
    if missing:
        raise StateFileError(path, f"its {missing[0]!r} object is missing")
    return document


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Write atomically: a temporary file beside it, fsync, rename over it, fsync the folder."""
    data = dumps(document, lines_depth=3).encode("utf-8") + b"\n"
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    with contextlib.suppress(OSError):  # not every system can open a folder to sync it
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class StateKeeper:
    """Loads an emulator's state at start and saves it at stop and while it changes.

    `snapshot()` answers the emulator's records as JSON values (see `to_plain`), `summary()` a
    few counts for people reading the file, and `made_with` the settings that shaped the data:
    a file made with other ones is refused rather than mixed with them.
    """

    def __init__(
        self,
        path: Path,
        kind: str,
        version: int,
        *,
        made_with: dict[str, Any],
        snapshot: Callable[[], dict[str, Any]],
        summary: Callable[[], dict[str, Any]],
        interval: float = SAVE_INTERVAL,
    ) -> None:
        self.path = path
        self.kind = kind
        self.version = version
        self.made_with = to_plain(made_with)
        self.snapshot = snapshot
        self.summary = summary
        self.interval = interval
        self.saves = 0
        self._dirty = True  # the first save writes the state as started
        self._walk_seconds = 0.0
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()

    def load(self, restore: Callable[[dict[str, Any], int], None]) -> bool:
        """Hand the saved state to `restore(state, skip)`; False when there is no file yet (a
        fresh start). `skip` is how far the id and number series must skip ahead: 0 after a
        clean stop, `CRASH_SKIP` otherwise.

        `restore` raises StateFormatError (or ValueError) for records that do not fit; both
        become a StateFileError naming the file.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateFileError(self.path, f"its folder cannot be made ({exc})") from exc
        if not os.access(self.path.parent, os.W_OK):
            raise StateFileError(self.path, "its folder cannot be written to")
        document = read_document(self.path, self.kind, self.version)
        if document is None:
            log.info("no state file at %s yet: starting fresh, saving there", self.path)
            return False
        made_with = document["made_with"]
        for setting, value in self.made_with.items():
            if setting not in made_with:
                raise StateFileError(self.path, f"it does not say which {setting} made it")
            if made_with[setting] != value:
                raise StateFileError(
                    self.path,
                    f"it was made by a sandbox started with {setting} = {made_with[setting]!r}, "
                    f"and this one has {value!r}; start with the same settings to continue it",
                )
        clean = document.get("stopped_cleanly") is True
        try:
            restore(document["state"], 0 if clean else CRASH_SKIP)
        except StateFormatError as exc:
            raise StateFileError(self.path, f"state{exc.where}: {exc.problem}") from exc
        except ValueError as exc:
            raise StateFileError(self.path, str(exc)) from exc
        self._dirty = False
        log.info(
            "continuing from %s, saved at %s",
            self.path,
            document.get("saved_at"),
            extra={"summary": self.summary()},
        )
        if not clean:
            log.warning(
                "the run that saved %s did not stop cleanly (killed?): what it did after that "
                "save is lost, and ids and numbers skip %s ahead so that none is given twice",
                self.path,
                CRASH_SKIP,
            )
        return True

    def changed(self) -> None:
        """Something changed: the next periodic save writes the file."""
        self._dirty = True

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every request that may write (any method but GET, HEAD, OPTIONS) makes a save due."""
        try:
            return await handler(request)
        finally:
            if request.method not in _READING:
                self._dirty = True

    async def save(self, *, final: bool = False) -> None:
        """Write the state now; `final` when the emulator stops (nothing changes after it)."""
        async with self._lock:
            self._dirty = False
            started = time.monotonic()
            document = {
                "kind": self.kind,
                "version": self.version,
                "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "stopped_cleanly": final,
                "made_with": self.made_with,
                "summary": self.summary(),
                "state": self.snapshot(),
            }
            self._walk_seconds = time.monotonic() - started
            try:
                # Built above on the event loop, written from a thread: the loop goes on
                # serving while the JSON is encoded and synced to disk.
                await asyncio.to_thread(write_document, self.path, document)
            except BaseException:
                self._dirty = True
                raise
            self.saves += 1

    async def run(self, app: web.Application) -> AsyncIterator[None]:
        """For `app.cleanup_ctx`: save at once (which proves the file can be written), then
        while the state changes, and a last time when the app stops."""
        await self.save()
        task = asyncio.create_task(self._autosave(), name="state-autosave")
        yield
        self._stopping.set()
        await task
        await self.save(final=True)
        log.info("state saved to %s", self.path, extra={"summary": self.summary()})

    async def _autosave(self) -> None:
        while not self._stopping.is_set():
            pause = max(self.interval, 10 * self._walk_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=pause)
            if self._dirty and not self._stopping.is_set():
                try:
                    await self.save()
                except Exception:  # a full disk must not stop the emulator: try again
                    log.exception("could not save the state to %s", self.path)
