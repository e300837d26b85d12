"""Fortnox's notion of time: Swedish local time, and `LastModified` to the minute.

The `lastmodified` query parameter takes `YYYY-MM-DD HH:MM`, and `LastModified` is written the
same way, so a client can feed a value it has read straight back as its next watermark (and must
expect to see items of that same minute again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ordreflyt_sandbox_fortnox.errors import invalid_parameter

Clock = Callable[[], datetime]

MINUTE_FORMAT = "%Y-%m-%d %H:%M"


def _swedish_zone() -> tzinfo | None:
    try:
        return ZoneInfo("Europe/Stockholm")
    except ZoneInfoNotFoundError:
        # A slim image without the tz database: the host's own zone is the nearest stand-in.
        return None


_ZONE = _swedish_zone()


def swedish_now() -> datetime:
    """Naive local time, as Fortnox writes its timestamps (without an offset)."""
    if _ZONE is None:
        return datetime.now().replace(microsecond=0)
    return datetime.now(_ZONE).replace(tzinfo=None, microsecond=0)


def minute_text(moment: datetime) -> str:
    return moment.strftime(MINUTE_FORMAT)


def to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def parse_lastmodified(value: str) -> datetime:
    """`YYYY-MM-DD HH:MM` (seconds and a bare date are accepted too)."""
    for pattern in (MINUTE_FORMAT, "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), pattern)
        except ValueError:
            continue
    raise invalid_parameter(f"Ogiltigt värde för lastmodified: {value!r} (YYYY-MM-DD HH:MM)")


def parse_day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise invalid_parameter(f"Ogiltigt datum för {name}: {value!r} (YYYY-MM-DD)") from exc
