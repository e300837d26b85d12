"""A local durable spool for deliveries that could not be stored in PostgreSQL at once.

WooCommerce never retries a delivery, and disables a webhook after a few failed ones, so intake
must be able to say 2xx while PostgreSQL is briefly away, without ever saying 2xx for something
it could lose. When storing a verified delivery fails because the database is unreachable, the
delivery is written to a file in INTAKE_SPOOL_DIR (written to a temporary name, fsync'ed,
renamed, and the directory fsync'ed: on disk before the 202 answer), and a background task
stores the files in PostgreSQL, oldest first, when it answers again, through the same path a
fresh delivery takes (so a repeat is recognised as such), deleting each file only after its
transaction committed. Only when the spool cannot be written either does intake answer 503.

Why a local spool and not the broker: the broker may be away at the same time (both are
dependencies of the same host), intake's dedupe of order states lives in PostgreSQL, and a file
is the one store that needs nothing else to be up. The price: a spool is per intake process
host; its directory must be on persistent storage (a volume in the compose file).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """A verified delivery as it arrived: everything needed to store it later."""

    id: uuid.UUID
    shop_id: str
    topic: str | None
    webhook_id: str | None
    wc_delivery_id: str | None
    headers_json: str
    body_b64: str
    received_at: datetime
    source: str = "webhook"

    @property
    def body(self) -> bytes:
        return base64.b64decode(self.body_b64)


def received(
    *,
    shop_id: str,
    topic: str | None,
    webhook_id: str | None,
    wc_delivery_id: str | None,
    headers_json: str,
    body: bytes,
    received_at: datetime,
    source: str = "webhook",
) -> Received:
    return Received(
        id=uuid.uuid4(),
        shop_id=shop_id,
        topic=topic,
        webhook_id=webhook_id,
        wc_delivery_id=wc_delivery_id,
        headers_json=headers_json,
        body_b64=base64.b64encode(body).decode("ascii"),
        received_at=received_at,
        source=source,
    )


class SpoolUnavailable(Exception):
    pass


_decoder = msgspec.json.Decoder(Received)
_encoder = msgspec.json.Encoder()


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        """Create the directory; a spool that cannot be used is reported, not fatal (intake
        then answers 503 while PostgreSQL is away, and says why)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            probe = self.directory / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            log.error("spool directory %s is not writable: %s", self.directory, exc)

    def write(self, delivery: Received) -> Path:
        """Put a delivery on disk durably; raises SpoolUnavailable if that is not possible."""
        name = f"{delivery.received_at.strftime('%Y%m%dT%H%M%S%f')}-{delivery.id}.json"
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, _encoder.encode(delivery))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temporary, final)
            self._sync_directory()
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise SpoolUnavailable(f"spool {self.directory} not writable: {exc}") from exc
        return final

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[Path]:
        """Spooled deliveries, oldest first."""
        try:
            return sorted(p for p in self.directory.glob("*.json") if p.is_file())
        except OSError:
            return []

    def read(self, path: Path) -> Received | None:
        """A spooled delivery; a file that cannot be read is moved aside, never dropped."""
        try:
            return _decoder.decode(path.read_bytes())
        except FileNotFoundError:
            return None  # stored and removed meanwhile by another drainer
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            aside = path.with_suffix(".unreadable")
            log.error("spooled delivery %s cannot be read (%s); moved to %s", path, exc, aside)
            path.rename(aside)
            return None

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.pending())
