"""Fortnox's clock: `LastModified` and `lastmodified=` are local time (the account's zone,
Swedish by default) to the minute, and `lastmodified=` means "in that minute or later".

The one place these rules live; the watcher and the article register use them:
- A query starts `overlap_minutes` before the watermark, and further back by the difference
  when the clocks went back an hour (autumn) since the watermark, so no change is skipped.
- The next watermark is the latest `LastModified` seen, but never later than the minute the
  poll began (a document changed during the poll may have been missed by the paging).
- A document listed with the `LastModified` of the state already read need not be read again
  only when that read happened after its minute was over (plus the clock skew tolerated): two
  changes within one minute share a `LastModified`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MINUTE_FORMAT = "%Y-%m-%d %H:%M"


def parse_minute(text: str) -> datetime:
    """`YYYY-MM-DD HH:MM` (seconds accepted and dropped) as a naive local time."""
    value = text.strip()
    for pattern in (MINUTE_FORMAT, "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, pattern).replace(second=0)
        except ValueError:
            continue
    raise ValueError(f"not a Fortnox time (YYYY-MM-DD HH:MM): {text!r}")


def minute_text(moment: datetime) -> str:
    return moment.strftime(MINUTE_FORMAT)


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone).astimezone(UTC)


def utc_to_local_minute(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)


def query_from(
    watermark: datetime, overlap_minutes: int, zone: ZoneInfo, now: datetime
) -> datetime:
    """The `lastmodified` to ask for: the watermark less the overlap, and less the hour the
    clocks went back since the watermark (local times repeat then)."""
    start = watermark - timedelta(minutes=overlap_minutes)
    then = watermark.replace(tzinfo=zone).utcoffset() or timedelta(0)
    current = now.astimezone(zone).utcoffset() or timedelta(0)
    if then > current:
        start -= then - current
    return start


def next_watermark(
    old: datetime | None, latest_seen: datetime | None, poll_started: datetime
) -> datetime | None:
    """After a poll whose changes were all recorded: the latest `LastModified` seen, capped at
    the minute the poll started; unchanged when nothing was listed."""
    if latest_seen is None:
        return old
    return min(latest_seen, poll_started)


def read_after_minute(
    version: str, read_at: datetime | None, zone: ZoneInfo, clock_skew: float
) -> bool:
    """Whether a state read at `read_at` is surely later than every change of the minute
    `version` (so a listing with that `LastModified` holds nothing newer)."""
    if read_at is None:
        return False
    try:
        minute_over = local_to_utc(parse_minute(version), zone) + timedelta(minutes=1)
    except ValueError:
        return False
    return read_at >= minute_over + timedelta(seconds=clock_skew)


def local_minute_text(moment: datetime, zone: ZoneInfo) -> str:
    """A UTC (or aware) moment as Fortnox's `lastmodified=` parameter."""
    return minute_text(utc_to_local_minute(moment, zone))
