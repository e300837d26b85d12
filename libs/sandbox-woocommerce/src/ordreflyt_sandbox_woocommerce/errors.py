"""The error WooCommerce answers with: `{"code": ..., "message": ..., "data": {"status": N}}`."""

from __future__ import annotations

from typing import Any


class WooError(Exception):
    """A REST error; `data` holds extra fields WordPress adds beside `status` (e.g. `params`)."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "data": {"status": self.status, **self.data},
        }


def invalid_param(name: str, reason: str) -> WooError:
    """What WordPress answers when a request argument fails its schema."""
    return WooError(
        400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: reason}
    )
