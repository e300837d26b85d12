"""Reading the fields of a request body the way Fortnox does, and rejecting what it would reject.

Numbers are accepted as JSON numbers or as numeric strings (Fortnox itself sends many numbers as
strings). A field the emulator does not know is refused with 400 instead of being dropped: a
misspelt field (`ExternalInvoiceReference` for `ExternalInvoiceReference1`) would otherwise pass
the sandbox silently. Read-only fields are accepted and ignored, so a client may send back a
resource it has just read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ordreflyt_sandbox_fortnox.clock import parse_day
from ordreflyt_sandbox_fortnox.errors import (
    NOT_BOOLEAN,
    NOT_NUMERIC,
    bad_request,
    invalid_parameter,
)

# Fields Fortnox knows on a document or register entry that the emulator stores and echoes back
# unchanged, without giving them any behaviour (addresses, references, print settings).
Passthrough = Collection[str]


class Fields:
    """One JSON object from a request body, read field by field."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self._data = data
        self._seen: set[str] = set()
        self.where = where

    def has(self, key: str) -> bool:
        return key in self._data

    def _take(self, key: str) -> Any:
        self._seen.add(key)
        return self._data.get(key)

    def text(self, key: str, max_length: int | None = None) -> str | None:
        value = self._take(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise invalid_parameter(f"Ogiltigt värde för {key} i {self.where}: {value!r}")
        # Kept exactly as sent: clients compare references exactly, so no trimming here.
        text = str(value)
        if max_length is not None and len(text) > max_length:
            raise invalid_parameter(
                f"{key} i {self.where} får vara högst {max_length} tecken ({len(text)} angivna)"
            )
        return text

    def number(self, key: str) -> Decimal | None:
        value = self._take(key)
        if value is None:
            return None
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            number = Decimal(value) if isinstance(value, int | str | Decimal) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise bad_request(NOT_NUMERIC, f"Värdet måste vara numeriskt ({key}: {value!r})")
        return number

    def integer(self, key: str) -> int | None:
        number = self.number(key)
        if number is None:
            return None
        if number != number.to_integral_value():
            raise bad_request(NOT_NUMERIC, f"Värdet måste vara ett heltal ({key}: {number})")
        return int(number)

    def boolean(self, key: str) -> bool | None:
        value = self._take(key)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad_request(NOT_BOOLEAN, f"Värdet måste vara en boolean ({key}: {value!r})")

    def choice(self, key: str, allowed: Iterable[str]) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        options = tuple(allowed)
        for option in options:
            if value.lower() == option.lower():
                return option
        raise invalid_parameter(
            f"Ogiltigt värde för {key}: {value!r}; tillåtna: {', '.join(options)}"
        )

    def day(self, key: str) -> date | None:
        value = self.text(key)
        return parse_day(key, value) if value else None

    def objects(self, key: str) -> list[Fields] | None:
        value = self._take(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise invalid_parameter(f"{key} måste vara en lista med objekt")
        return [Fields(item, f"{key}[{i}]") for i, item in enumerate(value)]

    def ignore(self, keys: Iterable[str]) -> None:
        """Mark read-only fields as read: allowed in the body, without effect."""
        self._seen.update(keys)

    def passthrough(self, keys: Passthrough) -> dict[str, Any]:
        taken: dict[str, Any] = {}
        for key in keys:
            if key in self._data:
                value = self._take(key)
                if isinstance(value, list):
                    raise invalid_parameter(f"Ogiltigt värde för {key} i {self.where}")
                taken[key] = value
        return taken

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise invalid_parameter(f"Okänt fält i {self.where}: {', '.join(unknown)}")
